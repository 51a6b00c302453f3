package resolve

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

// TestLearnAvoidsLookupsAndWinsOverStaleCache: objects learned from a fresh
// AD read resolve without a directory call once their class is known, and
// their DN replaces a cached one (a user moved in AD since it was resolved),
// also after Forget (a full round): class and SID never change.
func TestLearnAvoidsLookupsAndWinsOverStaleCache(t *testing.T) {
	const (
		ga = "11111111-2222-3333-4444-555555555555"
		gb = "21111111-2222-3333-4444-555555555555"
	)
	dir := &fakeDir{guid: map[string]string{ga: "CN=a,OU=Old", gb: "CN=b,OU=X"}, sid: map[string]string{"S-1-5-21-1-2-3-1000": "CN=b,OU=X"}}
	src := fakeSrc{users: map[string]*User{
		"ua": {ID: "ua", ObjectIdentifier: ga},
		"ub": {ID: "ub", ObjectIdentifier: gb, SID: "S-1-5-21-1-2-3-1000"},
	}}
	r := New(dir)
	both := map[string][]Member{"g": {{ID: "ua", Type: "user"}, {ID: "ub", Type: "user"}}}
	if _, err := r.Resolve(context.Background(), both, src); err != nil {
		t.Fatal(err)
	}
	for round, forget := range []bool{false, true} {
		if forget {
			r.Forget()
		}
		dir.calls = 0
		r.Learn([]Known{
			{GUID: "11111111-2222-3333-4444-555555555555", DN: "CN=a,OU=New"},
			{GUID: gb, SID: "s-1-5-21-1-2-3-1000", DN: "CN=b,OU=X"},
		})
		res, err := r.Resolve(context.Background(), both, src)
		if err != nil {
			t.Fatal(err)
		}
		if dir.calls != 0 {
			t.Errorf("round %d: %d directory calls for learned objects", round, dir.calls)
		}
		if got := res["g"].DNs; len(got) != 2 || got[0] != "CN=a,OU=New" || got[1] != "CN=b,OU=X" {
			t.Errorf("round %d: DNs = %q, want the learned ones", round, got)
		}
	}
}

// TestLearnedObjectOfUnknownClassIsLookedUp: a member value says nothing of
// the object's class; a user whose objectGUID names an object the resolver
// has only learned is looked up once, and refused when it is a group.
func TestLearnedObjectOfUnknownClassIsLookedUp(t *testing.T) {
	const gg = "31111111-2222-3333-4444-555555555555"
	dir := &fakeDir{guid: map[string]string{gg: "CN=Some Group,OU=X"}, objs: map[string]Object{"CN=Some Group,OU=X": {Classes: []string{"top", "group"}}}}
	src := fakeSrc{users: map[string]*User{"u": {ID: "u", ObjectIdentifier: gg}}}
	r := New(dir)
	r.Learn([]Known{{GUID: gg, SID: "S-1-5-21-1-2-3-1200", DN: "CN=Some Group,OU=X"}})
	res, err := r.Resolve(context.Background(), map[string][]Member{"g": {{ID: "u", Type: "user"}}}, src)
	if err != nil {
		t.Fatal(err)
	}
	if dir.calls != 1 || len(res["g"].DNs) != 0 || len(res["g"].Unresolved) != 1 {
		t.Errorf("%d calls, result %+v: want one lookup and the member refused", dir.calls, res["g"])
	}
}

// sidOnlyTenant is n synced users carrying only onPremisesSecurityIdentifier
// and onPremisesImmutableId (base64 objectGUID), as Graph v1.0 returns them,
// each an AD user of domain DC=x, and what a full round's group read teaches.
func sidOnlyTenant(n int) (*fakeDir, fakeSrc, []Member, []Known) {
	dir := &fakeDir{guid: map[string]string{}, sid: map[string]string{}, domain: "DC=x"}
	src := fakeSrc{users: map[string]*User{}}
	var ms []Member
	var known []Known
	for i := range n {
		g := GUIDFromBytes([]byte{byte(i), byte(i >> 8), 0, 0, 1, 0, 0, 0x40, 0x80, 0, 0, 0, 0, 0, 0, 1})
		sid := dom + "-" + strconv.Itoa(2000+i)
		dn := "CN=u" + strconv.Itoa(i) + ",OU=Staff,DC=x"
		dir.guid[g], dir.sid[sid] = dn, dn
		raw := []byte{byte(i), byte(i >> 8), 0, 0, 1, 0, 0, 0x40, 0x80, 0, 0, 0, 0, 0, 0, 1}
		id := "u" + strconv.Itoa(i)
		src.users[id] = &User{ID: id, SID: sid, ImmutableID: base64.StdEncoding.EncodeToString(raw)}
		ms = append(ms, Member{ID: id, Type: "user"})
		known = append(known, Known{GUID: g, SID: sid, DN: dn})
	}
	return dir, src, ms, known
}

// TestFullRoundOfSIDOnlyUsersSearchesOnce: the regression of 2026-12-05 (M's
// full no-change round 6.63 s -> 9.26 s): a process's full round looked
// every member the group read had taught it up again in the GC, by objectSid
// once Graph stopped returning onPremisesObjectIdentifier, to learn its class
// (9,953 objects, 2.3 s). Now it asks the DC only which of them are not plain
// users: one call (the DC answers 200 per search), no GC lookup, no separate
// isCriticalSystemObject/adminCount read; and the next full round of the
// same process only that read.
func TestFullRoundOfSIDOnlyUsersSearchesOnce(t *testing.T) {
	dir, src, ms, known := sidOnlyTenant(450)
	r := New(dir)
	for round := range 2 {
		r.Forget() // a full round
		r.Learn(known)
		dir.calls, dir.batchSizes, dir.protAsked, dir.plainAsked = 0, nil, nil, nil
		res, err := r.Resolve(context.Background(), map[string][]Member{"g": ms}, src)
		if err != nil {
			t.Fatal(err)
		}
		if got := res["g"]; len(got.DNs) != 450 || len(got.Unresolved) != 0 {
			t.Fatalf("round %d: %d DNs, unresolved %v; want all 450 resolved", round, len(got.DNs), got.Unresolved)
		}
		// The first round checks the class (and criticality) on the DC; the
		// second knows the class and only re-reads criticality, as every
		// full round does (adminCount changes).
		wantCalls, wantPlain, wantProt := 1, 450, 0
		if round == 1 {
			wantCalls, wantPlain, wantProt = 0, 0, 450
		}
		if dir.calls != wantCalls || len(dir.plainAsked) != wantPlain || len(dir.batchSizes) != 0 || len(dir.protAsked) != wantProt {
			t.Errorf("round %d: %d lookup calls (class checks of %d, lookups %v, protection of %d); want %d checking %d, no lookup, protection of %d",
				round, dir.calls, len(dir.plainAsked), dir.batchSizes, len(dir.protAsked), wantCalls, wantPlain, wantProt)
		}
	}
	if st := r.Stats(); st.Asked["sid"] != 0 || st.Asked["learnedClass"] != 450 {
		t.Errorf("stats asked %v: want 450 class checks and no SID lookup", st.Asked)
	}
}

// TestLearnedSIDOnlyUsersKeepTheTrustRules: a member the group read taught
// is checked on the DC before it resolves, with every rule a lookup applies
// (docs/trust.md): a user's SID naming a learned group, computer, domain
// controller, trust account, critical or adminCount=1 account, inetOrgPerson
// or well-known principal is refused; an object of another domain is looked
// up in the GC as before.
func TestLearnedSIDOnlyUsersKeepTheTrustRules(t *testing.T) {
	objs := map[string]Object{
		"CN=Alice,OU=Staff,DC=x":                   userObj(dom + "-1105"),
		"CN=Administrator,CN=Users,DC=x":           userObj(dom + "-500"),
		"CN=krbtgt_1234,CN=Users,DC=x":             userObj(dom + "-1300"),
		"CN=Some Group,OU=G,DC=x":                  {SID: dom + "-1400", Classes: []string{"top", "group"}},
		"CN=Administrators,CN=Builtin,DC=x":        {SID: "S-1-5-32-544", Classes: []string{"top", "group"}},
		"CN=DC1,OU=Domain Controllers,DC=x":        {SID: dom + "-1000", Classes: []string{"top", "person", "organizationalPerson", "user", "computer"}, UserAccountControl: 0x82000, PrimaryGroupID: 516},
		"CN=PC1,OU=Computers,DC=x":                 {SID: dom + "-1500", Classes: []string{"top", "person", "organizationalPerson", "user", "computer"}},
		"CN=Odd DC,OU=Staff,DC=x":                  {SID: dom + "-1501", Classes: []string{"top", "user"}, PrimaryGroupID: 521},
		"CN=OTHER$,CN=Users,DC=x":                  {SID: dom + "-1502", Classes: []string{"top", "user"}, UserAccountControl: 0x800},
		"CN=Inet,OU=Staff,DC=x":                    userObj(dom+"-1503", "inetOrgPerson"),
		"CN=Svc Admin,OU=Staff,DC=x":               userObj(dom + "-1504"),
		"CN=Critical,OU=Staff,DC=x":                userObj(dom + "-1505"),
		"CN=FSP,CN=ForeignSecurityPrincipals,DC=x": {SID: "S-1-5-21-7-8-9-1600", Classes: []string{"top", "foreignSecurityPrincipal"}},
		"CN=Far Group,OU=G,DC=child,DC=x":          {SID: "S-1-5-21-7-8-9-1400", Classes: []string{"top", "group"}},
		"CN=Far User,OU=Staff,DC=child,DC=x":       userObj("S-1-5-21-7-8-9-1105"),
	}
	dir := &fakeDir{guid: map[string]string{}, sid: map[string]string{}, objs: objs, domain: "DC=x", prot: map[string]string{}}
	users := map[string]*User{}
	var known []Known
	i := 0
	for dn, o := range objs {
		g := guidN(i)
		i++
		dir.guid[g], dir.sid[o.SID] = dn, dn
		id := "u-" + ad_rdn(dn)
		users[id] = &User{ID: id, SID: o.SID}
		known = append(known, Known{GUID: g, SID: o.SID, DN: dn})
	}
	dir.prot[keyOf(dir.guid, "CN=Svc Admin,OU=Staff,DC=x")] = "adminCount"
	dir.prot[keyOf(dir.guid, "CN=Critical,OU=Staff,DC=x")] = "isCriticalSystemObject"
	r := New(dir)
	r.Forget()
	r.Learn(known)
	got := resolveOne(t, r, users)
	expect := map[string]string{
		"u-Alice":          "dn:",
		"u-Administrator":  "well-known principal (RID 500)",
		"u-krbtgt_1234":    "krbtgt account",
		"u-Some Group":     "is a group, not a user",
		"u-Administrators": "is a group, not a user",
		"u-DC1":            "is a computer account, not a user",
		"u-PC1":            "is a computer account, not a user",
		"u-Odd DC":         "domain controller account",
		"u-OTHER$":         "interdomain trust account",
		"u-Inet":           "inetOrgPerson, not a user",
		"u-Svc Admin":      "protected by AdminSDHolder (adminCount=1)",
		"u-Critical":       "critical system object (isCriticalSystemObject=TRUE)",
		"u-FSP":            "is not a user object",
		"u-Far Group":      "is a group, not a user",
		"u-Far User":       "dn:",
	}
	for id, w := range expect {
		dn := dir.sid[users[id].SID]
		if w == "dn:" {
			if got["dn:"+dn] == "" {
				t.Errorf("%s: not resolved (%q), want %s", id, got[id], dn)
			}
			continue
		}
		if !strings.Contains(got[id], w) || !strings.HasPrefix(got[id], "refused: "+dn) {
			t.Errorf("%s: reason %q, want \"refused: %s ...%s...\"", id, got[id], dn, w)
		}
	}
	for _, g := range dir.plainAsked {
		if strings.HasSuffix(dir.guid[g], "DC=child,DC=x") {
			t.Errorf("%s checked on the DC: it is in another domain", dir.guid[g])
		}
	}
	if st := r.Stats(); st.Asked["sid"] != 2 || st.Asked["learnedClass"] != len(objs)-2 {
		t.Errorf("stats asked %v: want the 2 objects of another domain looked up by SID, the %d others checked on the DC", st.Asked, len(objs)-2)
	}
}

// TestLearnedWithoutSIDIsLookedUp: an object a group read taught without its
// objectSid is not checked on the DC (its RID could not be judged): it is
// looked up as before, and refused when its SID is a well-known one.
func TestLearnedWithoutSIDIsLookedUp(t *testing.T) {
	const g = "41111111-2222-3333-4444-555555555555"
	dn := "CN=Administrator,CN=Users,DC=x"
	dir := &fakeDir{guid: map[string]string{g: dn}, sid: map[string]string{dom + "-500": dn}, domain: "DC=x"}
	r := New(dir)
	r.Forget()
	r.Learn([]Known{{GUID: g, DN: dn}})
	got := resolveOne(t, r, map[string]*User{"u": {ID: "u", ObjectIdentifier: g}})
	if !strings.Contains(got["u"], "well-known principal (RID 500)") {
		t.Errorf("reason %q: want the well-known principal refused", got["u"])
	}
	if len(dir.plainAsked) != 0 || len(dir.batchSizes) != 1 {
		t.Errorf("class checks of %v, lookups %v: want one lookup by objectGUID", dir.plainAsked, dir.batchSizes)
	}
}

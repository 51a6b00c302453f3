package resolve

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
)

// Each rule of the trust boundary (docs/trust.md), without a lab: which AD
// object a cloud user may become a member as, and the reason reported when
// it may not.

const dom = "S-1-5-21-1-2-3"

func userObj(sid string, extra ...string) Object {
	return Object{SID: sid, Classes: append([]string{"top", "person", "organizationalPerson", "user"}, extra...)}
}

// resolveOne resolves users (ID -> user) as members of group "g" and returns
// DN or reason per user.
func resolveOne(t *testing.T, r *Resolver, users map[string]*User) map[string]string {
	t.Helper()
	var ms []Member
	for id := range users {
		ms = append(ms, Member{ID: id, Type: "user"})
	}
	res, err := r.Resolve(context.Background(), map[string][]Member{"g": ms}, fakeSrc{users: users})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	out := map[string]string{}
	for _, u := range res["g"].Unresolved {
		out[u.ID] = u.Reason
	}
	for _, dn := range res["g"].DNs {
		out["dn:"+dn] = dn
	}
	return out
}

func guidN(n int) string {
	return "00000000-0000-4000-8000-" + strings.Repeat("0", 10) + string(rune('a'+n/16)) + string("0123456789abcdef"[n%16])
}

func TestTrustClassAndPrivilege(t *testing.T) {
	dns := map[string]Object{
		"CN=Alice,OU=Staff,DC=x":                      userObj(dom + "-1105"),
		"CN=Administrator,CN=Users,DC=x":              userObj(dom + "-500"),
		"CN=krbtgt,CN=Users,DC=x":                     userObj(dom + "-502"),
		"CN=krbtgt_1234,CN=Users,DC=x":                userObj(dom + "-1300"),
		"CN=Domain Admins,CN=Users,DC=x":              {SID: dom + "-512", Classes: []string{"top", "group"}},
		"CN=Administrators,CN=Builtin,DC=x":           {SID: "S-1-5-32-544", Classes: []string{"top", "group"}},
		"CN=Some Group,OU=G,DC=x":                     {SID: dom + "-1400", Classes: []string{"top", "group"}},
		"CN=DC1,OU=Domain Controllers,DC=x":           {SID: dom + "-1000", Classes: []string{"top", "person", "organizationalPerson", "user", "computer"}, UserAccountControl: 0x82000, PrimaryGroupID: 516},
		"CN=PC1,OU=Computers,DC=x":                    {SID: dom + "-1500", Classes: []string{"top", "person", "organizationalPerson", "user", "computer"}},
		"CN=Odd DC,OU=Staff,DC=x":                     {SID: dom + "-1501", Classes: []string{"top", "user"}, PrimaryGroupID: 521},
		"CN=OTHER$,CN=Users,DC=x":                     {SID: dom + "-1502", Classes: []string{"top", "user"}, UserAccountControl: 0x800},
		"CN=Contact,OU=Staff,DC=x":                    {Classes: []string{"top", "person", "organizationalPerson", "contact"}},
		"CN=Inet,OU=Staff,DC=x":                       userObj(dom+"-1503", "inetOrgPerson"),
		"CN=Svc Admin,OU=Staff,DC=x":                  userObj(dom + "-1504"),
		"CN=Critical,OU=Staff,DC=x":                   userObj(dom + "-1505"),
		"CN=Far Critical,OU=Staff,DC=child,DC=x":      {SID: "S-1-5-21-7-8-9-1506", Classes: []string{"user"}, Critical: ptr(true)},
		"CN=Far Admin Unknown,OU=Staff,DC=child,DC=x": userObj("S-1-5-21-7-8-9-1507"),
	}
	dir := &fakeDir{guid: map[string]string{}, objs: dns, domain: "DC=x", prot: map[string]string{}}
	users := map[string]*User{}
	want := map[string]string{}
	i := 0
	for dn := range dns {
		g := guidN(i)
		i++
		dir.guid[g] = dn
		id := "u-" + ad_rdn(dn)
		users[id] = &User{ID: id, ObjectIdentifier: g}
		want[id] = dn
	}
	dir.prot[keyOf(dir.guid, "CN=Svc Admin,OU=Staff,DC=x")] = "adminCount"
	dir.prot[keyOf(dir.guid, "CN=Critical,OU=Staff,DC=x")] = "isCriticalSystemObject"
	dir.prot[keyOf(dir.guid, "CN=Far Admin Unknown,OU=Staff,DC=child,DC=x")] = "adminCount" // not asked: another domain

	got := resolveOne(t, New(dir), users)
	expect := map[string]string{
		"u-Alice":             "dn:",
		"u-Administrator":     "well-known principal (RID 500)",
		"u-krbtgt":            "krbtgt account",
		"u-krbtgt_1234":       "krbtgt account",
		"u-Domain Admins":     "is a group, not a user",
		"u-Administrators":    "is a group, not a user",
		"u-Some Group":        "is a group, not a user",
		"u-DC1":               "is a computer account, not a user",
		"u-PC1":               "is a computer account, not a user",
		"u-Odd DC":            "domain controller account",
		"u-OTHER$":            "interdomain trust account",
		"u-Contact":           "is a contact, not a user",
		"u-Inet":              "inetOrgPerson, not a user",
		"u-Svc Admin":         "protected by AdminSDHolder (adminCount=1)",
		"u-Critical":          "critical system object (isCriticalSystemObject=TRUE)",
		"u-Far Critical":      "critical system object",
		"u-Far Admin Unknown": "dn:",
	}
	for id, w := range expect {
		if w == "dn:" {
			if got["dn:"+want[id]] == "" {
				t.Errorf("%s: not resolved (%q), want %s", id, got[id], want[id])
			}
			continue
		}
		if !strings.Contains(got[id], w) || !strings.HasPrefix(got[id], "refused: "+want[id]) {
			t.Errorf("%s: reason %q, want \"refused: %s ...%s...\"", id, got[id], want[id], w)
		}
	}
	for _, g := range dir.protAsked {
		if dir.guid[g] == "CN=Far Admin Unknown,OU=Staff,DC=child,DC=x" {
			t.Error("isCriticalSystemObject/adminCount asked of the DC for an object of another domain")
		}
	}

	// The configuration may allow privileged principals, by SID or DN, and
	// inetOrgPerson; it never makes a group or computer a user.
	r := New(dir)
	r.SetPolicy(Policy{Allow: []string{dom + "-500", "cn=svc admin,ou=staff,dc=x", "CN=Domain Admins,CN=Users,DC=x"}, InetOrgPerson: true})
	got = resolveOne(t, r, users)
	for _, dn := range []string{"CN=Administrator,CN=Users,DC=x", "CN=Svc Admin,OU=Staff,DC=x", "CN=Inet,OU=Staff,DC=x"} {
		if got["dn:"+dn] == "" {
			t.Errorf("allowed %s not resolved", dn)
		}
	}
	if !strings.Contains(got["u-Domain Admins"], "is a group") || !strings.Contains(got["u-krbtgt"], "krbtgt") {
		t.Errorf("allow-list made a group a user or allowed what it does not name: %q, %q", got["u-Domain Admins"], got["u-krbtgt"])
	}
}

func ptr[T any](v T) *T { return &v }

func ad_rdn(dn string) string { return strings.TrimPrefix(strings.SplitN(dn, ",", 2)[0], "CN=") }

func keyOf(m map[string]string, dn string) string {
	for k, v := range m {
		if v == dn {
			return k
		}
	}
	return ""
}

// TestTrustCloudOnlyUsers: a user the tenant does not mark as synced from
// AD (onPremisesSyncEnabled false or absent) is never looked up, whatever
// identifiers it carries.
func TestTrustCloudOnlyUsers(t *testing.T) {
	g := guidN(1)
	dir := &fakeDir{guid: map[string]string{g: "CN=Alice,DC=x"}, sid: map[string]string{dom + "-1105": "CN=Alice,DC=x"}}
	off := false
	users := map[string]*User{
		"off":  {ID: "off", ObjectIdentifier: g, SyncEnabled: &off},
		"sid":  {ID: "sid", SID: dom + "-1105", SyncEnabled: &off},
		"none": {ID: "none", ImmutableID: "2fCgVnERaEK92Tx4NwTKBQ=="},
	}
	r := New(dir)
	var ms []Member
	for id := range users {
		ms = append(ms, Member{ID: id, Type: "user"})
	}
	// The source here reports SyncEnabled as it is (nil stays nil).
	res, err := r.Resolve(context.Background(), map[string][]Member{"g": ms}, rawSrc{users})
	if err != nil {
		t.Fatal(err)
	}
	if len(res["g"].DNs) != 0 || len(res["g"].Unresolved) != 3 || dir.calls != 0 {
		t.Fatalf("result %+v after %d lookups: want all 3 refused without a lookup", res["g"], dir.calls)
	}
	for _, u := range res["g"].Unresolved {
		if !strings.Contains(u.Reason, "onPremisesSyncEnabled is not true") {
			t.Errorf("%s: %q", u.ID, u.Reason)
		}
	}
}

type rawSrc struct{ users map[string]*User }

func (s rawSrc) User(id string) (*User, error) { return s.users[id], nil }
func (s rawSrc) Group(string) GroupInfo        { return GroupInfo{} }

// TestTrustIdentifiersMustAgree: every identifier a user carries that names
// an AD object must name the same one; one that names nothing (stale,
// malformed) does not refuse the member.
func TestTrustIdentifiersMustAgree(t *testing.T) {
	ga, gb := guidN(1), guidN(2)
	dir := &fakeDir{
		guid: map[string]string{ga: "CN=Alice,DC=x", gb: "CN=Bob,DC=x"},
		sid:  map[string]string{dom + "-1105": "CN=Alice,DC=x", dom + "-1106": "CN=Bob,DC=x"},
	}
	immB := immutableOf(gb)
	users := map[string]*User{
		"agree":     {ID: "agree", ObjectIdentifier: ga, SID: dom + "-1105", ImmutableID: immutableOf(ga)},
		"sid-other": {ID: "sid-other", ObjectIdentifier: ga, SID: dom + "-1106"},
		"imm-other": {ID: "imm-other", ObjectIdentifier: ga, ImmutableID: immB},
		"sid-stale": {ID: "sid-stale", ObjectIdentifier: ga, SID: dom + "-9999"},
		"oi-stale":  {ID: "oi-stale", ObjectIdentifier: guidN(3), SID: dom + "-1106"},
		"sid-first": {ID: "sid-first", SID: dom + "-1105", ImmutableID: immB},
	}
	got := resolveOne(t, New(dir), users)
	for id, w := range map[string]string{
		"sid-other": "onPremisesSecurityIdentifier " + dom + "-1106 is CN=Bob,DC=x, but onPremisesObjectIdentifier names CN=Alice,DC=x",
		"imm-other": "onPremisesImmutableId " + immB + " is CN=Bob,DC=x, but onPremisesObjectIdentifier names CN=Alice,DC=x",
		"sid-first": "onPremisesImmutableId " + immB + " is CN=Bob,DC=x, but onPremisesSecurityIdentifier names CN=Alice,DC=x",
	} {
		if !strings.Contains(got[id], "refused: the user's identifiers name different AD objects: "+w) {
			t.Errorf("%s: %q, want refused: %s", id, got[id], w)
		}
	}
	for _, id := range []string{"agree", "sid-stale", "oi-stale"} {
		if got[id] != "" {
			t.Errorf("%s: %q, want resolved", id, got[id])
		}
	}
	if got["dn:CN=Alice,DC=x"] == "" || got["dn:CN=Bob,DC=x"] == "" {
		t.Errorf("resolved %v, want Alice and Bob", got)
	}
}

// immutableOf is the onPremisesImmutableId Connect Sync derives from an objectGUID.
func immutableOf(g string) string {
	b := make([]byte, 16)
	h := strings.ReplaceAll(g, "-", "")
	for i := range 16 {
		var v byte
		for _, c := range h[2*i : 2*i+2] {
			v = v<<4 | byte(strings.IndexRune("0123456789abcdef", c))
		}
		b[i] = v
	}
	// AD byte order: the first three fields little-endian.
	b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
	b[4], b[5] = b[5], b[4]
	b[6], b[7] = b[7], b[6]
	return base64Std(b)
}

// TestMalformedSIDIsThatMembersProblem (D5): a malformed
// onPremisesSecurityIdentifier never fails the round; the member is
// reported, and the others resolve.
func TestMalformedSIDIsThatMembersProblem(t *testing.T) {
	ga := guidN(1)
	dir := &fakeDir{guid: map[string]string{ga: "CN=Alice,DC=x"}, sid: map[string]string{dom + "-1105": "CN=Alice,DC=x"}}
	users := map[string]*User{"ok": {ID: "ok", ObjectIdentifier: ga}}
	bad := []string{"garbage", "S-1-5-21-x", dom + "-1105 ", "S-1-5-21-99999999999999", "S-1-5-21-1-2-3-4294967296"}
	for i, s := range bad {
		id := "bad" + string(rune('0'+i))
		users[id] = &User{ID: id, SID: s}
	}
	users["bad-with-guid"] = &User{ID: "bad-with-guid", ObjectIdentifier: ga, SID: "garbage"}
	got := resolveOne(t, New(dir), users)
	for i, s := range bad {
		id := "bad" + string(rune('0'+i))
		if !strings.Contains(got[id], "not a valid SID") {
			t.Errorf("SID %q: reason %q, want it reported as not a valid SID", s, got[id])
		}
	}
	if got["ok"] != "" || got["bad-with-guid"] != "" || got["dn:CN=Alice,DC=x"] == "" {
		t.Errorf("the other members did not resolve: %v", got)
	}
}

// TestGroupNeverMemberOfItself: a cloud group listing itself is reported,
// in scope or not.
func TestGroupNeverMemberOfItself(t *testing.T) {
	dir := &fakeDir{anchor: map[string]string{"Group_g2": "CN=G2,DC=x"}, objs: map[string]Object{"CN=G2,DC=x": {SID: dom + "-1400", Classes: []string{"group"}}}}
	src := fakeSrc{groups: map[string]GroupInfo{"g1": {Known: true, InScope: true}, "g2": {Known: true}}}
	res, err := New(dir).Resolve(context.Background(), map[string][]Member{
		"g1": {{ID: "G1", Type: "group"}}, "g2": {{ID: "g2", Type: "group"}},
	}, src)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"g1", "g2"} {
		r := res[g]
		if len(r.Groups) != 0 || len(r.DNs) != 0 || len(r.Unresolved) != 1 || !strings.Contains(r.Unresolved[0].Reason, "member of itself") {
			t.Errorf("%s: %+v, want itself refused", g, r)
		}
	}
}

// TestAnchorOnNonGroupOrPrivilegedGroup: a nested group found by anchor is
// used only if it is a group that is not well-known.
func TestAnchorOnNonGroupOrPrivilegedGroup(t *testing.T) {
	dir := &fakeDir{
		anchor: map[string]string{"Group_a": "CN=User A,DC=x", "Group_b": "CN=Domain Admins,CN=Users,DC=x", "Group_c": "CN=C,DC=x"},
		objs: map[string]Object{
			"CN=Domain Admins,CN=Users,DC=x": {SID: dom + "-512", Classes: []string{"group"}},
			"CN=C,DC=x":                      {SID: dom + "-1400", Classes: []string{"group"}},
		},
	}
	got, err := New(dir).Anchors(context.Background(), []string{"Group_a", "Group_b", "Group_c"})
	if err != nil || len(got) != 1 || got["Group_c"] != "CN=C,DC=x" {
		t.Errorf("Anchors = %v, %v; want only CN=C", got, err)
	}
}

// TestMovedKeepsCacheTrueToOwnWrites (D8): a nested group resolved before
// writeback renamed it is found under its new DN afterwards, without a
// lookup; a deleted one is looked up again.
func TestMovedKeepsCacheTrueToOwnWrites(t *testing.T) {
	dir := &fakeDir{anchor: map[string]string{"Group_c": "CN=Child,OU=G,DC=x"}, objs: map[string]Object{"CN=Child,OU=G,DC=x": {SID: dom + "-1400", Classes: []string{"group"}}}}
	r := New(dir)
	ctx := context.Background()
	if got, err := r.Anchors(ctx, []string{"Group_c"}); err != nil || got["Group_c"] != "CN=Child,OU=G,DC=x" {
		t.Fatalf("Anchors = %v, %v", got, err)
	}
	r.Moved(map[string]string{"cn=child,ou=g,dc=x": "CN=Child Renamed,OU=G,DC=x"})
	calls := dir.calls
	if got, _ := r.Anchors(ctx, []string{"Group_c"}); got["Group_c"] != "CN=Child Renamed,OU=G,DC=x" || dir.calls != calls {
		t.Errorf("after rename: Anchors = %v (%d lookups), want the new DN from the cache", got, dir.calls-calls)
	}
	delete(dir.anchor, "Group_c")
	r.Moved(map[string]string{"CN=Child Renamed,OU=G,DC=x": ""})
	if got, _ := r.Anchors(ctx, []string{"Group_c"}); len(got) != 0 || dir.calls != calls+1 {
		t.Errorf("after delete: Anchors = %v (%d lookups), want nothing found by a new lookup", got, dir.calls-calls)
	}
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestConcurrentResolve: the resolver is safe for concurrent use (run with
// -race): resolutions, Learn, Moved and Forget at once.
func TestConcurrentResolve(t *testing.T) {
	dir := &fakeDir{guid: map[string]string{}, sid: map[string]string{}, domain: "DC=x"}
	users := map[string]*User{}
	var ms []Member
	for i := range 40 {
		g := guidN(i)
		dn := "CN=u" + g + ",DC=x"
		dir.guid[g] = dn
		users["u"+g] = &User{ID: "u" + g, ObjectIdentifier: g, SID: dom + "-" + "1" + g[len(g)-3:]}
		dir.sid[users["u"+g].SID] = dn
		ms = append(ms, Member{ID: "u" + g, Type: "user"})
	}
	r := New(dir)
	done := make(chan error, 4)
	for w := range 4 {
		go func() {
			for i := range 20 {
				if _, err := r.Resolve(context.Background(), map[string][]Member{"g": ms}, fakeSrc{users: users}); err != nil {
					done <- err
					return
				}
				switch (w + i) % 3 {
				case 0:
					r.Learn([]Known{{GUID: guidN(i), DN: "CN=u" + guidN(i) + ",DC=x"}})
				case 1:
					r.Moved(map[string]string{"CN=u" + guidN(i) + ",DC=x": "CN=u" + guidN(i) + ",DC=x"})
				default:
					if i%10 == 0 {
						r.Forget()
					}
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

package engine

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/plan"
)

// principal is an AD object the test reads to impersonate it.
type principal struct {
	name string // for messages
	dn   string
	guid ad.GUID
	sid  string
}

// readPrincipal reads the objectGUID and objectSid of the one object filter finds.
func readPrincipal(t *testing.T, c *ad.Conn, base, name, filter string) principal {
	t.Helper()
	var ps []principal
	err := c.Search(context.Background(), base, ad.ScopeSubtree, filter, []string{"objectGUID", "objectSid"}, func(e *ldap.Entry) error {
		g, err := ad.GUIDFromAD(e.GetEqualFoldRawAttributeValue("objectGUID"))
		if err != nil {
			return err
		}
		s, err := ad.SIDFromAD(e.GetEqualFoldRawAttributeValue("objectSid"))
		if err != nil {
			return err
		}
		ps = append(ps, principal{name: name, dn: e.DN, guid: g, sid: s})
		return nil
	})
	if err != nil || len(ps) == 0 {
		t.Fatalf("read %s (%s): %v, %d found", name, filter, err, len(ps))
	}
	return ps[0]
}

// immutableID is the onPremisesImmutableId Connect Sync derives from an objectGUID.
func immutableID(g ad.GUID) string { return base64.StdEncoding.EncodeToString(g.AD()) }

// TestLabPrivilegedMembersRefused (D1): cloud users carrying the SID or GUID
// of Domain Admins, Enterprise Admins, BUILTIN\Administrators,
// Administrator, krbtgt, the DC's computer account and a writeback group —
// as users synced from AD and as cloud-only users — are added to a cloud
// group; writeback plans and applies, and AD has none of those objects as a
// member: each is reported with its reason, and the legitimate synced users
// (by objectGUID, by SID, by immutableId) still resolve. Members with a
// malformed SID (D5) are reported too, and fail nothing else.
func TestLabPrivilegedMembersRefused(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 4, "wbt")
	const (
		gPriv  = "eeeeeeee-0000-4000-8000-000000000001"
		gOther = "eeeeeeee-0000-4000-8000-000000000002"
	)
	tf := &emulator.TenantFile{}
	legit := []emulator.User{
		{ID: "ffffffff-0000-4000-8000-000000000001", DisplayName: "legit guid", UserPrincipalName: "lg@lab.test", OnPremisesSyncEnabled: yes(), OnPremisesObjectIdentifier: users[0].GUID.String(), OnPremisesSecurityIdentifier: users[0].SID},
		{ID: "ffffffff-0000-4000-8000-000000000002", DisplayName: "legit sid", UserPrincipalName: "ls@lab.test", OnPremisesSyncEnabled: yes(), OnPremisesSecurityIdentifier: users[1].SID},
		{ID: "ffffffff-0000-4000-8000-000000000003", DisplayName: "legit immutable", UserPrincipalName: "li@lab.test", OnPremisesSyncEnabled: yes(), OnPremisesImmutableId: immutableID(users[2].GUID)},
	}
	tf.Users = legit
	tf.Groups = []emulator.Group{
		{ID: gPriv, DisplayName: "PrivTest", SecurityEnabled: true, Members: []string{legit[0].ID}},
		{ID: gOther, DisplayName: "Other", SecurityEnabled: true, Members: []string{legit[0].ID}},
	}
	// Users that name AD objects by objectGUID: the emulator serves
	// onPremisesObjectIdentifier, as the real service does in practice.
	f := newFixtureWith(t, l, tf, emulator.Options{ServeObjectIdentifier: true}, nil)
	f.round(RoundOptions{})
	groups := f.adGroups()
	priv, other := groups[plan.Anchor(gPriv)], groups[plan.Anchor(gOther)]
	if priv.DN == "" || other.DN == "" {
		t.Fatalf("groups not created: %v", keys(groups))
	}

	base := l.BaseDN
	c := f.dc
	targets := []principal{
		readPrincipal(t, c, base, "Domain Admins", "(&(objectClass=group)(sAMAccountName=Domain Admins))"),
		readPrincipal(t, c, base, "Enterprise Admins", "(&(objectClass=group)(sAMAccountName=Enterprise Admins))"),
		readPrincipal(t, c, "CN=Builtin,"+base, "BUILTIN\\Administrators", "(&(objectClass=group)(sAMAccountName=Administrators))"),
		readPrincipal(t, c, base, "Administrator", "(&(objectClass=user)(sAMAccountName=Administrator))"),
		readPrincipal(t, c, base, "krbtgt", "(&(objectClass=user)(sAMAccountName=krbtgt))"),
		readPrincipal(t, c, base, "the DC", "(&(objectClass=computer)(primaryGroupID=516))"),
		readPrincipal(t, c, l.OU, "the writeback group itself", "(msDS-ExternalDirectoryObjectId="+plan.Anchor(gPriv)+")"),
		readPrincipal(t, c, l.OU, "another writeback group", "(msDS-ExternalDirectoryObjectId="+plan.Anchor(gOther)+")"),
	}
	// Left there by a writeback without these checks: removed by the next round.
	if err := c.AddMembers(context.Background(), priv.DN, []string{targets[0].dn, targets[4].dn}); err != nil {
		t.Fatal(err)
	}
	adm := f.env.Admin
	want := map[string]string{} // cloud user ID -> what its reason must say
	var ids []string
	n := 0
	add := func(name string, u emulator.User, reason string) {
		t.Helper()
		n++
		u.ID = fmt.Sprintf("99999999-0000-4000-8000-%012d", n)
		u.DisplayName, u.UserPrincipalName = name, fmt.Sprintf("fake%d@lab.test", n)
		if _, err := adm.AddUser(u); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
		want[u.ID] = reason
	}
	off := false
	for _, p := range targets {
		// Synced, by each identifier.
		add(p.name+" by SID", emulator.User{OnPremisesSyncEnabled: yes(), OnPremisesSecurityIdentifier: p.sid}, "refused: ")
		add(p.name+" by objectGUID", emulator.User{OnPremisesSyncEnabled: yes(), OnPremisesObjectIdentifier: p.guid.String()}, "refused: ")
		add(p.name+" by immutableId", emulator.User{OnPremisesSyncEnabled: yes(), OnPremisesImmutableId: immutableID(p.guid)}, "refused: ")
		// Cloud-only: onPremisesSyncEnabled absent, or false.
		add(p.name+" cloud-only", emulator.User{OnPremisesSecurityIdentifier: p.sid, OnPremisesObjectIdentifier: p.guid.String()}, "onPremisesSyncEnabled is not true")
		add(p.name+" sync off", emulator.User{OnPremisesSyncEnabled: &off, OnPremisesImmutableId: immutableID(p.guid)}, "onPremisesSyncEnabled is not true")
	}
	// A legitimate user's GUID with Domain Admins' SID: the identifiers disagree.
	add("mixed", emulator.User{OnPremisesSyncEnabled: yes(), OnPremisesObjectIdentifier: users[3].GUID.String(), OnPremisesSecurityIdentifier: targets[0].sid}, "name different AD objects")
	// D5: malformed SIDs are their member's problem, not the round's.
	for _, bad := range []string{"garbage", "S-1-5-21-x", users[3].SID + " ", "S-1-5-21-99999999999999"} {
		add("bad SID "+bad, emulator.User{OnPremisesSyncEnabled: yes(), OnPremisesSecurityIdentifier: bad}, "is not a valid SID")
	}
	if err := adm.AddMembers(gPriv, append(ids, legit[1].ID, legit[2].ID)...); err != nil {
		t.Fatal(err)
	}

	res := f.round(RoundOptions{})
	got := f.adGroups()[plan.Anchor(gPriv)]
	if w := []string{ldapdn.RDNValue(users[0].DN), ldapdn.RDNValue(users[1].DN), ldapdn.RDNValue(users[2].DN)}; !slices.Equal(rdns(got.Members), sortedCopy(w)) {
		t.Errorf("PrivTest members in AD = %v, want only the legitimate users %v", got.Members, w)
	}
	for _, p := range targets {
		for _, m := range got.Members {
			if ldapdn.Equal(m, p.dn) {
				t.Errorf("%s (%s) is a member of PrivTest", p.name, p.dn)
			}
		}
	}
	reasons := map[string]string{}
	for _, gu := range res.Planned.Plan.Unresolved {
		if gu.GroupID != gPriv {
			continue
		}
		for _, u := range gu.Unresolved {
			reasons[u.ID] = u.Reason
		}
	}
	for id, w := range want {
		if !strings.Contains(reasons[id], w) {
			t.Errorf("member %s: reason %q, want it to contain %q", id, reasons[id], w)
		}
	}
	// A few reasons in full, as `writeback plan` shows them.
	for _, id := range ids[:2] {
		t.Logf("%s: %s", id, reasons[id])
	}
	for i, p := range targets {
		t.Logf("%s by objectGUID: %s", p.name, reasons[ids[i*5+1]])
	}
}

// TestLabRenamedNestedGroupKeepsCurrentDN (D8): a nested group whose DN the
// resolver cached (its parent was planned while it was not) and that
// writeback then renamed is added to another parent under its new DN: the
// resolver's cache follows writeback's own renames.
func TestLabRenamedNestedGroupKeepsCurrentDN(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 1, "wbd")
	const (
		gP = "dddddddd-8000-4000-8000-000000000001"
		gC = "dddddddd-8000-4000-8000-000000000002"
		gQ = "dddddddd-8000-4000-8000-000000000003"
	)
	u := emulator.User{ID: "dddddddd-9000-4000-8000-000000000001", DisplayName: "u", UserPrincipalName: "u@lab.test", OnPremisesSyncEnabled: yes(), OnPremisesObjectIdentifier: users[0].GUID.String()}
	tf := &emulator.TenantFile{Users: []emulator.User{u}, Groups: []emulator.Group{
		{ID: gP, DisplayName: "Stale P", SecurityEnabled: true, Members: []string{gC, u.ID}},
		{ID: gC, DisplayName: "Stale DN Child", SecurityEnabled: true, Members: []string{u.ID}},
		{ID: gQ, DisplayName: "Stale Q", SecurityEnabled: true, Members: []string{u.ID}},
	}}
	// Users that name AD objects by objectGUID: the emulator serves
	// onPremisesObjectIdentifier, as the real service does in practice.
	f := newFixtureWith(t, l, tf, emulator.Options{ServeObjectIdentifier: true}, nil)
	f.round(RoundOptions{})
	adm := f.env.Admin
	// P alone is planned: C's DN comes from the cache/GC.
	if _, err := adm.UpdateGroup(gP, func(g *emulator.Group) { g.Description = "touch" }); err != nil {
		t.Fatal(err)
	}
	f.round(RoundOptions{})
	// writeback renames C in AD.
	if _, err := adm.UpdateGroup(gC, func(g *emulator.Group) { g.DisplayName = "Stale DN Child Renamed" }); err != nil {
		t.Fatal(err)
	}
	f.round(RoundOptions{})
	child := f.adGroups()[plan.Anchor(gC)]
	if !strings.HasPrefix(child.CN, "Stale DN Child Renamed") {
		t.Fatalf("child not renamed: %s", child.DN)
	}
	// Q gets C: f.round fails the test if the add fails (LDAP 32 under the old DN).
	if err := adm.AddMembers(gQ, gC); err != nil {
		t.Fatal(err)
	}
	f.round(RoundOptions{})
	q := f.adGroups()[plan.Anchor(gQ)]
	if !slices.ContainsFunc(q.Members, func(m string) bool { return ldapdn.Equal(m, child.DN) }) {
		t.Errorf("Q members = %v, want the renamed child %s", q.Members, child.DN)
	}
}

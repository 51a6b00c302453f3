package engine

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/plan"
)

const (
	gSOA     = "aaaaaaaa-0000-4000-8000-0000000000a1" // converted: its AD group exists
	gSOAGone = "aaaaaaaa-0000-4000-8000-0000000000a2" // converted: no AD group has its SID
	gCloudUp = "aaaaaaaa-0000-4000-8000-0000000000a3" // cloud-native, the converted group nested in it
)

// adGroupAt reads one AD group by DN with its members and memberOf, as an
// administrator sees it (not writeback's state).
func adGroupAt(t *testing.T, dc *ad.Conn, dn string) (ad.Group, []string) {
	t.Helper()
	ctx := context.Background()
	var g ad.Group
	found := false
	if err := dc.Groups(ctx, dn, "", ad.GroupQuery{WithMembers: true, Scope: ad.ScopeBase}, func(x ad.Group) error {
		g, found = x, true
		return nil
	}); err != nil || !found {
		t.Fatalf("read %s: found %v, %v", dn, found, err)
	}
	var memberOf []string
	if err := dc.Search(ctx, dn, ad.ScopeBase, "(objectClass=*)", []string{"memberOf"}, func(e *ldap.Entry) error {
		memberOf = e.GetAttributeValues("memberOf")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return g, memberOf
}

// An AD group with members, itself nested in another AD group (an ACL-like
// use of its SID), is synced to Entra and then converted to the cloud:
// writeback takes it over in place — same objectGUID, objectSid, DN and
// memberships — instead of creating a second group; the takeover that would
// remove a member is held until accepted; then cloud changes flow into it;
// rolling the conversion back releases it, removing nothing.
func TestLabSOAConvertedGroupTakenOverInPlace(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 4, "wbsoa")
	dc := l.AdminConn(t)
	ctx := context.Background()

	// The group as an AD administrator made it: a global group (not what
	// writeback would create), three members, nested in "App Access".
	origDN := "CN=App Readers," + l.OU
	sam := "AppReaders-" + l.Tag
	if err := dc.CreateGroup(ctx, origDN, map[string][]string{"sAMAccountName": {sam}, "groupType": {"-2147483646"},
		"member": {users[0].DN, users[1].DN, users[3].DN}}); err != nil {
		t.Fatal(err)
	}
	accessDN := "CN=App Access," + l.OU
	if err := dc.CreateGroup(ctx, accessDN, map[string][]string{"sAMAccountName": {"AppAccess-" + l.Tag}, "member": {origDN}}); err != nil {
		t.Fatal(err)
	}
	orig, origMemberOf := adGroupAt(t, dc, origDN)

	tf := sampleTenant(users)
	uid := func(i int) string { return tf.Users[i].ID }
	onPrem := func(sid, sam string) map[string]any {
		return map[string]any{"onPremisesSecurityIdentifier": sid, "onPremisesSamAccountName": sam, "onPremisesDomainName": "lab.test"}
	}
	// Synced from AD first; users[3] is not in its cloud membership (say,
	// outside the sync scope), so taking it over would remove that member.
	tf.Groups = []emulator.Group{
		{ID: gSOA, DisplayName: "App Readers", SecurityEnabled: true, OnPremisesSyncEnabled: yes(),
			Members: []string{uid(0), uid(1)}, Extra: onPrem(orig.SID, sam)},
		{ID: gSOAGone, DisplayName: "Gone Group", SecurityEnabled: true, IsCloudManaged: true,
			Members: []string{uid(0)}, Extra: onPrem(orig.SID[:strings.LastIndexByte(orig.SID, '-')]+"-987654", "Gone-"+l.Tag)},
		{ID: gCloudUp, DisplayName: "Cloud Parent", SecurityEnabled: true, Members: []string{gSOA, uid(2)}},
	}
	f := newFixtureOn(t, l, tf, nil)
	// The group converted to the cloud, as PATCH onPremisesSyncBehavior
	// {"isCloudManaged": true} does in the emulator.
	// Rolled back, it is as Microsoft documents it until the sync client
	// takes the group over again: isCloudManaged false, onPremisesSyncEnabled
	// still null (only the GET of onPremisesSyncBehavior tells).
	convert := func(cloud bool) {
		t.Helper()
		if _, err := f.env.Admin.UpdateGroup(gSOA, func(g *emulator.Group) {
			g.IsCloudManaged = cloud
			g.OnPremisesSyncEnabled = nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	convert(true)

	// 1. The takeover is planned and held: it would remove users[3].
	res := f.round(RoundOptions{})
	var held *plan.Collision
	for i, c := range res.Planned.Plan.Collisions {
		if c.GroupID == gSOA && c.Kind == plan.SkipTakeoverHeld {
			held = &res.Planned.Plan.Collisions[i]
		}
	}
	if held == nil || !strings.Contains(held.Reason, cn(users[3])) || !strings.Contains(held.Reason, orig.SID) {
		t.Fatalf("takeover not held with the member named: %+v", res.Planned.Plan.Collisions)
	}
	for _, c := range res.Planned.Plan.Changes {
		if c.GroupID == gSOA || c.GroupID == gSOAGone && c.Action == plan.Create {
			t.Errorf("held takeover / missing original planned %s %s", c.Action, c.DN)
		}
	}
	if g, _ := adGroupAt(t, dc, origDN); g.Anchor != "" || len(g.Members) != 3 {
		t.Errorf("held takeover wrote to AD: anchor %q, members %v", g.Anchor, rdns(g.Members))
	}
	gone := false
	for _, c := range res.Planned.Plan.Collisions {
		gone = gone || c.GroupID == gSOAGone && c.Kind == plan.SkipSOANotFound
	}
	if !gone {
		t.Errorf("a converted group whose SID is not in AD is not reported: %+v", res.Planned.Plan.Collisions)
	}
	// The cloud parent nests the converted group as its original AD group.
	if parent := f.adGroups()[plan.Anchor(gCloudUp)]; !slices.ContainsFunc(parent.Members, func(m string) bool { return strings.EqualFold(m, origDN) }) {
		t.Errorf("Cloud Parent members = %v, want the original %s", parent.Members, origDN)
	}

	// 2. Accepted: taken over in place, the plan says so first.
	res = f.round(RoundOptions{DryRun: true, PlanOptions: PlanOptions{AllowRemovals: true}})
	var text bytes.Buffer
	if err := plan.WriteText(&text, res.Planned.Plan); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "take over "+origDN+" (SID "+orig.SID+")") || strings.Contains(text.String(), "will be created\n  + group CN=App Readers") {
		t.Errorf("plan text does not show the takeover:\n%s", text.String())
	}
	for _, c := range res.Planned.Plan.Changes {
		if c.Action == plan.Create {
			t.Errorf("takeover plan creates %s", c.DN)
		}
	}
	f.round(RoundOptions{PlanOptions: PlanOptions{AllowRemovals: true}})
	g, memberOf := adGroupAt(t, dc, origDN)
	switch {
	case g.GUID != orig.GUID || g.SID != orig.SID || g.DN != orig.DN:
		t.Errorf("not taken over in place: %s %s %s, was %s %s %s", g.DN, g.GUID, g.SID, orig.DN, orig.GUID, orig.SID)
	case !containsAll(memberOf, origMemberOf):
		t.Errorf("memberOf = %v, was %v (and Cloud Parent)", memberOf, origMemberOf)
	case g.Anchor != plan.Anchor(gSOA) || g.AdminDescription != plan.Anchor(gSOA):
		t.Errorf("anchor not stamped: %q %q", g.Anchor, g.AdminDescription)
	case g.SAMAccountName != sam || g.GroupType != -2147483646:
		t.Errorf("sAMAccountName %q, groupType %d changed", g.SAMAccountName, g.GroupType)
	case !slices.Equal(rdns(g.Members), sortedCopy([]string{cn(users[0]), cn(users[1])})):
		t.Errorf("members = %v", rdns(g.Members))
	}
	if st, _ := f.db.Status(gSOA); st.TakenOver == nil || st.TakenOver.SID != orig.SID || !strings.EqualFold(st.DN, origDN) {
		t.Errorf("status = %+v", st)
	}

	// 3. From then on it is owned like any other: a cloud change flows.
	if err := f.env.Admin.AddMembers(gSOA, uid(2)); err != nil {
		t.Fatal(err)
	}
	res = f.round(RoundOptions{})
	if len(res.Planned.Plan.Takeovers) != 0 {
		t.Errorf("taken over twice: %+v", res.Planned.Plan.Takeovers)
	}
	g, _ = adGroupAt(t, dc, origDN)
	if !slices.Equal(rdns(g.Members), sortedCopy([]string{cn(users[0]), cn(users[1]), cn(users[2])})) || g.DN != orig.DN {
		t.Errorf("after a cloud add: %s members %v", g.DN, rdns(g.Members))
	}

	// 3b. The state file moved away: the first (full) round of a new state
	// knows the group by its SID and renames or converts nothing.
	keep := f.cfg.State.Path
	f.db.Close()
	f.cfg.State.Path = keep + ".other"
	f.open()
	f.round(RoundOptions{})
	if g, _ := adGroupAt(t, dc, origDN); g.DN != orig.DN || g.GroupType != -2147483646 || g.SAMAccountName != sam {
		t.Errorf("a new state renamed or converted the taken-over group: %s, groupType %d, %s", g.DN, g.GroupType, g.SAMAccountName)
	}
	f.db.Close()
	f.cfg.State.Path = keep
	f.open()

	// 4. Rolled back: released, nothing removed, the anchor as it was. The
	// rollback alone changes nothing the groups delta shows (the sync
	// client's takeover will: onPremisesSyncEnabled true); a full round
	// reads isCloudManaged of every taken-over group.
	convert(false)
	res = f.round(RoundOptions{PlanOptions: PlanOptions{Full: true}})
	released := false
	for _, c := range res.Planned.Plan.Changes {
		released = released || c.GroupID == gSOA && c.Action == plan.Release
		if c.GroupID == gSOA && c.Action != plan.Release {
			t.Errorf("rollback planned %s %s", c.Action, c.DN)
		}
	}
	if !released {
		t.Fatalf("rollback did not release the group: %+v", res.Planned.Plan.Changes)
	}
	g, memberOf = adGroupAt(t, dc, origDN)
	if g.GUID != orig.GUID || g.Anchor != "" || g.AdminDescription != "" || len(g.Members) != 3 || !containsAll(memberOf, origMemberOf) {
		t.Errorf("after release: anchor %q %q, members %v, memberOf %v", g.Anchor, g.AdminDescription, rdns(g.Members), memberOf)
	}
	if st, _ := f.db.Status(gSOA); st.DN != "" || st.TakenOver != nil || st.Released == nil || !strings.Contains(st.Released.Reason, "back in AD") {
		t.Errorf("released group still writeback's, or not said released: %+v", st)
	}
	res = f.round(RoundOptions{PlanOptions: PlanOptions{Full: true}})
	for _, c := range res.Planned.Plan.Changes {
		if c.GroupID == gSOA {
			t.Errorf("released group changed again: %s %s", c.Action, c.DN)
		}
	}

	// 5. Converted again and taken over; then the state file is lost, the
	// safety policy says delete out-of-scope groups, and the conversion is
	// rolled back and the sync client takes the group over (synced again):
	// the group is recognised by its SID and released, not deleted.
	convert(true)
	f.round(RoundOptions{PlanOptions: PlanOptions{Full: true}})
	if g, _ := adGroupAt(t, dc, origDN); g.Anchor != plan.Anchor(gSOA) {
		t.Fatalf("not taken over again: anchor %q", g.Anchor)
	}
	f.cfg.State.Path += ".lost"
	f.reconfigure(func(c *config.Config) { c.Safety.OnOutOfScope = "delete" })
	f.round(RoundOptions{})
	if _, err := f.env.Admin.UpdateGroup(gSOA, func(g *emulator.Group) { g.IsCloudManaged, g.OnPremisesSyncEnabled = false, yes() }); err != nil {
		t.Fatal(err)
	}
	res = f.round(RoundOptions{})
	for _, c := range res.Planned.Plan.Changes {
		if c.GroupID == gSOA && c.Action != plan.Release {
			t.Errorf("rolled-back group under a lost state: planned %s %s", c.Action, c.DN)
		}
	}
	if g, _ := adGroupAt(t, dc, origDN); g.GUID != orig.GUID || g.Anchor != "" || len(g.Members) != 3 {
		t.Errorf("after the rollback under a lost state: anchor %q, members %v", g.Anchor, rdns(g.Members))
	}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, w) }) {
			return false
		}
	}
	return true
}

package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/plan"
)

// uniqueID is a group ID no other test of the shared lab uses.
func uniqueID(prefix string) string {
	return fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, time.Now().UnixNano()%1e12)
}

// byAnchor reads every group of the domain carrying anchor, from AD.
func byAnchor(t *testing.T, dc *ad.Conn, domain, anchor string) []ad.Group {
	t.Helper()
	var out []ad.Group
	err := dc.Groups(context.Background(), domain, "("+ad.AttrExternalDirectoryObjectID+"="+anchor+")", ad.GroupQuery{WithMembers: true}, func(g ad.Group) error {
		out = append(out, g)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func skipOf(p *plan.Plan, id string) *plan.Collision {
	for i, c := range p.Collisions {
		if c.GroupID == id {
			return &p.Collisions[i]
		}
	}
	return nil
}

// D2 (reliability review P2b): Domain Admins given a cloud group's anchor is
// not renamed, retyped or emptied by plan + apply; the group is reported as
// protected. Domain Admins is read back from AD, and its anchor removed
// afterwards.
func TestLabDomainAdminsWithForgedAnchorIsUntouched(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 1, "wbp")
	ctx := context.Background()
	dc := l.AdminConn(t)
	domain, err := dc.BaseDN(ctx)
	if err != nil {
		t.Fatal(err)
	}
	daDN := "CN=Domain Admins,CN=Users," + domain
	before, err := dc.GroupByDN(ctx, daDN, true)
	if err != nil || before == nil {
		t.Fatalf("read Domain Admins: %v", err)
	}
	id := uniqueID("eeeeeeee")
	anchor := plan.Anchor(id)
	if err := dc.Modify(ctx, daDN, map[string][]string{ad.AttrExternalDirectoryObjectID: {anchor}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Restore Domain Admins as it was, even if a regression changed it
		// (found by its objectGUID); if that fails, the lab needs a reset.
		ctx := context.Background()
		dns, err := dc.FindByGUIDs(ctx, []ad.GUID{before.GUID})
		cur := dns[before.GUID]
		if err == nil && cur != "" && !strings.EqualFold(cur, daDN) {
			_, err = dc.Move(ctx, cur, "CN=Domain Admins", "CN=Users,"+domain)
		}
		if err == nil {
			restore := map[string][]string{ad.AttrExternalDirectoryObjectID: nil, "groupType": {fmt.Sprint(before.GroupType)}, "description": nil, "displayName": nil}
			if before.Description != "" {
				restore["description"] = []string{before.Description}
			}
			if before.DisplayName != "" {
				restore["displayName"] = []string{before.DisplayName}
			}
			err = dc.Modify(ctx, daDN, restore)
		}
		if err == nil {
			_, _, err = dc.SetMembers(ctx, daDN, before.Members)
		}
		if err != nil {
			t.Errorf("restore Domain Admins: %v (run 'writeback lab reset')", err)
		}
	})
	tf := sampleTenant(users)
	tf.Groups = []emulator.Group{{ID: id, DisplayName: "Tier0 Takeover", SecurityEnabled: true, Members: []string{tf.Users[0].ID}}}
	// The default search base: the whole domain, as in the review.
	f := newFixtureOn(t, l, tf, func(c *config.Config) {
		c.Sync.SearchBase = ""
		c.Scope.Mode = "selected"
		c.Scope.Groups = []string{id}
	})

	for _, o := range []RoundOptions{{}, {PlanOptions: PlanOptions{Full: true}}} {
		// With the whole domain as the search base, a full round meets every
		// anchored group of the shared lab, other tests' too (some carry the
		// same anchors): only this test's group is judged.
		res, err := f.eng.RunOnce(context.Background(), o)
		if err != nil {
			t.Fatalf("full=%v: round: %v", o.Full, err)
		}
		if res.Applied != nil {
			for _, ge := range res.Applied.Errors {
				if ge.GroupID == id {
					t.Errorf("full=%v: the protected group failed: %+v", o.Full, ge)
				}
			}
		}
		s := skipOf(res.Planned.Plan, id)
		if s == nil || s.Kind != plan.SkipProtected || !strings.Contains(s.Reason, "well-known RID 512") || !strings.Contains(s.Reason, "isCriticalSystemObject") {
			t.Errorf("full=%v: skip = %+v", o.Full, s)
		}
		for _, c := range res.Planned.Plan.Changes {
			t.Errorf("full=%v: planned %s %s", o.Full, c.Action, c.DN)
		}
	}
	after, err := dc.GroupByDN(ctx, daDN, true)
	if err != nil || after == nil {
		t.Fatalf("read Domain Admins back: %v", err)
	}
	if after.CN != before.CN || after.GroupType != before.GroupType || after.Description != before.Description ||
		after.DisplayName != before.DisplayName || !slices.Equal(sortedCopy(after.Members), sortedCopy(before.Members)) {
		t.Errorf("Domain Admins changed:\nbefore %+v\nafter  %+v", before, after)
	}
	if gs := byAnchor(t, dc, domain, anchor); len(gs) != 1 {
		t.Errorf("%d groups carry the anchor, want Domain Admins only", len(gs))
	}
	if st, _ := f.db.Status(id); st.DN != "" || st.Failures != 0 {
		t.Errorf("status: %+v", st)
	}
}

// D3 (reliability review H5): a group moved out of sync.searchBase by hand,
// then changed in the cloud, is found by its anchor and reported; it is not
// created a second time, and the message says where it is.
func TestLabGroupMovedOutOfSearchBase(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 1, "wbo")
	ctx := context.Background()
	dc := l.AdminConn(t)
	domain, err := dc.BaseDN(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := uniqueID("ffffffff")
	anchor := plan.Anchor(id)
	tf := sampleTenant(users)
	tf.Groups = []emulator.Group{{ID: id, DisplayName: "東京 Office", SecurityEnabled: true, Members: []string{tf.Users[0].ID}}}
	f := newFixtureOn(t, l, tf, nil)
	f.round(RoundOptions{})
	gs := byAnchor(t, dc, domain, anchor)
	if len(gs) != 1 {
		t.Fatalf("%d groups after the first sync", len(gs))
	}
	// By hand: to CN=Users, outside the test's OU (the search base).
	moved, err := dc.Move(ctx, gs[0].DN, "CN="+ldapdn.Escape(gs[0].CN), "CN=Users,"+domain)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dc.Delete(context.Background(), moved) })
	if _, err := f.env.Admin.UpdateGroup(id, func(g *emulator.Group) { g.DisplayName = "東京 Office renamed" }); err != nil {
		t.Fatal(err)
	}
	for _, o := range []RoundOptions{{}, {PlanOptions: PlanOptions{Full: true}}} {
		// With the whole domain as the search base, a full round meets every
		// anchored group of the shared lab, other tests' too (some carry the
		// same anchors): only this test's group is judged.
		res, err := f.eng.RunOnce(context.Background(), o)
		if err != nil {
			t.Fatalf("full=%v: round: %v", o.Full, err)
		}
		if res.Applied != nil {
			for _, ge := range res.Applied.Errors {
				if ge.GroupID == id {
					t.Errorf("full=%v: the protected group failed: %+v", o.Full, ge)
				}
			}
		}
		s := skipOf(res.Planned.Plan, id)
		if s == nil || s.Kind != plan.SkipOutside || !strings.EqualFold(s.DN, moved) || strings.Contains(s.Reason, "without") {
			t.Errorf("full=%v: skip = %+v", o.Full, s)
		}
	}
	gs = byAnchor(t, dc, domain, anchor)
	if len(gs) != 1 || !strings.EqualFold(gs[0].DN, moved) {
		var dns []string
		for _, g := range gs {
			dns = append(dns, g.DN)
		}
		t.Errorf("groups with the anchor: %v, want only %s", dns, moved)
	}
}

// D14/D16: a display name with U+FFFD is provisioned; one with a
// right-to-left override or 10,000 characters is refused with the reason
// and not quarantined; with cn = [displayName], two groups swapping names
// converge in one round.
func TestLabNamesAndSwap(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 1, "wbn")
	ctx := context.Background()
	dc := l.AdminConn(t)
	domain, err := dc.BaseDN(ctx)
	if err != nil {
		t.Fatal(err)
	}
	idFFFD, idRLO, idLong, idRed, idBlue := uniqueID("a1a1a1a1"), uniqueID("a2a2a2a2"), uniqueID("a3a3a3a3"), uniqueID("a4a4a4a4"), uniqueID("a5a5a5a5")
	tag := strings.ToLower(l.Tag)
	red, blue := "Red "+tag, "Blue "+tag
	tf := sampleTenant(users)
	m := []string{tf.Users[0].ID}
	tf.Groups = []emulator.Group{
		{ID: idFFFD, DisplayName: "bad\uFFFDx " + tag, SecurityEnabled: true, Members: m},
		{ID: idRLO, DisplayName: "\u202Etxt.exe Finance", SecurityEnabled: true, Members: m},
		{ID: idLong, DisplayName: strings.Repeat("x", 10000), SecurityEnabled: true, Members: m},
		{ID: idRed, DisplayName: red, SecurityEnabled: true, Members: m},
		{ID: idBlue, DisplayName: blue, SecurityEnabled: true, Members: m},
	}
	f := newFixtureOn(t, l, tf, func(c *config.Config) {
		c.Mappings.Attributes = map[string]config.Mapping{"cn": {Expression: "Left([displayName], 64)"}}
	})
	res := f.round(RoundOptions{})
	for id, want := range map[string]string{idRLO: "U+202E", idLong: "10000 characters"} {
		if s := skipOf(res.Planned.Plan, id); s == nil || s.Kind != plan.SkipRefused || !strings.Contains(s.Reason, want) {
			t.Errorf("%s: skip = %+v, want a refusal with %q", id, s, want)
		}
		if gs := byAnchor(t, dc, domain, plan.Anchor(id)); len(gs) != 0 {
			t.Errorf("%s was created: %s", id, gs[0].DN)
		}
		if st, _ := f.db.Status(id); !st.QuarantinedUntil.IsZero() {
			t.Errorf("%s quarantined: %+v", id, st)
		}
	}
	gs := byAnchor(t, dc, domain, plan.Anchor(idFFFD))
	if len(gs) != 1 || !strings.ContainsRune(gs[0].CN, '\uFFFD') || !utf8.ValidString(gs[0].SAMAccountName) || len(gs[0].Members) != 1 {
		t.Errorf("U+FFFD group: %+v", gs)
	}

	// The swap.
	adm := f.env.Admin
	if _, err := adm.UpdateGroup(idRed, func(g *emulator.Group) { g.DisplayName = blue }); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.UpdateGroup(idBlue, func(g *emulator.Group) { g.DisplayName = red }); err != nil {
		t.Fatal(err)
	}
	res = f.round(RoundOptions{})
	for _, id := range []string{idRed, idBlue} {
		if s := skipOf(res.Planned.Plan, id); s != nil {
			t.Errorf("swap: %s skipped: %+v", id, s)
		}
	}
	for id, want := range map[string]string{idRed: blue, idBlue: red} {
		gs := byAnchor(t, dc, domain, plan.Anchor(id))
		if len(gs) != 1 || gs[0].CN != want || gs[0].DisplayName != want {
			t.Errorf("after the swap, %s: %+v, want cn and displayName %q", id, gs, want)
		}
	}
	if res = f.round(RoundOptions{PlanOptions: PlanOptions{Full: true}, DryRun: true}); len(res.Planned.Plan.Changes) != 0 {
		t.Errorf("not converged after the swap: %+v", res.Planned.Plan.Changes)
	}
}

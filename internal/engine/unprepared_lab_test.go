package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/plan"
)

// A group Connect Sync wrote whose msDS-ExternalDirectoryObjectId names a
// different object ID (an anchor conflict) is still the cloud group's copy:
// widening the scope must report a collision, never create a second group.
func TestLabAnchorConflictIsNotCreatedTwice(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 1, "wbk")
	tf := sampleTenant(users)
	tf.Groups = []emulator.Group{
		{ID: gParent, DisplayName: "Written by Connect Sync", SecurityEnabled: true, Members: []string{tf.Users[0].ID}},
	}
	ctx := context.Background()
	dc := l.AdminConn(t)
	const stale = "eeeeeeee-0000-4000-8000-000000000009"
	conflict := "CN=Group_" + gParent + "," + l.OU
	if err := dc.CreateGroup(ctx, conflict, map[string][]string{"adminDescription": {plan.Anchor(gParent)},
		ad.AttrExternalDirectoryObjectID: {plan.Anchor(stale)}, "sAMAccountName": {"cs-" + gParent[:8] + "k"}}); err != nil {
		t.Fatal(err)
	}
	var usnBefore int64
	_ = dc.Groups(ctx, conflict, "", ad.GroupQuery{Scope: ad.ScopeBase}, func(g ad.Group) error { usnBefore = g.USNChanged; return nil })

	f := newFixtureOn(t, l, tf, nil)
	res := f.round(RoundOptions{})
	p := res.Planned.Plan
	if p.Summary.Create != 0 {
		t.Errorf("plan creates %d groups; want none (the conflicting group is the cloud group's copy)", p.Summary.Create)
	}
	found := false
	for _, c := range p.Collisions {
		if c.GroupID == gParent && strings.EqualFold(c.DN, conflict) {
			found = true
		}
	}
	if !found {
		t.Errorf("collisions = %+v; want %s reported on %s", p.Collisions, gParent, conflict)
	}
	var n int
	var after ad.Group
	_ = dc.Groups(ctx, l.OU, "", ad.GroupQuery{}, func(g ad.Group) error {
		n++
		if strings.EqualFold(g.DN, conflict) {
			after = g
		}
		return nil
	})
	if n != 1 {
		t.Errorf("AD has %d groups in the OU, want the conflicting one only", n)
	}
	if after.USNChanged != usnBefore || after.Anchor != plan.Anchor(stale) {
		t.Errorf("conflicting group touched: anchor %q, usn %d -> %d", after.Anchor, usnBefore, after.USNChanged)
	}
}

package engine

import (
	"context"
	"testing"
)

// A round counts its work as it goes: groups read from Graph, memberships
// resolved, changes written, and is between phases when done.
func TestRoundCountsProgress(t *testing.T) {
	eng, _, _, _ := newLDAPTestEngine(t, "")
	var p Progress
	eng.SetProgress(&p)
	res, err := eng.RunOnce(context.Background(), RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.GroupsRead.Load(); got != int64(res.Ingested.Groups) || got == 0 {
		t.Errorf("groups read %d, the round ingested %d", got, res.Ingested.Groups)
	}
	if p.MembersResolved.Load() != p.MembersToResolve.Load() {
		t.Errorf("members resolved %d of %d", p.MembersResolved.Load(), p.MembersToResolve.Load())
	}
	if n := int64(len(res.Planned.Plan.Changes)); p.WritesTotal.Load() != n || p.Writes.Load() != n || n == 0 {
		t.Errorf("writes %d of %d, the plan had %d changes", p.Writes.Load(), p.WritesTotal.Load(), n)
	}
	if ph := p.Phase(); ph != "" {
		t.Errorf("phase after the round %q, want none", ph)
	}
}

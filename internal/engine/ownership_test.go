package engine

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// The ownership rule alone: an anchored AD group whose cloud group left is
// acted on only when the state records it as writeback's, deleted only on
// Graph's word; a protected group is never claimed.
func TestOwnershipLeaving(t *testing.T) {
	var o ownership
	act := plan.Actual{DN: "CN=X,OU=G,DC=test", Anchor: plan.Anchor(idA)}
	mine := state.GroupStatus{ID: idA, DN: act.DN}
	cached := &state.Group{ID: idA}
	for _, tc := range []struct {
		name      string
		st        state.GroupStatus
		g         *state.Group
		mark      string
		want      plan.GoneReason
		untouched string
	}{
		{"not ours, gone from the tenant", state.GroupStatus{ID: idA}, nil, "deleted", "", "the tenant has no such group"},
		{"not ours, out of scope", state.GroupStatus{ID: idA}, cached, "", "", "the group is out of scope (not security-enabled)"},
		{"ours, deleted in Entra", mine, nil, "deleted", plan.Deleted, ""},
		{"ours, merely absent from the cache", mine, nil, "", plan.OutOfScope, ""},
		{"ours, out of scope", mine, cached, "", plan.OutOfScope, ""},
	} {
		reason, u := o.leaving(idA, tc.st, tc.g, "not security-enabled", act, tc.mark)
		switch {
		case tc.untouched != "" && (u == nil || !strings.Contains(u.Reason, tc.untouched) || u.DN != act.DN):
			t.Errorf("%s: untouched = %+v; want it left alone because %s", tc.name, u, tc.untouched)
		case tc.untouched == "" && (u != nil || reason != tc.want):
			t.Errorf("%s: reason %q, untouched %+v; want %q", tc.name, reason, u, tc.want)
		}
	}
	if o.claims(plan.Actual{Protected: "adminCount=1"}) || !o.claims(act) {
		t.Error("a protected group was claimed, or an ordinary one not")
	}
	if o.provisioned(state.GroupStatus{ID: idA}) || !o.provisioned(mine) {
		t.Error("provisioned does not follow the recorded DN")
	}
}

// The AD-change poll (tamper.go) and the hold of re-creates after a move to
// another DC (dcpin.go) act only on the groups the ownership rule says are
// writeback's: an anchored group changed in AD whose status records no DN
// (a create that failed, or a group writeback never provisioned) is not
// marked pending, and a group whose create is planned again is held for
// replication only when writeback provisioned it.
func TestOwnershipDecidesPollAndHold(t *testing.T) {
	db, err := state.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	e := &Engine{db: db, log: slog.New(slog.DiscardHandler), now: func() time.Time { return now }}
	const mine, failed, foreign = "aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002", "aaaaaaaa-0000-4000-8000-000000000003"
	if err := db.PutStatuses([]state.GroupStatus{
		{ID: mine, DN: "CN=Mine,OU=G,DC=test", LastApplied: now.Add(-time.Minute)},
		{ID: failed, LastApplied: now.Add(-time.Minute), Failures: 1, LastError: "create refused"},
	}); err != nil {
		t.Fatal(err)
	}

	var out adChanges
	n, err := e.markChangedInAD([]string{mine, failed, foreign}, &out)
	if err != nil {
		t.Fatal(err)
	}
	dirty, err := db.Dirty()
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || len(out.changed) != 1 || out.changed[0] != mine || len(dirty) != 1 || dirty[mine] != dirtyADChanged {
		t.Errorf("poll: %d not owned, changed %v, pending %v; want only %s pending (%s)", n, out.changed, dirty, mine, dirtyADChanged)
	}

	if err := db.SetDCMove(state.DCMove{To: state.DCRef{DSServiceName: "CN=NTDS Settings,CN=DC2,DC=test", InvocationID: "g2"}, At: now}); err != nil {
		t.Fatal(err)
	}
	p := &Planned{Plan: &plan.Plan{Changes: []plan.Change{
		{Action: plan.Create, GroupID: mine, DN: "CN=Mine,OU=G,DC=test"},
		{Action: plan.Create, GroupID: failed, DN: "CN=Failed,OU=G,DC=test"},
	}}, Dirty: map[string]string{}}
	e.holdRecreates(p)
	if len(p.Plan.Changes) != 1 || p.Plan.Changes[0].GroupID != failed {
		t.Errorf("after a DC move, creates kept %v; want only %s's (writeback never provisioned it, so nothing is on its way)", p.Plan.Changes, failed)
	}
	if d, _ := db.Dirty(); d[mine] != "replication" {
		t.Errorf("held group's pending mark %q, want replication", d[mine])
	}
}

package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab/labtest"
)

// The protected-nesting check (ad.NestedInProtected) runs in every round
// that reads groups. Pinned: a no-change full round does a fixed number of
// LDAP searches, the same after the domain gains five more protected groups
// (adminCount=1), so the check no longer costs one in-chain search per
// protected group (27 searches and 2.42 s for bench S's full round before).
func TestLabNoChangeFullRoundSearches(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 1, "wbp")
	ctx := context.Background()
	tf := sampleTenant(users)
	tf.Groups = nil
	for i := range 3 {
		tf.Groups = append(tf.Groups, emulator.Group{ID: uniqueID(fmt.Sprintf("c5c5c5c%d", i)), DisplayName: fmt.Sprintf("Cost %d", i), SecurityEnabled: true, Members: []string{tf.Users[0].ID}})
	}
	f := newFixtureOn(t, l, tf, nil)
	f.round(RoundOptions{})
	full := func() int64 {
		t.Helper()
		res, err := f.eng.RunOnce(ctx, RoundOptions{PlanOptions: PlanOptions{Full: true}, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Planned.Plan.Empty() || res.LDAP.Writes != 0 {
			t.Fatalf("no-change full round planned %v, %+v", res.Planned.Plan.Changes, res.LDAP)
		}
		return res.LDAP.Searches
	}
	before := full()
	dc := l.AdminConn(t)
	for i := range 5 {
		if err := dc.CreateGroup(ctx, fmt.Sprintf("CN=Cost Tier0 %d,%s", i, l.OU), map[string][]string{"adminCount": {"1"}}); err != nil {
			t.Fatal(err)
		}
	}
	after := full()
	t.Logf("no-change full round: %d LDAP searches; %d with 5 more protected groups", before, after)
	// 4 on the lab: 2 reading the groups, 2 for the check (the protected
	// groups, then the groups in them: Domain Admins and Enterprise Admins
	// in Administrators, already known). The in-chain search per protected
	// group made it 14, and 19 after this test's 5.
	if after != before || before > 6 {
		t.Errorf("no-change full round: %d searches, %d with 5 more protected groups; want the same, at most 6", before, after)
	}
}

package engine

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/plan"
)

// TestStagesOneByOne runs a round's stages one at a time, as the package doc
// lists them, on the in-process LDAP server, and checks what each returns:
// a newcomer can follow one cloud change (group A, with the synced user
// alice) from Graph to the LDAP write, and each stage can be driven alone.
func TestStagesOneByOne(t *testing.T) {
	eng, dir, _, db := newLDAPTestEngine(t, "")
	ctx := context.Background()
	timer := newPhaseTimer(slog.New(slog.NewTextHandler(io.Discard, nil)))

	// 1. Read cloud changes: the first delta is a full snapshot.
	in, err := eng.Ingest(ctx, false)
	if err != nil || !in.Full || in.Groups != 2 || in.Users != 1 {
		t.Fatalf("Ingest = %+v, %v; want a full snapshot of 2 groups and 1 user", in, err)
	}

	// 2. Select: a first round compares every group.
	o := PlanOptions{}
	sel, err := eng.selectGroups(o)
	if err != nil || !sel.full || !sel.ids[idA] || !sel.ids[idB] {
		t.Fatalf("selectGroups = full %v, ids %v, %v; want a full round of A and B", sel.full, sel.ids, err)
	}
	out, err := eng.newPlanned(o, sel)
	if err != nil {
		t.Fatal(err)
	}

	// 3. Read actual: AD holds no owned group yet.
	actual, readErrs, err := eng.readActualSide(ctx, sel, nil)
	if err != nil || len(actual) != 0 || len(readErrs) != 0 {
		t.Fatalf("readActualSide = %v, %v, %v; want nothing", actual, readErrs, err)
	}

	// 4. Compute desired: each group mapped to the AD group it should be,
	// in the target OU, anchored, with its cloud members still cloud IDs.
	want, err := eng.computeDesired(ctx, o, sel, actual, dropAmbiguous(actual), timer)
	if err != nil {
		t.Fatal(err)
	}
	a := want.desired[idA]
	if a == nil || !ldapdn.Within(a.DN, "OU=G,DC=test") || a.Anchor != plan.Anchor(idA) || len(want.members[idA]) != 1 {
		t.Fatalf("computeDesired: A = %+v, members %v", a, want.members[idA])
	}
	if r := want.report; len(r.planned) != 2 || len(r.absent) != 2 || len(r.owned) != 0 || len(r.errors) != 0 {
		t.Fatalf("computeDesired's report = %+v; want A and B planned, both absent from AD, none owned", r)
	}
	want.report.into(out)

	// 5. Resolve members: alice's cloud ID becomes her DN.
	desired, err := eng.resolveMembers(ctx, want)
	if err != nil || len(desired) != 2 {
		t.Fatalf("resolveMembers = %d groups, %v", len(desired), err)
	}
	for _, d := range desired {
		if !slices.ContainsFunc(d.Members, func(m string) bool { return ldapdn.Equal(m, uDN) }) || len(d.Unresolved) != 0 {
			t.Errorf("resolveMembers: %s members %v, unresolved %v; want alice", d.ID, d.Members, d.Unresolved)
		}
	}

	// 6. Plan: an object someone else put at B's DN is an obstacle, which
	// the plan reports instead of writing over it.
	var bDN string
	for _, d := range desired {
		if d.ID == idB {
			bDN = d.DN
		}
	}
	dir.put(ad.Group{DN: bDN, SAMAccountName: "someone-elses"})
	pin, err := eng.readObstacles(ctx, plan.Input{Actual: actual, Desired: desired, Gone: want.gone, Skips: want.skips, Policy: eng.policy}, want.provisioned, timer)
	if err != nil {
		t.Fatal(err)
	}
	if holder, ok := lookupFold(pin.Occupied, bDN); !ok || holder != "" {
		t.Fatalf("readObstacles: Occupied = %v; want %s held by an object without an anchor", pin.Occupied, bDN)
	}
	out.Plan = plan.Calculate(pin)
	var creates []string
	for _, c := range out.Plan.Changes {
		if c.Action == plan.Create {
			creates = append(creates, c.GroupID)
		}
	}
	if !slices.Equal(creates, []string{idA}) {
		t.Fatalf("plan.Calculate creates %v; want A only (B's DN is taken)\n%+v", creates, out.Plan)
	}

	// 7. Apply: the executor writes the plan's changes; AD has A with alice.
	x := eng.execute(ctx, out, ApplyOptions{})
	if x.applied == 0 || len(x.failed) != 0 || x.lost != nil {
		t.Fatalf("execute: applied %d, failed %v, lost %v", x.applied, x.failed, x.lost)
	}
	g := dir.get(t, a.DN)
	if g == nil || g.Anchor != plan.Anchor(idA) || !slices.ContainsFunc(g.Members, func(m string) bool { return ldapdn.Equal(m, uDN) }) {
		t.Fatalf("AD after execute: %+v; want A anchored with alice", g)
	}

	// 8. Record: the state knows A's AD group (ownership) and no longer
	// has it pending.
	if err := eng.recordOutcome(out, x, &Applied{}); err != nil {
		t.Fatal(err)
	}
	st, err := db.Status(idA)
	if err != nil || !ldapdn.Equal(st.DN, a.DN) {
		t.Fatalf("status of A after recordOutcome = %+v, %v; want DN %s", st, err, a.DN)
	}
}

func lookupFold(m map[string]string, k string) (string, bool) {
	for mk, v := range m {
		if strings.EqualFold(mk, k) || ldapdn.Equal(mk, k) {
			return v, true
		}
	}
	return "", false
}

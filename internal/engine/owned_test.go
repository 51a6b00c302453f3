package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/plan"
)

// An anchor alone does not make a group writeback's: only groups this state
// provisioned or took over are deleted when Graph says they are gone.
func TestOnlyKnownGroupsAreDeleted(t *testing.T) {
	eng, dir, src, db := newLDAPTestEngine(t, "")
	ctx := context.Background()
	const foreignID = "ffffffff-0000-4000-8000-00000000000f"
	foreignDN := "CN=Other tool,OU=Elsewhere,DC=test"
	dir.put(ad.Group{DN: foreignDN, CN: "Other tool", Anchor: plan.Anchor(foreignID), USNChanged: 7})
	// A group Connect Sync wrote for idB: taken over, converged, no change.
	takenDN := "CN=G b_00000000000b,OU=G,DC=test"
	dir.put(ad.Group{DN: takenDN, CN: "G b_00000000000b", Anchor: plan.Anchor(idB),
		AdminDescription: plan.Anchor(idB), DisplayName: "G b", SAMAccountName: "G b", Description: "",
		GroupType: ad.GroupTypeUniversalSecurity, Members: []string{uDN}, USNChanged: 3})

	full := RoundOptions{PlanOptions: PlanOptions{Full: true}}
	res, err := eng.RunOnce(ctx, full)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Planned.Plan.Changes {
		if c.GroupID == foreignID {
			t.Errorf("planned %s for the foreign group", c.Action)
		}
	}
	if len(res.Planned.Untouched) != 1 || res.Planned.Untouched[0].Reason != "anchor Group_"+foreignID+" on "+foreignDN+
		": the tenant has no such group and writeback never provisioned it; left alone" {
		t.Errorf("untouched = %+v", res.Planned.Untouched)
	}
	for _, c := range res.Planned.Plan.Changes {
		if c.GroupID == idB {
			t.Errorf("taken-over group not converged: %s %+v", c.Action, c.Attrs)
		}
	}
	if st, _ := db.Status(idB); !strings.EqualFold(st.DN, takenDN) {
		t.Errorf("taken-over group not recorded as writeback's: %+v", st)
	}

	// Both cloud groups vanish from a full enumeration (no delta link): the
	// known one is deleted, the foreign one still is not.
	delete(src.groups, idB)
	res, err = eng.RunOnce(ctx, full)
	if err != nil {
		t.Fatal(err)
	}
	if dir.get(t, takenDN) != nil {
		t.Errorf("known group deleted in Entra is still in AD; plan: %+v", res.Planned.Plan.Changes)
	}
	if g := dir.get(t, foreignDN); g == nil || g.USNChanged != 7 {
		t.Errorf("foreign group touched: %+v", g)
	}

	// A soft delete (restorable) keeps the group, in later full rounds too.
	src.change(entra.Group{ID: idA, Removed: &entra.Removed{Reason: "changed"}})
	delete(src.groups, idA)
	for _, o := range []RoundOptions{{}, full} {
		if _, err := eng.RunOnce(ctx, o); err != nil {
			t.Fatal(err)
		}
		if len(dir.groups(t)) != 2 {
			t.Fatalf("soft-deleted group removed from AD (full=%v): %v", o.Full, keys(dir.groups(t)))
		}
	}
}

package engine

import (
	"fmt"

	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// ownership decides which AD groups are writeback's, in one place the
// planner and the apply step consult (as external-dns's registry does).
//
// The rule: an AD group is writeback's when the state records it in the
// group's status (GroupStatus.DN): writeback created it, or took it over (an
// in-scope cloud group whose anchor the AD group carries, and which is not
// protected). Only a group writeback owns is ever deleted, moved or
// converted when its cloud group leaves; an anchored group it does not own
// (another tenant, another tool, another writeback) is reported and left
// alone. A protected group (see protectedReason) is never writeback's,
// whatever anchor it carries.
//
// Besides the planner (leaving, claims) and the apply step (record,
// newlyOwned), the poll for groups edited by hand in AD (tamper.go: only
// owned groups are compared again) and the hold of re-creates after a move
// to another DC (dcpin.go: only a group writeback provisioned can be on its
// way by replication) ask provisioned; nothing else reads GroupStatus.DN to
// decide whose a group is.
type ownership struct {
	db *state.DB
}

func (e *Engine) ownership() ownership { return ownership{db: e.db} }

// provisioned reports whether the state records an AD group for the group
// (created or taken over).
func (ownership) provisioned(st state.GroupStatus) bool { return st.DN != "" }

// claims reports whether the AD group carrying an in-scope group's anchor
// becomes (or stays) writeback's: unless it is protected.
func (ownership) claims(act plan.Actual) bool { return act.Protected == "" }

// leaving decides what happens to the AD group act carrying the anchor of
// a cloud group that is deleted (g nil) or out of scope (why): gone with a
// reason when writeback owns it, else left alone (untouched, with why).
// mark is the group's pending mark: deleted only on Graph's word.
func (o ownership) leaving(id string, st state.GroupStatus, g *state.Group, why string, act plan.Actual, mark string) (plan.GoneReason, *Untouched) {
	if !o.provisioned(st) {
		// The anchor alone does not make a group ours: another tenant,
		// another tool or another writeback may have written it. Only a
		// group this state provisioned or took over may be deleted,
		// moved or converted.
		what := "the tenant has no such group"
		if g != nil {
			what = "the group is out of scope (" + why + ")"
		}
		return "", &Untouched{GroupID: id, DN: act.DN,
			Reason: fmt.Sprintf("anchor %s on %s: %s and writeback never provisioned it; left alone", act.Anchor, act.DN, what)}
	}
	// Deleted only on Graph's word: @removed (permanent) or gone from a
	// full enumeration. A known group that is merely absent from the
	// cache (its soft delete was handled in an earlier round) keeps the
	// out-of-scope policy.
	if g == nil && mark == "deleted" {
		return plan.Deleted, nil
	}
	return plan.OutOfScope, nil
}

// count is the number of groups the state records as writeback's.
func (o ownership) count() (int, error) {
	n := 0
	err := o.db.Statuses(func(s state.GroupStatus) error {
		if o.provisioned(s) {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count the groups writeback owns (for safety.deleteThreshold): %w", err)
	}
	return n, nil
}

// record sets st's owned DN after a successful or change-free apply: the
// DN the apply left (finalDN; "" when it neither created nor moved it),
// else, when the state had none, the one the plan found and claimed.
func (ownership) record(st *state.GroupStatus, finalDN, claimed string) {
	if finalDN != "" {
		st.DN = finalDN
	} else if st.DN == "" {
		st.DN = claimed
	}
}

// newlyOwned returns statuses for the groups of p.Owned that the state does not
// record as writeback's yet (taken over, or converged without a change): from
// now on their leaving the cloud side may act on them. Touched groups get
// their status with the rest of the apply's outcome (record).
func (o ownership) newlyOwned(p *Planned, touched map[string]bool) ([]state.GroupStatus, error) {
	pending := make(map[string]string, len(p.Owned))
	for id, dn := range p.Owned {
		if !touched[id] {
			pending[id] = dn
		}
	}
	if len(pending) == 0 {
		return nil, nil
	}
	partial := map[string]state.GroupStatus{} // statuses without a DN (a create that failed)
	if err := o.db.Statuses(func(s state.GroupStatus) error {
		if _, ok := pending[s.ID]; !ok {
			return nil
		}
		if o.provisioned(s) {
			delete(pending, s.ID)
		} else {
			partial[s.ID] = s
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read group statuses: %w", err)
	}
	out := make([]state.GroupStatus, 0, len(pending))
	for _, id := range keys(pending) {
		st, ok := partial[id]
		if !ok {
			st = state.GroupStatus{ID: id}
		}
		st.DN = pending[id]
		out = append(out, st)
	}
	return out, nil
}

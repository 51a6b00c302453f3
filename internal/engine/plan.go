package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// PlanOptions select what a round plans.
type PlanOptions struct {
	// Full plans every cached group and every owned AD group (full reconcile:
	// repairs drift made by hand in AD). A pending full snapshot forces it.
	Full bool
	// Groups limits the round to these Entra group IDs (provision, targeting).
	Groups []string
	// AllowDeletes lifts the deletion threshold.
	AllowDeletes bool
	// adReset, when set, makes the round full and says why: no AD
	// high-water mark for this DC (tamper.go), or the round's DC is not the
	// last one's (dcpin.go).
	adReset string
	// dcPinned: RunOnce pinned the round's DC before polling AD; pinning
	// again here would quietly accept a move in between (dcpin.go).
	dcPinned bool
	// AllowRemovals lets the takeover of a group converted to the cloud
	// remove members AD has and the cloud group has not (soa.go).
	AllowRemovals bool
}

// Planned is a computed plan with what is needed to apply it and to check,
// later, that it is still valid.
type Planned struct {
	Plan *plan.Plan `json:"plan"`
	Full bool       `json:"full"`
	// Dirty are the marks this plan consumed; cleared once applied.
	Dirty map[string]string `json:"dirty,omitempty"`
	// Planned lists every group ID the round looked at.
	Planned       []string      `json:"planned"`
	Preconditions Preconditions `json:"preconditions"`
	// Errors are groups that could not be planned (bad mapping output, duplicate anchors).
	Errors []GroupError `json:"errors,omitempty"`
	// Quarantined groups were skipped this round.
	Quarantined []string `json:"quarantined,omitempty"`
	// Untouched are AD groups carrying a Group_ anchor that this writeback
	// never provisioned or took over and that it has no desired group for
	// (written by another tool or tenant): reported, never changed.
	Untouched []Untouched `json:"untouched,omitempty"`
	// Owned maps the in-scope groups whose AD group carries their anchor to
	// that DN. Apply records them as writeback's, so only they are ever
	// deleted, moved or converted when they leave.
	Owned map[string]string `json:"owned,omitempty"`
	// Fingerprint is the configuration the plan was made with. Applying a
	// full plan records it, so the next round is incremental again (see
	// configChange); a saved plan made with another one is stale.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Targeted: the plan covers only the groups asked for (--group).
	Targeted bool `json:"targeted,omitempty"`
	// Takeovers: groups converted to the cloud whose AD group this plan
	// takes over in place; Apply records them in their status (soa.go).
	Takeovers map[string]*state.Takeover `json:"takeovers,omitempty"`
}

// Untouched is an anchored AD group the round left alone, with why.
type Untouched struct {
	GroupID string `json:"groupId"`
	DN      string `json:"dn"`
	Reason  string `json:"reason"`
}

// Preconditions are what must still hold for a saved plan to be applied.
type Preconditions struct {
	GroupsLink string `json:"groupsLink"`
	UsersLink  string `json:"usersLink"`
	// FullPending is the pending full round the plan covers (the mark of
	// the snapshot that set it): applying the plan clears that mark only,
	// not one a later snapshot set.
	FullPending string `json:"fullPending,omitempty"`
	// USN: uSNChanged of every owned AD group the plan read, by anchor.
	USN map[string]int64 `json:"usn,omitempty"`
	// Absent: anchors that had no AD group when planned (the plan creates them).
	Absent []string `json:"absent,omitempty"`
	// DC is the domain controller the plan read (issue #20): a saved plan
	// is refused on another, whose answers it does not describe.
	DC *ad.DCIdentity `json:"dc,omitempty"`
}

// GroupError is one group's failure in a round.
type GroupError struct {
	GroupID string `json:"groupId"`
	Name    string `json:"name,omitempty"`
	Step    string `json:"step"`
	Error   string `json:"error"`
}

// Plan computes the plan for the dirty groups (or all, in a full round) from
// the cached cloud model and a fresh read of AD. It writes nothing to AD; an
// empty dirty set makes no LDAP call at all.
func (e *Engine) Plan(ctx context.Context, o PlanOptions) (*Planned, error) {
	return e.plan(ctx, o, nil)
}

// plan is Plan, stage by stage; pre, when not nil, is the read of all owned
// groups started while Graph was being read (RunOnce of a full round). Each
// stage takes what the earlier ones returned; the report fields of out
// (Planned, Errors, Untouched, Owned, ...) fill as they go.
func (e *Engine) plan(ctx context.Context, o PlanOptions, pre *ownedRead) (*Planned, error) {
	timer := newPhaseTimer(e.log)
	// Pin this round's DC; a new one means a full read (dcpin.go).
	if !o.dcPinned {
		dcWhy, err := e.pinDC()
		if err != nil {
			return nil, err
		}
		if o.adReset == "" {
			o.adReset = dcWhy
		}
	}
	sel, err := e.selectGroups(o)
	if err != nil {
		return nil, err
	}
	if o.AllowRemovals && len(o.Groups) == 0 {
		// The takeovers held for their removals are compared again now
		// that they are accepted (soa.go).
		if err := e.soaHeld(sel.ids); err != nil {
			return nil, err
		}
	}
	out, err := e.newPlanned(o, sel)
	if err != nil {
		return nil, err
	}
	timer.done("candidates")

	actual, readErrs, err := e.readActualSide(ctx, sel, pre)
	if err != nil {
		return nil, err
	}
	out.Errors = append(out.Errors, readErrs...)
	ambiguous := dropAmbiguous(actual)
	timer.done("adRead")
	if err := e.markProtectedNesting(ctx, actual); err != nil {
		return nil, err
	}
	timer.done("protectedNesting")

	want, err := e.computeDesired(ctx, o, sel, actual, ambiguous, timer)
	if err != nil {
		return nil, err
	}
	want.report.into(out)
	timer.done("desired")
	if sel.full {
		// Every group's members have been read: the state file's pages need
		// not stay resident (at L they are hundreds of MiB of RSS).
		_ = e.db.ReleaseMapped()
	}

	desired, err := e.resolveMembers(ctx, want)
	if err != nil {
		return nil, err
	}
	timer.done("resolve")
	if sel.full {
		_ = e.db.ReleaseMapped() // the users have been read too
	}

	in := plan.Input{Actual: actual, Desired: desired, Gone: want.gone, Skips: want.skips, Policy: e.policy}
	in.Policy.AllowDeletes = o.AllowDeletes
	if in, err = e.readObstacles(ctx, in, want.provisioned, timer); err != nil {
		return nil, err
	}
	out.Plan = plan.Calculate(in)
	e.soaFinish(out, want.soa, o.AllowRemovals)
	e.describePlan(out, o, sel)
	timer.done("calculate")
	e.reportUntouched(out.Untouched)
	for k, a := range actual {
		out.Preconditions.USN[k] = a.USNChanged
	}
	// A saved plan finds owned groups by anchor, which a group taken over
	// carries only once applied (the takeover is idempotent: soa.go).
	for id := range want.soa.takeover {
		delete(out.Preconditions.USN, strings.ToLower(plan.Anchor(id)))
	}
	e.holdRecreates(out) // groups another DC may hold already (dcpin.go)
	timer.report("plan phases", "full", sel.full, "groups", len(out.Planned), "owned", len(actual), "changes", len(out.Plan.Changes))
	return out, nil
}

// newPlanned starts the round's plan record: what it covers and the
// preconditions a saved copy must still meet.
func (e *Engine) newPlanned(o PlanOptions, sel selection) (*Planned, error) {
	pending, err := e.db.FullPending()
	if err != nil {
		return nil, err
	}
	gl, ul, err := e.db.Links()
	if err != nil {
		return nil, err
	}
	return &Planned{Full: sel.full, Targeted: len(o.Groups) > 0, Dirty: sel.consumed, Owned: map[string]string{},
		Preconditions: Preconditions{GroupsLink: gl, UsersLink: ul, FullPending: pending, USN: map[string]int64{}, DC: e.planDC()}}, nil
}

// describePlan says what the plan compared (Basis) and under which
// configuration (Fingerprint).
func (e *Engine) describePlan(out *Planned, o PlanOptions, sel selection) {
	out.Plan.Basis, out.Plan.Partial = sel.why, !sel.full
	switch {
	case len(o.Groups) > 0:
		out.Plan.Basis = fmt.Sprintf("compared the %d group(s) asked for", len(o.Groups))
	case !sel.full:
		out.Plan.Basis = fmt.Sprintf("compared %d group(s) changed in Entra since the last round", len(out.Planned))
		out.Plan.Basis += adBasis(out) // tamper.go
	}
	out.Fingerprint = e.fp.String()
}

// reportUntouched warns about anchored AD groups the round leaves alone
// (the first ten, then a count).
func (e *Engine) reportUntouched(untouched []Untouched) {
	for i, u := range untouched {
		if i == 10 {
			e.log.Warn("more anchored AD groups left alone", "count", len(untouched)-i)
			break
		}
		e.log.Warn("AD group left alone", "group", u.GroupID, "dn", u.DN, "reason", u.Reason)
	}
}

// ErrBlocked is returned by Apply for a plan past the deletion threshold.
var ErrBlocked = errors.New("plan blocked")

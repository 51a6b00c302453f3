package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// recordOutcome is the apply's last step: it records what the execution did
// in the state, for the next rounds and for 'writeback status'. The groups'
// statuses (owned DN, quarantine, why skipped), then, unless the apply was
// interrupted, the pending marks and the full round's bookkeeping, the
// findings and the blocked deletes. The groups that could not be planned
// (p.Errors) count as failed.
func (e *Engine) recordOutcome(p *Planned, x *execution, res *Applied) error {
	now := e.now()
	for _, ge := range p.Errors {
		x.failed[ge.GroupID] = errors.New(ge.Error)
		x.failStep[ge.GroupID] = ge.Step
	}
	if err := e.recordStatuses(p, x, res, now); err != nil {
		return err
	}
	if res.Interrupted {
		return nil
	}
	if err := e.recordMarks(p, x); err != nil {
		return err
	}
	if err := e.recordDC(p); err != nil { // the DC rounds work on (dcpin.go)
		return err
	}
	if p.Full {
		if err := e.recordFullRound(p, now); err != nil {
			return err
		}
	}
	if err := e.recordFindings(p); err != nil {
		return err
	}
	return e.clearBlocked(p)
}

// recordStatuses writes the status of every group the plan touched: a
// failure quarantines the group with exponential backoff; a skipped group
// (collisions, protected, outside the search base, refused names) shows
// why, without a quarantine (the next round plans it again); a deleted
// group loses its status; the others are writeback's at their final DN.
// Groups the plan found and claimed without a change become writeback's too
// (ownership.newlyOwned).
func (e *Engine) recordStatuses(p *Planned, x *execution, res *Applied, now time.Time) error {
	unresolved := map[string]int{}
	for _, u := range p.Plan.Unresolved {
		unresolved[u.GroupID] = len(u.Unresolved)
	}
	touched := map[string]bool{}
	names := map[string]string{}
	for _, c := range p.Plan.Changes {
		touched[c.GroupID] = true
		names[c.GroupID] = c.Name
	}
	for _, ge := range p.Errors {
		names[ge.GroupID] = ge.Name
	}
	for id := range unresolved {
		touched[id] = true
	}
	for id := range x.failed {
		touched[id] = true
	}
	skipped := map[string]string{}
	for _, c := range p.Plan.Collisions {
		label := "skipped (" + c.Kind + ")"
		if c.Kind == "" {
			label = "skipped (name collision)"
		}
		skipped[c.GroupID] = label + ": " + c.Reason
		touched[c.GroupID] = true
	}
	var statuses []state.GroupStatus
	var deleted []string
	for id := range touched {
		st, err := e.db.Status(id)
		if err != nil {
			return err
		}
		if ferr := x.failed[id]; ferr != nil {
			st.Failures++
			st.LastError = x.failStep[id] + ": " + ferr.Error()
			st.QuarantinedUntil = now.Add(state.Backoff(st.Failures))
			e.log.Warn("group quarantined: retried after its backoff", "group", names[id], "id", id,
				"failures", st.Failures, "retryAfter", st.QuarantinedUntil.UTC().Format(time.RFC3339), "err", st.LastError)
			res.Failed++
			res.Errors = append(res.Errors, GroupError{GroupID: id, Step: x.failStep[id], Error: ferr.Error()})
			statuses = append(statuses, st)
			continue
		}
		if res.Interrupted {
			continue
		}
		if why, ok := skipped[id]; ok {
			st.LastError, st.Unresolved = why, unresolved[id]
			statuses = append(statuses, st)
			continue
		}
		if r := x.released[id]; r != nil {
			// Kept, without a DN, so status says it was released (soa.go).
			statuses = append(statuses, state.GroupStatus{ID: id, LastApplied: now, Released: r})
			continue
		}
		if dn, ok := x.finalDN[id]; ok && dn == "" {
			deleted = append(deleted, id)
			continue
		}
		e.ownership().record(&st, x.finalDN[id], p.Owned[id])
		st.Failures, st.LastError, st.QuarantinedUntil = 0, "", time.Time{}
		st.LastApplied = now
		if t := p.Takeovers[id]; t != nil {
			st.TakenOver, st.Released = t, nil // taken over in place (soa.go)
		}
		st.Unresolved = unresolved[id]
		statuses = append(statuses, st)
	}
	owned, err := e.ownership().newlyOwned(p, touched)
	if err != nil {
		return err
	}
	statuses = append(statuses, owned...)
	if err := e.db.PutStatuses(statuses); err != nil {
		return err
	}
	return e.db.DeleteStatus(deleted...)
}

// recordMarks clears the pending marks the plan consumed, marks the parents
// of groups created now, and marks failed groups for retry.
func (e *Engine) recordMarks(p *Planned, x *execution) error {
	// A group blocked by a name collision stays pending: it is planned
	// again next round, so renaming the foreign object unblocks it (or
	// removing the anchor from a protected group, moving a group back
	// under sync.searchBase). A refused name is the cloud group's own:
	// its next change in Entra marks it again, so idle rounds stay free.
	colliding := map[string]bool{}
	for _, c := range p.Plan.Collisions {
		if c.Kind != plan.SkipRefused {
			colliding[c.GroupID] = true
		}
	}
	// A quarantined group was not planned: its mark (say, deleted in
	// Entra) must survive until it is.
	for _, id := range p.Quarantined {
		colliding[id] = true
	}
	clear := map[string]string{}
	for id, r := range p.Dirty {
		if x.failed[id] == nil && !colliding[id] {
			clear[id] = r
		}
	}
	if err := e.db.ClearDirty(clear); err != nil {
		return err
	}
	if err := e.markParentsOfCreated(p, x); err != nil {
		return err
	}
	if len(x.failed) == 0 {
		return nil
	}
	// Failed groups are retried by the next incremental round once their quarantine ends.
	return e.db.Update(func(tx *state.Tx) error {
		for id := range x.failed {
			if err := tx.MarkDirty(id, "retry"); err != nil {
				return err
			}
		}
		return nil
	})
}

// markParentsOfCreated marks the parents of the groups created now that the
// plan did not cover: planned in an earlier round, they could not reference
// a group that did not exist yet; now they can.
func (e *Engine) markParentsOfCreated(p *Planned, x *execution) error {
	planned := make(map[string]bool, len(p.Planned))
	for _, id := range p.Planned {
		planned[id] = true
	}
	var created []string
	for _, c := range p.Plan.Changes {
		if c.Action == plan.Create && x.failed[c.GroupID] == nil {
			created = append(created, c.GroupID)
		}
	}
	if len(created) == 0 {
		return nil
	}
	return e.db.Update(func(tx *state.Tx) error {
		for _, id := range created {
			if err := tx.MemberOf(id, func(parent string) error {
				if planned[parent] {
					return nil
				}
				return tx.MarkDirty(parent, "member")
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

// recordFullRound records an applied full round: the pending full round it
// covered is done, when, and under which configuration.
func (e *Engine) recordFullRound(p *Planned, now time.Time) error {
	// Only the pending round this plan covered: a snapshot begun since (a
	// saved plan applied later) refreshed objects the plan has not seen.
	if err := e.db.ClearFullPending(p.Preconditions.FullPending); err != nil {
		return err
	}
	if err := e.db.SetLastFull(now); err != nil {
		return err
	}
	if p.Fingerprint == "" || p.Targeted {
		return nil
	}
	// Every group has now been compared under this configuration, but for
	// the quarantined ones, skipped: they stay pending, so the next round
	// after their quarantine plans them under it.
	if err := e.db.Update(func(tx *state.Tx) error {
		for _, id := range p.Quarantined {
			if err := tx.MarkDirty(id, "retry"); err != nil {
				return err
			}
		}
		return tx.SetConfigFingerprint(p.Fingerprint)
	}); err != nil {
		return fmt.Errorf("record the configuration this full round applied: %w", err)
	}
	return nil
}

package engine

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// One pinned domain controller per round (issue #20). A round reads and
// writes one DC; the engine pins the DC the connection is on at the start of
// each round, and a round that starts on another DC than the last one reads
// everything again there (a full round: what the old DC said is not what the
// new one holds, and its uSNChanged values mean nothing here).

// The DC the last applied round worked on, and the last move of rounds to
// another DC, are kept in the state (state.DB.PinnedDC, DCMove).

// replicationGrace is how long after a move to another DC writeback does not
// re-create a group it created itself shortly before the move and that the new
// DC does not hold yet: replication may still bring it (15 s within a site on
// Windows; hours between sites on a schedule), and a second create would make
// a CNF duplicate. A variable so tests can shorten it.
var replicationGrace = 15 * time.Minute

// dcPinner is implemented by *ad.Conn.
type dcPinner interface {
	Pin() (ad.DCIdentity, *ad.DCChangedError)
}

// dcRef is how the state records id: zero when the DC does not say who it is.
func dcRef(id ad.DCIdentity) state.DCRef {
	if !id.Known() {
		return state.DCRef{}
	}
	return state.DCRef{DSServiceName: id.DSServiceName, InvocationID: id.InvocationID}
}

// pinDC pins the DC for this round and says why the round must be full
// ("" when the DC is the one of the last applied round, or unknown).
func (e *Engine) pinDC() (string, error) {
	p, ok := e.dir.Directory.(dcPinner)
	if !ok {
		return "", nil
	}
	id, moved := p.Pin()
	e.dc = id
	if moved != nil {
		e.log.Warn("domain controller changed during the last round; this round works on the new one", "from", moved.From.String(), "to", moved.To.String())
	}
	ref := dcRef(id)
	if ref.IsZero() {
		return "", nil
	}
	last, err := e.db.PinnedDC()
	if err != nil || last.IsZero() || last.Same(ref) {
		return "", err
	}
	from := ad.DCIdentity{DSServiceName: last.DSServiceName}.Name()
	// When rounds moved here: set once per move (this round may fail and
	// the next one see the same move).
	if mv, _ := e.db.DCMove(); !mv.To.Same(ref) {
		if err := e.db.SetDCMove(state.DCMove{To: ref, At: e.now()}); err != nil {
			return "", fmt.Errorf("record the move of rounds to domain controller %s: %w", id.Name(), err)
		}
	}
	e.log.Warn("rounds moved to another domain controller: reading every group again there", "from", from, "to", id.String())
	return fmt.Sprintf("the domain controller changed (%s, now %s): every group read again from it", from, id.Name()), nil
}

// movedAt is when rounds last moved to another DC (zero: never, or unknown).
func (e *Engine) movedAt() time.Time {
	mv, _ := e.db.DCMove()
	return mv.At
}

// recordDC notes the DC an applied round worked on: the next round on
// another DC is a full one.
func (e *Engine) recordDC(p *Planned) error {
	if p.Preconditions.DC == nil {
		return nil
	}
	ref := dcRef(*p.Preconditions.DC)
	if ref.IsZero() {
		return nil
	}
	last, err := e.db.PinnedDC()
	if err != nil || last.Same(ref) {
		return err
	}
	// A move is recorded only by a full round (it read everything on the
	// new DC); the first record of all by any round.
	if !last.IsZero() && !p.Full {
		return nil
	}
	return e.db.SetPinnedDC(ref)
}

// planDC is the identity a plan records (nil when the DC does not say).
func (e *Engine) planDC() *ad.DCIdentity {
	if !e.dc.Known() {
		return nil
	}
	id := e.dc
	return &id
}

// checkPlanDC refuses a saved plan made on another DC: its "absent" anchors
// and uSNChanged values are that DC's.
func (e *Engine) checkPlanDC(p *Planned) error {
	if p.Preconditions.DC == nil {
		return nil
	}
	cur := e.dc
	if pn, ok := e.dir.Directory.(interface{ Identity() ad.DCIdentity }); ok {
		cur = pn.Identity()
	}
	if !cur.Known() || p.Preconditions.DC.Same(cur) {
		return nil
	}
	return fmt.Errorf("%w: the plan was made on domain controller %s, this connection is on %s: run writeback plan again (or point ad.url at %s)",
		ErrStale, p.Preconditions.DC.String(), cur.String(), p.Preconditions.DC.Name())
}

// holdRecreates drops from the plan the creates of groups writeback itself
// wrote shortly before rounds moved to this DC: the DC may not have received
// them yet. They stay pending and are planned again next round; once
// replication brings them they are found, and after replicationGrace they are
// created (someone deleted them).
func (e *Engine) holdRecreates(out *Planned) {
	if out == nil || out.Plan == nil || len(out.Plan.Changes) == 0 {
		return
	}
	at := e.movedAt()
	if at.IsZero() || e.now().After(at.Add(replicationGrace)) {
		return
	}
	own := e.ownership()
	held := map[string]string{}
	for _, c := range out.Plan.Changes {
		if c.Action != plan.Create {
			continue
		}
		// Only a group writeback provisioned itself can be on its way from
		// the previous DC.
		st, err := e.db.Status(c.GroupID)
		if err != nil || !own.provisioned(st) || st.LastApplied.IsZero() || st.LastApplied.Before(at.Add(-replicationGrace)) {
			continue
		}
		held[c.GroupID] = st.DN
	}
	if len(held) == 0 {
		return
	}
	kept := out.Plan.Changes[:0]
	for _, c := range out.Plan.Changes {
		if dn, ok := held[c.GroupID]; ok {
			if c.Action == plan.Create {
				e.log.Warn("not re-creating a group writeback wrote on the previous domain controller: waiting for replication", "group", c.GroupID, "dn", dn, "until", at.Add(replicationGrace).Format(time.TimeOnly))
			}
			continue
		}
		kept = append(kept, c)
	}
	out.Plan.Changes = kept
	for id := range held {
		delete(out.Dirty, id) // applying this plan must not clear the mark set below
	}
	if err := e.db.Update(func(tx *state.Tx) error {
		for id := range held {
			if err := tx.MarkDirty(id, "replication"); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		e.log.Warn("could not keep the held groups pending", "err", err)
	}
}

// keepOnConflict decides between two AD groups that carry one anchor when
// one of them is a replication-conflict copy (its RDN carries "\nCNF:<guid>",
// escaped \0ACNF: in a DN): two DCs created the group before either had
// replicated. It keeps the one with the members (the other when equal: the
// name Windows kept) and reports the other, which an administrator deletes
// after checking no ACL names its SID. ok false: not a conflict copy, the
// caller leaves both alone as before.
func (e *Engine) keepOnConflict(a, b plan.Actual) (keep plan.Actual, ok bool) {
	ca, cb := isConflictCopy(a.DN), isConflictCopy(b.DN)
	if !ca && !cb {
		return plan.Actual{}, false
	}
	keep, other := a, b
	switch {
	case len(b.Members) > len(a.Members):
		keep, other = b, a
	case len(a.Members) == len(b.Members) && ca && !cb:
		keep, other = b, a
	}
	e.log.Warn("an anchor is on two AD groups after a replication conflict: managing the one with the members; delete the other after checking no ACL names its SID",
		"anchor", keep.Anchor, "kept", keep.DN, "keptMembers", len(keep.Members), "other", other.DN, "otherMembers", len(other.Members))
	return keep, true
}

// isConflictCopy: the DN's first RDN is a replication-conflict name (AD
// appends a line feed, "CNF:" and the object's GUID to it). The RDN is
// parsed and unescaped by ldapdn, so an escaped comma before the mark does
// not hide it, and a name that merely spells \0ACNF: with an escaped
// backslash is not taken for one. Only the first RDN is parsed, so the
// parent's spelling does not matter; a first RDN that does not parse is not
// a conflict name (the caller then leaves both groups alone).
func isConflictCopy(dn string) bool {
	return strings.Contains(strings.ToUpper(ldapdn.RDNValue(ldapdn.FirstRDN(dn))), "\nCNF:")
}

// IsDCChanged reports whether err means the connection moved to another DC
// mid-round (the round stopped; the next one starts on the new DC).
func IsDCChanged(err error) bool {
	var mv *ad.DCChangedError
	return errors.As(err, &mv)
}

// keepOnConflictIf is keepOnConflict unless prev is already the mark of an
// unresolved conflict (no DN).
func (e *Engine) keepOnConflictIf(prev, cur plan.Actual) (plan.Actual, bool) {
	if prev.DN == "" {
		return plan.Actual{}, false
	}
	return e.keepOnConflict(prev, cur)
}

// DCStatus is what status shows about the DC rounds work on: the name of the
// DC the last applied round used ("" before any), and, after rounds moved
// to another DC, to which and when.
func DCStatus(db *state.DB) (dc, moved string, err error) {
	last, err := db.PinnedDC()
	if err != nil || last.IsZero() {
		return "", "", err
	}
	dc = ad.DCIdentity{DSServiceName: last.DSServiceName}.Name()
	if mv, _ := db.DCMove(); !mv.To.IsZero() {
		moved = fmt.Sprintf("moved to %s at %s", ad.DCIdentity{DSServiceName: mv.To.DSServiceName}.Name(), mv.At.UTC().Format(time.RFC3339))
	}
	return dc, moved, nil
}

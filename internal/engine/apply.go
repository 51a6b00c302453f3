package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Progress is called after each change with (done, total).
	Progress func(done, total int)
	// AllowDeletes applies a plan blocked by the deletion threshold
	// (writeback apply --allow-deletes with a saved plan).
	AllowDeletes bool
}

// Applied is the outcome of applying a plan.
type Applied struct {
	Applied  int           `json:"applied"` // changes written
	Failed   int           `json:"failed"`  // groups that failed
	Errors   []GroupError  `json:"errors,omitempty"`
	Duration time.Duration `json:"-"` // JSON: durationSeconds (MarshalJSON in round.go)
	Writes   int64         `json:"ldapWrites"`
	// Repaired counts the changes that undid an edit made by hand in AD
	// (groups compared because they changed in AD: tamper.go).
	Repaired int `json:"repaired,omitempty"`
	// Interrupted: the context ended; the rest of the plan was not applied
	// (re-running converges).
	Interrupted bool `json:"interrupted,omitempty"`
}

// Apply executes a plan in its order, then records the outcome. A group
// whose change fails is skipped for the rest of the plan (its later changes
// depend on the failed one) and quarantined with exponential backoff; the
// other groups go on. A failure of the connection to the DC (see
// connectionLost) is not the group's: Apply stops after the changes in
// flight, quarantines nobody for it, keeps every pending mark and returns
// the error, so the round fails and the next one plans again. Cancelling
// ctx stops after the change in flight. Every step is idempotent, so an
// interrupted apply followed by a new plan and apply converges.
func (e *Engine) Apply(ctx context.Context, p *Planned, o ApplyOptions) (*Applied, error) {
	start := e.now()
	writes0 := e.dir.writes.Load()
	res := &Applied{}
	if p.Plan.Blocked && !o.AllowDeletes {
		if err := e.recordBlocked(p); err != nil {
			return nil, err
		}
		if err := e.recordFindings(p); err != nil {
			return nil, err
		}
		return res, fmt.Errorf("%w: %s", ErrBlocked, p.Plan.BlockedReason)
	}
	x := e.execute(ctx, p, o)
	res.Applied, res.Interrupted, res.Repaired = x.applied, x.interrupted, x.repaired
	e.resolver.Moved(x.moved) // D8: a nested group's cached DN follows writeback's own renames
	if x.logErr != nil {
		return res, x.logErr
	}
	if err := e.db.AppendLog(x.logs...); err != nil {
		return res, err
	}
	if err := e.recordOutcome(p, x, res); err != nil {
		return res, err
	}
	if len(x.failed) > 0 {
		// A failure may come from a cached member DN that moved: resolve afresh next time.
		e.resolver.Forget()
	}
	res.Duration = e.now().Sub(start)
	res.Writes = e.dir.writes.Load() - writes0
	if x.lost != nil {
		if errors.Is(x.lost, state.ErrNotLeader) {
			return res, fmt.Errorf("apply stopped after %d of %d changes: this instance no longer holds the leader lease in PostgreSQL; nothing was quarantined, the other changes stay pending for the instance that leads now (docs/ha.md): %w", res.Applied, x.total, x.lost)
		}
		return res, fmt.Errorf("apply stopped after %d of %d changes: the connection to the domain controller failed; nothing was quarantined, the other changes stay pending and the next round plans them again (check that the DC is reachable): %w", res.Applied, x.total, x.lost)
	}
	return res, nil
}

// execution is one run of a plan's changes: what was written, what failed,
// and the provisioning log entries not yet stored.
type execution struct {
	e        *Engine
	planned  *Planned
	progress func(done, total int)
	total    int

	mu       sync.Mutex
	done     int
	applied  int
	repaired int               // changes that undid an edit made by hand in AD (tamper.go)
	failed   map[string]error  // group ID -> its failure
	failStep map[string]string // group ID -> the action that failed
	// failedCreate maps a group whose create failed to the DN it was to have
	// (see Change.Requires).
	failedCreate map[string]string
	finalDN      map[string]string          // group ID -> DN after the apply ("" deleted)
	moved        map[string]string          // old DN -> new DN ("" deleted), for the resolver's cache
	released     map[string]*state.Released // groups given back to AD (soa.go)
	logs         []state.Entry
	logErr       error
	lost         error // the first connection-level failure
	interrupted  bool
}

// execute runs changes in their order. Phases run one after the other (a
// group exists before members reference it), and so do the steps of the
// rename phase (a group takes a DN after the group that had it moved away);
// inside a step every change belongs to a different group, so they run in
// parallel on the DC.
func (e *Engine) execute(ctx context.Context, p *Planned, o ApplyOptions) *execution {
	changes := p.Plan.Changes
	x := &execution{e: e, planned: p, progress: o.Progress, total: len(changes), failed: map[string]error{}, failStep: map[string]string{},
		failedCreate: map[string]string{}, finalDN: map[string]string{}, moved: map[string]string{}, released: map[string]*state.Released{}}
	e.progress.SetPhase("write")
	e.progress.add(func(p *Progress) *atomic.Int64 { return &p.WritesTotal }, int64(x.total))
	workers := max(1, e.cfg.Sync.Workers)
	for len(changes) > 0 && !x.interrupted {
		n := 1
		for n < len(changes) && changes[n].Action.Phase() == changes[0].Action.Phase() && changes[n].Step == changes[0].Step {
			n++
		}
		x.runStep(ctx, changes[:n], workers)
		changes = changes[n:]
	}
	return x
}

// runStep runs the changes of one step on up to workers connections.
func (x *execution) runStep(ctx context.Context, step []plan.Change, workers int) {
	stepStart := time.Now()
	work := make(chan plan.Change)
	var wg sync.WaitGroup
	for range min(workers, len(step)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				// No AD write without a valid leader lease (HA, #23; a
				// no-op for a state file).
				if err := x.e.db.Fence().Check(ctx); err != nil {
					x.record(c, state.Entry{}, err)
					continue
				}
				// The write in flight finishes even when ctx is cancelled
				// (SIGTERM): stopping between writes keeps each step whole.
				entry, err := x.e.applyOne(context.WithoutCancel(ctx), c)
				x.record(c, entry, err)
			}
		}()
	}
	for _, c := range step {
		x.mu.Lock()
		stop := x.lost != nil
		x.mu.Unlock()
		if ctx.Err() != nil || stop {
			x.interrupted = true
			break
		}
		x.mu.Lock()
		c, skip := x.ready(c)
		x.mu.Unlock()
		if !skip {
			work <- c
		}
	}
	close(work)
	wg.Wait()
	if x.lost != nil {
		x.interrupted = true // a change in flight of the last step lost it
	}
	x.e.log.Debug("apply phase done", "action", step[0].Action, "changes", len(step), "workers", min(workers, len(step)),
		"took", time.Since(stepStart).Round(time.Millisecond).String())
}

// ready returns c as it may run now, or skip: a group whose earlier change
// failed is skipped; a change requiring groups whose create failed runs
// without them (withoutFailedRequirements). x.mu is held.
func (x *execution) ready(c plan.Change) (plan.Change, bool) {
	if x.failed[c.GroupID] != nil {
		return c, true
	}
	if len(c.Requires) > 0 && len(x.failedCreate) > 0 {
		return x.withoutFailedRequirements(c)
	}
	return c, false
}

// withoutFailedRequirements leaves out of a member add the child groups whose
// create failed in this apply: AD refuses a whole modify for one DN that does
// not exist, which would fail the parent for its child's problem. The child
// is retried; once it exists its parents are marked and the member is added
// then. skip is true when nothing is left to add.
func (x *execution) withoutFailedRequirements(c plan.Change) (plan.Change, bool) {
	missing := map[string]string{} // normalised DN -> child group ID
	for _, id := range c.Requires {
		if dn, ok := x.failedCreate[id]; ok {
			missing[ldapdn.Norm(dn)] = id
		}
	}
	if len(missing) == 0 {
		return c, false
	}
	var keep []string
	for _, m := range c.Members {
		if child, ok := missing[ldapdn.Norm(m)]; ok {
			x.e.log.Warn("member group was not created: left out of its parent until it is", "group", c.GroupID, "dn", c.DN, "member", m, "memberGroup", child)
			continue
		}
		keep = append(keep, m)
	}
	if len(keep) == len(c.Members) {
		return c, false
	}
	c.Members = keep
	return c, len(keep) == 0
}

// record notes one change's outcome and its log entry (stored in batches of 500).
func (x *execution) record(c plan.Change, entry state.Entry, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.e
	if err != nil && connectionLost(err) {
		// The DC is gone, not this group's change: a quarantine would
		// hold every group of the round back long after the DC is back
		// (reliability review D9: 959 groups, 44 s).
		if x.lost == nil && errors.Is(err, state.ErrNotLeader) {
			x.lost = err
			e.log.Warn("no longer the leader: stopping this apply before its next AD write; the groups stay pending", "group", c.GroupID, "err", err)
		}
		if x.lost == nil {
			x.lost = err
			e.log.Warn("lost the connection to the domain controller; stopping this apply, the groups stay pending", "group", c.GroupID, "action", c.Action, "dn", c.DN, "err", err)
		}
		return
	}
	if err != nil {
		x.failed[c.GroupID] = err
		x.failStep[c.GroupID] = string(c.Action)
		if c.Action == plan.Create {
			x.failedCreate[c.GroupID] = c.DN
		}
		entry.Action, entry.Error = "error", err.Error()
		e.log.Warn("change failed", "group", c.GroupID, "action", c.Action, "dn", c.DN, "err", err)
	} else {
		x.applied++
		x.noteDN(c)
		e.log.Info("applied", "group", c.GroupID, "action", c.Action, "dn", c.DN)
		// A change to a group edited by hand in AD is a repair (tamper.go).
		if entry.Repair = e.repairNote(x.planned, c); entry.Repair != "" {
			x.repaired++
		}
	}
	x.logs = append(x.logs, entry)
	if len(x.logs) >= 500 && x.logErr == nil {
		x.logErr = e.db.AppendLog(x.logs...)
		x.logs = x.logs[:0]
	}
	x.done++
	e.progress.add(func(p *Progress) *atomic.Int64 { return &p.Writes }, 1)
	if x.progress != nil {
		x.progress(x.done, x.total)
	}
}

// noteDN follows the group's DN through a successful change.
func (x *execution) noteDN(c plan.Change) {
	switch c.Action {
	case plan.Create:
		x.finalDN[c.GroupID] = c.DN
	case plan.Rename, plan.Move:
		x.finalDN[c.GroupID] = c.NewDN
		x.moved[c.DN] = c.NewDN
	case plan.Delete:
		x.finalDN[c.GroupID] = ""
		x.moved[c.DN] = ""
	case plan.Release:
		x.finalDN[c.GroupID] = "" // no longer writeback's (soa.go)
		x.released[c.GroupID] = &state.Released{At: x.e.now().UTC(), DN: c.DN, Reason: c.Reason}
	default:
		if _, ok := x.finalDN[c.GroupID]; !ok {
			x.finalDN[c.GroupID] = c.DN
		}
	}
}

// applyOne writes one change and returns its log entry.
func (e *Engine) applyOne(ctx context.Context, c plan.Change) (state.Entry, error) {
	entry := state.Entry{GroupID: c.GroupID, Name: c.Name, Action: string(c.Action), DN: c.DN, NewDN: c.NewDN}
	before, after := map[string][]string{}, map[string][]string{}
	for _, a := range c.Attrs {
		before[a.Name], after[a.Name] = a.Before, a.After
	}
	if len(c.Attrs) > 0 {
		entry.Before, entry.After = before, after
	}
	switch c.Action {
	case plan.Create:
		attrs := map[string][]string{}
		for _, a := range c.Attrs {
			attrs[a.Name] = a.After
		}
		err := e.dir.CreateGroup(ctx, c.DN, attrs)
		if ad.IsAlreadyExists(err) {
			// Re-run after an interrupted apply: ours if it carries our anchor.
			g, lerr := e.dir.GroupByAnchor(ctx, e.base, c.Anchor, false)
			if lerr == nil && g != nil && ldapdn.Norm(g.DN) == ldapdn.Norm(c.DN) {
				return entry, nil
			}
			holder, taken, serr := e.dir.HolderOf(ctx, c.DN)
			if serr != nil {
				return entry, err
			}
			switch {
			case taken && holder == "":
				return entry, fmt.Errorf("the DN is taken by an AD object without writeback's anchor, which is left untouched (rename it, or change the cn mapping): %w", err)
			case taken && strings.EqualFold(holder, c.Anchor):
				return entry, fmt.Errorf("the DN is taken by an AD group carrying this group's anchor %s outside sync.searchBase %s, where writeback does not look for its groups; it is left untouched (move it under sync.searchBase, or widen sync.searchBase): %w", c.Anchor, e.base, err)
			case taken:
				return entry, fmt.Errorf("the DN is taken by an AD object carrying another anchor, %s, which is left untouched (rename one of them, or change the cn mapping): %w", holder, err)
			}
			// Nothing at the DN: AD refused a unique value, e.g. the sAMAccountName.
			return entry, fmt.Errorf("%w (another object already has one of its unique values, usually the sAMAccountName; it was free when planned)", err)
		}
		return entry, err
	case plan.Release:
		// The anchor attributes back as they were (soa.go).
		if len(after) == 0 {
			return entry, nil
		}
		return entry, e.dir.Modify(ctx, c.DN, after)
	case plan.Update, plan.Convert:
		// A groupType change is its own modify (or two), after the other
		// attributes: Windows refuses some conversions, and a refusal must
		// not hold back a new description or display name.
		for k, gt := range after {
			if !strings.EqualFold(k, "groupType") || len(gt) != 1 || len(before[k]) != 1 {
				continue
			}
			rest := maps.Clone(after)
			delete(rest, k)
			if len(rest) > 0 {
				if err := e.dir.Modify(ctx, c.DN, rest); err != nil {
					return entry, err
				}
			}
			return entry, e.convertGroupType(ctx, c.DN, before[k][0], gt[0])
		}
		return entry, e.dir.Modify(ctx, c.DN, after)
	case plan.Rename, plan.Move:
		rdn, parent := ldapdn.FirstRDN(c.NewDN), ldapdn.Parent(c.NewDN)
		_, err := e.dir.Move(ctx, c.DN, rdn, parent)
		if c.Action == plan.Move && ad.IsInsufficientAccess(err) {
			err = fmt.Errorf("%w (is the group protected from accidental deletion? A move deletes it from its OU: clear the protection, or grant the rights in docs/ad.md)", err)
		}
		return entry, err
	case plan.AddMembers:
		entry.Members = firstN(c.Members, 1000)
		return entry, e.dir.AddMembers(ctx, c.DN, c.Members)
	case plan.RemoveMembers:
		entry.Members = firstN(c.Members, 1000)
		return entry, e.dir.RemoveMembers(ctx, c.DN, c.Members)
	case plan.Delete:
		err := e.dir.Delete(ctx, c.DN)
		if ad.IsNoSuchObject(err) {
			return entry, nil
		}
		if ad.IsInsufficientAccess(err) {
			err = fmt.Errorf("%w (the group is probably protected from accidental deletion, a Deny Delete entry: clear \"Protect object from accidental deletion\" if writeback should delete it, or set safety.onDelete to leave or convert; it is left as it is)", err)
		}
		return entry, err
	}
	return entry, fmt.Errorf("unknown action %q", c.Action)
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// convertGroupType changes dn's groupType from one value to another in
// Windows' order (global <-> domain local through universal, each step its
// own modify), after checking that the new scope fits the group's member
// groups and the groups it is a member of, so a refusal is explained rather
// than a bare "unwilling to perform".
func (e *Engine) convertGroupType(ctx context.Context, dn, fromS, toS string) error {
	from64, err1 := strconv.ParseInt(fromS, 10, 32)
	to64, err2 := strconv.ParseInt(toS, 10, 32)
	if err1 != nil || err2 != nil {
		return e.dir.Modify(ctx, dn, map[string][]string{"groupType": {toS}})
	}
	from, to := int32(from64), int32(to64)
	if ad.GroupScope(from) != ad.GroupScope(to) {
		if err := e.dir.CheckConversion(ctx, e.domain, dn, to); err != nil {
			return err
		}
	}
	steps := ad.GroupTypeSteps(from, to)
	for i, gt := range steps {
		if err := e.dir.Modify(ctx, dn, map[string][]string{"groupType": {strconv.Itoa(int(gt))}}); err != nil {
			return fmt.Errorf("change the group type of %s from %s to %s (step %d of %d): %w",
				dn, ad.ScopeName(ad.GroupScope(from)), ad.ScopeName(ad.GroupScope(to)), i+1, len(steps), ad.ExplainGroupType(err))
		}
	}
	return nil
}

// connectionLost reports whether err is a failure of the connection to the
// DC rather than the server refusing this change (ad.IsUnavailable), a
// deadline that ended the request, a move to another DC, or a lost lease.
func connectionLost(err error) bool {
	return ad.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded) ||
		IsDCChanged(err) || // the connection moved to another DC (dcpin.go)
		errors.Is(err, state.ErrNotLeader) // HA: the lease is gone; stop like a lost DC, the groups stay pending
}

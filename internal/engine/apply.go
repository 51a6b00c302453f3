package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Progress is called after each change with (done, total).
	Progress func(done, total int)
}

// Applied is the outcome of applying a plan.
type Applied struct {
	Applied  int           `json:"applied"` // changes written
	Failed   int           `json:"failed"`  // groups that failed
	Errors   []GroupError  `json:"errors,omitempty"`
	Duration time.Duration `json:"duration"`
	Writes   int64         `json:"ldapWrites"`
	// Interrupted: the context ended; the rest of the plan was not applied
	// (re-running converges).
	Interrupted bool `json:"interrupted,omitempty"`
}

// Apply executes a plan in its order. A group whose change fails is skipped
// for the rest of the plan (its later changes depend on the failed one) and
// quarantined with exponential backoff; the other groups go on. Cancelling ctx
// stops after the change in flight. Every step is idempotent, so an
// interrupted apply followed by a new plan and apply converges.
func (e *Engine) Apply(ctx context.Context, p *Planned, o ApplyOptions) (*Applied, error) {
	start := e.now()
	writes0 := e.dir.writes.Load()
	res := &Applied{}
	if p.Plan.Blocked {
		var staged []state.Entry
		for _, c := range p.Plan.Changes {
			if c.Action == plan.Delete {
				staged = append(staged, state.Entry{GroupID: c.GroupID, Name: c.Name, Action: "staged-delete", DN: c.DN, Error: p.Plan.BlockedReason})
			}
		}
		if err := e.db.AppendLog(staged...); err != nil {
			return nil, err
		}
		return res, fmt.Errorf("%w: %s", ErrBlocked, p.Plan.BlockedReason)
	}
	failed := map[string]error{}
	failStep := map[string]string{}
	notCreated := map[string]string{} // normalised DN of a group whose create failed -> its ID
	finalDN := map[string]string{}
	moved := map[string]string{} // old DN -> new DN ("" deleted), for the resolver's cache
	var logs []state.Entry
	total := len(p.Plan.Changes)
	var (
		mu      sync.Mutex
		done    int
		logErr  error
		workers = max(1, e.cfg.Sync.Workers)
	)
	record := func(c plan.Change, entry state.Entry, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed[c.GroupID] = err
			failStep[c.GroupID] = string(c.Action)
			if c.Action == plan.Create {
				notCreated[plan.NormDN(c.DN)] = c.GroupID
			}
			entry.Action, entry.Error = "error", err.Error()
			e.log.Warn("change failed", "group", c.GroupID, "action", c.Action, "dn", c.DN, "err", err)
		} else {
			res.Applied++
			switch c.Action {
			case plan.Create:
				finalDN[c.GroupID] = c.DN
			case plan.Rename, plan.Move:
				finalDN[c.GroupID] = c.NewDN
				moved[c.DN] = c.NewDN
			case plan.Delete:
				finalDN[c.GroupID] = ""
				moved[c.DN] = ""
			default:
				if _, ok := finalDN[c.GroupID]; !ok {
					finalDN[c.GroupID] = c.DN
				}
			}
			e.log.Info("applied", "group", c.GroupID, "action", c.Action, "dn", c.DN)
		}
		logs = append(logs, entry)
		if len(logs) >= 500 && logErr == nil {
			logErr = e.db.AppendLog(logs...)
			logs = logs[:0]
		}
		done++
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	// Phases run one after the other (a group exists before members reference
	// it); inside a phase every change belongs to a different group, so they
	// run in parallel on the DC.
	changes := p.Plan.Changes
	for len(changes) > 0 && !res.Interrupted {
		n := 1
		for n < len(changes) && changes[n].Action.Phase() == changes[0].Action.Phase() {
			n++
		}
		phase := changes[:n]
		changes = changes[n:]
		phaseStart := time.Now()
		work := make(chan plan.Change)
		var wg sync.WaitGroup
		for range min(workers, len(phase)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for c := range work {
					// The write in flight finishes even when ctx is cancelled
					// (SIGTERM): stopping between writes keeps each step whole.
					entry, err := e.applyOne(context.WithoutCancel(ctx), c)
					record(c, entry, err)
				}
			}()
		}
		for _, c := range phase {
			if ctx.Err() != nil {
				res.Interrupted = true
				break
			}
			mu.Lock()
			skip := failed[c.GroupID] != nil
			if !skip && c.Action == plan.AddMembers && len(notCreated) > 0 {
				c, skip = e.withoutNotCreated(c, notCreated)
			}
			mu.Unlock()
			if !skip {
				work <- c
			}
		}
		close(work)
		wg.Wait()
		e.log.Debug("apply phase done", "action", phase[0].Action, "changes", len(phase), "workers", min(workers, len(phase)),
			"took", time.Since(phaseStart).Round(time.Millisecond).String())
	}
	e.resolver.Moved(moved) // D8: a nested group's cached DN follows writeback's own renames
	if logErr != nil {
		return res, logErr
	}
	if err := e.db.AppendLog(logs...); err != nil {
		return res, err
	}

	// Status, quarantine, and the dirty marks this plan consumed.
	now := e.now()
	var statuses []state.GroupStatus
	var deleted []string
	unresolved := map[string]int{}
	for _, u := range p.Plan.Unresolved {
		unresolved[u.GroupID] = len(u.Unresolved)
	}
	for _, ge := range p.Errors {
		failed[ge.GroupID] = errors.New(ge.Error)
		failStep[ge.GroupID] = ge.Step
	}
	touched := map[string]bool{}
	for _, c := range p.Plan.Changes {
		touched[c.GroupID] = true
	}
	for id := range unresolved {
		touched[id] = true
	}
	for id := range failed {
		touched[id] = true
	}
	for id := range touched {
		st, err := e.db.Status(id)
		if err != nil {
			return res, err
		}
		if ferr := failed[id]; ferr != nil {
			st.Failures++
			st.LastError = failStep[id] + ": " + ferr.Error()
			st.QuarantinedUntil = now.Add(state.Backoff(st.Failures))
			res.Failed++
			res.Errors = append(res.Errors, GroupError{GroupID: id, Step: failStep[id], Error: ferr.Error()})
			statuses = append(statuses, st)
			continue
		}
		if res.Interrupted {
			continue
		}
		if dn, ok := finalDN[id]; ok && dn == "" {
			deleted = append(deleted, id)
			continue
		}
		if dn := finalDN[id]; dn != "" {
			st.DN = dn
		} else if st.DN == "" {
			st.DN = p.Owned[id]
		}
		st.Failures, st.LastError, st.QuarantinedUntil = 0, "", time.Time{}
		st.LastApplied = now
		st.Unresolved = unresolved[id]
		statuses = append(statuses, st)
	}
	owned, err := e.newlyOwned(p, touched)
	if err != nil {
		return res, err
	}
	statuses = append(statuses, owned...)
	if err := e.db.PutStatuses(statuses); err != nil {
		return res, err
	}
	if err := e.db.DeleteStatus(deleted...); err != nil {
		return res, err
	}
	if !res.Interrupted {
		// A group blocked by a name collision stays pending: it is planned
		// again next round, so renaming the foreign object unblocks it.
		colliding := map[string]bool{}
		for _, c := range p.Plan.Collisions {
			colliding[c.GroupID] = true
		}
		// A quarantined group was not planned: its mark (say, deleted in
		// Entra) must survive until it is.
		for _, id := range p.Quarantined {
			colliding[id] = true
		}
		clear := map[string]string{}
		for id, r := range p.Dirty {
			if failed[id] == nil && !colliding[id] {
				clear[id] = r
			}
		}
		if err := e.db.ClearDirty(clear); err != nil {
			return res, err
		}
		// Parents planned in an earlier round could not reference a group
		// that did not exist yet; now they can.
		planned := make(map[string]bool, len(p.Planned))
		for _, id := range p.Planned {
			planned[id] = true
		}
		var created []string
		for _, c := range p.Plan.Changes {
			if c.Action == plan.Create && failed[c.GroupID] == nil {
				created = append(created, c.GroupID)
			}
		}
		if len(created) > 0 {
			if err := e.db.Update(func(tx *state.Tx) error {
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
			}); err != nil {
				return res, err
			}
		}
		if len(failed) > 0 {
			// Failed groups are retried by the next incremental round once their quarantine ends.
			if err := e.db.Update(func(tx *state.Tx) error {
				for id := range failed {
					if err := tx.MarkDirty(id, "retry"); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return res, err
			}
		}
		if p.Full {
			// Only the pending round this plan covered: a snapshot begun
			// since (a saved plan applied later) refreshed objects the plan
			// has not seen.
			if cur, err := e.db.Meta(metaFullPending); err != nil {
				return res, err
			} else if cur == p.Preconditions.FullPending {
				if err := e.db.SetMeta(metaFullPending, ""); err != nil {
					return res, err
				}
			}
			if err := e.db.SetMeta("lastFull", now.UTC().Format(time.RFC3339)); err != nil {
				return res, err
			}
		}
	}
	if len(failed) > 0 {
		// A failure may come from a cached member DN that moved: resolve afresh next time.
		e.resolver.Forget()
	}
	res.Duration = e.now().Sub(start)
	res.Writes = e.dir.writes.Load() - writes0
	return res, nil
}

// withoutNotCreated leaves out of a member add the child groups whose create
// failed in this apply: AD refuses a whole modify for one DN that does not
// exist, which would fail the parent for its child's problem. The child is
// retried; once it exists its parents are marked and the member is added then.
// skip is true when nothing is left to add.
func (e *Engine) withoutNotCreated(c plan.Change, notCreated map[string]string) (plan.Change, bool) {
	var keep []string
	for _, m := range c.Members {
		if child, ok := notCreated[plan.NormDN(m)]; ok {
			e.log.Warn("member group was not created: left out of its parent until it is", "group", c.GroupID, "dn", c.DN, "member", m, "memberGroup", child)
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

// newlyOwned returns statuses for the groups of p.Owned that the state does not
// record as writeback's yet (taken over, or converged without a change): from
// now on their leaving the cloud side may act on them. Touched groups get their
// status in Apply's main loop.
func (e *Engine) newlyOwned(p *Planned, touched map[string]bool) ([]state.GroupStatus, error) {
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
	if err := e.db.Statuses(func(s state.GroupStatus) error {
		if _, ok := pending[s.ID]; !ok {
			return nil
		}
		if s.DN != "" {
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
			if lerr == nil && g != nil && plan.NormDN(g.DN) == plan.NormDN(c.DN) {
				return entry, nil
			}
			taken := false
			if serr := e.dir.Search(ctx, c.DN, ad.ScopeBase, "(objectClass=*)", []string{"1.1"}, func(*ldap.Entry) error { taken = true; return nil }); serr != nil && !ad.IsNoSuchObject(serr) {
				return entry, err
			}
			if taken {
				return entry, fmt.Errorf("the DN is taken by an object without anchor %s, which is left untouched: %w", c.Anchor, err)
			}
			// Nothing at the DN: AD refused a unique value, e.g. the sAMAccountName.
			return entry, fmt.Errorf("%w (another object already has one of its unique values, usually the sAMAccountName; it was free when planned)", err)
		}
		return entry, err
	case plan.Update, plan.Convert:
		return entry, e.dir.Modify(ctx, c.DN, after)
	case plan.Rename, plan.Move:
		rdn, parent := firstRDN(c.NewDN), ad.ParentDN(c.NewDN)
		_, err := e.dir.Move(ctx, c.DN, rdn, parent)
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
		return entry, err
	}
	return entry, fmt.Errorf("unknown action %q", c.Action)
}

func firstRDN(dn string) string {
	p := ad.ParentDN(dn)
	if p == "" {
		return dn
	}
	return strings.TrimSuffix(strings.TrimSpace(dn[:len(dn)-len(p)]), ",")
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

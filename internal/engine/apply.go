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
	Duration time.Duration `json:"-"` // JSON: durationSeconds (MarshalJSON in run.go)
	Writes   int64         `json:"ldapWrites"`
	// Interrupted: the context ended; the rest of the plan was not applied
	// (re-running converges).
	Interrupted bool `json:"interrupted,omitempty"`
}

// Apply executes a plan in its order. A group whose change fails is skipped
// for the rest of the plan (its later changes depend on the failed one) and
// quarantined with exponential backoff; the other groups go on. A failure of
// the connection to the DC (see connectionLost) is not the group's: Apply
// stops after the changes in flight, quarantines nobody for it, keeps every
// pending mark and returns the error, so the round fails and the next one
// plans again. Cancelling ctx stops after the change in flight. Every step is idempotent, so an
// interrupted apply followed by a new plan and apply converges.
func (e *Engine) Apply(ctx context.Context, p *Planned, o ApplyOptions) (*Applied, error) {
	start := e.now()
	writes0 := e.dir.writes.Load()
	res := &Applied{}
	if p.Plan.Blocked {
		if err := e.recordBlocked(p); err != nil {
			return nil, err
		}
		if err := e.recordFindings(p); err != nil {
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
	e.progress.SetPhase("write")
	e.progress.add(func(p *Progress) *atomic.Int64 { return &p.WritesTotal }, int64(total))
	var (
		mu      sync.Mutex
		done    int
		logErr  error
		lost    error // the first connection-level failure
		workers = max(1, e.cfg.Sync.Workers)
	)
	record := func(c plan.Change, entry state.Entry, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && connectionLost(err) {
			// The DC is gone, not this group's change: a quarantine would
			// hold every group of the round back long after the DC is back
			// (reliability review D9: 959 groups, 44 s).
			if lost == nil && errors.Is(err, state.ErrNotLeader) { // HA (#23)
				lost = err
				e.log.Warn("no longer the leader: stopping this apply before its next AD write; the groups stay pending", "group", c.GroupID, "err", err)
			}
			if lost == nil {
				lost = err
				e.log.Warn("lost the connection to the domain controller; stopping this apply, the groups stay pending", "group", c.GroupID, "action", c.Action, "dn", c.DN, "err", err)
			}
			return
		}
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
		e.progress.add(func(p *Progress) *atomic.Int64 { return &p.Writes }, 1)
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	// Phases run one after the other (a group exists before members reference
	// it), and so do the steps of the rename phase (a group takes a DN after
	// the group that had it moved away); inside a step every change belongs
	// to a different group, so they run in parallel on the DC.
	changes := p.Plan.Changes
	for len(changes) > 0 && !res.Interrupted {
		n := 1
		for n < len(changes) && changes[n].Action.Phase() == changes[0].Action.Phase() && changes[n].Step == changes[0].Step {
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
					// HA (#23): no AD write without a valid leader lease (a no-op for a state file).
					if err := e.db.Fence().Check(ctx); err != nil {
						record(c, state.Entry{}, err)
						continue
					}
					// The write in flight finishes even when ctx is cancelled
					// (SIGTERM): stopping between writes keeps each step whole.
					entry, err := e.applyOne(context.WithoutCancel(ctx), c)
					record(c, entry, err)
				}
			}()
		}
		for _, c := range phase {
			mu.Lock()
			stop := lost != nil
			mu.Unlock()
			if ctx.Err() != nil || stop {
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
		if lost != nil {
			res.Interrupted = true // a change in flight of the last phase lost it
		}
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
	for id := range failed {
		touched[id] = true
	}
	// Skipped groups (collisions, protected, outside the search base,
	// refused names) show in status with why, without a quarantine: the
	// next round plans them again.
	skipped := map[string]string{}
	for _, c := range p.Plan.Collisions {
		label := "skipped (" + c.Kind + ")"
		if c.Kind == "" {
			label = "skipped (name collision)"
		}
		skipped[c.GroupID] = label + ": " + c.Reason
		touched[c.GroupID] = true
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
			e.log.Warn("group quarantined: retried after its backoff", "group", names[id], "id", id,
				"failures", st.Failures, "retryAfter", st.QuarantinedUntil.UTC().Format(time.RFC3339), "err", st.LastError)
			res.Failed++
			res.Errors = append(res.Errors, GroupError{GroupID: id, Step: failStep[id], Error: ferr.Error()})
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
			if err := e.db.SetMeta(metaLastFull, now.UTC().Format(time.RFC3339)); err != nil {
				return res, err
			}
			if p.Fingerprint != "" && !p.Targeted {
				// Every group has now been compared under this configuration,
				// but for the quarantined ones, skipped: they stay pending, so
				// the next round after their quarantine plans them under it.
				if err := e.db.Update(func(tx *state.Tx) error {
					for _, id := range p.Quarantined {
						if err := tx.MarkDirty(id, "retry"); err != nil {
							return err
						}
					}
					return tx.SetMeta(metaConfig, p.Fingerprint)
				}); err != nil {
					return res, fmt.Errorf("record the configuration this full round applied: %w", err)
				}
			}
		}
	}
	if !res.Interrupted {
		if err := e.recordFindings(p); err != nil {
			return res, err
		}
		if err := e.clearBlocked(p); err != nil {
			return res, err
		}
	}
	if len(failed) > 0 {
		// A failure may come from a cached member DN that moved: resolve afresh next time.
		e.resolver.Forget()
	}
	res.Duration = e.now().Sub(start)
	res.Writes = e.dir.writes.Load() - writes0
	if lost != nil {
		return res, fmt.Errorf("apply stopped after %d of %d changes: the connection to the domain controller failed; nothing was quarantined, the other changes stay pending and the next round plans them again (check that the DC is reachable): %w", res.Applied, total, lost)
	}
	return res, nil
}

// connectionLost reports whether err is a failure of the connection to the
// DC rather than the server refusing this change: a network error, LDAP 51
// (busy), 52 (unavailable), 81 (server down), a client timeout (85) or
// connect error (91), or a deadline that ended the request.
func connectionLost(err error) bool {
	if errors.Is(err, state.ErrNotLeader) {
		return true // HA (#23): the lease is gone; stop like a lost DC, the groups stay pending
	}
	if ad.IsNetworkError(err) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var le *ldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultServerDown, ldap.LDAPResultTimeout, ldap.LDAPResultConnectError:
			return true
		}
	}
	switch ad.Code(err) {
	case ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultServerDown, ldap.LDAPResultTimeout, ldap.LDAPResultConnectError:
		return true
	}
	return false
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
			taken, holder := false, ""
			if serr := e.dir.Search(ctx, c.DN, ad.ScopeBase, "(objectClass=*)", []string{ad.AttrExternalDirectoryObjectID}, func(en *ldap.Entry) error {
				taken, holder = true, en.GetEqualFoldAttributeValue(ad.AttrExternalDirectoryObjectID)
				return nil
			}); serr != nil && !ad.IsNoSuchObject(serr) {
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
		rdn, parent := firstRDN(c.NewDN), ad.ParentDN(c.NewDN)
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
		if err := ad.CheckConversion(ctx, e.dir, e.domain, dn, to); err != nil {
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

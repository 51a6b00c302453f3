package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/mapping"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/resolve"
	"github.com/writeback/writeback/internal/scope"
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

// plan is Plan; pre, when not nil, is the read of all owned groups started
// while Graph was being read (RunOnce of a full round).
func (e *Engine) plan(ctx context.Context, o PlanOptions, pre *ownedRead) (*Planned, error) {
	timer := newPhaseTimer(e.log)
	pending, err := e.db.Meta(metaFullPending)
	if err != nil {
		return nil, err
	}
	why := ""
	// hook (issue #20, dcpin.go): pin this round's DC; a new one means a full read.
	dcWhy, err := e.pinDC()
	if err != nil {
		return nil, err
	}
	if len(o.Groups) == 0 {
		if why, err = e.fullReason(o.Full); err != nil {
			return nil, err
		}
		if why == "" {
			why = dcWhy
		}
	}
	full := why != ""
	dirty, err := e.db.Dirty()
	if err != nil {
		return nil, fmt.Errorf("read pending groups: %w", err)
	}
	gl, ul, err := e.db.Links()
	if err != nil {
		return nil, err
	}
	out := &Planned{Full: full, Targeted: len(o.Groups) > 0, Dirty: dirty, Owned: map[string]string{}, Preconditions: Preconditions{GroupsLink: gl, UsersLink: ul, FullPending: pending, USN: map[string]int64{}, DC: e.planDC()}}

	// Which groups: by ID (lower-case).
	cands := map[string]bool{}
	switch {
	case len(o.Groups) > 0:
		out.Dirty = map[string]string{}
		for _, id := range o.Groups {
			id = strings.ToLower(id)
			cands[id] = true
			if r, ok := dirty[id]; ok {
				out.Dirty[id] = r
			}
		}
	case full:
		if err := e.db.View(func(tx *state.Tx) error {
			return tx.GroupIDs(func(id string) error { cands[id] = true; return nil })
		}); err != nil {
			return nil, err
		}
		for id := range dirty {
			cands[id] = true
		}
	default:
		for id := range dirty {
			cands[id] = true
		}
	}

	timer.done("candidates")

	// Actual AD side.
	actual := map[string]plan.Actual{}
	extra := e.extraAttrs()
	// Members are read with their objectGUID and objectSid: the resolver then
	// knows the current DN of every member AD already has, and only looks up
	// the others in the Global Catalog. (A full round's read teaches the
	// resolver group by group.)
	var known []resolve.Known
	if full {
		if pre == nil {
			pre = e.startOwnedRead(ctx, extra)
		}
		r := pre.wait()
		if r.err != nil {
			return nil, r.err
		}
		actual = r.actual
		out.Errors = append(out.Errors, r.errs...)
		for k := range actual {
			cands[plan.IDFromAnchor(k)] = true
		}
	} else if len(cands) > 0 {
		if err := e.readActual(ctx, keys(cands), extra, actual, out, &known); err != nil {
			return nil, err
		}
	}
	e.resolver.Learn(known)
	known = nil
	timer.done("adRead")
	bad := map[string]bool{}
	for k, a := range actual {
		if a.DN == "" {
			bad[plan.IDFromAnchor(k)] = true
			delete(actual, k)
		}
	}

	// A group nested (through any chain) in a protected group is itself
	// protected on Windows: SDProp gives it AdminSDHolder's ACL within the
	// hour, and its members would control Tier 0 from the cloud.
	if len(actual) > 0 {
		nested, err := ad.NestedInProtected(ctx, e.dir, e.domain, e.base)
		if err != nil {
			return nil, err
		}
		for k, why := range nested {
			if a, ok := actual[k]; ok {
				a.Protected = strings.Join(slices.DeleteFunc([]string{a.Protected, why}, func(s string) bool { return s == "" }), ", ")
				actual[k] = a
			}
		}
	}
	timer.done("protectedNesting")

	// Cloud side, scope and mappings.
	now := e.now()
	in := plan.Input{Actual: actual, Gone: map[string]plan.GoneReason{}, Occupied: map[string]string{}, Policy: e.policy}
	in.Policy.AllowDeletes = o.AllowDeletes
	members := map[string][]resolve.Member{}
	desired := map[string]*plan.Desired{}
	src := &cloudView{db: e.db, scope: e.scope, info: map[string]resolve.GroupInfo{}, devices: e.deviceReader(ctx)}
	reserved := map[string]bool{}
	free, err := e.prefetchSAM(ctx, keys(cands), actual)
	if err != nil {
		return nil, err
	}
	timer.done("samPrefetch")
	unique := func(c string) (bool, error) {
		l := strings.ToLower(c)
		if reserved[l] {
			return false, nil
		}
		if isFree, known := free[l]; known {
			if isFree {
				reserved[l] = true
			}
			return isFree, nil
		}
		taken := false
		err := e.dir.Search(ctx, e.domain, ad.ScopeSubtree, "(sAMAccountName="+ad.EscapeFilter(c)+")", []string{"1.1"}, func(*ldap.Entry) error {
			taken = true
			return nil
		})
		if err != nil {
			return false, err
		}
		if !taken {
			reserved[strings.ToLower(c)] = true
		}
		return !taken, nil
	}
	ids := keys(cands)
	provisioned := map[string]bool{} // groups this state has an AD group for
	status, err := e.statuses(ids)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		if i%200 == 199 {
			// Reading every group's members touches the state file's
			// membership index: at L, 230 MiB of mapped pages.
			e.db.TrimMapped()
		}
		out.Planned = append(out.Planned, id)
		if bad[id] {
			continue
		}
		st, err := status(id)
		if err != nil {
			return nil, err
		}
		if st.DN != "" {
			provisioned[id] = true
		}
		if st.Quarantined(now) && len(o.Groups) == 0 {
			out.Quarantined = append(out.Quarantined, id)
			continue
		}
		anchor := plan.Anchor(id)
		act, exists := actual[strings.ToLower(anchor)]
		g, inScope, why, err := src.lookup(id)
		if err != nil {
			return nil, err
		}
		if g == nil || !inScope {
			if !exists {
				continue
			}
			if st.DN == "" {
				// The anchor alone does not make a group ours: another tenant,
				// another tool or another writeback may have written it. Only a
				// group this state provisioned or took over may be deleted,
				// moved or converted.
				what := "the tenant has no such group"
				if g != nil {
					what = "the group is out of scope (" + why + ")"
				}
				out.Untouched = append(out.Untouched, Untouched{GroupID: id, DN: act.DN,
					Reason: fmt.Sprintf("anchor %s on %s: %s and writeback never provisioned it; left alone", act.Anchor, act.DN, what)})
				continue
			}
			// Deleted only on Graph's word: @removed (permanent) or gone from a
			// full enumeration. A known group that is merely absent from the
			// cache (its soft delete was handled in an earlier round) keeps the
			// out-of-scope policy.
			reason := plan.OutOfScope
			if g == nil && dirty[id] == "deleted" {
				reason = plan.Deleted
			}
			in.Gone[id] = reason
			e.log.Debug("group leaves AD", "group", id, "reason", reason, "why", why)
			continue
		}
		res, err := e.mapper.Map(mapping.Group{ID: id, Raw: g.Raw}, exists, unique)
		var refused *mapping.RefusedError
		if errors.As(err, &refused) {
			// The group's own data, not a failure: reported every round,
			// never quarantined, planned again when its name changes.
			in.Skips = append(in.Skips, plan.Collision{GroupID: id, Name: g.DisplayName, DN: act.DN, Kind: plan.SkipRefused, Reason: refused.Reason})
			continue
		}
		if err != nil {
			out.Errors = append(out.Errors, GroupError{GroupID: id, Name: g.DisplayName, Step: "mapping", Error: err.Error()})
			continue
		}
		d := plan.Desired{ID: id, Name: g.DisplayName, Anchor: anchor, Attrs: res.Attrs, OnCreate: res.OnCreate, KeepCN: res.KeepCN, KeepParent: res.KeepParent}
		cn, parent := res.CN, res.Parent
		if res.KeepCN {
			cn = ad.RDNValue(act.DN)
		}
		if res.KeepParent {
			parent = ad.ParentDN(act.DN)
		}
		dn, err := ad.JoinDN("CN", cn, parent)
		if err != nil {
			out.Errors = append(out.Errors, GroupError{GroupID: id, Name: g.DisplayName, Step: "mapping", Error: err.Error()})
			continue
		}
		if !plan.Within(dn, e.base) {
			// writeback finds its groups by anchor under the search base
			// only: one created elsewhere would be created again at its
			// next change (reliability review D3, P3).
			in.Skips = append(in.Skips, plan.Collision{GroupID: id, Name: g.DisplayName, DN: dn, Kind: plan.SkipOutside,
				Reason: "the parentDistinguishedName mapping puts the group at this DN, outside sync.searchBase " + e.base +
					", where writeback does not look for its groups; nothing is created: map it under sync.searchBase, or widen sync.searchBase"})
			continue
		}
		d.DN = dn
		desired[id] = &d
		if exists && act.Protected == "" {
			out.Owned[id] = act.DN // a protected group is never writeback's
		}
		if err := e.db.View(func(tx *state.Tx) error {
			return tx.Members(id, func(mid, typ string) error {
				members[id] = append(members[id], resolve.Member{ID: mid, Type: typ})
				return nil
			})
		}); err != nil {
			return nil, err
		}
		if !exists {
			out.Preconditions.Absent = append(out.Preconditions.Absent, anchor)
		}
	}

	timer.done("desired")
	if full {
		// Every group's members have been read: the state file's pages need
		// not stay resident (at L they are hundreds of MiB of RSS).
		_ = e.db.ReleaseMapped()
	}

	// Members.
	st0 := e.resolver.Stats()
	var nMembers int64
	for _, ms := range members {
		nMembers += int64(len(ms))
	}
	e.progress.SetPhase("resolve")
	e.progress.add(func(p *Progress) *atomic.Int64 { return &p.MembersToResolve }, nMembers)
	resolved, err := e.resolver.Resolve(ctx, members, src)
	if err != nil {
		return nil, fmt.Errorf("resolve members: %w", err)
	}
	e.progress.add(func(p *Progress) *atomic.Int64 { return &p.MembersResolved }, nMembers)
	members = nil        // at L, 500,000 memberships the plan no longer needs
	var outside []string // in-scope child groups that are not in this plan
	for id, r := range resolved {
		for _, c := range r.Groups {
			if desired[c] == nil {
				outside = append(outside, "Group_"+c)
			}
		}
		_ = id
	}
	var outsideDN, protectedChild map[string]string
	if len(outside) > 0 {
		if outsideDN, err = e.resolver.Anchors(ctx, outside); err != nil {
			return nil, fmt.Errorf("find nested groups by anchor: %w", err)
		}
		// A protected group carrying a child's anchor is not the child: it
		// is not nested either, as a full round would not (the plan skips it).
		if protectedChild, err = e.protectedAnchors(ctx, keys(outsideDN)); err != nil {
			return nil, err
		}
	}
	for id, d := range desired {
		r := resolved[id]
		d.Members = r.DNs
		for _, c := range r.Groups {
			if desired[c] != nil {
				d.MemberGroups = append(d.MemberGroups, c)
			} else if why, ok := protectedChild["Group_"+c]; ok {
				d.Unresolved = append(d.Unresolved, plan.Unresolved{ID: c, Type: "group", Name: src.info[c].Name,
					Reason: "child group is not provisioned: the AD group carrying its anchor is protected (" + why + ")"})
			} else if dn, ok := outsideDN["Group_"+c]; ok {
				d.Members = append(d.Members, dn)
			} else {
				d.Unresolved = append(d.Unresolved, plan.Unresolved{ID: c, Type: "group", Name: src.info[c].Name,
					Reason: "child group is in scope but not provisioned yet (it failed or is quarantined)"})
			}
		}
		for _, u := range r.Unresolved {
			d.Unresolved = append(d.Unresolved, plan.Unresolved{ID: u.ID, Type: u.Type, Name: u.Name, Reason: u.Reason})
		}
		in.Desired = append(in.Desired, *d)
	}
	sort.Slice(in.Desired, func(i, j int) bool { return in.Desired[i].ID < in.Desired[j].ID })
	timer.done("resolve")
	if st := e.resolver.Stats(); st.Lookups > st0.Lookups {
		var attrs []any
		for _, k := range slices.Sorted(maps.Keys(st.Asked)) {
			if n := st.Asked[k] - st0.Asked[k]; n > 0 {
				attrs = append(attrs, k, fmt.Sprintf("%d in %s", n, (st.Took[k]-st0.Took[k]).Round(time.Millisecond)))
			}
		}
		e.log.Debug("directory lookups", attrs...)
	}
	if full {
		_ = e.db.ReleaseMapped() // the users have been read too
	}

	// DNs the plan wants that something else may hold, and Connect Sync
	// groups that would be duplicated.
	if err := e.occupied(ctx, in); err != nil {
		return nil, err
	}
	timer.done("occupied")
	if in.Unprepared, err = e.unprepared(ctx, in); err != nil {
		return nil, err
	}
	timer.done("unprepared")
	if in.Outside, err = e.outside(ctx, in, provisioned); err != nil {
		return nil, err
	}
	if len(in.Gone) > 0 && in.Policy.DeletePercent > 0 {
		// The share of safety.deleteThreshold is of every group writeback
		// owns, not of the few an incremental round read.
		if in.Policy.Owned, err = e.ownedCount(); err != nil {
			return nil, err
		}
	}
	out.Plan = plan.Calculate(in)
	out.Plan.Basis, out.Plan.Partial = why, !full
	switch {
	case len(o.Groups) > 0:
		out.Plan.Basis = fmt.Sprintf("compared the %d group(s) asked for", len(o.Groups))
	case !full:
		out.Plan.Basis = fmt.Sprintf("compared %d group(s) changed in Entra since the last round", len(out.Planned))
	}
	out.Fingerprint = e.fp.String()
	timer.done("calculate")
	for i, u := range out.Untouched {
		if i == 10 {
			e.log.Warn("more anchored AD groups left alone", "count", len(out.Untouched)-i)
			break
		}
		e.log.Warn("AD group left alone", "group", u.GroupID, "dn", u.DN, "reason", u.Reason)
	}
	for k, a := range actual {
		out.Preconditions.USN[k] = a.USNChanged
	}
	timer.report("plan phases", "full", full, "groups", len(out.Planned), "owned", len(actual), "changes", len(out.Plan.Changes))
	e.holdRecreates(out) // hook (issue #20, dcpin.go)
	return out, nil
}

// ownedCount is the number of groups the state records as writeback's.
func (e *Engine) ownedCount() (int, error) {
	n := 0
	err := e.db.Statuses(func(s state.GroupStatus) error {
		if s.DN != "" {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count the groups writeback owns (for safety.deleteThreshold): %w", err)
	}
	return n, nil
}

// statuses returns a reader of group statuses: one scan of all statuses for a
// large round instead of a transaction per group.
func (e *Engine) statuses(ids []string) (func(id string) (state.GroupStatus, error), error) {
	if len(ids) < 100 {
		return e.db.Status, nil
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	all := make(map[string]state.GroupStatus)
	if err := e.db.Statuses(func(s state.GroupStatus) error {
		if want[s.ID] {
			all[s.ID] = s
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read group statuses: %w", err)
	}
	return func(id string) (state.GroupStatus, error) {
		if s, ok := all[id]; ok {
			return s, nil
		}
		return state.GroupStatus{ID: id}, nil
	}, nil
}

// prefetchSAM checks the sAMAccountName candidates of the groups the plan may
// create in batched OR filters (200 per search), so a large first sync does
// not make one search per group. Display names repeat (ten groups called
// "Finance" need "Finance", "Finance_89ab", ...), so it goes in stages: the
// first candidate of every group, then the next candidate of the groups
// whose previous one is taken in AD or by an earlier group, in the order the
// plan assigns them. It returns lower-case name -> free; names it did not
// check are looked up by the plan one at a time.
func (e *Engine) prefetchSAM(ctx context.Context, ids []string, actual map[string]plan.Actual) (map[string]bool, error) {
	free := map[string]bool{}
	var pending [][]string // per group to create, its candidates in order
	err := e.db.View(func(tx *state.Tx) error {
		for _, id := range ids {
			if _, exists := actual[strings.ToLower(plan.Anchor(id))]; exists {
				continue
			}
			g, err := tx.Group(id)
			if err != nil {
				return err
			}
			if g == nil {
				continue
			}
			first, ok := e.mapper.DefaultSAMCandidate(mapping.Group{ID: id, Raw: g.Raw})
			if !ok {
				continue
			}
			var cands []string
			_, _ = mapping.DefaultSAM(g.DisplayName, id, func(c string) (bool, error) {
				cands = append(cands, c)
				return false, nil
			})
			if len(cands) == 0 || cands[0] != first {
				cands = []string{first} // display name not from the cache's field: only the first is sure
			}
			pending = append(pending, cands)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(pending) < 20 {
		return map[string]bool{}, nil // point searches are as cheap
	}
	reserved := map[string]bool{}
	for stage := 0; len(pending) > 0; stage++ {
		var check []string
		for _, cands := range pending {
			if stage < len(cands) {
				l := strings.ToLower(cands[stage])
				if _, known := free[l]; !known {
					free[l] = true
					check = append(check, cands[stage])
				}
			}
		}
		if len(check) == 0 {
			break
		}
		if err := e.checkSAMs(ctx, check, free); err != nil {
			return nil, err
		}
		// Who gets a name at this stage, as the plan's unique() will decide.
		next := pending[:0]
		for _, cands := range pending {
			if stage >= len(cands) {
				continue
			}
			l := strings.ToLower(cands[stage])
			if free[l] && !reserved[l] {
				reserved[l] = true
				continue
			}
			next = append(next, cands)
		}
		pending = next
	}
	return free, nil
}

// checkSAMs marks the names of cands that AD already has as taken in free.
func (e *Engine) checkSAMs(ctx context.Context, cands []string, free map[string]bool) error {
	for start := 0; start < len(cands); start += 200 {
		end := min(start+200, len(cands))
		var f strings.Builder
		f.WriteString("(|")
		for _, c := range cands[start:end] {
			f.WriteString("(sAMAccountName=" + ad.EscapeFilter(c) + ")")
		}
		f.WriteString(")")
		err := e.dir.Search(ctx, e.domain, ad.ScopeSubtree, f.String(), []string{"sAMAccountName"}, func(en *ldap.Entry) error {
			free[strings.ToLower(en.GetAttributeValue("sAMAccountName"))] = false
			return nil
		})
		if err != nil {
			return fmt.Errorf("check %d sAMAccountNames: %w", end-start, err)
		}
	}
	return nil
}

// unprepared finds, for the groups the plan would create, AD groups that are
// already that cloud group's copy: adminDescription Group_<id> (Connect Sync
// group writeback's mark) or an msDS-ExternalDirectoryObjectId naming it that
// the owned-group read did not match (a different anchor on a group Connect
// Sync wrote, or an anchored group outside the search base). Creating a group
// then would make a second copy; the plan reports a collision instead. 200
// anchors per search.
func (e *Engine) unprepared(ctx context.Context, in plan.Input) (map[string]string, error) {
	var anchors []string
	want := map[string]bool{}
	for _, d := range in.Desired {
		if _, ok := in.Actual[strings.ToLower(d.Anchor)]; !ok {
			anchors = append(anchors, d.Anchor)
			want[strings.ToLower(d.Anchor)] = true
		}
	}
	out := map[string]string{}
	attrs := []string{"adminDescription", ad.AttrExternalDirectoryObjectID}
	// collect records a group under every cloud group it names; either
	// attribute is enough to make it that group's copy.
	collect := func(en *ldap.Entry) error {
		for _, v := range []string{en.GetAttributeValue("adminDescription"), en.GetAttributeValue(ad.AttrExternalDirectoryObjectID)} {
			if v != "" && want[strings.ToLower(v)] {
				if id := plan.IDFromAnchor(v); out[id] == "" {
					out[id] = en.DN
				}
			}
		}
		return nil
	}
	if len(anchors) > 200 {
		// adminDescription is not indexed: each OR batch would scan every
		// group of the domain, so many batches cost more than one pass over
		// the groups carrying either mark.
		f := "(&(objectCategory=group)(|(adminDescription=Group_*)(" + ad.AttrExternalDirectoryObjectID + "=Group_*)))"
		if err := e.dir.Search(ctx, e.domain, ad.ScopeSubtree, f, attrs, collect); err != nil {
			return nil, fmt.Errorf("look for Connect Sync groups not prepared for migration: %w", err)
		}
		return out, nil
	}
	for start := 0; start < len(anchors); start += 200 {
		end := min(start+200, len(anchors))
		var f strings.Builder
		f.WriteString("(&(objectCategory=group)(|")
		for _, a := range anchors[start:end] {
			v := ad.EscapeFilter(a)
			f.WriteString("(adminDescription=" + v + ")(" + ad.AttrExternalDirectoryObjectID + "=" + v + ")")
		}
		f.WriteString("))")
		if err := e.dir.Search(ctx, e.domain, ad.ScopeSubtree, f.String(), attrs, collect); err != nil {
			return nil, fmt.Errorf("look for Connect Sync groups not prepared for migration: %w", err)
		}
	}
	return out, nil
}

// protectedAnchors returns, of the given anchors, those carried by a
// protected group of the domain, with why (see protectedReason).
func (e *Engine) protectedAnchors(ctx context.Context, anchors []string) (map[string]string, error) {
	out := map[string]string{}
	for start := 0; start < len(anchors); start += 100 {
		end := min(start+100, len(anchors))
		var f strings.Builder
		f.WriteString("(|")
		for _, a := range anchors[start:end] {
			f.WriteString("(" + ad.AttrExternalDirectoryObjectID + "=" + ad.EscapeFilter(a) + ")")
		}
		f.WriteString(")")
		err := e.dir.Groups(ctx, e.domain, f.String(), ad.GroupQuery{ExtraAttrs: protectionAttrs}, func(g ad.Group) error {
			if why := protectedReason(g); why != "" {
				out["Group_"+plan.IDFromAnchor(g.Anchor)] = why
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("check nested groups for protected objects: %w", err)
		}
	}
	return out, nil
}

// outside finds, for the groups this state provisioned that the plan would
// create again, an AD group carrying their anchor anywhere in the domain:
// under sync.searchBase the plan's read would have found it, so one found now
// is outside it, moved there by hand. Creating the group again would put its
// anchor on two groups (reliability review D3, H5). Only groups the state
// knows it wrote are looked for: a group it never provisioned cannot have
// been moved out from under it, and other copies of a tenant elsewhere in
// the domain (another OU's writeback, a test lab's other runs) are not its
// business. One indexed search per 100 anchors; none when the search base is
// the domain.
func (e *Engine) outside(ctx context.Context, in plan.Input, provisioned map[string]bool) (map[string]string, error) {
	out := map[string]string{}
	if plan.NormDN(e.base) == plan.NormDN(e.domain) {
		return out, nil
	}
	var anchors []string
	for _, d := range in.Desired {
		if _, ok := in.Actual[strings.ToLower(d.Anchor)]; !ok && provisioned[d.ID] {
			anchors = append(anchors, d.Anchor)
		}
	}
	for start := 0; start < len(anchors); start += 100 {
		end := min(start+100, len(anchors))
		var f strings.Builder
		f.WriteString("(&(objectCategory=group)(|")
		for _, a := range anchors[start:end] {
			f.WriteString("(" + ad.AttrExternalDirectoryObjectID + "=" + ad.EscapeFilter(a) + ")")
		}
		f.WriteString("))")
		err := e.dir.Search(ctx, e.domain, ad.ScopeSubtree, f.String(), []string{ad.AttrExternalDirectoryObjectID}, func(en *ldap.Entry) error {
			if !plan.Within(en.DN, e.base) {
				out[plan.IDFromAnchor(en.GetEqualFoldAttributeValue(ad.AttrExternalDirectoryObjectID))] = en.DN
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("look for groups moved out of sync.searchBase %s: %w", e.base, err)
		}
	}
	return out, nil
}

// extraAttrs are the mapped attributes ad.Group does not read by default.
func (e *Engine) extraAttrs() []string {
	known := map[string]bool{"cn": true, "parentdistinguishedname": true, "description": true, "displayname": true,
		"samaccountname": true, "admindescription": true, "msds-externaldirectoryobjectid": true, "grouptype": true, "mail": true}
	var out []string
	for _, m := range e.mapper.Mappings() {
		if !known[strings.ToLower(m.Target)] {
			out = append(out, m.Target)
		}
	}
	return out
}

// readActual reads the owned groups of a small round with batched anchor filters.
// known, when not nil, collects the members' identifiers.
func (e *Engine) readActual(ctx context.Context, ids, extra []string, actual map[string]plan.Actual, out *Planned, known *[]resolve.Known) error {
	for start := 0; start < len(ids); start += 100 {
		end := min(start+100, len(ids))
		var f strings.Builder
		f.WriteString("(|")
		for _, id := range ids[start:end] {
			f.WriteString("(" + ad.AttrExternalDirectoryObjectID + "=" + ad.EscapeFilter(plan.Anchor(id)) + ")")
		}
		f.WriteString(")")
		err := e.dir.Groups(ctx, e.base, f.String(), ad.GroupQuery{WithMembers: true, MemberIDs: known != nil, ExtraAttrs: withProtection(extra)}, func(g ad.Group) error {
			if known != nil {
				*known = appendKnown(*known, g)
			}
			a := toActual(g)
			key := strings.ToLower(a.Anchor)
			if prev, dup := actual[key]; dup && prev.DN != "" {
				if keep, ok := e.keepOnConflict(prev, a); ok { // hook (issue #20, dcpin.go)
					actual[key] = keep
					return nil
				}
				out.Errors = append(out.Errors, GroupError{GroupID: plan.IDFromAnchor(a.Anchor), Step: "match",
					Error: fmt.Sprintf("anchor %s is on two AD groups (%s and %s): remove it from one; the group is left alone", a.Anchor, prev.DN, a.DN)})
				actual[key] = plan.Actual{}
				return nil
			}
			actual[key] = a
			return nil
		})
		if err != nil {
			return fmt.Errorf("read owned groups: %w", err)
		}
	}
	return nil
}

// ownedRead is the read of every owned AD group of a full round, which may run
// while Graph is read: the two are independent and each takes seconds at
// 10,000 groups.
type ownedRead struct {
	done   chan struct{}
	cancel context.CancelFunc
	actual map[string]plan.Actual // by lower-case anchor; DN "" = anchor on two groups
	errs   []GroupError
	err    error
}

// startOwnedRead starts reading every group under the search base that
// carries a Group_ anchor, with its members and their identifiers, which it
// teaches the resolver as it goes (a full round re-resolves every member: the
// resolver's cache is dropped first, as users may have moved in AD).
func (e *Engine) startOwnedRead(ctx context.Context, extra []string) *ownedRead {
	ctx, cancel := context.WithCancel(ctx)
	r := &ownedRead{done: make(chan struct{}), cancel: cancel, actual: map[string]plan.Actual{}}
	e.resolver.Forget()
	go func() {
		defer close(r.done)
		var known []resolve.Known // reused: at L the members are 450,000
		err := e.dir.Groups(ctx, e.base, "("+ad.AttrExternalDirectoryObjectID+"=Group_*)", ad.GroupQuery{WithMembers: true, MemberIDs: true, ExtraAttrs: withProtection(extra)}, func(g ad.Group) error {
			known = appendKnown(known[:0], g)
			e.resolver.Learn(known)
			a := toActual(g)
			key := strings.ToLower(a.Anchor)
			if prev, dup := r.actual[key]; dup {
				if keep, ok := e.keepOnConflictIf(prev, a); ok { // hook (issue #20, dcpin.go)
					r.actual[key] = keep
					return nil
				}
				r.errs = append(r.errs, GroupError{GroupID: plan.IDFromAnchor(a.Anchor), Step: "match",
					Error: fmt.Sprintf("anchor %s is on two AD groups (%s and %s): remove it from one; the group is left alone", a.Anchor, prev.DN, a.DN)})
				r.actual[key] = plan.Actual{} // poison: skipped by the plan
				return nil
			}
			r.actual[key] = a
			return nil
		})
		if err != nil {
			r.err = fmt.Errorf("read owned groups under %s: %w", e.base, err)
		}
	}()
	return r
}

// wait returns the finished read.
func (r *ownedRead) wait() *ownedRead {
	<-r.done
	r.cancel()
	return r
}

// stop abandons the read (the round failed before planning) and waits for it.
func (r *ownedRead) stop() {
	if r != nil {
		r.cancel()
		<-r.done
	}
}

// appendKnown adds the members of g that came with their identifiers.
func appendKnown(known []resolve.Known, g ad.Group) []resolve.Known {
	for i, id := range g.MemberIDs {
		k := resolve.Known{DN: g.Members[i], SID: id.SID}
		if id.GUID != (ad.GUID{}) {
			k.GUID = id.GUID.String()
		}
		if k.GUID != "" || k.SID != "" {
			known = append(known, k)
		}
	}
	return known
}

func toActual(g ad.Group) plan.Actual {
	a := plan.Actual{DN: g.DN, Anchor: g.Anchor, Members: g.Members, USNChanged: g.USNChanged, Attrs: map[string][]string{}}
	set := func(k, v string) {
		if v != "" {
			a.Attrs[k] = []string{v}
		}
	}
	set("displayname", g.DisplayName)
	set("description", g.Description)
	set("samaccountname", g.SAMAccountName)
	set("admindescription", g.AdminDescription)
	set("msds-externaldirectoryobjectid", g.Anchor)
	set("mail", g.Mail)
	if g.GroupType != 0 {
		set("grouptype", strconv.Itoa(int(g.GroupType)))
	}
	for k, v := range g.Attrs {
		a.Attrs[strings.ToLower(k)] = v
	}
	a.Protected = protectedReason(g)
	return a
}

// protectionAttrs are read with every owned group to tell protected objects
// (two small attributes on the search that reads the groups anyway).
var protectionAttrs = []string{"isCriticalSystemObject", "adminCount"}

func withProtection(extra []string) []string {
	return append(slices.Clip(extra), protectionAttrs...)
}

// protectedReason says why g must never be modified, moved or deleted by
// writeback whatever anchor it carries, or "": a critical system object, a
// well-known RID (below 1000: Domain Admins 512, Administrators 544, ...),
// adminCount=1 (protected by AdminSDHolder: it is, or was, privileged), or
// an object under CN=Builtin. Writing the anchor attribute on such a group
// must not hand it to the tenant (reliability review D2).
func protectedReason(g ad.Group) string {
	var why []string
	if v := attrValue(g, "isCriticalSystemObject"); strings.EqualFold(v, "TRUE") {
		why = append(why, "isCriticalSystemObject")
	}
	if i := strings.LastIndexByte(g.SID, '-'); i >= 0 {
		if rid, err := strconv.ParseUint(g.SID[i+1:], 10, 32); err == nil && rid < 1000 {
			why = append(why, "well-known RID "+strconv.FormatUint(rid, 10))
		}
	}
	if v := attrValue(g, "adminCount"); v != "" && v != "0" {
		why = append(why, "adminCount="+v)
	}
	if strings.Contains(plan.NormDN(g.DN), ",cn=builtin,dc=") {
		why = append(why, "under CN=Builtin")
	}
	return strings.Join(why, ", ")
}

func attrValue(g ad.Group, name string) string {
	for k, v := range g.Attrs {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// occupied fills in.Occupied with the holders of DNs the plan will create or
// rename to. Few DNs: one base search each; many: one listing per container.
func (e *Engine) occupied(ctx context.Context, in plan.Input) error {
	var want []string
	for _, d := range in.Desired {
		a, ok := in.Actual[strings.ToLower(d.Anchor)]
		target := d.DN
		if ok {
			target = plan.TargetDN(d, a.DN)
			if plan.NormDN(target) == plan.NormDN(a.DN) {
				continue
			}
		}
		want = append(want, target)
	}
	if len(want) == 0 {
		return nil
	}
	attrs := []string{ad.AttrExternalDirectoryObjectID}
	record := func(e *ldap.Entry) {
		in.Occupied[e.DN] = e.GetEqualFoldAttributeValue(ad.AttrExternalDirectoryObjectID)
	}
	if len(want) <= 10 {
		for _, dn := range want {
			err := e.dir.Search(ctx, dn, ad.ScopeBase, "(objectClass=*)", attrs, func(en *ldap.Entry) error { record(en); return nil })
			if err != nil && !ad.IsNoSuchObject(err) {
				return fmt.Errorf("check whether %s is free: %w", dn, err)
			}
		}
		return nil
	}
	parents := map[string]string{}
	for _, dn := range want {
		p := ad.ParentDN(dn)
		parents[plan.NormDN(p)] = p
	}
	for _, p := range parents {
		err := e.dir.Search(ctx, p, ad.ScopeOne, "(objectClass=*)", attrs, func(en *ldap.Entry) error { record(en); return nil })
		if err != nil && !ad.IsNoSuchObject(err) {
			return fmt.Errorf("list %s: %w", p, err)
		}
	}
	return nil
}

// cloudView answers scope and resolution questions from the state cache.
type cloudView struct {
	db    *state.DB
	scope *scope.Scope
	info  map[string]resolve.GroupInfo
	reads atomic.Int64 // users read, for TrimMapped
	// devices reads a device member from Graph (devices.go); nil: device
	// members are reported as unknown.
	devices func(id string) (*resolve.Device, error)
}

// Device answers resolve.DeviceSource.
func (c *cloudView) Device(id string) (*resolve.Device, error) {
	if c.devices == nil {
		return nil, nil
	}
	return c.devices(id)
}

// lookup returns the cached group and whether it is in scope.
func (c *cloudView) lookup(id string) (*state.Group, bool, string, error) {
	var (
		g      *state.Group
		member bool
	)
	err := c.db.View(func(tx *state.Tx) error {
		var err error
		if g, err = tx.Group(id); err != nil || g == nil {
			return err
		}
		if s := c.scope.MemberOfGroup(); s != "" {
			member = tx.HasMember(s, id)
		}
		return nil
	})
	if err != nil || g == nil {
		c.info[id] = resolve.GroupInfo{}
		return nil, false, "not in Entra", err
	}
	in, why := c.scope.Evaluate(scope.Group{ID: g.ID, SecurityEnabled: g.SecurityEnabled, MailEnabled: g.MailEnabled, OnPremisesSyncEnabled: g.OnPremisesSyncEnabled, Raw: g.Raw}, member)
	c.info[id] = resolve.GroupInfo{Known: true, InScope: in, Why: why, Name: g.DisplayName}
	return g, in, why, nil
}

// ReadDone: the resolver has read its users (see resolve's readDoner).
func (c *cloudView) ReadDone() { c.db.TrimMapped() }

func (c *cloudView) User(id string) (*resolve.User, error) {
	if c.reads.Add(1)%1000 == 0 {
		c.db.TrimMapped() // at L, the users are 100 MiB of the state file
	}
	var u *state.User
	err := c.db.View(func(tx *state.Tx) error {
		var err error
		u, err = tx.User(id)
		return err
	})
	if err != nil || u == nil {
		return nil, err
	}
	return &resolve.User{ID: u.ID, Name: u.UserPrincipalName, ObjectIdentifier: u.ObjectIdentifier, SID: u.SID, ImmutableID: u.ImmutableID, SyncEnabled: u.SyncEnabled}, nil
}

func (c *cloudView) Group(id string) resolve.GroupInfo {
	if gi, ok := c.info[id]; ok {
		return gi
	}
	if _, _, _, err := c.lookup(id); err != nil {
		return resolve.GroupInfo{}
	}
	return c.info[id]
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// phaseTimer measures the steps of a round and logs them in one debug line,
// so a slow round shows where its time went without a profiler.
type phaseTimer struct {
	log   *slog.Logger
	start time.Time
	last  time.Time
	attrs []any
}

func newPhaseTimer(log *slog.Logger) *phaseTimer {
	now := time.Now()
	return &phaseTimer{log: log, start: now, last: now}
}

// done closes the phase that started at the previous call.
func (t *phaseTimer) done(name string) {
	now := time.Now()
	t.attrs = append(t.attrs, name, now.Sub(t.last).Round(time.Millisecond).String())
	t.last = now
}

// report logs every phase and the total, with extra attributes.
func (t *phaseTimer) report(msg string, extra ...any) {
	if !t.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	attrs := append(append([]any{}, t.attrs...), "total", time.Since(t.start).Round(time.Millisecond).String())
	t.log.Debug(msg, append(attrs, extra...)...)
}

// ErrBlocked is returned by Apply for a plan past the deletion threshold.
var ErrBlocked = errors.New("plan blocked")

package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/mapping"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/resolve"
	"github.com/writeback/writeback/internal/scope"
	"github.com/writeback/writeback/internal/state"
)

// wanted is the desired stage's answer: the AD groups the selected cloud
// groups should be, with the cloud members still to resolve, and the groups
// that leave AD or are skipped.
type wanted struct {
	desired map[string]*plan.Desired
	// members are each desired group's cloud members, to resolve to DNs.
	members     map[string][]resolve.Member
	gone        map[string]plan.GoneReason
	skips       []plan.Collision
	provisioned map[string]bool // groups this state has an AD group for
	cloud       *cloudView
	// soa: groups converted to the cloud to take over or release (soa.go).
	soa *soaRound
	// report is what the plan's reader is told besides the groups.
	report desiredReport
}

// desiredReport is what computing the desired side tells the plan's
// reader (the Planned fields of the same names).
type desiredReport struct {
	planned     []string          // every selected group
	quarantined []string          // left out: quarantined
	untouched   []Untouched       // left alone: not writeback's to remove
	errors      []GroupError      // could not be mapped
	owned       map[string]string // group ID -> DN of the AD group writeback owns
	absent      []string          // anchors that AD does not hold yet
}

// into adds the report to the plan's.
func (r desiredReport) into(out *Planned) {
	out.Planned = append(out.Planned, r.planned...)
	out.Quarantined = append(out.Quarantined, r.quarantined...)
	out.Untouched = append(out.Untouched, r.untouched...)
	out.Errors = append(out.Errors, r.errors...)
	for id, dn := range r.owned {
		out.Owned[id] = dn
	}
	out.Preconditions.Absent = append(out.Preconditions.Absent, r.absent...)
}

// computeDesired maps each selected cloud group through scope and the
// mappings to the AD group it should be, and reads its cloud members. A group
// out of scope or deleted is either gone (when writeback owns its AD group)
// or left alone (see ownership.leaving).
func (e *Engine) computeDesired(ctx context.Context, o PlanOptions, sel selection, actual map[string]plan.Actual, ambiguous map[string]bool, timer *phaseTimer) (*wanted, error) {
	w := &wanted{desired: map[string]*plan.Desired{}, members: map[string][]resolve.Member{}, gone: map[string]plan.GoneReason{},
		provisioned: map[string]bool{},
		cloud:       e.newCloudView(ctx),
		report:      desiredReport{owned: map[string]string{}}}
	ids := keys(sel.ids)
	names, err := e.newSAMNames(ctx, ids, actual)
	if err != nil {
		return nil, err
	}
	timer.done("samPrefetch")
	status, err := e.statuses(ids)
	if err != nil {
		return nil, err
	}
	if w.soa, err = e.soaPrepare(ctx, ids, actual, status, w.cloud.lookup, e.extraAttrs()); err != nil {
		return nil, err
	}
	own := e.ownership()
	now := e.now()
	// Reading every group's members touches the state file's membership
	// index: at L, 230 MiB of mapped pages.
	trim := e.db.TrimEvery(200)
	for _, id := range ids {
		trim()
		w.report.planned = append(w.report.planned, id)
		if ambiguous[id] {
			continue
		}
		st, err := status(id)
		if err != nil {
			return nil, err
		}
		if own.provisioned(st) {
			w.provisioned[id] = true
		}
		if st.Quarantined(now) && len(o.Groups) == 0 {
			w.report.quarantined = append(w.report.quarantined, id)
			continue
		}
		if err := e.desireGroup(id, st, sel, actual, names, w); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// desireGroup is computeDesired for one group.
func (e *Engine) desireGroup(id string, st state.GroupStatus, sel selection, actual map[string]plan.Actual, names *samNames, w *wanted) error {
	anchor := plan.Anchor(id)
	act, exists := actual[strings.ToLower(anchor)]
	g, inScope, why, err := w.cloud.lookup(id)
	if err != nil {
		return err
	}
	// A converted group's AD group is taken over in place; one to release
	// or skip gets no other change (soa.go).
	if _, ok := w.soa.release[id]; ok {
		return nil
	}
	if _, ok := w.soa.skip[id]; ok {
		return nil
	}
	if m, ok := w.soa.takeover[id]; ok {
		act, exists = m.act, true
		actual[strings.ToLower(anchor)] = act
	}
	if g == nil || !inScope {
		if !exists {
			return nil
		}
		if w.soa.releaseOriginal(id, g, act) { // never gone: given back
			return nil
		}
		reason, untouched := e.ownership().leaving(id, st, g, why, act, sel.dirty[id])
		if untouched != nil {
			w.report.untouched = append(w.report.untouched, *untouched)
			return nil
		}
		w.gone[id] = reason
		e.log.Debug("group leaves AD", "group", id, "reason", reason, "why", why)
		return nil
	}
	d, skip, gerr := e.mapGroup(id, g, act, exists, names.unique, w.soa)
	switch {
	case skip != nil:
		w.skips = append(w.skips, *skip)
		return nil
	case gerr != nil:
		w.report.errors = append(w.report.errors, *gerr)
		return nil
	}
	w.desired[id] = d
	if exists && e.ownership().claims(act) {
		w.report.owned[id] = act.DN
	}
	if err := e.db.View(func(tx *state.Tx) error {
		return tx.Members(id, func(mid, typ string) error {
			w.members[id] = append(w.members[id], resolve.Member{ID: mid, Type: typ})
			return nil
		})
	}); err != nil {
		return err
	}
	if !exists {
		w.report.absent = append(w.report.absent, anchor)
	}
	return nil
}

// mapGroup runs the mappings for one in-scope group and places it: the
// desired group, or why it is skipped (a name the mappings refuse, a DN
// outside sync.searchBase), or the mapping's error.
func (e *Engine) mapGroup(id string, g *state.Group, act plan.Actual, exists bool, unique func(string) (bool, error), soa *soaRound) (*plan.Desired, *plan.Collision, *GroupError) {
	res, err := e.mapper.Map(mapping.Group{ID: id, Raw: g.Raw}, exists, unique)
	var refused *mapping.RefusedError
	if errors.As(err, &refused) {
		// The group's own data, not a failure: reported every round,
		// never quarantined, planned again when its name changes.
		return nil, &plan.Collision{GroupID: id, Name: g.DisplayName, DN: act.DN, Kind: plan.SkipRefused, Reason: refused.Reason}, nil
	}
	if err != nil {
		return nil, nil, &GroupError{GroupID: id, Name: g.DisplayName, Step: "mapping", Error: err.Error()}
	}
	res = soa.keepNames(e, id, g, act, res) // a group taken over keeps its names (soa.go)
	d := plan.Desired{ID: id, Name: g.DisplayName, Anchor: plan.Anchor(id), Attrs: res.Attrs, OnCreate: res.OnCreate, KeepCN: res.KeepCN, KeepParent: res.KeepParent}
	cn, parent := res.CN, res.Parent
	if res.KeepCN {
		cn = ldapdn.RDNValue(act.DN)
	}
	if res.KeepParent {
		parent = ldapdn.Parent(act.DN)
	}
	dn, err := ad.JoinDN("CN", cn, parent)
	if err != nil {
		return nil, nil, &GroupError{GroupID: id, Name: g.DisplayName, Step: "mapping", Error: err.Error()}
	}
	if !ldapdn.Within(dn, e.base) {
		// writeback finds its groups by anchor under the search base
		// only: one created elsewhere would be created again at its
		// next change (reliability review D3, P3).
		return nil, &plan.Collision{GroupID: id, Name: g.DisplayName, DN: dn, Kind: plan.SkipOutside,
			Reason: "the parentDistinguishedName mapping puts the group at this DN, outside sync.searchBase " + e.base +
				", where writeback does not look for its groups; nothing is created: map it under sync.searchBase, or widen sync.searchBase"}, nil
	}
	d.DN = dn
	return &d, nil, nil
}

// samNames answers the mappings' "is this sAMAccountName free?" for one
// round: from the batched prefetch when it checked the name, else with one
// search; a name handed out is reserved for the rest of the round.
type samNames struct {
	ctx      context.Context
	e        *Engine
	free     map[string]bool // lower-case name -> free, from prefetchSAM
	reserved map[string]bool
}

// newSAMNames prefetches the names the groups to create will likely ask for.
func (e *Engine) newSAMNames(ctx context.Context, ids []string, actual map[string]plan.Actual) (*samNames, error) {
	free, err := e.prefetchSAM(ctx, ids, actual)
	if err != nil {
		return nil, err
	}
	return &samNames{ctx: ctx, e: e, free: free, reserved: map[string]bool{}}, nil
}

func (n *samNames) unique(c string) (bool, error) {
	l := strings.ToLower(c)
	if n.reserved[l] {
		return false, nil
	}
	if isFree, known := n.free[l]; known {
		if isFree {
			n.reserved[l] = true
		}
		return isFree, nil
	}
	got, err := n.e.dir.TakenSAMAccountNames(n.ctx, n.e.domain, []string{c})
	if err != nil {
		return false, fmt.Errorf("check whether the sAMAccountName %q is taken: %w", c, err)
	}
	taken := len(got) > 0
	if !taken {
		n.reserved[l] = true
	}
	return !taken, nil
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
		taken, err := e.dir.TakenSAMAccountNames(ctx, e.domain, cands[start:end])
		if err != nil {
			return fmt.Errorf("check %d sAMAccountNames: %w", end-start, err)
		}
		for l := range taken {
			free[l] = false
		}
	}
	return nil
}

// cloudView answers scope and resolution questions from the state cache.
type cloudView struct {
	db    *state.DB
	scope *scope.Scope
	info  map[string]resolve.GroupInfo
	// trim keeps the state file's mapped pages in check while the users
	// are read (at L, the users are 100 MiB of the state file).
	trim func()
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

// newCloudView is the cloud side of one round (or one provision), read
// from the state's cache.
func (e *Engine) newCloudView(ctx context.Context) *cloudView {
	return &cloudView{db: e.db, scope: e.scope, info: map[string]resolve.GroupInfo{}, devices: e.deviceReader(ctx), trim: e.db.TrimEvery(1000)}
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
	c.trim()
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

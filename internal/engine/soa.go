package engine

// Groups whose source of authority (SOA) was converted from AD to the
// cloud (docs/engine.md, "Groups converted to the cloud"). Such a cloud
// group was synced from an AD group that every ACL still names by its SID;
// creating a new group would silently break them. So writeback matches it
// to that AD group by objectSid and takes it over in place, as a planned,
// visible change; when the conversion is rolled back it gives the group
// back (release). The hooks are marked "SOA hook" in round.go and apply.go.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/mapping"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// CloudManagedReader is a Source that can read a group's
// onPremisesSyncBehavior (*entra.Client).
type CloudManagedReader interface {
	CloudManaged(ctx context.Context, groupID string) (bool, error)
}

var _ CloudManagedReader = (*entra.Client)(nil)

// soaRound is what one round knows of the groups converted to the cloud.
type soaRound struct {
	// takeover: AD groups matched by SID, to take over in this plan.
	takeover map[string]soaMatch
	// skip: converted groups that are neither taken over nor created.
	skip map[string]plan.Collision
	// release: taken-over groups whose conversion was rolled back.
	release map[string]plan.Change
	// taken: groups taken over in an earlier round (their status says so).
	taken map[string]bool
}

type soaMatch struct {
	act    plan.Actual
	sid    string
	before map[string][]string // the anchor attributes before the takeover
}

// rawString is a string property of a cached cloud group, "" when absent.
func rawString(raw map[string]any, k string) string {
	s, _ := raw[k].(string)
	return s
}

// soaPrepare finds, among the groups of this round, the converted groups to
// take over (in scope, not anchored in AD yet, carrying an on-premises SID,
// not synced from AD, isCloudManaged confirmed by Graph) and the taken-over
// groups to release (isCloudManaged false again, or synced from AD again).
// It makes one GET per such group and one LDAP search per 100 SIDs; none
// when the round has no such group.
func (e *Engine) soaPrepare(ctx context.Context, ids []string, actual map[string]plan.Actual, status func(string) (state.GroupStatus, error),
	lookup func(string) (*state.Group, bool, string, error), extra []string) (*soaRound, error) {
	sc := &soaScan{e: e, ctx: ctx, bySID: map[string]string{}, names: map[string]string{},
		r: &soaRound{takeover: map[string]soaMatch{}, skip: map[string]plan.Collision{}, release: map[string]plan.Change{}, taken: map[string]bool{}}}
	sc.cm, _ = e.src.(CloudManagedReader)
	for _, id := range ids {
		st, err := status(id)
		if err != nil {
			return nil, err
		}
		act, exists := actual[strings.ToLower(plan.Anchor(id))]
		if exists && st.TakenOver == nil {
			continue // owned already, or another's: no cloud read (most groups of a full round)
		}
		g, inScope, _, err := lookup(id)
		if err != nil {
			return nil, err
		}
		switch {
		case st.TakenOver != nil && exists:
			if g != nil { // deleted in Entra: the safety policy, as for any owned group
				sc.stillCloudManaged(id, g, act, st.TakenOver)
			}
		case !exists && g != nil && inScope:
			sc.candidate(id, g)
		}
	}
	if len(sc.bySID) == 0 {
		return sc.r, nil
	}
	if err := sc.matchSIDs(extra); err != nil {
		return nil, err
	}
	return sc.r, nil
}

// soaScan is soaPrepare's work in progress.
type soaScan struct {
	e     *Engine
	ctx   context.Context
	cm    CloudManagedReader
	r     *soaRound
	bySID map[string]string // upper-case SID -> group ID, to look up in AD
	names map[string]string // group ID -> display name
}

// managed asks Graph whether the group is cloud-managed.
func (sc *soaScan) managed(id string) (bool, error) {
	if sc.cm == nil {
		return false, errors.New("the Graph source cannot read onPremisesSyncBehavior")
	}
	return sc.cm.CloudManaged(sc.ctx, id)
}

// stillCloudManaged keeps a taken-over group (r.taken) or releases it when
// its conversion was rolled back.
func (sc *soaScan) stillCloudManaged(id string, g *state.Group, act plan.Actual, t *state.Takeover) {
	back := g.OnPremisesSyncEnabled != nil && *g.OnPremisesSyncEnabled
	why := "onPremisesSyncEnabled is true again"
	if !back {
		ok, err := sc.managed(id)
		switch {
		case errors.Is(err, entra.ErrNotFound):
			return
		case err != nil:
			// Not known to be rolled back: keep managing it, say why.
			sc.e.log.Warn("cannot read whether a taken-over group is still cloud-managed; it stays managed", "group", id, "err", err)
			sc.r.taken[id] = true
			return
		}
		back, why = !ok, "onPremisesSyncBehavior.isCloudManaged is false"
	}
	if !back {
		sc.r.taken[id] = true
		return
	}
	sc.r.release[id] = releaseChange(id, g.DisplayName, act, t, why)
}

// candidate notes an in-scope group with no AD group yet that carries an
// on-premises SID and is confirmed cloud-managed (bySID), or why it is
// skipped.
func (sc *soaScan) candidate(id string, g *state.Group) {
	sid := rawString(g.Raw, "onPremisesSecurityIdentifier")
	if sid == "" || (g.OnPremisesSyncEnabled != nil && *g.OnPremisesSyncEnabled) {
		return
	}
	sc.names[id] = g.DisplayName
	skip := func(kind, reason string) {
		sc.r.skip[id] = plan.Collision{GroupID: id, Name: g.DisplayName, Kind: kind, Reason: reason}
	}
	ok, err := sc.managed(id)
	switch {
	case errors.Is(err, entra.ErrNotFound):
		return
	case err != nil:
		skip(plan.SkipSOAUnconfirmed, fmt.Sprintf("the group carries the on-premises SID %s and is not synced from AD, but Graph did not say whether it is cloud-managed (%v); writeback neither takes over the AD group nor creates a new one: grant the application %s (Microsoft lists no read-only permission for onPremisesSyncBehavior)", sid, err, entra.SyncBehaviorPermission))
		return
	case !ok:
		skip(plan.SkipSOAUnconfirmed, fmt.Sprintf("the group carries the on-premises SID %s and is not synced from AD, but onPremisesSyncBehavior.isCloudManaged is false (its conversion was rolled back and the sync client has not taken it over yet, or directory sync was turned off); writeback neither takes over the AD group nor creates a new one", sid))
		return
	}
	if _, err := ad.SIDToAD(sid); err != nil {
		skip(plan.SkipSOANotFound, fmt.Sprintf("onPremisesSecurityIdentifier %q is not a SID; no AD group can be matched and none is created", sid))
		return
	}
	sc.bySID[strings.ToUpper(sid)] = id
}

// matchSIDs finds the AD groups with the candidates' SIDs and decides, per
// group, takeover or skip (with why).
func (sc *soaScan) matchSIDs(extra []string) error {
	e, r := sc.e, sc.r
	found, err := e.groupsBySID(sc.ctx, slices.Sorted(maps.Keys(sc.bySID)), extra)
	if err != nil {
		return err
	}
	for sid, id := range sc.bySID {
		g, ok := found[sid]
		skip := func(kind, dn, reason string) {
			r.skip[id] = plan.Collision{GroupID: id, Name: sc.names[id], DN: dn, Kind: kind, Reason: reason}
		}
		if !ok {
			if e.cfg.SOA.CreateMissing {
				e.log.Warn("converted group: no AD group has its SID; it is created as a new group (soa.createMissing)", "group", id, "sid", sid)
			} else {
				skip(plan.SkipSOANotFound, "", fmt.Sprintf("the group was converted to the cloud, but no AD group in %s has its on-premises SID %s; writeback does not create it anew (a new group has a new SID, and every ACL granting the old one would silently stop applying): restore the AD group (AD recycle bin), or set soa.createMissing: true to create a new one", e.domain, sid))
			}
			continue
		}
		kind, why, err := sc.refusal(g, plan.Anchor(id))
		if err != nil {
			return err
		}
		if why != "" {
			skip(kind, g.DN, why)
			continue
		}
		r.takeover[id] = e.takeoverMatch(g, plan.Anchor(id))
	}
	return nil
}

// refusal says why the AD group g, found by a converted group's SID, is
// not taken over for anchor, and the skip's kind ("" when it may be).
func (sc *soaScan) refusal(g ad.Group, anchor string) (kind, why string, err error) {
	e := sc.e
	switch {
	case protectedReason(g) != "":
		return plan.SkipSOARefused, "the AD group with this SID is protected (" + protectedReason(g) + "); writeback never takes over a privileged group", nil
	case g.Anchor != "" && !strings.EqualFold(g.Anchor, anchor):
		return plan.SkipSOARefused, "the AD group with this SID carries another anchor, " + g.Anchor + " (another cloud group's, written by another tool or by hand); it is left untouched", nil
	case strings.HasPrefix(strings.ToLower(g.AdminDescription), "group_") && !strings.EqualFold(g.AdminDescription, anchor):
		return plan.SkipSOARefused, "the AD group with this SID has adminDescription " + g.AdminDescription + ", another cloud group's mark (Connect Sync or Cloud Sync wrote it); it is left untouched", nil
	case !ldapdn.Within(g.DN, e.base):
		return plan.SkipOutside, "the AD group with this SID is outside sync.searchBase " + e.base + ", where writeback does not manage groups; it is left untouched and no new group is created: widen sync.searchBase", nil
	}
	nested, err := e.nestedInProtected(sc.ctx, g.DN)
	if err != nil || nested == "" {
		return "", "", err
	}
	return plan.SkipSOARefused, "the AD group with this SID is a member of the protected group " + nested + "; writeback never takes over a group nested in a privileged one", nil
}

// takeoverMatch is the takeover of g for anchor: the group as it is, under
// the anchor, with the anchor attributes' values before (for a release).
func (e *Engine) takeoverMatch(g ad.Group, anchor string) soaMatch {
	act := toActual(g)
	act.Anchor = anchor
	before := map[string][]string{"adminDescription": nil, ad.AttrExternalDirectoryObjectID: nil}
	if g.AdminDescription != "" {
		before["adminDescription"] = []string{g.AdminDescription}
	}
	if g.Anchor != "" {
		before[ad.AttrExternalDirectoryObjectID] = []string{g.Anchor}
	}
	e.resolver.Learn(appendKnown(nil, g))
	return soaMatch{act: act, sid: g.SID, before: before}
}

// groupsBySID reads the domain's groups with these SIDs (upper-case SID ->
// group), with their members and the attributes a takeover compares: 100
// SIDs per search, on the DC (a group of another domain cannot be written
// through it anyway).
func (e *Engine) groupsBySID(ctx context.Context, sids []string, extra []string) (map[string]ad.Group, error) {
	out := map[string]ad.Group{}
	for start := 0; start < len(sids); start += 100 {
		end := min(start+100, len(sids))
		err := e.dir.GroupsWithSIDs(ctx, e.domain, sids[start:end], ad.GroupQuery{WithMembers: true, MemberIDs: true, ExtraAttrs: withProtection(extra)}, func(g ad.Group) error {
			out[strings.ToUpper(g.SID)] = g
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("find the AD groups of %d group(s) converted to the cloud by objectSid: %w", end-start, err)
		}
	}
	return out, nil
}

// nestedInProtected names a protected group (adminCount=1) that has dn in
// its member chain, or "": on Windows SDProp makes such a group protected
// within the hour, and writeback must not hand it to the tenant.
func (e *Engine) nestedInProtected(ctx context.Context, dn string) (string, error) {
	out, err := e.dir.ProtectedGroupContaining(ctx, e.domain, dn)
	if err != nil {
		return "", fmt.Errorf("check whether %s is nested in a protected group: %w", dn, err)
	}
	return out, nil
}

// releaseOriginal: a cloud group that left the scope because it is synced
// from AD again, whose AD group's objectSid is its on-premises SID, is the
// original of a group converted to the cloud and rolled back — also when
// the state that took it over is lost. It is released, never deleted,
// moved or converted by the safety policy. Its anchor attributes are
// cleared where they hold writeback's anchor (their values before the
// takeover are in the lost status only).
func (r *soaRound) releaseOriginal(id string, g *state.Group, act plan.Actual) bool {
	if g == nil || g.OnPremisesSyncEnabled == nil || !*g.OnPremisesSyncEnabled {
		return false
	}
	sid := rawString(g.Raw, "onPremisesSecurityIdentifier")
	if sid == "" || len(act.Attrs["objectsid"]) != 1 || !strings.EqualFold(act.Attrs["objectsid"][0], sid) {
		return false
	}
	r.release[id] = releaseChange(id, g.DisplayName, act, &state.Takeover{SID: sid}, "onPremisesSyncEnabled is true again")
	return true
}

// releaseChange gives a taken-over group back: the anchor attributes get the
// values they had before the takeover, where they still hold writeback's
// anchor (a value changed since is left alone, as migrate rollback does).
// Members, name, place and type stay as they are.
func releaseChange(id, name string, act plan.Actual, t *state.Takeover, why string) plan.Change {
	c := plan.Change{Action: plan.Release, GroupID: id, Name: name, Anchor: act.Anchor, DN: act.DN,
		Reason: "its source of authority is back in AD: " + why + "; writeback stops managing it and removes nothing"}
	for _, attr := range []string{"adminDescription", ad.AttrExternalDirectoryObjectID} {
		cur := act.Attrs[strings.ToLower(attr)]
		if len(cur) != 1 || !strings.EqualFold(cur[0], act.Anchor) {
			continue
		}
		c.Attrs = append(c.Attrs, plan.AttrChange{Name: attr, Before: cur, After: t.Before[attr]})
	}
	return c
}

// keepNames: a group taken over (now or before) keeps the name, place,
// sAMAccountName and group type its AD group had, unless a mapping for
// them is configured: its DN and sAMAccountName are what scripts and
// people know it by, and changing its scope could break its nesting.
//
// A group is known as taken over by its status, or — should the state file
// have been moved away — by its objectSid being the cloud group's
// onPremisesSecurityIdentifier (a group writeback created has a SID of its
// own), so a lost state never renames or converts it.
func (r *soaRound) keepNames(e *Engine, id string, g *state.Group, act plan.Actual, res mapping.Result) mapping.Result {
	_, now := r.takeover[id]
	sid := rawString(g.Raw, "onPremisesSecurityIdentifier")
	same := sid != "" && len(act.Attrs["objectsid"]) == 1 && strings.EqualFold(act.Attrs["objectsid"][0], sid)
	if !now && !r.taken[id] && !same {
		return res
	}
	configured := func(attr string) bool {
		for k := range e.cfg.Mappings.Attributes {
			if strings.EqualFold(k, attr) {
				return true
			}
		}
		return false
	}
	if !configured("cn") {
		res.KeepCN = true
	}
	if !configured("parentDistinguishedName") {
		res.KeepParent = true
	}
	if !e.cfg.Mappings.GroupTypeSet() {
		delete(res.Attrs, "groupType")
	}
	return res
}

// soaFinish completes the plan: it adds the releases, holds the takeovers
// that would remove members without acceptance (nothing is written for
// them: the group stays as AD has it, and its dirty mark stays), and lists
// the takeovers.
func (e *Engine) soaFinish(out *Planned, r *soaRound, allowRemovals bool) {
	p := out.Plan
	for _, id := range slices.Sorted(maps.Keys(r.release)) {
		p.Changes = append(p.Changes, r.release[id])
		delete(out.Owned, id)
		e.log.Info("a taken-over group's conversion to the cloud was rolled back: it is released", "group", id, "dn", r.release[id].DN, "why", r.release[id].Reason)
	}
	blocked := map[string]bool{}
	for _, c := range p.Collisions {
		blocked[c.GroupID] = true
	}
	held := map[string]bool{}
	for _, id := range slices.Sorted(maps.Keys(r.takeover)) {
		m := r.takeover[id]
		if blocked[id] {
			delete(out.Owned, id)
			continue
		}
		var removed []string
		name := ""
		for _, c := range p.Changes {
			if c.GroupID == id {
				name = c.Name
				if c.Action == plan.RemoveMembers {
					removed = append(removed, c.Members...)
				}
			}
		}
		if len(removed) > 0 && !allowRemovals && !e.cfg.SOA.Accepts(id, name, m.act.DN) {
			held[id] = true
			delete(out.Owned, id)
			names := make([]string, len(removed))
			for i, dn := range removed {
				names[i] = ldapdn.RDNValue(dn)
			}
			sort.Strings(names)
			p.Collisions = append(p.Collisions, plan.Collision{GroupID: id, Name: name, DN: m.act.DN, Kind: plan.SkipTakeoverHeld,
				Reason: fmt.Sprintf("taking over this AD group (SID %s) would remove %d member(s) it has and the cloud group has not: %s; they would lose what the group grants. Nothing is written for it until the removal is accepted: add the members to the cloud group, or accept with 'writeback apply --allow-removals' or soa.acceptRemovals", m.sid, len(removed), strings.Join(names, ", "))})
			e.log.Warn("takeover of a group converted to the cloud held: it would remove members", "group", id, "dn", m.act.DN, "members", strings.Join(names, ", "))
			continue
		}
		p.Takeovers = append(p.Takeovers, plan.Takeover{GroupID: id, Name: name, DN: m.act.DN, SID: m.sid})
		if out.Takeovers == nil {
			out.Takeovers = map[string]*state.Takeover{}
		}
		out.Takeovers[id] = &state.Takeover{SID: m.sid, Before: m.before}
	}
	if len(held) > 0 {
		p.Changes = slices.DeleteFunc(p.Changes, func(c plan.Change) bool { return held[c.GroupID] })
	}
	for _, id := range slices.Sorted(maps.Keys(r.skip)) {
		p.Collisions = append(p.Collisions, r.skip[id])
	}
	sort.SliceStable(p.Changes, func(i, j int) bool {
		a, b := p.Changes[i], p.Changes[j]
		if a.Action.Phase() != b.Action.Phase() {
			return a.Action.Phase() < b.Action.Phase()
		}
		return a.Step < b.Step
	})
	sort.Slice(p.Collisions, func(i, j int) bool { return p.Collisions[i].GroupID < p.Collisions[j].GroupID })
	p.Summary = plan.Summarize(p)
}

// soaChildren resolves in-scope child groups that are neither in this plan
// nor anchored in AD and were converted to the cloud, to the AD groups they
// came from (by SID): a converted group nested in a cloud group is a
// member as its original AD group, as Microsoft's provisioning does.
// Protected groups and groups carrying another anchor are left out (the
// child is then reported unresolved, as before).
func (e *Engine) soaChildren(ctx context.Context, ids []string) (map[string]string, error) {
	bySID := map[string]string{}
	for _, id := range ids {
		var g *state.Group
		if err := e.db.View(func(tx *state.Tx) error {
			var err error
			g, err = tx.Group(id)
			return err
		}); err != nil {
			return nil, err
		}
		if g == nil || (g.OnPremisesSyncEnabled != nil && *g.OnPremisesSyncEnabled) {
			continue
		}
		if sid := rawString(g.Raw, "onPremisesSecurityIdentifier"); sid != "" {
			bySID[strings.ToUpper(sid)] = id
		}
	}
	out := map[string]string{}
	if len(bySID) == 0 {
		return out, nil
	}
	found, err := e.groupsBySID(ctx, slices.Sorted(maps.Keys(bySID)), nil)
	if err != nil {
		return nil, err
	}
	for sid, id := range bySID {
		g, ok := found[sid]
		if !ok || protectedReason(g) != "" || (g.Anchor != "" && !strings.EqualFold(g.Anchor, plan.Anchor(id))) {
			continue
		}
		out[id] = g.DN
	}
	return out, nil
}

// soaHeld adds to cands the groups whose takeover was held for its member
// removals (their status says so), so that 'apply --allow-removals' takes
// them over in the round it runs, not at the next full round.
func (e *Engine) soaHeld(cands map[string]bool) error {
	prefix := "skipped (" + plan.SkipTakeoverHeld + ")"
	err := e.db.Statuses(func(s state.GroupStatus) error {
		if strings.HasPrefix(s.LastError, prefix) {
			cands[s.ID] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the held takeovers: %w", err)
	}
	return nil
}

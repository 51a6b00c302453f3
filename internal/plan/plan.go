// Package plan owns the pure comparison of desired groups (Entra through the
// mappings) against the groups writeback owns in AD, and the ordered list of
// changes that makes AD match. It does no I/O: the engine reads both sides and
// applies the result.
package plan

import (
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/writeback/writeback/internal/ldapdn"
)

// Action is what one Change does to AD.
type Action string

// Actions, in the order they are applied (see Phase).
const (
	Create        Action = "create"         // add a new group (no members yet)
	Rename        Action = "rename"         // ModifyDN: new CN and/or new parent, as the mappings say
	Update        Action = "update"         // replace attribute values
	AddMembers    Action = "add-members"    // add member values
	RemoveMembers Action = "remove-members" // remove member values
	Delete        Action = "delete"         // group deleted in Entra (or out of scope) and policy delete
	Move          Action = "move"           // policy move: to safety.moveTo
	Convert       Action = "convert"        // policy convert: to a distribution group
)

// Phase orders actions: groups exist and have their final DN before any
// membership references them, and removals come after additions so a member
// that moves between groups is never absent from both.
func (a Action) Phase() int {
	switch a {
	case Create:
		return 0
	case Rename:
		return 1
	case Update:
		return 2
	case AddMembers:
		return 3
	case RemoveMembers:
		return 4
	case Move, Convert, Release:
		return 5
	case Delete:
		return 6
	}
	return 7
}

// Symbol is the terraform-style marker for the action.
func (a Action) Symbol() string {
	switch a {
	case Create:
		return "+"
	case Delete:
		return "-"
	case Rename, Move:
		return ">"
	}
	return "~"
}

// Desired is one cloud group after scoping, mapping and member resolution.
type Desired struct {
	ID     string `json:"id"`             // Entra objectId
	Name   string `json:"name,omitempty"` // displayName, for reports
	Anchor string `json:"anchor"`         // Group_<id>
	// DN the group should have: cn mapping + parentDistinguishedName mapping.
	DN string `json:"dn"`
	// KeepCN / KeepParent: the cn / parentDistinguishedName mapping applies on
	// create only, so an existing group keeps its RDN / container.
	KeepCN     bool `json:"keepCN,omitempty"`
	KeepParent bool `json:"keepParent,omitempty"`
	// Attrs by AD attribute name; nil or empty = the attribute must be absent.
	Attrs map[string][]string `json:"attrs"`
	// OnCreate lists attributes (lower-case) written only when the group is created.
	OnCreate map[string]bool `json:"onCreate,omitempty"`
	// Members are resolved member DNs (users, and groups found by anchor outside this plan).
	Members []string `json:"members,omitempty"`
	// MemberGroups are IDs of in-scope cloud groups that are members; the planner
	// uses their final DN (they may be created or renamed in this same plan).
	MemberGroups []string `json:"memberGroups,omitempty"`
	// Unresolved members, each with the reason, reported and skipped.
	Unresolved []Unresolved `json:"unresolved,omitempty"`
	// MembersUnknown: membership could not be computed (e.g. a lookup failed);
	// the planner then leaves the members alone instead of removing them.
	MembersUnknown bool `json:"membersUnknown,omitempty"`
}

// Unresolved is a cloud member that has no AD object to point to.
type Unresolved struct {
	ID     string `json:"id"`
	Type   string `json:"type"` // user, group, device, ...
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason"`
}

// Actual is one AD group that carries our anchor (ownership is decided before
// planning: the planner never sees unanchored objects except as Occupied DNs).
type Actual struct {
	DN     string `json:"dn"`
	Anchor string `json:"anchor"`
	// Attrs by lower-case attribute name.
	Attrs      map[string][]string `json:"attrs,omitempty"`
	Members    []string            `json:"members,omitempty"`
	USNChanged int64               `json:"usnChanged,omitempty"`
	// Protected says why this AD object is never modified, moved or deleted
	// whatever anchor it carries (a critical system object, a well-known RID,
	// adminCount=1, under CN=Builtin); "" = not protected. An anchor is only
	// an attribute: anyone who can write it on Domain Admins must not be able
	// to hand Domain Admins to the tenant.
	Protected string `json:"protected,omitempty"`
}

// GoneReason says why an owned AD group has no desired counterpart.
type GoneReason string

const (
	Deleted    GoneReason = "deleted in Entra"
	OutOfScope GoneReason = "out of scope"
)

// Policy is what to do with groups that are gone, and the deletion guard.
type Policy struct {
	OnDelete     string // delete, move, convert, leave
	OnOutOfScope string // delete, move, convert, leave
	MoveTo       string // OU for move
	// DeleteThreshold: more Delete changes than this blocks the plan (0 = no
	// count guard).
	DeleteThreshold int
	// DeletePercent: more Delete changes than this share of the owned groups
	// (rounded up) blocks the plan too (0 = no share guard). The stricter of
	// the two applies.
	DeletePercent float64
	// Owned is the number of groups writeback owns, the base of
	// DeletePercent; 0 = the owned groups of the Input.
	Owned int
	// AllowDeletes lifts the threshold (apply --allow-deletes).
	AllowDeletes bool
	// DistributionGroupType is the groupType value for convert (universal distribution: 8).
	DistributionGroupType string
}

// Input is everything the planner compares.
type Input struct {
	Desired []Desired
	// Actual owned groups keyed by anchor (any case).
	Actual map[string]Actual
	// Gone: groups (by Entra ID) whose owned AD group should go, and why. Owned
	// groups that are neither desired nor gone are left alone.
	Gone map[string]GoneReason
	// Occupied: DNs (any case) the planner wants to create or rename to that are
	// already taken, with the holder's anchor ("" = an object we do not own).
	Occupied map[string]string
	// Unprepared: groups (by Entra ID) that have no anchored AD group but an
	// unanchored one with adminDescription Group_<id> (written by Connect Sync
	// and not yet prepared for migration), by its DN. Creating another would
	// duplicate the group, so they are reported and skipped.
	Unprepared map[string]string
	// Outside: groups (by Entra ID) whose anchored AD group was found outside
	// sync.searchBase (moved there by hand), by its DN. writeback does not
	// manage groups there, and creating another would duplicate the anchor,
	// so they are reported and skipped.
	Outside map[string]string
	// Skips are groups the engine refused before planning (a name AD would
	// refuse, a parent outside sync.searchBase), each with its reason: they
	// are reported with the collisions and nothing is written for them.
	Skips  []Collision
	Policy Policy
}

// Change is one step of a plan.
type Change struct {
	Action  Action `json:"action"`
	GroupID string `json:"groupId"`
	Name    string `json:"name,omitempty"`
	Anchor  string `json:"anchor"`
	// DN is the group's DN when this change runs (for create: the new DN).
	DN string `json:"dn"`
	// NewDN for rename and move.
	NewDN string `json:"newDN,omitempty"`
	// Attrs for create (Before empty) and update/convert.
	Attrs []AttrChange `json:"attrs,omitempty"`
	// Members for add-members / remove-members: exact DNs.
	Members []string `json:"members,omitempty"`
	// Reason for delete/move/convert.
	Reason string `json:"reason,omitempty"`
	// Step orders the renames of one plan: a group taking a DN another of
	// its groups gives up is renamed after that one; and the group-type
	// conversions: of two nested groups both converted, the one Windows
	// would refuse to convert first comes after the other (see
	// orderConversions). Apply runs the changes of one step in parallel.
	// 0 for every other change.
	Step int `json:"step,omitempty"`
	// Requires lists the groups whose Create in the same plan this change
	// depends on (a member add naming a group the plan creates): apply
	// leaves their DNs out of it when that create failed (linkRequires).
	Requires []string `json:"requires,omitempty"`
}

// AttrChange is one attribute, before → after. Empty After = remove the attribute.
type AttrChange struct {
	Name   string   `json:"name"`
	Before []string `json:"before,omitempty"`
	After  []string `json:"after,omitempty"`
}

// Collision is a group the plan skips, with why: most often a desired DN
// already held by an object writeback must not touch (Kind ""), or one of
// the other kinds below. Nothing is written for it.
type Collision struct {
	GroupID string `json:"groupId"`
	Name    string `json:"name,omitempty"`
	DN      string `json:"dn"`
	// Holder is the anchor of the holding object, "" when it is not ours.
	Holder string `json:"holder,omitempty"`
	Reason string `json:"reason"`
	// Kind: "" (name collision), or one of the Skip kinds.
	Kind string `json:"kind,omitempty"`
}

// Skip kinds: why a group is skipped other than a name collision.
const (
	// SkipProtected: the AD object carrying the anchor is a protected one.
	SkipProtected = "protected"
	// SkipOutside: the group's AD object, or the place it would be created,
	// is outside sync.searchBase.
	SkipOutside = "outside-search-base"
	// SkipRefused: a value AD would refuse or that disguises the name.
	SkipRefused = "refused"
)

// GroupUnresolved lists the unresolved members of one group.
type GroupUnresolved struct {
	GroupID    string       `json:"groupId"`
	Name       string       `json:"name,omitempty"`
	DN         string       `json:"dn"`
	Unresolved []Unresolved `json:"unresolved"`
}

// Left is an owned group that is gone from the cloud side but left in AD by policy.
type Left struct {
	GroupID string `json:"groupId"`
	DN      string `json:"dn"`
	Reason  string `json:"reason"`
}

// Plan is the ordered result.
type Plan struct {
	Changes    []Change          `json:"changes"`
	Unresolved []GroupUnresolved `json:"unresolved,omitempty"`
	Collisions []Collision       `json:"collisions,omitempty"`
	Left       []Left            `json:"left,omitempty"`
	// Takeovers are the AD groups this plan takes over in place for cloud
	// groups converted to the cloud (soa.go); their changes are in Changes.
	Takeovers []Takeover `json:"takeovers,omitempty"`
	// Blocked: the plan must not be applied (deletion threshold).
	Blocked       bool   `json:"blocked,omitempty"`
	BlockedReason string `json:"blockedReason,omitempty"`
	// SuppressedDeletes are the deletes the threshold stopped (also still in Changes).
	Summary Summary `json:"summary"`
	// Basis says in one line which groups were compared and why (set by the
	// engine): a plan that says "no changes" must say of what.
	Basis string `json:"basis,omitempty"`
	// Partial: only some groups were compared (those changed in Entra, or
	// those asked for), so "no changes" says nothing of the others.
	Partial bool `json:"partial,omitempty"`
}

// Summary counts the plan for the summary line.
type Summary struct {
	Create        int `json:"create"`
	Update        int `json:"update"` // groups with update/rename/move/convert
	Delete        int `json:"delete"`
	MemberAdds    int `json:"memberAdds"`
	MemberRemoves int `json:"memberRemoves"`
	Unresolved    int `json:"unresolved"`
	Collisions    int `json:"collisions"`
	Takeovers     int `json:"takeovers,omitempty"` // groups taken over in place (also in Update)
	Releases      int `json:"releases,omitempty"`  // groups given back to AD (also in Update)
}

// Empty reports whether the plan changes nothing in AD.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// Calculate compares desired with actual. It is deterministic: the same input
// gives the same plan in the same order. The steps:
//
//  1. place: where each desired group will be after this plan, and which
//     ones collide (with each other or with other AD objects);
//  2. order the renames, a group after the one whose DN it takes;
//  3. diff each group: create, rename, update attributes, add and remove members;
//  4. decide what happens to owned groups gone from the cloud side;
//  5. sort the changes into phases and apply the deletion threshold.
func Calculate(in Input) *Plan {
	c := newCalc(in)
	c.place()
	c.blockFollowersOfBlocked()
	c.breakRenameCycles()
	c.indexRenamed()
	for i := range c.targets {
		c.diff(i)
	}
	orderConversions(c.updates, c.convs)
	c.planGone()
	return c.finish()
}

// calc is one Calculate in progress.
type calc struct {
	in       Input
	p        *Plan
	actual   map[string]Actual // lower-case anchor -> owned group
	occupied map[string]string // normalized DN -> holder
	desired  []Desired         // by ID
	targets  []target          // desired, in the same order
	byAnchor map[string]int    // lower-case anchor -> index of an owned target
	finalDN  map[string]string // group ID -> DN after the plan ("" = will not exist)
	claimed  map[string]string // normalized target DN -> group ID
	skipped  map[string]string // group ID -> why it is not provisioned, for its parents
	temp     map[int]bool      // targets first renamed to a temporary name (a cycle)
	level    []int             // rename step of each target; 0 = not computed
	// renamed maps an owned group's current DN to its final DN, so member values
	// that point at a group renamed in this plan compare equal after the rename
	// (AD rewrites linked values on ModifyDN).
	renamed map[string]string

	creates, renames, updates, adds, removes, tail []Change
	convs                                          []conversion
}

// target is one desired group on its way to a change.
type target struct {
	d       Desired
	act     *Actual
	dn      string // final DN
	blocked bool
	// wait is the index of the owned group that holds dn now and gives
	// it up in this plan (-1: none): this one is renamed after it.
	wait int
}

func newCalc(in Input) *calc {
	c := &calc{in: in, p: &Plan{}, skipped: map[string]string{}, temp: map[int]bool{}, renamed: map[string]string{}}
	c.actual = make(map[string]Actual, len(in.Actual))
	for k, a := range in.Actual {
		c.actual[strings.ToLower(k)] = a
	}
	c.occupied = make(map[string]string, len(in.Occupied))
	for dn, holder := range in.Occupied {
		c.occupied[ldapdn.Norm(dn)] = holder
	}
	c.desired = slices.Clone(in.Desired)
	sort.Slice(c.desired, func(i, j int) bool { return c.desired[i].ID < c.desired[j].ID })
	c.finalDN = make(map[string]string, len(c.desired))
	c.claimed = make(map[string]string)
	// Existing owned groups hold their current DN until they move.
	for _, a := range c.actual {
		c.claimed[ldapdn.Norm(a.DN)] = strings.ToLower(a.Anchor)
	}
	c.targets = make([]target, 0, len(c.desired))
	c.byAnchor = make(map[string]int, len(c.desired))
	for _, d := range c.desired {
		t := target{d: d, wait: -1}
		if a, ok := c.actual[strings.ToLower(d.Anchor)]; ok {
			t.act = &a
			t.dn = TargetDN(d, a.DN)
			c.byAnchor[strings.ToLower(d.Anchor)] = len(c.targets)
		} else {
			t.dn = d.DN
		}
		c.targets = append(c.targets, t)
	}
	c.level = make([]int, len(c.targets))
	for _, s := range in.Skips {
		c.skipped[s.GroupID] = s.Reason
		c.p.Collisions = append(c.p.Collisions, s)
	}
	return c
}

// moves reports whether target j is an owned group that wants another DN
// (and may give up its current one).
func (c *calc) moves(j int) bool {
	u := c.targets[j]
	return u.act != nil && u.act.Protected == "" && ldapdn.Norm(u.dn) != ldapdn.Norm(u.act.DN)
}

// block skips t this round with the collision that says why.
func (c *calc) block(t *target, coll Collision) {
	t.blocked = true
	c.p.Collisions = append(c.p.Collisions, coll)
	c.skipped[t.d.ID] = coll.Reason
	if t.act != nil && t.act.Protected == "" {
		c.finalDN[t.d.ID] = t.act.DN // stays where it is
	} else {
		c.finalDN[t.d.ID] = ""
	}
}

// place decides where each desired group will be after this plan, so nested
// memberships and collisions between our own groups can be decided.
func (c *calc) place() {
	for i := range c.targets {
		t := &c.targets[i]
		if coll, ok := c.placeOne(t); ok {
			c.block(t, coll)
		}
	}
}

// placeOne claims t's final DN, or returns the collision that blocks it.
func (c *calc) placeOne(t *target) (Collision, bool) {
	n := ldapdn.Norm(t.dn)
	if t.act != nil && t.act.Protected != "" {
		return Collision{GroupID: t.d.ID, Name: t.d.Name, DN: t.act.DN, Holder: t.act.Anchor, Kind: SkipProtected,
			Reason: "the AD group carrying this group's anchor is protected (" + t.act.Protected + "); writeback never modifies, moves or deletes it, whatever anchor it carries: remove the anchor (msDS-ExternalDirectoryObjectId) from it"}, true
	}
	if t.act != nil && n == ldapdn.Norm(t.act.DN) {
		c.finalDN[t.d.ID] = t.dn // same DN, maybe a case-only rename
		return Collision{}, false
	}
	holder, isOccupied := c.occupied[n]
	holderOwned := false // the holder is one of the owned groups this plan read
	if a, ok := c.actual[strings.ToLower(holder)]; ok && holder != "" && ldapdn.Norm(a.DN) == n {
		holderOwned = true
	}
	if dn, ok := c.in.Outside[t.d.ID]; ok && t.act == nil {
		return outside(t.d, dn), true
	}
	if dn, ok := c.in.Unprepared[t.d.ID]; ok && t.act == nil {
		return Collision{GroupID: t.d.ID, Name: t.d.Name, DN: dn,
			Reason: "an AD group already names this cloud group (" + t.d.Anchor + " in its adminDescription or msDS-ExternalDirectoryObjectId) " +
				"but is not its anchored copy under sync.searchBase: a Connect Sync group not prepared for migration, or one whose anchor conflicts; " +
				"check it with 'writeback migrate assess' (prepare it, fix its anchor, or delete it); no duplicate is created"}, true
	}
	if isOccupied && strings.EqualFold(holder, t.d.Anchor) && t.act == nil {
		// Ours by its anchor, yet not found where writeback looks for its groups.
		return outside(t.d, t.dn), true
	}
	if isOccupied && !strings.EqualFold(holder, t.d.Anchor) && !holderOwned {
		return collision(t.d, t.dn, holder, false), true
	}
	if other, ok := c.claimed[n]; ok && !strings.EqualFold(other, t.d.Anchor) && other != t.d.ID {
		j, ok := c.byAnchor[other]
		if !ok || !c.moves(j) {
			return collision(t.d, t.dn, other, !strings.HasPrefix(other, "group_")), true
		}
		// The owned group at this DN is renamed away in this plan:
		// this group follows it (see wait).
		t.wait = j
	}
	c.claimed[n] = t.d.ID
	c.finalDN[t.d.ID] = t.dn
	return Collision{}, false
}

// blockFollowersOfBlocked: a group waiting for another that cannot move this
// round cannot move either.
func (c *calc) blockFollowersOfBlocked() {
	for changed := true; changed; {
		changed = false
		for i := range c.targets {
			t := &c.targets[i]
			if t.blocked || t.wait < 0 || !c.targets[t.wait].blocked {
				continue
			}
			h := c.targets[t.wait]
			c.block(t, Collision{GroupID: t.d.ID, Name: t.d.Name, DN: t.dn, Holder: h.d.Anchor,
				Reason: "the provisioned group " + quoteName(h.d.Name) + " (" + h.d.ID + ") has this DN and cannot be renamed this round (see its entry); this group is renamed once it is"})
			changed = true
		}
	}
}

// breakRenameCycles orders the renames: a group after the one whose DN it
// takes. In a cycle (two groups swapping names, with a cn mapping without the
// ID suffix) one group first moves to a temporary name, CN=Group_<id>, which
// is unique; then the others follow each other, and it comes last.
func (c *calc) breakRenameCycles() {
	const unseen, onPath, finished = 0, 1, 2
	mark := make([]int, len(c.targets))
	for i := range c.targets {
		var path []int
		j := i
		for j >= 0 && !c.targets[j].blocked && mark[j] == unseen {
			mark[j] = onPath
			path = append(path, j)
			j = c.targets[j].wait
		}
		if j >= 0 && mark[j] == onPath { // a cycle: from j to the end of path
			k := slices.Index(path, j)
			breaker := j
			for _, p := range path[k:] {
				if c.targets[p].d.ID < c.targets[breaker].d.ID {
					breaker = p
				}
			}
			c.temp[breaker] = true
		}
		for _, p := range path {
			mark[p] = finished
		}
	}
}

// stepOf is target i's rename step: 1 after nothing, else one after the
// group whose DN it takes (step 0 is for the moves to temporary names).
func (c *calc) stepOf(i int) int {
	if c.level[i] > 0 {
		return c.level[i]
	}
	l := 1
	if j := c.targets[i].wait; j >= 0 && !c.temp[j] {
		l = c.stepOf(j) + 1
	}
	c.level[i] = l
	return l
}

func (c *calc) indexRenamed() {
	for _, t := range c.targets {
		if t.act != nil {
			if f := c.finalDN[t.d.ID]; f != "" && ldapdn.Norm(f) != ldapdn.Norm(t.act.DN) {
				c.renamed[ldapdn.Norm(t.act.DN)] = ldapdn.Norm(f)
			}
		}
	}
}

// diff plans the changes of target i: create it, or rename it, update its
// attributes and its members.
func (c *calc) diff(i int) {
	t := c.targets[i]
	d := t.d
	unresolved, wantDNs := c.members(d)
	if t.blocked {
		// Nothing is written for a skipped group: not its attributes,
		// not its members (its collision says why).
		if len(unresolved) > 0 {
			c.p.Unresolved = append(c.p.Unresolved, GroupUnresolved{GroupID: d.ID, Name: d.Name, DN: t.dn, Unresolved: unresolved})
		}
		return
	}
	if len(unresolved) > 0 {
		sortUnresolved(unresolved)
		c.p.Unresolved = append(c.p.Unresolved, GroupUnresolved{GroupID: d.ID, Name: d.Name, DN: c.finalDN[d.ID], Unresolved: unresolved})
	}
	base := Change{GroupID: d.ID, Name: d.Name, Anchor: d.Anchor}
	if t.act == nil {
		c.create(t, base, wantDNs)
		return
	}
	cur := c.rename(i, base)
	c.updateAttrs(t, base, cur)
	if !d.MembersUnknown {
		c.updateMembers(*t.act, base, cur, wantDNs)
	}
}

// members returns d's member DNs as written, its nested groups at their
// final DNs, and what cannot be a member.
func (c *calc) members(d Desired) ([]Unresolved, []string) {
	unresolved := slices.Clip(d.Unresolved) // an append below copies; the caller's slice is never written
	wantDNs := slices.Clip(d.Members)       // as written; likewise
	for _, gid := range d.MemberGroups {
		dn, ok := c.finalDN[gid]
		if !ok || dn == "" {
			why := "child group is not provisioned"
			if r, ok := c.skipped[gid]; ok {
				why += ": " + r
			}
			unresolved = append(unresolved, Unresolved{ID: gid, Type: "group", Reason: why})
			continue
		}
		wantDNs = append(wantDNs, dn)
	}
	return unresolved, wantDNs
}

// normalizedDNs maps each DN's normal form to the DN as written.
func normalizedDNs(dns []string) map[string]string {
	want := make(map[string]string, len(dns))
	for _, m := range dns {
		want[ldapdn.Norm(m)] = m
	}
	return want
}

func (c *calc) create(t target, base Change, wantDNs []string) {
	d := t.d
	ch := base
	ch.Action, ch.DN = Create, t.dn
	for _, name := range slices.Sorted(maps.Keys(d.Attrs)) {
		if len(d.Attrs[name]) == 0 {
			continue
		}
		ch.Attrs = append(ch.Attrs, AttrChange{Name: name, After: d.Attrs[name]})
	}
	c.creates = append(c.creates, ch)
	if !d.MembersUnknown && len(wantDNs) > 0 {
		ch := base
		ch.Action, ch.DN, ch.Members = AddMembers, t.dn, sortedValues(normalizedDNs(wantDNs))
		c.adds = append(c.adds, ch)
	}
}

// rename plans target i's renames (through a temporary name in a cycle) and
// returns the DN the group has after them.
func (c *calc) rename(i int, base Change) string {
	t := c.targets[i]
	cur := t.act.DN
	f := c.finalDN[t.d.ID]
	if ldapdn.Norm(f) == ldapdn.Norm(cur) && (f == cur || rdnValue(f) == rdnValue(cur)) {
		return cur
	}
	if c.temp[i] {
		ch := base
		ch.Action, ch.DN, ch.NewDN = Rename, cur, "CN="+t.d.Anchor+","+ldapdn.Parent(cur)
		c.renames = append(c.renames, ch)
		cur = ch.NewDN
	}
	ch := base
	ch.Action, ch.DN, ch.NewDN, ch.Step = Rename, cur, f, c.stepOf(i)
	c.renames = append(c.renames, ch)
	return f
}

// updateAttrs plans the attribute changes of an owned group now at cur.
func (c *calc) updateAttrs(t target, base Change, cur string) {
	d, a := t.d, *t.act
	var attrs []AttrChange
	for _, name := range slices.Sorted(maps.Keys(d.Attrs)) {
		l := strings.ToLower(name)
		if d.OnCreate[l] {
			continue
		}
		before, after := a.Attrs[l], d.Attrs[name]
		if !slices.Equal(before, after) && !(len(before) == 0 && len(after) == 0) {
			attrs = append(attrs, AttrChange{Name: name, Before: before, After: after})
		}
	}
	if len(attrs) == 0 {
		return
	}
	ch := base
	ch.Action, ch.DN, ch.Attrs = Update, cur, attrs
	if cv, ok := scopeChange(attrs); ok {
		cv.update, cv.dn, cv.members = len(c.updates), ldapdn.Norm(a.DN), a.Members
		c.convs = append(c.convs, cv)
	}
	c.updates = append(c.updates, ch)
}

// updateMembers plans the member adds and removes of owned group a, now at cur.
func (c *calc) updateMembers(a Actual, base Change, cur string, wantDNs []string) {
	// The resolver's DNs come from the same directory read as the
	// group's members, so a group whose members are right matches them
	// byte for byte, and a full round (100,000 values at M) need not
	// normalise any. Not when a group is renamed in this plan: a value
	// may then name it by its old DN.
	if len(c.renamed) == 0 && sameStrings(a.Members, wantDNs) {
		return
	}
	want := normalizedDNs(wantDNs)
	have := make(map[string]bool, len(a.Members))
	var remove []string
	for _, m := range a.Members {
		n := ldapdn.Norm(m)
		if r, ok := c.renamed[n]; ok {
			n = r
		}
		have[n] = true
		if _, ok := want[n]; !ok {
			remove = append(remove, m)
		}
	}
	var add []string
	for n, m := range want {
		if !have[n] {
			add = append(add, m)
		}
	}
	if len(add) > 0 {
		sort.Strings(add)
		ch := base
		ch.Action, ch.DN, ch.Members = AddMembers, cur, add
		c.adds = append(c.adds, ch)
	}
	if len(remove) > 0 {
		sort.Strings(remove)
		ch := base
		ch.Action, ch.DN, ch.Members = RemoveMembers, cur, remove
		c.removes = append(c.removes, ch)
	}
}

// planGone decides, by policy, what happens to owned groups that are gone
// from the cloud side.
func (c *calc) planGone() {
	desiredAnchors := make(map[string]bool, len(c.desired))
	for _, d := range c.desired {
		desiredAnchors[strings.ToLower(d.Anchor)] = true
	}
	for _, key := range slices.Sorted(maps.Keys(c.actual)) {
		if desiredAnchors[key] {
			continue
		}
		a := c.actual[key]
		id := IDFromAnchor(a.Anchor)
		if reason, ok := c.in.Gone[id]; ok {
			c.gone(a, id, reason)
		}
	}
}

func (c *calc) gone(a Actual, id string, reason GoneReason) {
	if a.Protected != "" {
		c.p.Left = append(c.p.Left, Left{GroupID: id, DN: a.DN, Reason: string(reason) + "; left alone: the AD group is protected (" + a.Protected + ")"})
		return
	}
	policy := c.in.Policy.OnOutOfScope
	if reason == Deleted {
		policy = c.in.Policy.OnDelete
	}
	ch := Change{GroupID: id, Anchor: a.Anchor, DN: a.DN, Reason: string(reason)}
	if names := a.Attrs["displayname"]; len(names) > 0 {
		ch.Name = names[0]
	}
	switch policy {
	case "delete":
		ch.Action = Delete
	case "move":
		if c.in.Policy.MoveTo == "" || ldapdn.Equal(ldapdn.Parent(a.DN), c.in.Policy.MoveTo) {
			return
		}
		ch.Action, ch.NewDN = Move, ldapdn.FirstRDN(a.DN)+","+c.in.Policy.MoveTo
	case "convert":
		before := a.Attrs["grouptype"]
		gt := distributionGroupType(c.in.Policy.DistributionGroupType, before)
		if slices.Equal(before, []string{gt}) {
			return
		}
		ch.Action, ch.Attrs = Convert, []AttrChange{{Name: "groupType", Before: before, After: []string{gt}}}
	default:
		c.p.Left = append(c.p.Left, Left{GroupID: id, DN: a.DN, Reason: string(reason)})
		return
	}
	c.tail = append(c.tail, ch)
}

// distributionGroupType is the groupType convert writes: the configured one,
// else the group's own scope (2 global, 4 domain local, 8 universal) without
// the security bit: Windows refuses a scope change of a nested group, and
// convert only clears the security bit.
func distributionGroupType(configured string, before []string) string {
	if configured != "" {
		return configured
	}
	gt := "8"
	if len(before) == 1 {
		if n, err := strconv.ParseInt(before[0], 10, 32); err == nil && n&0xE != 0 {
			gt = strconv.Itoa(int(n & 0xE))
		}
	}
	return gt
}

// finish sorts the changes into phases, summarises and applies the
// deletion threshold.
func (c *calc) finish() *Plan {
	p := c.p
	for _, list := range [][]Change{c.creates, c.renames, c.updates, c.adds, c.removes, c.tail} {
		p.Changes = append(p.Changes, list...)
	}
	sort.SliceStable(p.Changes, func(i, j int) bool {
		a, b := p.Changes[i], p.Changes[j]
		if a.Action.Phase() != b.Action.Phase() {
			return a.Action.Phase() < b.Action.Phase()
		}
		return a.Step < b.Step
	})
	linkRequires(p.Changes)
	sort.Slice(p.Collisions, func(i, j int) bool { return p.Collisions[i].GroupID < p.Collisions[j].GroupID })
	p.Summary = Summarize(p)
	pol := c.in.Policy
	if pol.Owned == 0 {
		pol.Owned = len(c.actual)
	}
	ApplyThreshold(p, pol)
	return p
}

// ApplyThreshold marks the plan blocked when it deletes more groups than the
// policy allows, as Cloud Sync's accidental-delete prevention does: the whole
// round stops, nothing is written.
//
// The share is of the groups writeback owns, rounded up, so one deletion is
// always allowed: at 5 %, 11 owned groups allow 1, 5,001 allow 251.
func ApplyThreshold(p *Plan, pol Policy) {
	if pol.AllowDeletes {
		return
	}
	n := p.Summary.Delete
	var why string
	switch {
	case pol.DeleteThreshold > 0 && n > pol.DeleteThreshold:
		why = "the plan deletes " + itoa(n) + " groups, more than " + itoa(pol.DeleteThreshold)
	case pol.DeletePercent > 0 && pol.Owned > 0 && n > ShareLimit(pol.DeletePercent, pol.Owned):
		why = "the plan deletes " + itoa(n) + " of the " + itoa(pol.Owned) + " groups writeback owns (" +
			strconv.FormatFloat(100*float64(n)/float64(pol.Owned), 'f', 1, 64) + " %), more than " +
			strconv.FormatFloat(pol.DeletePercent, 'f', -1, 64) + " % (" + itoa(ShareLimit(pol.DeletePercent, pol.Owned)) + ")"
	default:
		return
	}
	p.Blocked = true
	p.BlockedReason = "delete threshold exceeded: " + why + " (safety.deleteThreshold); check the tenant " +
		"(a tenant answering with fewer groups than it has looks like deletions); apply with --allow-deletes if the deletes are intended"
}

// ShareLimit is the most deletions percent % of owned allows, rounded up.
func ShareLimit(percent float64, owned int) int {
	return int(math.Ceil(percent*float64(owned)/100 - 1e-9)) // 5 % of 20 is 1, not 2
}

// Summarize counts the changes.
func Summarize(p *Plan) Summary {
	var s Summary
	updated := map[string]bool{}
	for _, c := range p.Changes {
		switch c.Action {
		case Create:
			s.Create++
		case Delete:
			s.Delete++
		case Update, Rename, Move, Convert, Release:
			if c.Action == Release {
				s.Releases++
			}
			if !updated[c.GroupID] {
				updated[c.GroupID] = true
				s.Update++
			}
		case AddMembers:
			s.MemberAdds += len(c.Members)
		case RemoveMembers:
			s.MemberRemoves += len(c.Members)
		}
	}
	for _, u := range p.Unresolved {
		s.Unresolved += len(u.Unresolved)
	}
	s.Collisions = len(p.Collisions)
	s.Takeovers = len(p.Takeovers)
	return s
}

// IDFromAnchor returns the Entra object ID in "Group_<id>" (lower-case).
func IDFromAnchor(anchor string) string {
	if len(anchor) > 6 && strings.EqualFold(anchor[:6], "Group_") {
		return strings.ToLower(anchor[6:])
	}
	return strings.ToLower(anchor)
}

// Anchor is the join anchor for an Entra group ID.
func Anchor(id string) string { return "Group_" + strings.ToLower(id) }

// collision says what holds dn: an AD object without an anchor, one carrying
// another anchor (inPlan false: holder is that anchor), or another cloud group
// of this plan that wants the same DN (inPlan true: holder is its ID).
func collision(d Desired, dn, holder string, inPlan bool) Collision {
	c := Collision{GroupID: d.ID, Name: d.Name, DN: dn, Holder: holder}
	switch {
	case holder == "":
		c.Reason = "an AD object without writeback's anchor already has this DN; it is left untouched (rename it, or change the cn mapping)"
	case inPlan:
		c.Holder = Anchor(holder)
		c.Reason = "cloud group " + holder + " maps to this DN too, and came first; change the cn mapping so names are unique (the default cn adds part of the object ID)"
	default:
		c.Reason = "the AD object at this DN carries the anchor " + holder + ", not this group's; it is left untouched (it belongs to another cloud group, or its anchor was set by hand): rename one of them, or change the cn mapping"
	}
	return c
}

// outside is the skip of a group whose anchored AD group is at dn, outside
// sync.searchBase, where writeback does not look for its groups.
func outside(d Desired, dn string) Collision {
	return Collision{GroupID: d.ID, Name: d.Name, DN: dn, Holder: d.Anchor, Kind: SkipOutside,
		Reason: "the AD group carrying this group's anchor is at this DN, outside sync.searchBase, where writeback does not manage groups; it is left untouched and no duplicate is created: move it back under sync.searchBase, or widen sync.searchBase"}
}

func quoteName(s string) string { return strconv.Quote(s) }

// TargetDN is where an existing group should be: the desired DN, except for the
// parts whose mapping applies on create only.
func TargetDN(d Desired, current string) string {
	r, parent := ldapdn.FirstRDN(d.DN), ldapdn.Parent(d.DN)
	if d.KeepCN {
		r = ldapdn.FirstRDN(current)
	}
	if d.KeepParent {
		parent = ldapdn.Parent(current)
	}
	if ldapdn.Norm(parent) == ldapdn.Norm(ldapdn.Parent(current)) {
		parent = ldapdn.Parent(current) // keep AD's spelling so an unchanged parent is not a move
	}
	if parent == "" {
		return r
	}
	return r + "," + parent
}

func sortUnresolved(u []Unresolved) {
	sort.Slice(u, func(i, j int) bool { return u[i].ID < u[j].ID })
}

// sameStrings reports whether a and b hold the same strings, exactly,
// as sets of distinct values (DNs of members read from AD are distinct).
func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	set := make(map[string]struct{}, len(a))
	for _, s := range a {
		set[s] = struct{}{}
	}
	if len(set) != len(a) {
		return false
	}
	for _, s := range b {
		if _, ok := set[s]; !ok {
			return false
		}
		delete(set, s) // b repeating a value is not the same set
	}
	return true
}

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// conversion is a group whose scope an update changes, for orderConversions.
type conversion struct {
	update   int // index in the plan's updates
	dn       string
	members  []string // as read from AD, before this plan
	from, to int      // scopeRank of the scope before and after
}

// scopeRank orders the scopes by what they may contain: a group may contain
// groups of its own rank or lower (global only global, universal global and
// universal, domain local any), and nothing else (Win32 8517-8519).
func scopeRank(groupType string) (int, bool) {
	n, err := strconv.ParseInt(groupType, 10, 64)
	if err != nil {
		return 0, false
	}
	switch n & 0xE {
	case 0x2:
		return 0, true
	case 0x8:
		return 1, true
	case 0x4:
		return 2, true
	}
	return 0, false
}

// scopeChange finds a groupType change of one scope to another among attrs.
func scopeChange(attrs []AttrChange) (conversion, bool) {
	for _, a := range attrs {
		if !strings.EqualFold(a.Name, "groupType") || len(a.Before) != 1 || len(a.After) != 1 {
			continue
		}
		from, ok1 := scopeRank(a.Before[0])
		to, ok2 := scopeRank(a.After[0])
		if ok1 && ok2 && from != to {
			return conversion{from: from, to: to}, true
		}
	}
	return conversion{}, false
}

// orderConversions gives the updates that change the scope of nested groups
// steps, so that a mapping change converting a parent and its member group
// converges in one round: Windows checks every conversion against the
// current scopes of the group's members and parents, so when both narrow
// (universal to global, domain local to universal) the member goes first,
// and when both widen (global to universal, universal to domain local) the
// parent does. A parent narrowing while its member widens needs no order:
// either conversion alone keeps the parent's rank at or above the member's
// if the end state does. Groups in a nesting cycle keep the step of the
// first of them reached; the engine's check then explains the refusal.
func orderConversions(updates []Change, convs []conversion) {
	if len(convs) < 2 {
		return
	}
	byDN := make(map[string]int, len(convs))
	for i, c := range convs {
		byDN[c.dn] = i
	}
	after := make([][]int, len(convs)) // after[i]: the conversions i waits for
	for p, c := range convs {
		for _, m := range c.members {
			k, ok := byDN[ldapdn.Norm(m)]
			if !ok || k == p {
				continue
			}
			m := convs[k]
			switch {
			case c.to < c.from && m.to < m.from: // both narrow: member first
				after[p] = append(after[p], k)
			case c.to > c.from && m.to > m.from: // both widen: parent first
				after[k] = append(after[k], p)
			}
		}
	}
	const unseen, onPath = -1, -2
	level := make([]int, len(convs))
	for i := range level {
		level[i] = unseen
	}
	var stepOf func(i int) int
	stepOf = func(i int) int {
		switch level[i] {
		case onPath:
			return 0 // a cycle: no order satisfies it
		case unseen:
			level[i] = onPath
			l := 0
			for _, j := range after[i] {
				l = max(l, stepOf(j)+1)
			}
			level[i] = l
		}
		return level[i]
	}
	for i, c := range convs {
		updates[c.update].Step = stepOf(i)
	}
}

package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/resolve"
)

// readActualSide reads the AD groups carrying the selected groups' anchors
// (every anchored group under the search base in a full round, which then
// adds them to the selection). Members are read with their objectGUID and
// objectSid: the resolver then knows the current DN of every member AD
// already has, and only looks up the others in the Global Catalog. (A full
// round's read teaches the resolver group by group.) Groups whose anchor is
// on two AD groups are returned as errors and kept with an empty DN (see
// dropAmbiguous).
func (e *Engine) readActualSide(ctx context.Context, sel selection, pre *ownedRead) (map[string]plan.Actual, []GroupError, error) {
	actual := map[string]plan.Actual{}
	var errs []GroupError
	extra := e.extraAttrs()
	var known []resolve.Known
	if sel.full {
		if pre == nil {
			pre = e.startOwnedRead(ctx, extra)
		}
		r := pre.wait()
		if r.err != nil {
			return nil, nil, r.err
		}
		actual = r.actual
		errs = r.errs
		for k := range actual {
			sel.ids[plan.IDFromAnchor(k)] = true
		}
	} else if len(sel.ids) > 0 {
		var err error
		if errs, err = e.readActual(ctx, keys(sel.ids), extra, actual, &known); err != nil {
			return nil, nil, err
		}
	}
	e.resolver.Learn(known)
	return actual, errs, nil
}

// dropAmbiguous removes the anchors found on two AD groups (kept with an
// empty DN by the read) and returns their group IDs: those groups are left
// alone this round.
func dropAmbiguous(actual map[string]plan.Actual) map[string]bool {
	bad := map[string]bool{}
	for k, a := range actual {
		if a.DN == "" {
			bad[plan.IDFromAnchor(k)] = true
			delete(actual, k)
		}
	}
	return bad
}

// markProtectedNesting marks as protected the owned groups nested (through
// any chain) in a protected group: on Windows SDProp gives such a group
// AdminSDHolder's ACL within the hour, and its members would control Tier 0
// from the cloud.
func (e *Engine) markProtectedNesting(ctx context.Context, actual map[string]plan.Actual) error {
	if len(actual) == 0 {
		return nil
	}
	nested, err := e.dir.NestedInProtected(ctx, e.domain, e.base)
	if err != nil {
		return err
	}
	for k, why := range nested {
		if a, ok := actual[k]; ok {
			a.Protected = strings.Join(slices.DeleteFunc([]string{a.Protected, why}, func(s string) bool { return s == "" }), ", ")
			actual[k] = a
		}
	}
	return nil
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
	if e.cfg.Mappings.ManagedByOwner {
		out = append(out, "managedBy") // managedby.go
	}
	return out
}

// readActual reads the owned groups of a small round with batched anchor
// filters into actual, and returns the anchors found on two AD groups as
// errors (kept in actual with an empty DN). known, when not nil, collects
// the members' identifiers.
func (e *Engine) readActual(ctx context.Context, ids, extra []string, actual map[string]plan.Actual, known *[]resolve.Known) ([]GroupError, error) {
	var errs []GroupError
	for start := 0; start < len(ids); start += 100 {
		end := min(start+100, len(ids))
		anchors := make([]string, 0, end-start)
		for _, id := range ids[start:end] {
			anchors = append(anchors, plan.Anchor(id))
		}
		err := e.dir.GroupsWithAnchors(ctx, e.base, anchors, ad.GroupQuery{WithMembers: true, MemberIDs: known != nil, ExtraAttrs: withProtection(extra)}, func(g ad.Group) error {
			if known != nil {
				*known = appendKnown(*known, g)
			}
			a := toActual(g)
			key := strings.ToLower(a.Anchor)
			if prev, dup := actual[key]; dup && prev.DN != "" {
				if keep, ok := e.keepOnConflict(prev, a); ok { // a CNF copy (dcpin.go)
					actual[key] = keep
					return nil
				}
				errs = append(errs, GroupError{GroupID: plan.IDFromAnchor(a.Anchor), Step: "match",
					Error: fmt.Sprintf("anchor %s is on two AD groups (%s and %s): remove it from one; the group is left alone", a.Anchor, prev.DN, a.DN)})
				actual[key] = plan.Actual{}
				return nil
			}
			actual[key] = a
			return nil
		})
		if err != nil {
			return errs, fmt.Errorf("read owned groups: %w", err)
		}
	}
	return errs, nil
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
		err := e.dir.AnchoredGroups(ctx, e.base, ad.GroupQuery{WithMembers: true, MemberIDs: true, ExtraAttrs: withProtection(extra)}, func(g ad.Group) error {
			known = appendKnown(known[:0], g)
			e.resolver.Learn(known)
			a := toActual(g)
			key := strings.ToLower(a.Anchor)
			if prev, dup := r.actual[key]; dup {
				if keep, ok := e.keepOnConflictIf(prev, a); ok { // a CNF copy (dcpin.go)
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
	set("objectsid", g.SID) // a converted group's original is known by it (soa.go)
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
	if rid, _ := ad.RID(g.SID); g.SID != "" && rid < ad.FirstUserRID {
		why = append(why, "well-known RID "+strconv.FormatUint(uint64(rid), 10))
	}
	if v := attrValue(g, "adminCount"); v != "" && v != "0" {
		why = append(why, "adminCount="+v)
	}
	if ad.InBuiltin(g.DN) {
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

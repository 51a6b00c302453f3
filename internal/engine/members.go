package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/resolve"
)

// resolveMembers turns each desired group's cloud members into AD DNs (users,
// devices and nested groups, through the Global Catalog and the resolver's
// cache) and returns the desired groups, sorted by ID. A nested group in this
// plan is referenced by ID (MemberGroups: the plan orders it); one provisioned
// earlier by its DN; one not provisioned is reported unresolved.
func (e *Engine) resolveMembers(ctx context.Context, w *wanted) ([]plan.Desired, error) {
	st0 := e.resolver.Stats()
	var nMembers int64
	for _, ms := range w.members {
		nMembers += int64(len(ms))
	}
	e.progress.SetPhase("resolve")
	e.progress.add(func(p *Progress) *atomic.Int64 { return &p.MembersToResolve }, nMembers)
	resolved, err := e.resolver.Resolve(ctx, w.members, w.cloud)
	if err != nil {
		return nil, fmt.Errorf("resolve members: %w", err)
	}
	e.progress.add(func(p *Progress) *atomic.Int64 { return &p.MembersResolved }, nMembers)
	w.members = nil // at L, 500,000 memberships the plan no longer needs
	outsideDN, protectedChild, soaChild, err := e.nestedOutsidePlan(ctx, resolved, w.desired)
	if err != nil {
		return nil, err
	}
	// managedBy from the first resolvable owner (managedby.go).
	if err := e.managedByOwners(ctx, w.desired, w.cloud); err != nil {
		return nil, err
	}
	out := make([]plan.Desired, 0, len(w.desired))
	for id, d := range w.desired {
		r := resolved[id]
		d.Members = r.DNs
		for _, c := range r.Groups {
			if w.desired[c] != nil {
				d.MemberGroups = append(d.MemberGroups, c)
			} else if why, ok := protectedChild["Group_"+c]; ok {
				d.Unresolved = append(d.Unresolved, plan.Unresolved{ID: c, Type: "group", Name: w.cloud.info[c].Name,
					Reason: "child group is not provisioned: the AD group carrying its anchor is protected (" + why + ")"})
			} else if dn, ok := outsideDN["Group_"+c]; ok {
				d.Members = append(d.Members, dn)
			} else if dn, ok := soaChild[c]; ok {
				d.Members = append(d.Members, dn) // a converted group: its AD original (soa.go)
			} else {
				d.Unresolved = append(d.Unresolved, plan.Unresolved{ID: c, Type: "group", Name: w.cloud.info[c].Name,
					Reason: "child group is in scope but not provisioned yet (it failed or is quarantined)"})
			}
		}
		for _, u := range r.Unresolved {
			d.Unresolved = append(d.Unresolved, plan.Unresolved{ID: u.ID, Type: u.Type, Name: u.Name, Reason: u.Reason})
		}
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	e.logLookups(st0)
	return out, nil
}

// nestedOutsidePlan finds the AD groups of in-scope child groups that are not
// in this plan, by anchor (anchor -> DN), and which of those are protected
// (anchor -> why): a protected group carrying a child's anchor is not the
// child, so it is not nested either, as a full round would not (the plan
// skips it). Converted child groups not anchored yet are members as the AD
// groups they came from (soaChild: ID -> DN, soa.go).
func (e *Engine) nestedOutsidePlan(ctx context.Context, resolved map[string]resolve.Result, desired map[string]*plan.Desired) (outsideDN, protectedChild, soaChild map[string]string, err error) {
	var outside []string
	for _, r := range resolved {
		for _, c := range r.Groups {
			if desired[c] == nil {
				outside = append(outside, "Group_"+c)
			}
		}
	}
	if len(outside) == 0 {
		return nil, nil, nil, nil
	}
	if outsideDN, err = e.resolver.Anchors(ctx, outside); err != nil {
		return nil, nil, nil, fmt.Errorf("find nested groups by anchor: %w", err)
	}
	// The resolver leaves out a well-known or critical group carrying the
	// anchor, so the protection check asks about every child, found or
	// not: the user is told the group is protected, not "not provisioned".
	if protectedChild, err = e.protectedAnchors(ctx, outside); err != nil {
		return nil, nil, nil, err
	}
	var missing []string
	for _, a := range outside {
		_, found := outsideDN[a]
		_, prot := protectedChild[a]
		if !found && !prot {
			missing = append(missing, plan.IDFromAnchor(a))
		}
	}
	if soaChild, err = e.soaChildren(ctx, missing); err != nil {
		return nil, nil, nil, err
	}
	return outsideDN, protectedChild, soaChild, nil
}

// logLookups logs, at debug level, the directory lookups the resolver made
// since st0, by kind.
func (e *Engine) logLookups(st0 resolve.Stats) {
	st := e.resolver.Stats()
	if st.Lookups <= st0.Lookups {
		return
	}
	var attrs []any
	for _, k := range slices.Sorted(maps.Keys(st.Asked)) {
		if n := st.Asked[k] - st0.Asked[k]; n > 0 {
			attrs = append(attrs, k, fmt.Sprintf("%d in %s", n, (st.Took[k]-st0.Took[k]).Round(time.Millisecond)))
		}
	}
	e.log.Debug("directory lookups", attrs...)
}

// protectedAnchors returns, of the given anchors, those carried by a
// protected group of the domain, with why (see protectedReason).
func (e *Engine) protectedAnchors(ctx context.Context, anchors []string) (map[string]string, error) {
	out := map[string]string{}
	for start := 0; start < len(anchors); start += 100 {
		end := min(start+100, len(anchors))
		err := e.dir.GroupsWithAnchors(ctx, e.domain, anchors[start:end], ad.GroupQuery{ExtraAttrs: protectionAttrs}, func(g ad.Group) error {
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

package engine

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/plan"
)

// readObstacles returns the plan's input completed with what in AD stands
// in its way: objects at the DNs it creates or renames to (Occupied),
// Connect Sync groups it would duplicate (Unprepared), groups of this state
// moved out of the search base (Outside), and, for a percentage delete
// threshold, how many groups writeback owns.
func (e *Engine) readObstacles(ctx context.Context, in plan.Input, provisioned map[string]bool, timer *phaseTimer) (plan.Input, error) {
	in.Occupied = map[string]string{}
	if err := e.occupied(ctx, in); err != nil {
		return in, err
	}
	timer.done("occupied")
	var err error
	if in.Unprepared, err = e.unprepared(ctx, in); err != nil {
		return in, err
	}
	timer.done("unprepared")
	if in.Outside, err = e.outside(ctx, in, provisioned); err != nil {
		return in, err
	}
	if len(in.Gone) > 0 && in.Policy.DeletePercent > 0 {
		// The share of safety.deleteThreshold is of every group writeback
		// owns, not of the few an incremental round read.
		if in.Policy.Owned, err = e.ownership().count(); err != nil {
			return in, err
		}
	}
	return in, nil
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
			if ldapdn.Norm(target) == ldapdn.Norm(a.DN) {
				continue
			}
		}
		want = append(want, target)
	}
	if len(want) == 0 {
		return nil
	}
	if len(want) <= 10 {
		for _, dn := range want {
			anchor, exists, err := e.dir.HolderOf(ctx, dn)
			if err != nil {
				return fmt.Errorf("check whether %s is free: %w", dn, err)
			}
			if exists {
				in.Occupied[dn] = anchor
			}
		}
		return nil
	}
	parents := map[string]string{}
	for _, dn := range want {
		p := ldapdn.Parent(dn)
		parents[ldapdn.Norm(p)] = p
	}
	for _, p := range parents {
		held, err := e.dir.HoldersUnder(ctx, p)
		if err != nil {
			return fmt.Errorf("list %s: %w", p, err)
		}
		maps.Copy(in.Occupied, held)
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
	// collect records a group under every cloud group it names; either
	// attribute is enough to make it that group's copy.
	collect := func(m ad.Marked) error {
		for _, v := range []string{m.AdminDescription, m.Anchor} {
			if v != "" && want[strings.ToLower(v)] {
				if id := plan.IDFromAnchor(v); out[id] == "" {
					out[id] = m.DN
				}
			}
		}
		return nil
	}
	if len(anchors) > 200 {
		// adminDescription is not indexed: each OR batch would scan every
		// group of the domain, so many batches cost more than one pass over
		// the groups carrying either mark (nil: every marked group).
		if err := e.dir.MarkedGroups(ctx, e.domain, nil, collect); err != nil {
			return nil, fmt.Errorf("look for Connect Sync groups not prepared for migration: %w", err)
		}
		return out, nil
	}
	for start := 0; start < len(anchors); start += 200 {
		if err := e.dir.MarkedGroups(ctx, e.domain, anchors[start:min(start+200, len(anchors))], collect); err != nil {
			return nil, fmt.Errorf("look for Connect Sync groups not prepared for migration: %w", err)
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
	if ldapdn.Norm(e.base) == ldapdn.Norm(e.domain) {
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
		err := e.dir.GroupsWithAnchors(ctx, e.domain, anchors[start:end], ad.GroupQuery{}, func(g ad.Group) error {
			if !ldapdn.Within(g.DN, e.base) {
				out[plan.IDFromAnchor(g.Anchor)] = g.DN
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("look for groups moved out of sync.searchBase %s: %w", e.base, err)
		}
	}
	return out, nil
}

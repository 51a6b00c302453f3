package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/resolve"
	"github.com/writeback/writeback/internal/state"
)

// Report is the step-by-step account of provisioning one group on demand, as
// Cloud Sync's "provision on demand" shows it: import, scope evaluation, match,
// member resolution, action.
type Report struct {
	GroupID string `json:"groupId"`
	// Import: the group as the cache holds it after reading Graph's delta (nil: unknown).
	Group *state.Group `json:"group,omitempty"`
	// Scope evaluation.
	InScope     bool   `json:"inScope"`
	ScopeReason string `json:"scopeReason"`
	// Match: the AD group carrying Group_<id> ("" = none: it will be created).
	MatchedDN string `json:"matchedDN,omitempty"`
	// Members, each with its resolution.
	Members []MemberReport `json:"members"`
	// Action: the plan for this group, and what was applied (nil on dry run).
	Planned *Planned `json:"planned"`
	Applied *Applied `json:"applied,omitempty"`
}

// MemberReport is one member's resolution.
type MemberReport struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Name   string `json:"name,omitempty"`
	DN     string `json:"dn,omitempty"`
	Reason string `json:"reason,omitempty"` // why it was not resolved, or how a nested group is handled
}

// Provision provisions one group now, with a step report; dryRun stops before
// writing.
func (e *Engine) Provision(ctx context.Context, id string, dryRun bool) (*Report, error) {
	id = strings.ToLower(id)
	r := &Report{GroupID: id}
	if _, err := e.Ingest(ctx, false); err != nil {
		return r, err
	}
	src := e.newCloudView(ctx)
	g, in, why, err := src.lookup(id)
	if err != nil {
		return r, err
	}
	r.Group, r.InScope, r.ScopeReason = g, in, why
	if g == nil {
		r.ScopeReason = "not found in Entra (Graph's groups delta did not return it)"
	}
	act, err := e.dir.GroupByAnchor(ctx, e.base, plan.Anchor(id), false)
	if err != nil {
		return r, fmt.Errorf("match group %s in AD: %w", id, err)
	}
	if act != nil {
		r.MatchedDN = act.DN
	}
	if g != nil {
		var members []resolve.Member
		if err := e.db.View(func(tx *state.Tx) error {
			return tx.Members(id, func(mid, typ string) error {
				members = append(members, resolve.Member{ID: mid, Type: typ})
				return nil
			})
		}); err != nil {
			return r, err
		}
		// Each member as a group of its own: the report says what each one
		// resolved to, and the lookups are still batched. (Keyed apart from
		// group IDs: a group is refused as a member of itself.)
		each := make(map[string][]resolve.Member, len(members))
		for _, m := range members {
			each["member:"+m.ID] = []resolve.Member{m}
		}
		res, err := e.resolver.Resolve(ctx, each, src)
		if err != nil {
			return r, err
		}
		for _, m := range members {
			mr := MemberReport{ID: m.ID, Type: m.Type}
			got := res["member:"+m.ID]
			if len(got.Unresolved) > 0 {
				mr.Name, mr.Reason = got.Unresolved[0].Name, got.Unresolved[0].Reason
			} else if len(got.DNs) > 0 {
				mr.DN = got.DNs[0]
			} else if m.Type == "group" {
				mr.Name = src.info[m.ID].Name
				mr.Reason = "nested group in scope: referenced by its own AD group (Group_" + m.ID + ")"
			}
			r.Members = append(r.Members, mr)
		}
	}
	p, err := e.Plan(ctx, PlanOptions{Groups: []string{id}})
	if err != nil {
		return r, err
	}
	r.Planned = p
	for _, t := range p.Plan.Takeovers { // SOA hook (soa.go): matched by SID, not by anchor
		if t.GroupID == id && r.MatchedDN == "" {
			r.MatchedDN = t.DN
		}
	}
	if dryRun {
		return r, nil
	}
	a, err := e.Apply(ctx, p, ApplyOptions{})
	r.Applied = a
	return r, err
}

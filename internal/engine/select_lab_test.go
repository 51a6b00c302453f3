package engine

import (
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/plan"
)

// A mapping on a directory extension attribute flows into AD: the property
// is selected (Graph returns only what is selected), the changed selection
// restarts the delta links once with a full snapshot, and the rounds after
// it are incremental again.
func TestLabExtensionMappingFlowsIntoAD(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 6, "wbext")
	tenant := sampleTenant(users)
	tenant.Groups[0].Extra = map[string]any{"extension_0a1b2c3d4e5f_costCenter": "CC-42"}
	f := newFixtureOn(t, l, tenant, nil)
	f.round(RoundOptions{})

	logs := f.reconfigure(func(c *config.Config) {
		c.Mappings.Attributes = map[string]config.Mapping{"description": {Expression: `IIF(IsPresent([extension_0a1b2c3d4e5f_costCenter]), Append("cost center ", [extension_0a1b2c3d4e5f_costCenter]), [displayName])`}}
	})
	res := f.round(RoundOptions{})
	if !res.Planned.Full {
		t.Errorf("round after the mapping changed: not full (basis %q)", res.Planned.Plan.Basis)
	}
	if n := strings.Count(logs.String(), "the Graph properties selected changed"); n != 1 {
		t.Errorf("delta restarted %d times, want once:\n%s", n, logs)
	}
	got := f.adGroups()
	if g := got[plan.Anchor(gSales)]; g.Description != "cost center CC-42" {
		t.Errorf("Sales description %q, want the extension's value (cost center CC-42)", g.Description)
	}
	if g := got[plan.Anchor(gParent)]; g.Description != "All Staff" {
		t.Errorf("All Staff description %q, want its display name (no extension value)", g.Description)
	}
	// Converged: the next rounds are incremental and quiet, the extension
	// still selected (a change to it arrives through the delta).
	res = f.round(RoundOptions{})
	if res.Planned.Full || !res.Planned.Plan.Empty() {
		t.Errorf("round after convergence: full=%v, %d changes", res.Planned.Full, len(res.Planned.Plan.Changes))
	}
	if _, err := f.env.Admin.UpdateGroup(gSales, func(g *emulator.Group) { g.Extra = map[string]any{"extension_0a1b2c3d4e5f_costCenter": "CC-7"} }); err != nil {
		t.Fatal(err)
	}
	res = f.round(RoundOptions{})
	if res.Planned.Full {
		t.Error("an extension change made a full round")
	}
	if g := f.adGroups()[plan.Anchor(gSales)]; g.Description != "cost center CC-7" {
		t.Errorf("Sales description %q after the extension changed, want cost center CC-7", g.Description)
	}
	if n := strings.Count(logs.String(), "the Graph properties selected changed"); n != 1 {
		t.Errorf("delta restarted %d times in all, want once", n)
	}
}

// A scoping filter on a directory extension (Microsoft's WritebackEnabled
// example) selects from Graph and decides which groups reach AD; a change
// of the extension's value brings the group in.
func TestLabExtensionScopingFilter(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 6, "wbexs")
	tenant := sampleTenant(users)
	const ext = "extension_0a1b2c3d4e5f67890a1b2c3d4e5f6789_WritebackEnabled"
	tenant.Groups[0].Extra = map[string]any{ext: true}  // Sales
	tenant.Groups[1].Extra = map[string]any{ext: false} // All Staff
	f := newFixtureOn(t, l, tenant, nil)
	// The Graph client selects what the filter reads, as `writeback run` builds it.
	f.reconfigure(func(c *config.Config) {
		c.Scope.Filters = []config.Filter{{Clauses: []config.Clause{{Attribute: ext, Operator: "IS TRUE"}}}}
	})
	f.round(RoundOptions{})
	got := f.adGroups()
	if _, ok := got[plan.Anchor(gSales)]; !ok {
		t.Errorf("Sales (%s true) not in AD: %v", ext, keysOf(got))
	}
	if _, ok := got[plan.Anchor(gParent)]; ok {
		t.Errorf("All Staff (%s false) is in AD", ext)
	}
	if _, err := f.env.Admin.UpdateGroup(gParent, func(g *emulator.Group) { g.Extra = map[string]any{ext: true} }); err != nil {
		t.Fatal(err)
	}
	f.round(RoundOptions{})
	if _, ok := f.adGroups()[plan.Anchor(gParent)]; !ok {
		t.Errorf("All Staff not in AD after its %s became true", ext)
	}
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

package migrate

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/engine"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// TestLabHandover: after prepare, the configuration handover writes makes the
// engine's full plan free of renames, deletes and member removals, and applying
// it keeps cloud membership changes flowing into the same AD groups.
func TestLabHandover(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// The runbook's fixes for the two blockers, then prepare.
	if err := f.dc.Modify(ctx, f.dns["clash"], map[string][]string{ad.AttrExternalDirectoryObjectID: {}}); err != nil {
		t.Fatal(err)
	}
	if err := f.dc.RemoveMembers(ctx, f.dns["fin"], []string{f.dns["contact"]}); err != nil {
		t.Fatal(err)
	}
	live, err := CloudGroups(ctx, f.cloud)
	if err != nil {
		t.Fatal(err)
	}
	j, _, _ := OpenJournal(filepath.Join(t.TempDir(), "p.journal"))
	pr, err := Prepare(ctx, f.dc, PrepareOptions{Base: f.lab.OU, Journal: j, Orphan: func(id string) bool { return !live[id] }})
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Orphans) != 1 || !ldapdn.Equal(pr.Orphans[0].DN, f.dns["orphan"]) {
		t.Fatalf("prepare orphans %+v", pr.Orphans)
	}
	r := f.assess(t, true)
	if !r.Verdict.Ready {
		t.Fatalf("not ready: %+v", r.Verdict.Blockers)
	}
	dnsBefore := map[string]string{}
	for _, g := range r.Groups {
		dnsBefore[g.ObjectID] = g.DN
	}

	ec := f.env.Config
	base := &config.Config{AD: f.lab.Config, Entra: &ec}
	base.AD.TargetOU = "OU=SomewhereElse," + f.lab.BaseDN // handover must replace it
	base.State.Path = filepath.Join(t.TempDir(), "state.db")
	h, err := BuildHandover(base, r)
	if err != nil {
		t.Fatal(err)
	}
	y, err := h.YAML(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("handover configuration:\n%s", y)
	cfg, err := config.Parse(y)
	if err != nil {
		t.Fatal(err)
	}
	// Taken over: sales, eng, fin, clash (fixed); the orphan is left out.
	if len(h.Groups) != 4 || len(h.Excluded) != 1 || !ldapdn.Equal(h.Excluded[0].DN, f.dns["orphan"]) {
		t.Fatalf("handover groups %v excluded %+v", h.Groups, h.Excluded)
	}
	if !ldapdn.Equal(cfg.AD.TargetOU, f.lab.OU) || cfg.Scope.Mode != "selected" || cfg.Mappings.Attributes["cn"].Apply != "onCreate" {
		t.Fatalf("handover config: targetOU %s scope %+v cn %+v", cfg.AD.TargetOU, cfg.Scope, cfg.Mappings.Attributes["cn"])
	}

	db, err := state.Open(cfg.State.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src, err := entra.New(ctx, entraconfig.Options(*cfg.Entra))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(ctx, engine.Options{Config: cfg, State: db, DC: f.dc, GC: f.gc, Source: src,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.RunOnce(ctx, engine.RoundOptions{DryRun: true, PlanOptions: engine.PlanOptions{Full: true}})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Planned.Plan
	for _, c := range p.Changes {
		t.Logf("plan: %s %s %s %v %v", c.Action, c.DN, c.NewDN, c.Attrs, c.Members)
	}
	if v := TakeoverViolations(p); len(v) > 0 {
		t.Errorf("handover plan changes what users see: %v", v)
	}
	if len(p.Changes) == 0 || p.Changes[0].Action != plan.Update {
		t.Errorf("expected the displayName drift update, got %+v", p.Changes)
	}
	if len(res.Planned.Errors) > 0 {
		t.Errorf("plan errors: %+v", res.Planned.Errors)
	}

	// Apply, then a membership change in the cloud reaches the same AD group.
	if _, err := eng.RunOnce(ctx, engine.RoundOptions{PlanOptions: engine.PlanOptions{Full: true}}); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Admin.AddMembers(f.ids["sales"], "aaaaaaaa-0000-4000-8000-000000000001"); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Admin.RemoveMembers(f.ids["eng"], "aaaaaaaa-0000-4000-8000-000000000000"); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.RunOnce(ctx, engine.RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	sales, err := f.dc.GroupByDN(ctx, dnsBefore[f.ids["sales"]], true)
	if err != nil || sales == nil {
		t.Fatalf("sales group gone from %s: %v", dnsBefore[f.ids["sales"]], err)
	}
	if !containsDN(sales.Members, f.users[1].DN) {
		t.Errorf("cloud member added to sales did not reach AD: %v", sales.Members)
	}
	eng2, _ := f.dc.GroupByDN(ctx, dnsBefore[f.ids["eng"]], true)
	if eng2 == nil || containsDN(eng2.Members, f.users[0].DN) {
		t.Errorf("cloud member removed from eng still in AD: %+v", eng2)
	}
	// No group was renamed or moved along the way.
	for id, dn := range dnsBefore {
		if id == "" {
			continue
		}
		g, err := f.dc.GroupByDN(ctx, dn, false)
		if err != nil || g == nil {
			t.Errorf("group %s no longer at %s", id, dn)
		}
	}
}

func containsDN(list []string, dn string) bool {
	for _, m := range list {
		if ldapdn.Equal(m, dn) || strings.EqualFold(m, dn) {
			return true
		}
	}
	return false
}

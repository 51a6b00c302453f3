package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/mapping"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/scope"
	"github.com/writeback/writeback/internal/state"
)

// reconfigure closes the engine's state and opens a new engine on the same
// state with the configuration edited, as a restarted daemon or a new
// `writeback plan` would (the Graph client selecting what the mappings and
// scoping filters read). It returns what the engine logs.
func (f *fixture) reconfigure(edit func(*config.Config)) *bytes.Buffer {
	t := f.t
	t.Helper()
	path := f.cfg.State.Path
	prev := f.cfg
	f.db.Close()
	f.cfg = loadConfig(t, f.lab, f.env, func(c *config.Config) {
		c.Scope, c.Mappings, c.Safety = prev.Scope, prev.Mappings, prev.Safety
		c.AD.TargetOU, c.Sync.SearchBase = prev.AD.TargetOU, prev.Sync.SearchBase
		if edit != nil {
			edit(c)
		}
		c.State.Path = path
	})
	db, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// The Graph client selects what the mappings and scoping filters read,
	// as `writeback run` builds it.
	m, err := mapping.Compile(f.cfg.Mappings, "OU=x")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scope.New(f.cfg.Scope)
	if err != nil {
		t.Fatal(err)
	}
	src, err := entra.New(context.Background(), entraconfig.Options(*f.cfg.Entra), entra.WithLogger(logger),
		entra.WithGroupProperties(append(m.Properties(), sc.Properties()...)...))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := New(context.Background(), Options{Config: f.cfg, State: db, DC: f.lab.Conn(t), GC: f.lab.GC(t), Source: src, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	f.db, f.eng = db, eng
	return &logs
}

// A plan that says "no changes" must be true: after a configuration change
// the next plain round compares every group, says why, and once applied the
// rounds are incremental again (1 LDAP search, the uSNChanged poll, when
// nothing changed).
func TestLabConfigChangeComparesEveryGroup(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 6, "wbfp")
	f := newFixtureOn(t, l, sampleTenant(users), nil)
	f.round(RoundOptions{})
	quiet := func(when string) {
		t.Helper()
		// The round after one that wrote compares the written groups once
		// more (their uSNChanged moved: tamper.go) and writes nothing.
		if res := f.round(RoundOptions{}); res.Planned.Full || !res.Planned.Plan.Empty() || res.LDAP.Writes != 0 {
			t.Errorf("%s: round after the writes: full=%v, %d changes, %+v; want an incremental round without changes",
				when, res.Planned.Full, len(res.Planned.Plan.Changes), res.LDAP)
		}
		res := f.round(RoundOptions{})
		if res.Planned.Full || !res.Planned.Plan.Empty() || res.LDAP.Searches != 1 || res.LDAP.Writes != 0 {
			t.Errorf("%s: unchanged configuration, no change in Entra or AD: full=%v, %d changes, %+v; want an incremental round with 1 LDAP search (the uSNChanged poll), no write",
				when, res.Planned.Full, len(res.Planned.Plan.Changes), res.LDAP)
		}
		if !res.Planned.Plan.Partial || !strings.Contains(res.Planned.Plan.Basis, "compared 0 group(s) changed in Entra") {
			t.Errorf("%s: basis %q, partial %v", when, res.Planned.Plan.Basis, res.Planned.Plan.Partial)
		}
	}
	quiet("after the first sync")

	// 1. A mapping added.
	f.reconfigure(func(c *config.Config) {
		c.Mappings.Attributes = map[string]config.Mapping{"description": {Expression: `Append("cloud: ", [displayName])`}}
	})
	res := f.round(RoundOptions{DryRun: true})
	if !res.Planned.Full || !strings.Contains(res.Planned.Plan.Basis, "configuration changed since the last applied round (mappings)") {
		t.Fatalf("plan after a mapping was added: full=%v basis %q", res.Planned.Full, res.Planned.Plan.Basis)
	}
	if n := res.Planned.Plan.Summary.Update; n != 2 {
		t.Errorf("plan after a mapping was added updates %d groups, want 2 (Sales, All Staff)", n)
	}
	// A dry run records nothing: the next round is still full, and applies.
	f.round(RoundOptions{})
	for _, g := range f.adGroups() {
		if want := "cloud: " + g.DisplayName; g.Description != want {
			t.Errorf("AD group %s: description %q, want %q", g.DN, g.Description, want)
		}
	}
	quiet("after the mapping was applied")

	// 2. The scope narrowed, with out-of-scope groups deleted, over the
	// threshold: blocked, and reported once however many rounds meet it.
	narrow := func(c *config.Config) {
		c.Scope.Filters = []config.Filter{{Clauses: []config.Clause{{Attribute: "displayName", Operator: "EQUALS", Value: "Sales"}}}}
		c.Safety.OnOutOfScope = "delete"
		c.Safety.DeleteThreshold = config.Threshold{Count: 1}
	}
	f.reconfigure(func(c *config.Config) {
		narrow(c)
		c.Safety.DeleteThreshold = config.Threshold{} // the default, 500 or 5%
	})
	res = f.round(RoundOptions{DryRun: true})
	if res.Planned.Plan.Summary.Delete != 1 || !strings.Contains(res.Planned.Plan.Basis, "scope") {
		t.Fatalf("plan after the scope was narrowed: %d deletes, basis %q; want All Staff deleted", res.Planned.Plan.Summary.Delete, res.Planned.Plan.Basis)
	}
	logs := f.reconfigure(func(c *config.Config) {
		narrow(c) // threshold 1
		c.Scope.Filters[0].Clauses[0].Value = "nothing matches"
	})
	for i := range 3 {
		if _, err := f.eng.RunOnce(context.Background(), RoundOptions{}); !errors.Is(err, ErrBlocked) {
			t.Fatalf("round %d: %v, want blocked by the threshold (2 deletes, threshold 1)", i, err)
		}
	}
	if n := strings.Count(logs.String(), "deletes blocked by safety.deleteThreshold"); n != 1 {
		t.Errorf("blocked deletes logged %d times in 3 rounds, want once:\n%s", n, logs)
	}
	staged := 0
	if err := f.db.Log("", func(e state.Entry) error {
		if e.Action == "staged-delete" {
			staged++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if staged != 2 {
		t.Errorf("provisioning log has %d staged-delete entries after 3 blocked rounds, want 2 (one per group, once)", staged)
	}
	if b, err := f.db.BlockedDeletes(); err != nil || b == nil || len(b.Groups) != 2 {
		t.Errorf("blocked deletes in the state: %+v, %v", b, err)
	}
	if n := len(f.adGroups()); n != 2 {
		t.Errorf("AD has %d groups after blocked rounds, want 2", n)
	}
	f.reconfigure(func(c *config.Config) {
		narrow(c)
		c.Safety.DeleteThreshold = config.Threshold{}
	})
	f.round(RoundOptions{})
	got := f.adGroups()
	if _, ok := got[plan.Anchor(gParent)]; ok || len(got) != 1 {
		t.Errorf("after the narrowed scope was applied AD has %v, want Sales only", keys(got))
	}
	if b, _ := f.db.BlockedDeletes(); b != nil {
		t.Errorf("blocked deletes still recorded after an unblocked round: %+v", b)
	}
	quiet("after the narrowed scope was applied")
}

// Every skip is named once: a cloud-only member added to a group shows by
// name in the log and the state's findings within one round, and a round
// that finds the same again says nothing more.
func TestLabSkippedMemberNamedOnce(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 6, "wbsk")
	f := newFixtureOn(t, l, sampleTenant(users), nil)
	logs := f.reconfigure(nil)
	f.round(RoundOptions{})
	if _, err := f.env.Admin.AddUser(emulator.User{ID: "cccccccc-0000-4000-8000-0000000000aa", DisplayName: "Ursula Unsynced", UserPrincipalName: "ursula@lab.test"}); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Admin.AddMembers(gSales, "cccccccc-0000-4000-8000-0000000000aa"); err != nil {
		t.Fatal(err)
	}
	before := strings.Count(logs.String(), "ursula@lab.test")
	f.round(RoundOptions{})
	if strings.Count(logs.String(), "ursula@lab.test") == before {
		t.Errorf("the new cloud-only member is not named in the log:\n%s", logs)
	}
	fd, ok, err := f.db.Finding(gSales)
	if err != nil || !ok {
		t.Fatalf("no finding for Sales: %v", err)
	}
	var names []string
	for _, m := range fd.Unresolved {
		names = append(names, m.Name+": "+m.Reason)
	}
	if !strings.Contains(strings.Join(names, "|"), "ursula@lab.test: cloud-only user") {
		t.Errorf("Sales finding lists %v, want ursula@lab.test as a cloud-only user", names)
	}
	entries := 0
	if err := f.db.Log(gSales, func(e state.Entry) error {
		if e.Action == "unresolved" && strings.Contains(strings.Join(e.Members, "|"), "ursula@lab.test") {
			entries++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if entries != 1 {
		t.Errorf("%d provisioning log entries name the unresolved member, want 1", entries)
	}
	// The same again (a full round plans Sales once more): nothing new is said.
	n := strings.Count(logs.String(), "members not resolved")
	f.round(RoundOptions{PlanOptions: PlanOptions{Full: true}})
	if m := strings.Count(logs.String(), "members not resolved"); m != n {
		t.Errorf("an unchanged finding was logged again (%d -> %d lines)", n, m)
	}
	// Throttling shows at INFO, as a count for the round.
	f.env.Server.SetFaults(emulator.Faults{ThrottleNext: 1, RetryAfterSeconds: 1})
	res := f.round(RoundOptions{})
	if res.Graph.Throttled != 1 || !strings.Contains(logs.String(), `Graph throttled this round's requests (429); they were retried after Retry-After" throttled=1`) {
		t.Errorf("a throttled round: %+v; log:\n%s", res.Graph, logs)
	}
	// Gone when the member leaves.
	if err := f.env.Admin.RemoveMembers(gSales, "cccccccc-0000-4000-8000-0000000000aa"); err != nil {
		t.Fatal(err)
	}
	f.round(RoundOptions{})
	fd, _, _ = f.db.Finding(gSales)
	if strings.Contains(fmt.Sprint(fd.Unresolved), "ursula@") {
		t.Errorf("finding still names the removed member: %+v", fd)
	}
}

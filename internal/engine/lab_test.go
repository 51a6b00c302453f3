package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// fixture is one end-to-end setup: a fresh OU in the lab AD, an emulated
// tenant, and an engine over both with its own state file.
type fixture struct {
	t   *testing.T
	lab *labtest.Lab
	env *emulatortest.Env
	cfg *config.Config
	db  *state.DB
	eng *Engine
	dc  *ad.Conn
}

// loadConfig goes through YAML and config.Parse so defaults and validation apply.
func loadConfig(t *testing.T, l *labtest.Lab, env *emulatortest.Env, edit func(*config.Config)) *config.Config {
	t.Helper()
	ec := env.Config
	c := &config.Config{AD: l.Config, Entra: &ec}
	c.Sync.SearchBase = l.OU // the lab is shared: never look at other tests' groups
	c.State.Path = filepath.Join(t.TempDir(), "state.db")
	if edit != nil {
		edit(c)
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(b)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, b)
	}
	return cfg
}

func (f *fixture) open() {
	t := f.t
	ctx := context.Background()
	db, err := state.Open(f.cfg.State.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	src, err := entra.New(ctx, entraconfig.Options(*f.cfg.Entra))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := New(ctx, Options{Config: f.cfg, State: db, DC: f.lab.Conn(t), GC: f.lab.GC(t), Source: src, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	f.db, f.eng = db, eng
}

func (f *fixture) round(o RoundOptions) *Result {
	f.t.Helper()
	res, err := f.eng.RunOnce(context.Background(), o)
	if err != nil {
		f.t.Fatalf("round: %v", err)
	}
	if res.Applied != nil && res.Applied.Failed > 0 {
		f.t.Fatalf("round: %d groups failed: %+v", res.Applied.Failed, res.Applied.Errors)
	}
	return res
}

// adGroups reads the test OU from AD (not the tool's state): anchor -> group.
func (f *fixture) adGroups() map[string]ad.Group {
	f.t.Helper()
	out := map[string]ad.Group{}
	err := f.dc.Groups(context.Background(), f.lab.OU, "", ad.GroupQuery{WithMembers: true}, func(g ad.Group) error {
		key := g.Anchor
		if key == "" {
			key = "unanchored:" + g.CN
		}
		out[key] = g
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func rdns(dns []string) []string {
	out := make([]string, len(dns))
	for i, dn := range dns {
		out[i] = ldapdn.RDNValue(dn)
	}
	sort.Strings(out)
	return out
}

func cn(u labtest.User) string { return ldapdn.RDNValue(u.DN) }

func yes() *bool { b := true; return &b }

const (
	gSales  = "aaaaaaaa-0000-4000-8000-000000000001"
	gParent = "aaaaaaaa-0000-4000-8000-000000000002"
	gMail   = "aaaaaaaa-0000-4000-8000-000000000003"
	gSynced = "aaaaaaaa-0000-4000-8000-000000000004"
	gNew    = "aaaaaaaa-0000-4000-8000-000000000005"
)

// sampleTenant: 5 AD-synced users (matched by objectGUID, one by SID only), a
// cloud-only user, a device, and groups covering scope and nesting.
func sampleTenant(users []labtest.User) *emulator.TenantFile {
	tf := &emulator.TenantFile{}
	for i, u := range users {
		eu := emulator.User{ID: fmt.Sprintf("bbbbbbbb-0000-4000-8000-%012d", i+1), DisplayName: cn(u), UserPrincipalName: u.SAM + "@lab.test", OnPremisesSyncEnabled: yes()}
		// Every synced user has its SID in Entra; onPremisesObjectIdentifier
		// (not in Graph v1.0, refused by the emulator by default) comes
		// from newer syncs only.
		eu.OnPremisesSecurityIdentifier = u.SID
		if i != len(users)-1 {
			eu.OnPremisesObjectIdentifier = u.GUID.String()
		}
		tf.Users = append(tf.Users, eu)
	}
	tf.Users = append(tf.Users, emulator.User{ID: "cccccccc-0000-4000-8000-000000000001", DisplayName: "Cloud Only", UserPrincipalName: "cloud@lab.test"})
	tf.Objects = []emulator.Object{{ID: "dddddddd-0000-4000-8000-000000000001", Type: "device", DisplayName: "laptop"}}
	if len(users) < 6 {
		return tf
	}
	uid := func(i int) string { return tf.Users[i].ID }
	tf.Groups = []emulator.Group{
		{ID: gSales, DisplayName: "Sales", Description: "  Sales team  ", SecurityEnabled: true,
			Members: []string{uid(0), uid(1), uid(5), "cccccccc-0000-4000-8000-000000000001", "dddddddd-0000-4000-8000-000000000001"}},
		{ID: gParent, DisplayName: "All Staff", SecurityEnabled: true, Members: []string{gSales, uid(2)}},
		{ID: gMail, DisplayName: "Mail list", SecurityEnabled: true, MailEnabled: true, Members: []string{uid(0)}},
		{ID: gSynced, DisplayName: "From AD", SecurityEnabled: true, OnPremisesSyncEnabled: yes(), Members: []string{uid(0)}},
	}
	return tf
}

func TestLabFirstSyncDeltasAndConvergence(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 6, "wbe")
	f := newFixtureOn(t, l, sampleTenant(users), nil)
	ctx := context.Background()

	// First sync.
	start := time.Now()
	res := f.round(RoundOptions{})
	t.Logf("first sync: %d changes in %s, %d LDAP writes", len(res.Planned.Plan.Changes), time.Since(start), res.LDAP.Writes)
	if !res.Ingested.Full || !res.Planned.Full {
		t.Errorf("first round not full: %+v", res.Ingested)
	}
	got := f.adGroups()
	if len(got) != 2 {
		t.Fatalf("AD has %d groups, want 2 (Sales, All Staff): %v", len(got), keys(got))
	}
	sales, parent := got[plan.Anchor(gSales)], got[plan.Anchor(gParent)]
	if want := "CN=Sales_000000000001," + l.OU; !strings.EqualFold(sales.DN, want) {
		t.Errorf("Sales DN = %s, want %s", sales.DN, want)
	}
	if sales.Description != "Sales team" || sales.DisplayName != "Sales" || sales.AdminDescription != plan.Anchor(gSales) ||
		sales.GroupType != ad.GroupTypeUniversalSecurity || sales.SAMAccountName == "" || strings.HasPrefix(sales.SAMAccountName, "$") {
		t.Errorf("Sales attributes: %+v", sales)
	}
	if want := []string{cn(users[0]), cn(users[1]), cn(users[5])}; !slices.Equal(rdns(sales.Members), sortedCopy(want)) {
		t.Errorf("Sales members = %v, want %v", rdns(sales.Members), want)
	}
	if want := []string{"Sales_000000000001", cn(users[2])}; !slices.Equal(rdns(parent.Members), sortedCopy(want)) {
		t.Errorf("All Staff members = %v, want %v", rdns(parent.Members), want)
	}
	var reasons []string
	for _, u := range res.Planned.Plan.Unresolved {
		for _, x := range u.Unresolved {
			reasons = append(reasons, x.Reason)
		}
	}
	if len(reasons) != 2 || !strings.Contains(strings.Join(reasons, "|"), "cloud-only") || !strings.Contains(strings.Join(reasons, "|"), "device") {
		t.Errorf("unresolved = %v, want the cloud-only user and the device", reasons)
	}

	// Converged: the round after the first sync compares the groups it wrote
	// once more (their uSNChanged moved) and writes nothing; then a round
	// with nothing from Graph and nothing changed in AD makes one LDAP
	// search, the uSNChanged poll, and no write.
	res = f.round(RoundOptions{})
	if !res.Planned.Plan.Empty() || res.LDAP.Writes != 0 {
		t.Errorf("round after the first sync: %d changes, %+v", len(res.Planned.Plan.Changes), res.LDAP)
	}
	res = f.round(RoundOptions{})
	if !res.Planned.Plan.Empty() || res.LDAP.Writes != 0 || res.LDAP.Searches != 1 {
		t.Errorf("no-op round: %d changes, %+v; want 0 changes, 1 search", len(res.Planned.Plan.Changes), res.LDAP)
	}
	// A full plan of the converged tenant: no changes, no writes.
	res = f.round(RoundOptions{PlanOptions: PlanOptions{Full: true}, DryRun: true})
	if !res.Planned.Plan.Empty() || res.LDAP.Writes != 0 {
		t.Errorf("converged full plan: %v, %+v", res.Planned.Plan.Changes, res.LDAP)
	}
	t.Logf("converged full plan: %d LDAP searches, 0 writes", res.LDAP.Searches)

	adm := f.env.Admin
	step := func(name string, mutate func() error, check func(map[string]ad.Group)) {
		t.Helper()
		if err := mutate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := f.round(RoundOptions{})
		check(f.adGroups())
		t.Logf("%s: %d changes, %d LDAP writes, %d searches", name, len(r.Planned.Plan.Changes), r.LDAP.Writes, r.LDAP.Searches)
	}
	step("rename and description", func() error {
		_, err := adm.UpdateGroup(gSales, func(g *emulator.Group) { g.DisplayName = "Sales EMEA"; g.Description = "new" })
		return err
	}, func(g map[string]ad.Group) {
		s := g[plan.Anchor(gSales)]
		if s.CN != "Sales EMEA_000000000001" || s.DisplayName != "Sales EMEA" || s.Description != "new" {
			t.Errorf("after rename: %+v", s)
		}
		if m := rdns(g[plan.Anchor(gParent)].Members); !slices.Contains(m, "Sales EMEA_000000000001") {
			t.Errorf("parent lost renamed child: %v", m)
		}
	})
	step("member add and remove", func() error {
		if err := adm.AddMembers(gSales, "bbbbbbbb-0000-4000-8000-000000000004"); err != nil {
			return err
		}
		return adm.RemoveMembers(gSales, "bbbbbbbb-0000-4000-8000-000000000001")
	}, func(g map[string]ad.Group) {
		if got, want := rdns(g[plan.Anchor(gSales)].Members), sortedCopy([]string{cn(users[1]), cn(users[3]), cn(users[5])}); !slices.Equal(got, want) {
			t.Errorf("Sales members = %v, want %v", got, want)
		}
	})
	step("new group with nested group", func() error {
		_, err := adm.AddGroup(emulator.Group{ID: gNew, DisplayName: "Nested", SecurityEnabled: true, Members: []string{gParent, "bbbbbbbb-0000-4000-8000-000000000005"}})
		return err
	}, func(g map[string]ad.Group) {
		n, ok := g[plan.Anchor(gNew)]
		if !ok {
			t.Fatal("new group not created")
		}
		if got, want := rdns(n.Members), sortedCopy([]string{"All Staff_000000000002", cn(users[4])}); !slices.Equal(got, want) {
			t.Errorf("Nested members = %v, want %v", got, want)
		}
	})
	step("group out of scope is left (default)", func() error {
		_, err := adm.UpdateGroup(gNew, func(g *emulator.Group) { g.SecurityEnabled = false })
		return err
	}, func(g map[string]ad.Group) {
		if _, ok := g[plan.Anchor(gNew)]; !ok {
			t.Error("out-of-scope group was removed; default is leave")
		}
	})
	// Drift made by hand in AD is repaired by the next incremental round
	// (uSNChanged poll: tamper.go); the full reconcile finds nothing left.
	salesDN := f.adGroups()[plan.Anchor(gSales)].DN
	if err := f.dc.Modify(ctx, salesDN, map[string][]string{"description": {"edited by hand"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.dc.RemoveMembers(ctx, salesDN, []string{users[1].DN}); err != nil {
		t.Fatal(err)
	}
	r := f.round(RoundOptions{})
	if s := f.adGroups()[plan.Anchor(gSales)]; r.Planned.Full || s.Description != "new" || !slices.Contains(rdns(s.Members), cn(users[1])) {
		t.Errorf("the next incremental round did not repair drift: full=%v %q %v", r.Planned.Full, s.Description, rdns(s.Members))
	}
	t.Logf("incremental round repaired drift: %d changes, %d LDAP writes, %d searches", len(r.Planned.Plan.Changes), r.LDAP.Writes, r.LDAP.Searches)
	if r := f.round(RoundOptions{PlanOptions: PlanOptions{Full: true}}); !r.Planned.Plan.Empty() {
		t.Errorf("full reconcile after the repair: %v", r.Planned.Plan.Changes)
	}
	step("group deleted", func() error { return adm.DeleteGroup(gParent, true) }, func(g map[string]ad.Group) {
		if _, ok := g[plan.Anchor(gParent)]; ok {
			t.Error("deleted group still in AD")
		}
	})
	if entries := logCount(t, f.db, gSales); entries == 0 {
		t.Error("no provisioning log entries for Sales")
	}
	_ = ctx
}

func newFixtureOn(t *testing.T, l *labtest.Lab, tenant *emulator.TenantFile, edit func(*config.Config)) *fixture {
	return newFixtureWith(t, l, tenant, emulator.Options{}, edit)
}

// newFixtureWith is newFixtureOn with emulator options (e.g. serving
// onPremisesObjectIdentifier, which Graph v1.0 does not declare).
func newFixtureWith(t *testing.T, l *labtest.Lab, tenant *emulator.TenantFile, opts emulator.Options, edit func(*config.Config)) *fixture {
	env := emulatortest.StartWith(t, tenant, opts)
	f := &fixture{t: t, lab: l, env: env, dc: l.AdminConn(t)}
	f.cfg = loadConfig(t, l, env, edit)
	f.open()
	return f
}

func logCount(t *testing.T, db *state.DB, gid string) int {
	n := 0
	if err := db.Log(gid, func(state.Entry) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}

func TestLabTakeoverConnectSyncGroup(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 3, "wbt")
	tf := sampleTenant(users)
	tf.Groups = []emulator.Group{{ID: gSales, DisplayName: "Sales", SecurityEnabled: true, Members: []string{tf.Users[0].ID, tf.Users[1].ID, tf.Users[2].ID}}}
	// The group Connect Sync wrote: CN=Group_<id>, anchor and adminDescription set, two members.
	ctx := context.Background()
	dc := l.AdminConn(t)
	dn := "CN=Group_" + gSales + "," + l.OU
	if err := dc.CreateGroup(ctx, dn, map[string][]string{
		"msDS-ExternalDirectoryObjectId": {plan.Anchor(gSales)}, "adminDescription": {plan.Anchor(gSales)},
		"sAMAccountName": {"Group_" + gSales[:8] + "x"}, "displayName": {"Sales"},
		"member": {users[0].DN, users[1].DN},
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := dc.GroupByAnchor(ctx, l.OU, plan.Anchor(gSales), false)

	f := newFixtureOn(t, l, tf, func(c *config.Config) {
		c.Mappings.Attributes = map[string]config.Mapping{"cn": {Expression: `Append("Group_", [objectId])`}}
	})
	res := f.round(RoundOptions{})
	for _, c := range res.Planned.Plan.Changes {
		if c.Action == plan.Rename || c.Action == plan.RemoveMembers || c.Action == plan.Create || c.Action == plan.Delete {
			t.Errorf("takeover planned %s %s", c.Action, c.DN)
		}
	}
	g := f.adGroups()[plan.Anchor(gSales)]
	if !strings.EqualFold(g.DN, dn) || g.GUID != before.GUID || g.SID != before.SID {
		t.Errorf("group not taken over in place: %s (guid %s, was %s)", g.DN, g.GUID, before.GUID)
	}
	if got := rdns(g.Members); !slices.Equal(got, sortedCopy([]string{cn(users[0]), cn(users[1]), cn(users[2])})) {
		t.Errorf("members = %v", got)
	}
}

func TestLabForeignCollisionUntouched(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 1, "wbc")
	tf := sampleTenant(users)
	tf.Groups = []emulator.Group{
		{ID: gSales, DisplayName: "Sales", SecurityEnabled: true, Members: []string{tf.Users[0].ID}},
		{ID: gParent, DisplayName: "Written by Connect Sync", SecurityEnabled: true, Members: []string{tf.Users[0].ID}},
	}
	ctx := context.Background()
	dc := l.AdminConn(t)
	// A Connect Sync group not prepared for migration: adminDescription, no anchor.
	unprepared := "CN=Group_" + gParent + "," + l.OU
	if err := dc.CreateGroup(ctx, unprepared, map[string][]string{"adminDescription": {plan.Anchor(gParent)}, "sAMAccountName": {"cs-" + gParent[:8] + "p"}}); err != nil {
		t.Fatal(err)
	}
	foreign := "CN=Sales_000000000001," + l.OU
	if err := dc.CreateGroup(ctx, foreign, map[string][]string{"sAMAccountName": {"foreign-" + gSales[:6]}, "description": {"hands off"}}); err != nil {
		t.Fatal(err)
	}
	var usnBefore int64
	_ = dc.Groups(ctx, foreign, "", ad.GroupQuery{Scope: ad.ScopeBase}, func(g ad.Group) error { usnBefore = g.USNChanged; return nil })

	f := newFixtureOn(t, l, tf, nil)
	res := f.round(RoundOptions{})
	p := res.Planned.Plan
	if len(p.Collisions) != 2 || !strings.EqualFold(p.Collisions[0].DN, foreign) || p.Collisions[0].Holder != "" ||
		!strings.EqualFold(p.Collisions[1].DN, unprepared) || !strings.Contains(p.Collisions[1].Reason, "writeback migrate") {
		t.Fatalf("collisions = %+v", p.Collisions)
	}
	if n := len(f.adGroups()); n != 2 {
		t.Errorf("AD has %d groups in the OU, want the 2 pre-existing ones only", n)
	}
	if res.LDAP.Writes != 0 {
		t.Errorf("%d LDAP writes despite the collision", res.LDAP.Writes)
	}
	var after ad.Group
	_ = dc.Groups(ctx, foreign, "", ad.GroupQuery{Scope: ad.ScopeBase, WithMembers: true}, func(g ad.Group) error { after = g; return nil })
	if after.USNChanged != usnBefore || after.Anchor != "" || len(after.Members) != 0 {
		t.Errorf("foreign group touched: %+v", after)
	}
}

func TestLabDeleteThresholdStops(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 1, "wbd")
	tf := sampleTenant(users)
	tf.Groups = nil
	for i := range 10 {
		tf.Groups = append(tf.Groups, emulator.Group{ID: fmt.Sprintf("eeeeeeee-0000-4000-8000-%012d", i), DisplayName: fmt.Sprintf("G%d", i), SecurityEnabled: true, Members: []string{tf.Users[0].ID}})
	}
	f := newFixtureOn(t, l, tf, func(c *config.Config) { c.Safety.DeleteThreshold = config.Threshold{Count: 5} })
	f.round(RoundOptions{})
	if n := len(f.adGroups()); n != 10 {
		t.Fatalf("%d groups after first sync", n)
	}
	for i := range 6 {
		if err := f.env.Admin.DeleteGroup(tf.Groups[i].ID, true); err != nil {
			t.Fatal(err)
		}
	}
	res, err := f.eng.RunOnce(context.Background(), RoundOptions{})
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("round error = %v, want ErrBlocked", err)
	}
	if res.LDAP.Writes != 0 {
		t.Errorf("%d LDAP writes in a blocked round", res.LDAP.Writes)
	}
	if n := len(f.adGroups()); n != 10 {
		t.Errorf("%d groups after blocked round, want 10", n)
	}
	// Still blocked on the next round (the deletes stay pending), until allowed.
	if _, err := f.eng.RunOnce(context.Background(), RoundOptions{}); !errors.Is(err, ErrBlocked) {
		t.Errorf("second round error = %v, want ErrBlocked", err)
	}
	f.round(RoundOptions{PlanOptions: PlanOptions{AllowDeletes: true}})
	if n := len(f.adGroups()); n != 4 {
		t.Errorf("%d groups after allowed deletes, want 4", n)
	}
}

// A group another tool (or another tenant's writeback) wrote carries a Group_
// anchor this tenant does not have. It sits in another OU under the search
// base; full rounds must report it and leave it exactly as it is.
func TestLabForeignAnchoredGroupSurvivesFullRound(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 6, "wbf")
	ctx := context.Background()
	dc := l.AdminConn(t)
	target, other := "OU=Target,"+l.OU, "OU=Other tool,"+l.OU
	for _, ou := range []string{target, other} {
		if err := dc.CreateOU(ctx, ou); err != nil {
			t.Fatal(err)
		}
	}
	foreignID := "ffffffff-" + l.Tag[:4] + "-4000-8000-0000" + l.Tag
	foreignDN := "CN=Foreign " + l.Tag + "," + other
	if err := dc.CreateGroup(ctx, foreignDN, map[string][]string{
		ad.AttrExternalDirectoryObjectID: {plan.Anchor(foreignID)}, "adminDescription": {plan.Anchor(foreignID)},
		"sAMAccountName": {"foreign-" + l.Tag}, "member": {users[0].DN},
	}); err != nil {
		t.Fatal(err)
	}
	var before ad.Group
	_ = dc.Groups(ctx, foreignDN, "", ad.GroupQuery{Scope: ad.ScopeBase}, func(g ad.Group) error { before = g; return nil })

	f := newFixtureOn(t, l, sampleTenant(users), func(c *config.Config) { c.AD.TargetOU = target })
	f.round(RoundOptions{}) // first sync: a full round
	res := f.round(RoundOptions{PlanOptions: PlanOptions{Full: true}})
	if res.LDAP.Writes != 0 || !res.Planned.Plan.Empty() {
		t.Errorf("converged full round: %d writes, changes %+v", res.LDAP.Writes, res.Planned.Plan.Changes)
	}
	want := "anchor " + plan.Anchor(foreignID) + " on " + foreignDN + ": the tenant has no such group and writeback never provisioned it; left alone"
	var reported []string
	for _, u := range res.Planned.Untouched {
		reported = append(reported, u.Reason)
	}
	if !slices.ContainsFunc(reported, func(r string) bool { return strings.EqualFold(r, want) }) {
		t.Errorf("foreign group not reported; untouched = %q", reported)
	}
	var after ad.Group
	_ = dc.Groups(ctx, foreignDN, "", ad.GroupQuery{Scope: ad.ScopeBase, WithMembers: true}, func(g ad.Group) error { after = g; return nil })
	if after.DN == "" || after.USNChanged != before.USNChanged || after.Anchor != plan.Anchor(foreignID) || len(after.Members) != 1 {
		t.Errorf("foreign group changed: before %+v, after %+v", before, after)
	}
}

package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"go.yaml.in/yaml/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// TestLabKill9DuringApply kills a process applying 2,000 groups with SIGKILL,
// applies again, and checks AD against the tenant: every group once, every
// member exactly, and a final plan with no changes.
func TestLabKill9DuringApply(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000-group apply; skipped with -short")
	}
	const groups = 2000
	l := labtest.AD(t)
	users := l.CreateUsers(t, 5, "wbk")
	yes := true
	tf := &emulator.TenantFile{}
	for i, u := range users {
		tf.Users = append(tf.Users, emulator.User{ID: fmt.Sprintf("bbbbbbbb-2222-4000-8000-%012d", i), DisplayName: cn(u), UserPrincipalName: cn(u) + "@lab.test", OnPremisesSyncEnabled: &yes, OnPremisesObjectIdentifier: u.GUID.String(), OnPremisesSecurityIdentifier: u.SID})
	}
	for i := range groups {
		g := emulator.Group{ID: fmt.Sprintf("aaaaaaaa-2222-4000-8000-%012d", i), DisplayName: fmt.Sprintf("Kill %04d", i), SecurityEnabled: true}
		for j := range 1 + i%len(users) {
			g.Members = append(g.Members, tf.Users[(i+j)%len(users)].ID)
		}
		if i > 0 && i%10 == 0 { // some nesting, parents created in the same plan
			g.Members = append(g.Members, tf.Groups[i-1].ID)
		}
		tf.Groups = append(tf.Groups, g)
	}
	env := emulatortest.Start(t, tf)
	cfg := loadConfig(t, l, env, nil)
	cfgFile := filepath.Join(t.TempDir(), "writeback.yaml")
	b, _ := yaml.Marshal(cfg)
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperApplyProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "WRITEBACK_HELPER_CONFIG="+cfgFile)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dc := l.AdminConn(t)
	count := func() int {
		n := 0
		if err := dc.Search(context.Background(), l.OU, ad.ScopeOne, "(objectClass=group)", []string{"1.1"}, func(*ldap.Entry) error { n++; return nil }); err != nil {
			t.Logf("count groups: %v", err)
		}
		return n
	}
	for count() < groups/3 {
		if time.Since(start) > 5*time.Minute {
			cmd.Process.Kill()
			t.Fatal("child made no progress in 5 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killedAt := count()
	t.Logf("killed the applying process after %s with %d/%d groups created", time.Since(start).Round(time.Millisecond), killedAt, groups)

	// Apply again, in this process, with the same state file.
	f := &fixture{t: t, lab: l, env: env, dc: dc, cfg: cfg}
	f.open()
	start = time.Now()
	res := f.round(RoundOptions{})
	t.Logf("second apply: %d changes, %d LDAP writes in %s", len(res.Planned.Plan.Changes), res.LDAP.Writes, time.Since(start).Round(time.Millisecond))

	got := f.adGroups()
	if len(got) != groups {
		t.Fatalf("AD has %d groups, want %d", len(got), groups)
	}
	dnOf := map[string]string{}
	for _, g := range got {
		dnOf[g.Anchor] = g.DN
	}
	userDN := map[string]string{}
	for i, u := range users {
		userDN[tf.Users[i].ID] = u.DN
	}
	bad := 0
	for _, g := range tf.Groups {
		a := got[plan.Anchor(g.ID)]
		if a.CN != fmt.Sprintf("Kill %s_%s", g.DisplayName[5:], g.ID[24:]) {
			bad++
			t.Errorf("group %s CN = %q", g.ID, a.CN)
		}
		var want []string
		for _, m := range g.Members {
			if dn, ok := userDN[m]; ok {
				want = append(want, strings.ToLower(dn))
			} else {
				want = append(want, strings.ToLower(dnOf[plan.Anchor(m)]))
			}
		}
		have := make([]string, len(a.Members))
		for i, m := range a.Members {
			have[i] = strings.ToLower(m)
		}
		slices.Sort(want)
		slices.Sort(have)
		if !slices.Equal(want, have) {
			bad++
			if bad < 5 {
				t.Errorf("group %s members = %v, want %v", g.ID, have, want)
			}
		}
	}
	res = f.round(RoundOptions{PlanOptions: PlanOptions{Full: true}, DryRun: true})
	if !res.Planned.Plan.Empty() || res.LDAP.Writes != 0 {
		t.Errorf("after convergence the full plan has %d changes, %d writes", len(res.Planned.Plan.Changes), res.LDAP.Writes)
	}
	t.Logf("converged full plan over %d groups: %d LDAP searches, 0 writes", groups, res.LDAP.Searches)
}

// TestHelperApplyProcess is the child process of TestLabKill9DuringApply.
func TestHelperApplyProcess(t *testing.T) {
	path := os.Getenv("WRITEBACK_HELPER_CONFIG")
	if path == "" {
		t.Skip("helper process only")
	}
	ctx := context.Background()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := state.Open(cfg.State.Path)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := ad.Dial(ctx, adconfig.Options(cfg.AD))
	if err != nil {
		t.Fatal(err)
	}
	gc, err := ad.DialGC(ctx, adconfig.Options(cfg.AD))
	if err != nil {
		t.Fatal(err)
	}
	src, err := entra.New(ctx, entraconfig.Options(*cfg.Entra))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := New(ctx, Options{Config: cfg, State: db, DC: dc, GC: gc, Source: src, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Fatal("the helper was expected to be killed before finishing")
}

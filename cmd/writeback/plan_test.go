package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/engine"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/state"
)

// exitCode runs a subcommand the way main does and returns its exit code.
func exitCode(t *testing.T, run func(context.Context, []string, io.Writer, io.Writer) error, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	code := 0
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
		if ee.err != nil {
			errb.WriteString(ee.err.Error())
		}
	default:
		code = 1
		errb.WriteString(err.Error())
	}
	return code, out.String(), errb.String()
}

// cliTenant is the tenant of the plan/apply tests: users u1 and u2 synced
// from the directory's first two users, Finance (u1) and Ops (u2 and
// Finance, nested).
func cliTenant(users []labtest.User) *emulator.TenantFile {
	return &emulator.TenantFile{
		Users: []emulator.User{
			syncedUser("bbbbbbbb-1111-4000-8000-000000000001", "u1", "u1@lab.test", users[0]),
			syncedUser("bbbbbbbb-1111-4000-8000-000000000002", "u2", "u2@lab.test", users[1]),
		},
		Groups: []emulator.Group{
			{ID: "aaaaaaaa-1111-4000-8000-000000000001", DisplayName: "Finance", Description: "money", SecurityEnabled: true, Members: []string{"bbbbbbbb-1111-4000-8000-000000000001"}},
			{ID: "aaaaaaaa-1111-4000-8000-000000000002", DisplayName: "Ops", SecurityEnabled: true, Members: []string{"bbbbbbbb-1111-4000-8000-000000000002", "aaaaaaaa-1111-4000-8000-000000000001"}},
		},
	}
}

// newCLI is a directory of kind d with two users, the tenant of cliTenant
// and a configuration file for both.
func newCLI(t *testing.T, d directory) *cliEnv {
	t.Helper()
	dir := newDir(t, d, 2, "wbcli")
	return newCLIEnv(t, dir, cliTenant(dir.Users), nil)
}

// TestPlanApplyCLI runs plan, plan -out, apply FILE, apply --yes, status,
// log, provision and run as a user types them, on ldaptest and on the lab.
func TestPlanApplyCLI(t *testing.T) { eachDirectory(t, testPlanApplyCLI) }

func testPlanApplyCLI(t *testing.T, d directory) {
	cl := newCLI(t, d)
	l, env, dir, cfgFile := cl.cliDir, cl.env, cl.dir, cl.cfgFile
	plan, apply := runPlan, runApply

	code, out, stderr := exitCode(t, plan, "--config", cfgFile)
	if code != 2 {
		t.Fatalf("plan exit %d, want 2 (changes)\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{`+ group CN=Finance_000000000001,` + l.OU, `+ description`, `"money"`, "+ members: 1 to add (wbcli", "Plan: 2 to create, 0 to update, 0 to delete, 3 member adds, 0 member removes."} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("plan output:\n%s", out)
	// A plan writes nothing (read back from AD).
	if gs := l.groups(t); len(gs) != 0 {
		t.Fatalf("plan wrote %d groups to AD", len(gs))
	}
	// -o json: the same plan as data.
	code, out, stderr = exitCode(t, plan, "--config", cfgFile, "-o", "json")
	var first engine.Planned
	if err := json.Unmarshal([]byte(out), &first); code != 2 || err != nil {
		t.Fatalf("plan -o json: exit %d, %v\n%s\n%s", code, err, out, stderr)
	}
	if s := first.Plan.Summary; s.Create != 2 || s.MemberAdds != 3 || s.Delete != 0 {
		t.Errorf("plan -o json: summary %+v; want 2 creates, 3 member adds", s)
	}

	// Saved plan, then a change in the tenant: the plan is stale and refused.
	planFile := filepath.Join(dir, "p.plan")
	if code, out, stderr := exitCode(t, plan, "--config", cfgFile, "-out", planFile); code != 2 {
		t.Fatalf("plan -out exit %d\n%s%s", code, out, stderr)
	}
	if _, err := env.Admin.UpdateGroup("aaaaaaaa-1111-4000-8000-000000000001", func(g *emulator.Group) { g.Description = "changed" }); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = exitCode(t, apply, "--config", cfgFile, planFile)
	if code != 1 || !strings.Contains(stderr, "stale") {
		t.Fatalf("stale plan: exit %d, stderr %q", code, stderr)
	}

	// Fresh saved plan applies exactly; made for another target (here
	// another writeback version), it is refused, naming the difference.
	if code, out, stderr := exitCode(t, plan, "--config", cfgFile, "-out", planFile); code != 2 {
		t.Fatalf("plan -out exit %d\n%s%s", code, out, stderr)
	}
	checkPlanTarget(t, cfgFile, planFile)
	code, out, stderr = exitCode(t, apply, "--config", cfgFile, planFile)
	if code != 0 || !strings.Contains(out, "Apply complete: 4 changes applied, 0 groups failed") {
		t.Fatalf("apply plan file: exit %d\n%s\n%s", code, out, stderr)
	}
	checkAppliedCLI(t, l, "changed")
	// The saved plan's apply is a round, shown by status (and the stale
	// one refused before it, with its reason).
	code, out, _ = exitCode(t, runStatus, "--config", cfgFile, "-n", "1")
	if code != 0 || !regexp.MustCompile(`#\d+ .* full  \(saved plan\) .* changes 4, applied 4, failed 0`).MatchString(out) {
		t.Errorf("status after apply FILE: exit %d\n%s", code, out)
	}
	code, out, _ = exitCode(t, runStatus, "--config", cfgFile, "-n", "3", "--json")
	if code != 0 || !strings.Contains(out, `"saved": true`) || !strings.Contains(out, "stale") || !strings.Contains(out, `"durationSeconds": `) {
		t.Errorf("status --json after apply FILE: exit %d\n%s", code, out)
	}

	// Converged: plan exits 0, JSON says empty.
	code, out, stderr = exitCode(t, plan, "--config", cfgFile, "--json")
	if code != 0 {
		t.Fatalf("converged plan exit %d\n%s%s", code, out, stderr)
	}
	var p engine.Planned
	if err := json.Unmarshal([]byte(out), &p); err != nil || !p.Plan.Empty() {
		t.Fatalf("converged JSON plan: %v %s", err, out)
	}
	code, out, _ = exitCode(t, plan, "--config", cfgFile, "--full")
	if code != 0 || !strings.Contains(out, "No changes.") {
		t.Fatalf("converged full plan: exit %d\n%s", code, out)
	}

	// apply --yes computes and applies a change.
	if _, err := env.Admin.UpdateGroup("aaaaaaaa-1111-4000-8000-000000000002", func(g *emulator.Group) { g.Description = "ops team" }); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = exitCode(t, apply, "--config", cfgFile, "--yes")
	if code != 0 || !strings.Contains(out, `+ description = "ops team"`) || !strings.Contains(out, "Apply complete: 1 changes applied") {
		t.Fatalf("apply --yes: exit %d\n%s\n%s", code, out, stderr)
	}

	// status and log read the state.
	code, out, _ = exitCode(t, runStatus, "--config", cfgFile)
	if code != 0 || !strings.Contains(out, "2 groups provisioned") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	code, out, _ = exitCode(t, runLog, "--config", cfgFile, "--group", "aaaaaaaa-1111-4000-8000-000000000002")
	if code != 0 || !strings.Contains(out, `description: null -> "ops team"`) {
		t.Errorf("log: exit %d\n%s", code, out)
	}
	// provision --dry-run reports the steps.
	code, out, stderr = exitCode(t, runProvision, "--config", cfgFile, "--dry-run", "aaaaaaaa-1111-4000-8000-000000000002")
	if code != 0 || !strings.Contains(out, "2. Scope evaluation: in scope=true") || !strings.Contains(out, "3. Match: AD group") {
		t.Errorf("provision: exit %d\n%s\n%s", code, out, stderr)
	}

	checkDaemonCLI(t, cl)
}

// checkAppliedCLI: the groups of cliTenant are in AD, read back from it:
// Finance (with the description finDesc) with u1's AD user, Ops with u2's
// and Finance nested.
func checkAppliedCLI(t *testing.T, d *cliDir, finDesc string) {
	t.Helper()
	gs := d.groups(t)
	fin, ok1 := gs["Group_aaaaaaaa-1111-4000-8000-000000000001"]
	ops, ok2 := gs["Group_aaaaaaaa-1111-4000-8000-000000000002"]
	if !ok1 || !ok2 || len(gs) != 2 {
		t.Fatalf("AD after apply: %d groups %v, want Finance and Ops", len(gs), gs)
	}
	if !ldapdn.Equal(fin.DN, "CN=Finance_000000000001,"+d.OU) || fin.Description != finDesc || fin.DisplayName != "Finance" ||
		fin.GroupType != ad.GroupTypeUniversalSecurity || fin.GUID.IsZero() || fin.SID == "" {
		t.Errorf("Finance in AD: %+v", fin)
	}
	same := func(got []string, want ...string) bool {
		if len(got) != len(want) {
			return false
		}
		for _, w := range want {
			if !slices.ContainsFunc(got, func(g string) bool { return ldapdn.Equal(g, w) }) {
				return false
			}
		}
		return true
	}
	if !same(fin.Members, d.Users[0].DN) {
		t.Errorf("Finance members in AD: %v, want %s", fin.Members, d.Users[0].DN)
	}
	if !same(ops.Members, d.Users[1].DN, fin.DN) {
		t.Errorf("Ops members in AD: %v, want %s and %s", ops.Members, d.Users[1].DN, fin.DN)
	}
}

// checkPlanTarget: the saved plan names its target, and a plan whose target
// differs is refused before anything is read or written.
func checkPlanTarget(t *testing.T, cfgFile, planFile string) {
	t.Helper()
	b, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	var f engine.PlanFile
	if err := json.Unmarshal(b, &f); err != nil || f.Target == nil || f.Target.BaseDN == "" || f.Target.TenantID == "" || f.Target.ADServer == "" {
		t.Fatalf("plan file target: %+v (%v)", f.Target, err)
	}
	other := filepath.Join(filepath.Dir(planFile), "other.plan")
	if err := os.WriteFile(other, bytes.Replace(b, []byte(`"writebackVersion": "`), []byte(`"writebackVersion": "0.0.1-other `), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := exitCode(t, runApply, "--config", cfgFile, other)
	if code != 1 || !strings.Contains(stderr, "made for another target: writeback version") {
		t.Errorf("plan for another target: exit %d, stderr %q", code, stderr)
	}
}

// checkDaemonCLI: a change in the tenant reaches AD within a round of
// writeback run; a second apply beside it is refused, status answers, and
// cancelling stops it cleanly.
func checkDaemonCLI(t *testing.T, cl *cliEnv) {
	t.Helper()
	l, env, dir, cfgFile := cl.cliDir, cl.env, cl.dir, cl.cfgFile
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var runOut, runErr bytes.Buffer
	go func() { done <- runRun(ctx, []string{"--config", cfgFile}, &runOut, &runErr) }()
	if _, err := env.Admin.UpdateGroup("aaaaaaaa-1111-4000-8000-000000000001", func(g *emulator.Group) { g.DisplayName = "Finance EU" }); err != nil {
		t.Fatal(err)
	}
	dc := l.Admin
	// While it runs, a second apply is refused at once, naming it, and
	// status answers.
	for {
		if held, _, _ := state.Held(filepath.Join(dir, "state.db")); held {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, _, stderr := exitCode(t, runApply, "--config", cfgFile, "--yes")
	if code != 1 || !strings.Contains(stderr, "already running (pid ") {
		t.Errorf("apply beside run: exit %d: %s", code, stderr)
	}
	code, out, stderr := exitCode(t, runStatus, "--config", cfgFile)
	if code != 0 || !strings.Contains(out, "Running: writeback run, pid ") {
		t.Errorf("status beside run: exit %d %s\n%s", code, stderr, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		g, err := dc.GroupByAnchor(context.Background(), l.OU, "Group_aaaaaaaa-1111-4000-8000-000000000001", false)
		if err == nil && g != nil && g.CN == "Finance EU_000000000001" {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("rename did not reach AD through writeback run within 60s; log:\n%s", runErr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel: %v", err)
	}
}

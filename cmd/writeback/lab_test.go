package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab"
	"github.com/writeback/writeback/internal/lab/labcli"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/lab/sample"
	"github.com/writeback/writeback/internal/ldapdn"
)

// TestMain lets the test binary stand in for the writeback and writeback-lab
// binaries: `lab up` starts the Graph emulator as `<os.Executable()> emulator
// ...`, which in a test is this binary, so with WRITEBACK_TEST_MAIN set it runs
// writeback-lab's emulator (or writeback's main) instead of the tests. An
// emulator the tests started is stopped when they end.
func TestMain(m *testing.M) {
	if os.Getenv("WRITEBACK_TEST_MAIN") == "1" {
		if len(os.Args) > 1 && os.Args[1] == "emulator" {
			os.Exit(labcli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
		}
		main()
		return
	}
	os.Setenv("WRITEBACK_TEST_MAIN", "1")
	// Without the lab tests asked for, no lab is touched at all.
	wasRunning := !labtest.Requested()
	if l, err := lab.Running(lab.Default()); !wasRunning && err == nil && l.Env["LAB_EMULATOR_URL"] != "" {
		wasRunning = true
	}
	code := m.Run()
	if !wasRunning {
		lab.StopEmulator(context.Background(), lab.Default())
	}
	os.Exit(code)
}

// labWithEmulator brings up the default lab with its Graph emulator through
// `writeback lab up`, as a user would.
func labWithEmulator(t *testing.T) *lab.Lab {
	t.Helper()
	labtest.Get(t) // skip (or fail under WRITEBACK_REQUIRE_LAB) when there is no lab
	var out, errb bytes.Buffer
	if err := labcli.Lab(context.Background(), []string{"-q", "up"}, &out, &errb); err != nil {
		t.Fatalf("lab up: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "export LAB_EMULATOR_URL='https://127.0.0.1:") {
		t.Fatalf("lab up printed no emulator settings:\n%s", out.String())
	}
	l, err := lab.Running(lab.Default())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLabUpIsIdempotent: a second `lab up` reuses the emulator and creates no
// second set of sample users.
func TestLabUpIsIdempotent(t *testing.T) {
	l1 := labWithEmulator(t)
	l2 := labWithEmulator(t)
	if l1.Env["LAB_EMULATOR_PID"] != l2.Env["LAB_EMULATOR_PID"] {
		t.Errorf("second up restarted the emulator: pid %s then %s", l1.Env["LAB_EMULATOR_PID"], l2.Env["LAB_EMULATOR_PID"])
	}
	c, err := ad.Dial(t.Context(), adconfig.Options(l2.ADConfig()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := 0
	err = c.Search(t.Context(), l2.Env["LAB_SAMPLE_USERS_OU"], ad.ScopeOne, "(objectClass=user)", []string{"1.1"}, func(*ldap.Entry) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if n != len(sample.Synced) {
		t.Errorf("%s holds %d users, want %d", l2.Env["LAB_SAMPLE_USERS_OU"], n, len(sample.Synced))
	}
}

// TestApplyProvisionsSampleTenant: a configuration plus `writeback apply
// --yes` provisions the sample tenant: the in-scope groups appear in AD with
// their names and their members resolved to the directory's users (and
// nested group); the out-of-scope groups do not; a second plan has nothing
// to do. On ldaptest and on the lab.
func TestApplyProvisionsSampleTenant(t *testing.T) {
	eachDirectory(t, testApplyProvisionsSampleTenant)
}

func testApplyProvisionsSampleTenant(t *testing.T, d directory) {
	ctx := context.Background()
	tl := newDir(t, d, 0, "")
	dc := tl.Admin
	anchors, err := sample.EnsureUsers(ctx, dc, tl.BaseDN)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := sample.Tenant(anchors)
	if err != nil {
		t.Fatal(err)
	}
	var cfgFile string
	if d == onLab {
		cfgFile = labSampleConfig(t, tl, tf)
	} else {
		cfgFile = newCLIEnv(t, tl, &tf, nil).cfgFile
	}

	var out, errb bytes.Buffer
	if err := runApply(ctx, []string{"--config", cfgFile, "--yes"}, &out, &errb); err != nil {
		t.Fatalf("apply: %v\n%s\n%s", err, out.String(), errb.String())
	}

	userDN := map[string]string{} // DN -> sAMAccountName
	for sam, a := range anchors {
		userDN[ldapdn.Norm(a.DN)] = sam
	}
	got := map[string]ad.Group{} // by displayName
	err = dc.Groups(ctx, tl.OU, "", ad.GroupQuery{WithMembers: true}, func(g ad.Group) error {
		got[g.DisplayName] = g
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	in := sample.InScope()
	if len(got) != len(in) {
		t.Errorf("AD has %d groups in %s, want the %d in scope", len(got), tl.OU, len(in))
	}
	for _, want := range in {
		g, ok := got[want.DisplayName]
		if !ok {
			t.Errorf("group %q not in AD", want.DisplayName)
			continue
		}
		if g.Anchor != "Group_"+sample.GroupID(want.Key) || g.GroupType != ad.GroupTypeUniversalSecurity {
			t.Errorf("group %q: anchor %q type %d", want.DisplayName, g.Anchor, g.GroupType)
		}
		var wantMembers, gotMembers []string
		for _, m := range want.Members {
			if k, ok := strings.CutPrefix(m, "group:"); ok {
				wantMembers = append(wantMembers, "group:"+sample.GroupID(k))
			} else if !sample.IsCloudOnly(m) {
				wantMembers = append(wantMembers, m)
			}
		}
		for _, dn := range g.Members {
			if sam, ok := userDN[ldapdn.Norm(dn)]; ok {
				gotMembers = append(gotMembers, sam)
				continue
			}
			for _, other := range got {
				if ldapdn.Norm(other.DN) == ldapdn.Norm(dn) {
					gotMembers = append(gotMembers, "group:"+strings.TrimPrefix(other.Anchor, "Group_"))
				}
			}
		}
		slices.Sort(wantMembers)
		slices.Sort(gotMembers)
		if !slices.Equal(wantMembers, gotMembers) {
			t.Errorf("group %q members:\n got %v\nwant %v", want.DisplayName, gotMembers, wantMembers)
		}
	}
	for _, g := range sample.Groups {
		if _, ok := got[g.DisplayName]; !g.InScope && ok {
			t.Errorf("out-of-scope group %q was provisioned", g.DisplayName)
		}
	}
	if !strings.Contains(out.String(), "unresolved") {
		t.Errorf("apply output does not report the cloud-only members as unresolved:\n%s", out.String())
	}

	out.Reset()
	if err := runPlan(ctx, []string{"--config", cfgFile}, &out, &errb); err != nil {
		t.Errorf("plan after apply: %v (want exit 0, no changes)\n%s", err, out.String())
	}
}

// TestCheckEntraAgainstLab: with the lab's emulator, check adds the entra
// lines, all ok; a wrong client secret fails entra.token with its fix, exit 1.
func TestCheckEntraAgainstLab(t *testing.T) {
	l := labWithEmulator(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(l.ConfigYAML()), 0o600)
	var out, errb bytes.Buffer
	if err := runCheck(context.Background(), []string{"--no-write", "--config", good}, &out, &errb); err != nil {
		t.Fatalf("check: %v\n%s%s", err, out.String(), errb.String())
	}
	for _, name := range []string{"entra.token", "entra.groups", "entra.users", "entra.delta"} {
		if !strings.Contains(out.String(), "ok    "+name) {
			t.Errorf("no ok line for %s:\n%s", name, out.String())
		}
	}

	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("not-the-secret"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(l.ConfigYAML(), l.Env["LAB_CLIENT_SECRET_FILE"], secret, 1)), 0o600)
	out.Reset()
	err := runCheck(context.Background(), []string{"--no-write", "--config", bad}, &out, &errb)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("wrong secret: err = %v, want exit code 1\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "FAIL  entra.token") || !strings.Contains(out.String(), "-> fix: check entra.tenantId, entra.clientId") ||
		!strings.Contains(out.String(), "skip  entra.groups") || !strings.Contains(out.String(), "ok    ad.bind") {
		t.Errorf("wrong secret output:\n%s", out.String())
	}
}

// labSampleConfig is the lab's own configuration (writeback-lab config)
// for tenant tf, served by an emulator of its own (the lab's shared one may
// carry a demo's changes), with the groups going to the test's OU.
func labSampleConfig(t *testing.T, tl *cliDir, tf emulator.TenantFile) string {
	t.Helper()
	dir := t.TempDir()
	tenantFile := filepath.Join(dir, "tenant.json")
	b, _ := json.Marshal(tf)
	if err := os.WriteFile(tenantFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ectx, stop := context.WithCancel(context.Background())
	emu, err := emulator.Run(ectx, emulator.RunConfig{Addr: "127.0.0.1:0", Dir: filepath.Join(dir, "emulator"), TenantFile: tenantFile,
		Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); emu.Wait() })

	shared := labtest.Get(t)
	l := &lab.Lab{Dir: dir, Env: map[string]string{}}
	for k, v := range shared.Env {
		l.Env[k] = v
	}
	l.Env["LAB_TARGET_OU"] = tl.OU
	l.Env["LAB_EMULATOR_URL"], l.Env["LAB_EMULATOR_CA"] = emu.URL, emu.CAFile
	l.Env["LAB_TENANT_ID"], l.Env["LAB_CLIENT_ID"], l.Env["LAB_CLIENT_SECRET_FILE"] = emu.TenantID, emu.ClientID, emu.ClientSecretFile
	cfgFile := filepath.Join(dir, "writeback.yaml")
	if err := os.WriteFile(cfgFile, []byte(l.ConfigYAML()), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgFile
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

package preflight_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/preflight"
)

func runEntra(t *testing.T, e config.Entra) map[string]preflight.Result {
	t.Helper()
	env := &preflight.Env{Config: &config.Config{Entra: &e}}
	defer env.Close()
	out := map[string]preflight.Result{}
	for _, r := range preflight.Run(context.Background(), env, preflight.EntraChecks(), nil) {
		out[r.Name] = r
		t.Logf("%-5s %-14s %s %s", r.Status, r.Name, r.Detail, r.Fix)
	}
	return out
}

// TestEntraChecks: against the emulator every Entra check passes; each
// failure names its cause and fix, and the checks after it are skipped.
func TestEntraChecks(t *testing.T) {
	env := emulatortest.Start(t, &emulator.TenantFile{Groups: []emulator.Group{{ID: "g1", DisplayName: "G", SecurityEnabled: true}}})
	rs := runEntra(t, env.Config)
	for _, n := range []string{preflight.CheckEntraToken, preflight.CheckEntraGroups, preflight.CheckEntraUsers, preflight.CheckEntraDelta} {
		want(t, rs, n, preflight.OK, "", "")
	}

	bad := env.Config
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("wrong"), 0o600)
	bad.Credential.Secret = config.Secret{File: secret}
	rs = runEntra(t, bad)
	want(t, rs, preflight.CheckEntraToken, preflight.Fail, "AADSTS7000215", "the credential")
	want(t, rs, preflight.CheckEntraGroups, preflight.Skip, "needs entra.token", "")

	missing := env.Config
	missing.Credential.Secret = config.Secret{File: filepath.Join(t.TempDir(), "absent")}
	rs = runEntra(t, missing)
	want(t, rs, preflight.CheckEntraToken, preflight.Fail, "absent", "")

	down := env.Config
	env.Server.SetFaults(emulator.Faults{TokenEndpointDown: true})
	rs = runEntra(t, down)
	if rs[preflight.CheckEntraToken].Status != preflight.Fail {
		t.Errorf("token endpoint down: %+v", rs[preflight.CheckEntraToken])
	}

	// A wrong CA file fails the token check in seconds with the cause and
	// the fix (the Graph client's own retry budget took two minutes).
	env.Server.SetFaults(emulator.Faults{})
	dir := t.TempDir()
	if _, err := emulator.LoadOrCreateCA(dir); err != nil {
		t.Fatal(err)
	}
	wrongCA := env.Config
	wrongCA.CAFile = filepath.Join(dir, "ca.pem")
	start := time.Now()
	rs = runEntra(t, wrongCA)
	want(t, rs, preflight.CheckEntraToken, preflight.Fail, "x509", "entra.caFile")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("wrong CA: checks took %s, want < 5s", took)
	}
}

// What the Graph client says while the checks run goes to the configured
// logger (Env.Log), not nowhere.
func TestEntraChecksLogThroughTheConfiguredLogger(t *testing.T) {
	env := emulatortest.Start(t, &emulator.TenantFile{})
	env.Server.SetFaults(emulator.Faults{TokenEndpointDown: true})
	var buf bytes.Buffer
	e := env.Config
	pe := &preflight.Env{Config: &config.Config{Entra: &e}, Log: slog.New(slog.NewTextHandler(&buf, nil))}
	defer pe.Close()
	preflight.Run(context.Background(), pe, preflight.EntraChecks(), nil)
	if !strings.Contains(buf.String(), "Entra") {
		t.Errorf("the Graph client logged nothing through Env.Log while the token endpoint was down: %q", buf.String())
	}
}

package preflight_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/preflight"
)

// A secret file other users can read gets a warning naming the file and the
// fix (it was accepted silently); a private one passes.
func TestSecretFilePermissions(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "password")
	if err := os.WriteFile(secret, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{AD: config.AD{Password: config.Secret{File: secret}}}
	var checks []preflight.Check
	for _, c := range preflight.ADChecks() {
		if c.Name == preflight.CheckSecretFiles {
			checks = append(checks, c)
		}
	}
	check := func() preflight.Result {
		return preflight.Run(context.Background(), &preflight.Env{Config: cfg}, checks, nil)[0]
	}
	if r := check(); r.Status != preflight.OK {
		t.Errorf("mode 0600: %s %s", r.Status, r.Detail)
	}
	for _, mode := range []os.FileMode{0o644, 0o666, 0o640} {
		os.Chmod(secret, mode)
		r := check()
		if r.Status != preflight.Warn || !strings.Contains(r.Detail, secret) || !strings.Contains(r.Detail, "ad.password.file") || !strings.Contains(r.Fix, "chmod 600") {
			t.Errorf("mode %04o: %s %q fix %q; want warn naming the file and chmod 600", mode, r.Status, r.Detail, r.Fix)
		}
		if preflight.Failed([]preflight.Result{r}) {
			t.Errorf("mode %04o: a warning failed the run", mode)
		}
	}
}

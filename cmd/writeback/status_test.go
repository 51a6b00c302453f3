package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/state"
)

// status --exit-code is what a monitoring check calls: 0 when healthy, 2
// when an operator is needed, for each of the reasons it names.
func TestStatusExitCode(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "writeback.yaml")
	const yaml = `ad:
  url: ldaps://dc1.example.test
  bindDN: CN=svc,DC=example,DC=test
  password: {env: WB_TEST_UNUSED}
state:
  path: state.db
sync:
  interval: 15s
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WB_TEST_UNUSED", "x")
	withState := func(fn func(db *state.DB)) {
		t.Helper()
		db, err := state.Open(filepath.Join(dir, "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		fn(db)
	}
	check := func(name string, want int, wantText string) {
		t.Helper()
		code, out, errb := exitCode(t, runStatus, "--config", cfg, "--exit-code")
		if code != want || !strings.Contains(out, wantText) {
			t.Errorf("%s: exit %d, want %d; output lacks %q?\n%s%s", name, code, want, wantText, out, errb)
		}
	}
	check("no round yet", 2, "no successful round recorded")

	withState(func(db *state.DB) {
		if _, err := db.AddRound(state.Round{Start: time.Now().Add(-time.Hour), Duration: time.Second}); err != nil {
			t.Fatal(err)
		}
	})
	check("last success an hour ago, interval 15s", 2, "no successful round for 59m")

	withState(func(db *state.DB) {
		if _, err := db.AddRound(state.Round{Start: time.Now(), Duration: time.Second}); err != nil {
			t.Fatal(err)
		}
		if err := db.PutFindings([]state.Finding{{GroupID: "g1", Name: "Sales", Since: time.Now(),
			Unresolved: []state.SkippedMember{{ID: "u1", Name: "ada@example.test", Reason: "cloud-only user"}}}}, nil); err != nil {
			t.Fatal(err)
		}
	})
	// Unresolved members are reported, but are not an operator's emergency.
	check("healthy with a skipped member", 0, `"ada@example.test" (u1): cloud-only user`)

	withState(func(db *state.DB) {
		if err := db.PutStatuses([]state.GroupStatus{{ID: "g2", Failures: 1, LastError: "update: busy", QuarantinedUntil: time.Now().Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
	})
	check("a quarantined group", 2, "1 group(s) quarantined")

	withState(func(db *state.DB) {
		if err := db.PutStatuses([]state.GroupStatus{{ID: "g2"}}); err != nil {
			t.Fatal(err)
		}
		if err := db.SetBlockedDeletes(&state.BlockedDeletes{Since: time.Now(), Reason: "threshold", Groups: []state.BlockedGroup{{ID: "g3", Name: "Old", DN: "CN=Old,DC=example,DC=test"}}}); err != nil {
			t.Fatal(err)
		}
	})
	check("blocked deletes", 2, "1 delete(s) blocked")

	withState(func(db *state.DB) {
		if err := db.SetBlockedDeletes(nil); err != nil {
			t.Fatal(err)
		}
	})
	check("healthy again", 0, "Health: ok")
	// Without --exit-code, status reports and exits 0 whatever it finds.
	withState(func(db *state.DB) {
		if err := db.SetBlockedDeletes(&state.BlockedDeletes{Since: time.Now(), Groups: []state.BlockedGroup{{ID: "g3"}}}); err != nil {
			t.Fatal(err)
		}
	})
	if code, out, _ := exitCode(t, runStatus, "--config", cfg); code != 0 || !strings.Contains(out, "needs an operator") {
		t.Errorf("status without --exit-code: exit %d\n%s", code, out)
	}
}

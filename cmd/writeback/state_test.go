package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/state"
	"github.com/writeback/writeback/internal/wire"
)

// stateConfig writes the configuration 'writeback init' writes into a
// directory of its own; its state is writeback.db beside it. Nothing here
// reaches AD or Graph: the state is claimed before either is dialled.
func stateConfig(t *testing.T) (cfgFile, statePath string) {
	t.Helper()
	dir := t.TempDir()
	cfgFile = filepath.Join(dir, "writeback.yaml")
	if err := os.WriteFile(cfgFile, []byte(configTemplate), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgFile, filepath.Join(dir, "writeback.db")
}

// holdState is this process acting as a daemon: the state claimed, open,
// answering on its socket.
func holdState(t *testing.T, path string) *state.DB {
	t.Helper()
	lock, err := state.AcquireLock(path, "run")
	if err != nil {
		t.Fatal(err)
	}
	db, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := serveState(db, slog.New(slog.DiscardHandler))
	if srv == nil {
		t.Fatal("no state socket")
	}
	t.Cleanup(func() {
		srv.Close()
		db.Close()
		lock.Release()
	})
	return db
}

// status and log answer at once while the daemon holds the state, in the
// middle of a long round (a write transaction open), where they used to say
// "locked by another writeback process" (D10).
func TestStatusAndLogDuringALongRound(t *testing.T) {
	cfg, path := stateConfig(t)
	db := holdState(t, path)
	if _, err := db.AddRound(state.Round{Start: time.Now().Add(-time.Hour), Duration: 1500 * time.Millisecond, Full: true, Groups: 1000, Changes: 1575, Applied: 616, Failed: 959}); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendLog(state.Entry{GroupID: "aaaaaaaa-0000-4000-8000-000000000001", Name: "Finance", Action: "create", DN: "CN=Finance,OU=x"}); err != nil {
		t.Fatal(err)
	}
	inRound, release := make(chan struct{}), make(chan struct{})
	roundDone := make(chan error, 1)
	go func() {
		roundDone <- db.Update(func(tx *state.Tx) error {
			if err := tx.MarkDirty("aaaaaaaa-0000-4000-8000-000000000002", "changed"); err != nil {
				return err
			}
			close(inRound)
			<-release // the round goes on (Graph is slow)
			return nil
		})
	}()
	<-inRound
	start := time.Now()
	code, out, errOut := exitCode(t, runStatus, "--config", cfg)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("status took %s during the round", took)
	}
	if code != 0 {
		t.Fatalf("status during a round: exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Running: writeback run, pid " + strconv.Itoa(os.Getpid()),
		"with 959 failures",
		"616 changes applied",
		"full      1.5s  groups 1000",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Last full round applied") {
		t.Errorf("a full round with 959 failed groups is called applied:\n%s", out)
	}
	code, out, errOut = exitCode(t, runStatus, "--config", cfg, "--json")
	if code != 0 || !strings.Contains(out, `"durationSeconds": 1.5`) || strings.Contains(out, `"duration":`) || !strings.Contains(out, `"quarantined": []`) {
		t.Errorf("status --json: exit %d %s\n%s", code, errOut, out)
	}
	code, out, errOut = exitCode(t, runLog, "--config", cfg)
	if code != 0 || !strings.Contains(out, `create         "Finance"`) {
		t.Errorf("log during a round: exit %d %s\n%s", code, errOut, out)
	}
	// And from another process, as a user runs it: this test binary as writeback.
	c := exec.Command(os.Args[0], "status", "--config", cfg)
	c.Env = append(os.Environ(), "WRITEBACK_TEST_MAIN=1")
	start = time.Now()
	if b, err := c.CombinedOutput(); err != nil || !strings.Contains(string(b), "with 959 failures") || time.Since(start) > 3*time.Second {
		t.Errorf("writeback status in another process during the round (%s): %v\n%s", time.Since(start), err, b)
	}
	close(release)
	if err := <-roundDone; err != nil {
		t.Fatal(err)
	}
	// What the round committed is what status shows next.
	if _, out, _ := exitCode(t, runStatus, "--config", cfg); !strings.Contains(out, "1 waiting for the next round") {
		t.Errorf("status after the round:\n%s", out)
	}
}

// Without a holder, status reads the state read-only.
func TestStatusWithoutAHolder(t *testing.T) {
	cfg, path := stateConfig(t)
	db, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddRound(state.Round{Start: time.Now(), Full: true, Changes: 3, Applied: 3}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	code, out, errOut := exitCode(t, runStatus, "--config", cfg)
	if code != 0 || !strings.Contains(out, "Last full round applied: ") || !strings.Contains(out, "3 changes, no failures") || strings.Contains(out, "Running:") {
		t.Errorf("status: exit %d %s\n%s", code, errOut, out)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("status changed the state file")
	}
	if _, err := os.Stat(state.LockPath(path)); err == nil {
		t.Error("status created a lock file")
	}
}

// A damaged state: status says what it is and what to do, and does not crash.
func TestStatusExplainsADamagedState(t *testing.T) {
	cfg, path := stateConfig(t)
	if err := os.WriteFile(path, []byte(strings.Repeat("not a state file\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := exitCode(t, runStatus, "--config", cfg)
	if code != 1 || !strings.Contains(errOut, "state file "+path+" is damaged") || !strings.Contains(errOut, "move it away; the next round will be full") {
		t.Errorf("status of a damaged state: exit %d: %s", code, errOut)
	}
}

// A second apply, plan or run on a state another process holds is refused
// at once, naming the holder, even when that process holds the file closed
// (the daemon between rounds, D7). The second process is a real one: this
// test binary running main (see TestMain).
func TestSecondProcessIsRefusedAtOnce(t *testing.T) {
	cfg, path := stateConfig(t)
	holdState(t, path)
	for _, cmd := range []string{"run", "apply", "plan"} {
		start := time.Now()
		c := exec.Command(os.Args[0], cmd, "--config", cfg)
		c.Env = append(os.Environ(), "WRITEBACK_TEST_MAIN=1")
		out, err := c.CombinedOutput()
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s was refused after %s, want at once", cmd, took)
		}
		want := "already running (pid " + strconv.Itoa(os.Getpid()) + ", since "
		if err == nil || !strings.Contains(string(out), want) || !strings.Contains(string(out), "writeback run") {
			t.Errorf("second %s: %v\n%s\nwant %q", cmd, err, out, want)
		}
	}
}

// Before the first round there is no state: status says so, and creates nothing.
func TestStatusBeforeTheFirstRound(t *testing.T) {
	cfg, path := stateConfig(t)
	code, out, errOut := exitCode(t, runStatus, "--config", cfg)
	if code != 0 || !strings.Contains(out, "No state yet in "+path) {
		t.Errorf("status without a state: exit %d %s\n%s", code, errOut, out)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("status created the state file")
	}
}

// status and log on a read-only file system (a read-only bind mount in a
// mount namespace of its own). Needs root and unshare(1); skipped otherwise.
func TestStatusOnAReadOnlyFileSystem(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if os.Geteuid() != 0 || err != nil {
		t.Skip("needs root and unshare to mount a read-only file system")
	}
	cfg, path := stateConfig(t)
	db, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddRound(state.Round{Start: time.Now(), Full: true, Changes: 2, Applied: 2}); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendLog(state.Entry{GroupID: "g1", Name: "Finance", Action: "create"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	dir := filepath.Dir(path)
	script := `mount --bind "$D" "$D" && mount -o remount,ro,bind "$D" && ! touch "$D/probe" 2>/dev/null && "$WB" status --config "$CFG" && "$WB" log --config "$CFG"`
	c := exec.Command(unshare, "-m", "sh", "-c", script)
	c.Env = append(os.Environ(), "WRITEBACK_TEST_MAIN=1", "D="+dir, "WB="+os.Args[0], "CFG="+cfg)
	out, err := c.CombinedOutput()
	if err != nil && strings.Contains(string(out), "mount") {
		t.Skipf("cannot mount here: %v\n%s", err, out)
	}
	if err != nil || !strings.Contains(string(out), "Last full round applied") || !strings.Contains(string(out), `create         "Finance"`) {
		t.Errorf("status and log on a read-only file system: %v\n%s", err, out)
	}
}

// queryStateFile is queryState on the configuration file at path, as
// status and log load it.
func queryStateFile(ctx context.Context, path string, q stateQuery, stdout io.Writer) error {
	cfg, _, err := wire.Load(path, io.Discard)
	if err != nil {
		return err
	}
	return queryState(ctx, cfg, q, stdout)
}

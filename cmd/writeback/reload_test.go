package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/plan"
)

// lockedBuffer is a log sink the test reads while the daemon writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, d time.Duration, cond func() bool, logs *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s; daemon log:\n%s", what, d, logs)
}

// SIGHUP reloads the configuration file: a valid new one takes effect in a
// round at once (here a mapping, so every group is compared and updated), an
// invalid one is reported and the running configuration is kept.
func TestRunReloadsOnSIGHUP(t *testing.T) { eachDirectory(t, testRunReloadsOnSIGHUP) }

func testRunReloadsOnSIGHUP(t *testing.T, d directory) {
	l := newDir(t, d, 1, "wbhup")
	users := l.Users
	const gid = "aaaaaaaa-3333-4000-8000-000000000001" // no other package's test uses it: anchors are looked for domain-wide
	env := emulatortest.Start(t, &emulator.TenantFile{
		Users:  []emulator.User{syncedUser("bbbbbbbb-2222-4000-8000-000000000001", "u1", "u1@lab.test", users[0])},
		Groups: []emulator.Group{{ID: gid, DisplayName: "Reloaded", SecurityEnabled: true, Members: []string{"bbbbbbbb-2222-4000-8000-000000000001"}}},
	})
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "writeback.yaml")
	write := func(edit func(*config.Config)) {
		ec := env.Config
		c := config.Config{AD: l.AD, Entra: &ec}
		c.Sync.SearchBase = l.OU
		c.Sync.Interval = config.Duration(time.Hour) // only SIGHUP starts a new round
		c.State.Path = "state.db"
		if edit != nil {
			edit(&c)
		}
		b, err := yaml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(nil)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- runRun(ctx, []string{"--config", cfgFile}, logs, logs) }()
	defer func() {
		cancel()
		<-done
	}()
	dc := l.Admin
	group := func() *ad.Group {
		g, err := dc.GroupByAnchor(context.Background(), l.OU, plan.Anchor(gid), false)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	eventually(t, "first sync", 20*time.Second, func() bool { return group() != nil }, logs)

	write(func(c *config.Config) {
		c.Mappings.Attributes = map[string]config.Mapping{"description": {Expression: `Append("reloaded: ", [displayName])`}}
	})
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reloaded mapping in AD", 20*time.Second, func() bool { return group().Description == "reloaded: Reloaded" }, logs)
	eventually(t, "the round after the reload says why it was full", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "configuration changed since the last applied round (mappings)")
	}, logs)

	// An invalid file: reported, and the running configuration goes on.
	if err := os.WriteFile(cfgFile, []byte("mappings: [broken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the invalid configuration reported", 10*time.Second, func() bool {
		return strings.Contains(logs.String(), "configuration not reloaded: the running configuration is kept")
	}, logs)
	select {
	case err := <-done:
		t.Fatalf("the daemon stopped after an invalid reload: %v\n%s", err, logs)
	default:
	}
	if g := group(); g.Description != "reloaded: Reloaded" {
		t.Errorf("description after an invalid reload: %q", g.Description)
	}
}

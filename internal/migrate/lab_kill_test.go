package migrate

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/lab/labtest"
)

// buildWriteback compiles the real binary for tests that must kill it.
func buildWriteback(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "writeback")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/writeback/writeback/cmd/writeback").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func writeConfig(t *testing.T, c config.Config) string {
	t.Helper()
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse(b); err != nil {
		t.Fatalf("test config does not load: %v\n%s", err, b)
	}
	p := filepath.Join(t.TempDir(), "writeback.yaml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// createConnectSyncGroups creates n universal security groups named and
// described as Connect Sync writes them (no anchor yet).
func createConnectSyncGroups(t *testing.T, c *ad.Conn, ou string, n int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	next := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				id := fmt.Sprintf("5a5a%04x-0000-4000-8000-%012x", i, i)
				err := c.CreateGroup(ctx, "CN=Group_"+id+","+ou, map[string][]string{"adminDescription": {"Group_" + id}, "displayName": {fmt.Sprintf("Bulk %d", i)}})
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	for i := range n {
		select {
		case err := <-errs:
			close(next)
			wg.Wait()
			t.Fatal(err)
		case next <- i:
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

func countAnchors(t *testing.T, c *ad.Conn, ou string) (set, total int) {
	t.Helper()
	err := c.Groups(context.Background(), ou, ad.FilterConnectSyncGroups, ad.GroupQuery{}, func(g ad.Group) error {
		total++
		if g.Anchor != "" {
			if g.Anchor != g.AdminDescription {
				return fmt.Errorf("%s: anchor %q != adminDescription %q", g.DN, g.Anchor, g.AdminDescription)
			}
			set++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return set, total
}

// TestLabPrepareKill9 kills the real binary with SIGKILL in the middle of
// preparing the groups, runs it again, and checks that the work completes,
// the journal reads back whole, and rollback from it restores every group.
// 500 groups by default; WRITEBACK_MIGRATE_GROUPS=5000 for the full-size run
// (it creates and deletes that many groups in the shared lab).
func TestLabPrepareKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("creates hundreds of groups: not in -short")
	}
	n := 500
	if v := os.Getenv("WRITEBACK_MIGRATE_GROUPS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			t.Fatalf("WRITEBACK_MIGRATE_GROUPS=%q: want an integer of at least 100", v)
		}
	}
	l := labtest.AD(t)
	dc := l.Conn(t)
	bin := buildWriteback(t)
	start := time.Now()
	createConnectSyncGroups(t, dc, l.OU, n)
	t.Logf("created %d groups in %s", n, time.Since(start).Round(time.Millisecond))

	cfgPath := writeConfig(t, config.Config{AD: l.Config})
	journal := filepath.Join(t.TempDir(), "prepare.journal")
	args := []string{"migrate", "prepare", "--config", cfgPath, "--base", l.OU, "--journal", journal, "--batch", strconv.Itoa(max(n/100, 5))}

	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a fifth of the changes journaled", 5*time.Minute, func() bool {
		b, _ := os.ReadFile(journal)
		return bytes.Count(b, []byte(`"type":"done"`)) >= n/5
	})
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	set, total := countAnchors(t, dc, l.OU)
	t.Logf("killed after %d of %d anchors copied", set, total)
	if set < n/5 || set >= n {
		t.Fatalf("kill landed at %d of %d; want an interrupted run\n%s", set, n, out.String())
	}
	if _, err := ReadJournal(journal); err != nil {
		t.Fatalf("journal unreadable after kill -9: %v", err)
	}

	// Run it again: it completes.
	out.Reset()
	start = time.Now()
	cmd = exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("second prepare: %v\n%s", err, out.String())
	}
	t.Logf("resumed run (%d left) in %s:\n%s", n-set, time.Since(start).Round(time.Millisecond), out.String())
	if set, total = countAnchors(t, dc, l.OU); set != n || total != n {
		t.Fatalf("after resume %d of %d anchors copied", set, total)
	}

	// The journal is intact: every line parses, every group has an intent, none failed.
	recs, err := ReadJournal(journal)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(journal)
	if !bytes.HasSuffix(raw, []byte("\n")) || bytes.Count(raw, []byte("\n")) != len(recs) {
		t.Fatalf("journal has %d lines but %d records", bytes.Count(raw, []byte("\n")), len(recs))
	}
	guids := map[string]bool{}
	unknown := 0
	for _, c := range Changes(recs) {
		guids[c.GUID] = true
		switch c.Outcome {
		case "failed":
			t.Errorf("failed change in journal: %+v", c)
		case "unknown":
			unknown++
		}
	}
	if len(guids) != n {
		t.Fatalf("journal covers %d groups, want %d", len(guids), n)
	}
	t.Logf("journal: %d records, %d groups, %d intents left open by the kill", len(recs), len(guids), unknown)

	// And rollback from it restores all of them.
	rj, _, err := OpenJournal(journal + ".rollback")
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	rb, err := Rollback(context.Background(), dc, recs, RollbackOptions{Journal: rj})
	rj.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rollback of %d in %s", rb.Restored, time.Since(start).Round(time.Millisecond))
	if set, _ = countAnchors(t, dc, l.OU); rb.Restored != n || set != 0 {
		t.Fatalf("rollback restored %d, %d anchors still set", rb.Restored, set)
	}

	// An uninterrupted run, for the figure.
	out.Reset()
	journal2 := filepath.Join(t.TempDir(), "full.journal")
	start = time.Now()
	cmd = exec.Command(bin, "migrate", "prepare", "--config", cfgPath, "--base", l.OU, "--journal", journal2)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("full prepare: %v\n%s", err, out.String())
	}
	el := time.Since(start)
	t.Logf("full prepare of %d groups (binary, incl. connect and scan): %s, %.0f groups/s\n%s", n, el.Round(time.Millisecond), float64(n)/el.Seconds(), strings.TrimSpace(out.String()))
}

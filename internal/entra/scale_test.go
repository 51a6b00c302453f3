package entra_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
)

// TestScale reads a benchmark-sized tenant through the real client. It is
// slow and memory-hungry, so it runs only with WRITEBACK_SCALE=1:
//
//	WRITEBACK_SCALE=1 go test -run TestScale -v ./internal/entra/
func TestScale(t *testing.T) {
	if os.Getenv("WRITEBACK_SCALE") == "" {
		t.Skip("set WRITEBACK_SCALE=1 to read a 20,000-group / 500,000-membership tenant")
	}
	n := func(name string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
			return v
		}
		return def
	}
	o := emulator.GenOptions{Groups: n("SCALE_GROUPS", 20000), Users: n("SCALE_USERS", 300000), Memberships: n("SCALE_MEMBERSHIPS", 500000),
		Nested: 500, Largest: n("SCALE_LARGEST", 250000), CloudOnlyRatio: 0.1, Seed: 1}
	start := time.Now()
	f, err := emulator.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generate: %s", time.Since(start))
	start = time.Now()
	env := emulatortest.Start(t, &f)
	f = emulator.TenantFile{}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("load: %s; heap in use after load (emulator tenant, test process): %d MB", time.Since(start), ms.HeapInuse>>20)

	c := newClient(t, env, entra.WithPageSize(999))
	ctx := context.Background()
	start = time.Now()
	groups, members := 0, 0
	seen := map[string]bool{}
	link, _, err := c.GroupsDelta(ctx, "", func(g entra.Group) error {
		groups++
		seen[g.ID] = true
		members += len(g.MembersDelta)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	st := c.Stats()
	t.Logf("full groups delta: %s, %d pages (%.0f pages/s), %d distinct groups (%.0f groups/s), %d group records, %d members (%.0f members/s)",
		el, st.Pages, float64(st.Pages)/el.Seconds(), len(seen), float64(len(seen))/el.Seconds(), groups, members, float64(members)/el.Seconds())
	if len(seen) != o.Groups {
		t.Errorf("saw %d groups, want %d", len(seen), o.Groups)
	}
	runtime.ReadMemStats(&ms)
	t.Logf("heap in use after round: %d MB; total alloc %d MB", ms.HeapInuse>>20, ms.TotalAlloc>>20)

	// Incremental round after a few changes.
	g0 := env.Admin.Export().Groups[1].ID
	if _, err := env.Admin.UpdateGroup(g0, func(g *emulator.Group) { g.DisplayName = "renamed" }); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	recs := 0
	_, full, err := c.GroupsDelta(ctx, link, func(entra.Group) error { recs++; return nil })
	if err != nil || full || recs != 1 {
		t.Errorf("incremental: full=%v records=%d err=%v", full, recs, err)
	}
	t.Logf("incremental round with 1 change: %s", time.Since(start))

	start = time.Now()
	users := 0
	if _, _, err := c.UsersDelta(ctx, "", func(entra.User) error { users++; return nil }); err != nil {
		t.Fatal(err)
	}
	el = time.Since(start)
	t.Logf("full users delta: %d users in %s (%.0f users/s)", users, el, float64(users)/el.Seconds())
}

// TestExternalEmulator reads a running `writeback emulator` (or, with a real
// entra: section, a tenant) through the client and reports throughput:
//
//	WRITEBACK_EMULATOR_CONFIG=/tmp/wbemu/entra.yaml go test -run TestExternalEmulator -v ./internal/entra/
func TestExternalEmulator(t *testing.T) {
	path := os.Getenv("WRITEBACK_EMULATOR_CONFIG")
	if path == "" {
		t.Skip("set WRITEBACK_EMULATOR_CONFIG to an entra: YAML section (the emulator writes DIR/entra.yaml)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Entra config.Entra `yaml:"entra"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	c, err := entra.New(context.Background(), entraconfig.Options(doc.Entra), entra.WithPageSize(999))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	seen := map[string]bool{}
	members := 0
	if _, _, err := c.GroupsDelta(context.Background(), "", func(g entra.Group) error {
		seen[g.ID] = true
		members += len(g.MembersDelta)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	st := c.Stats()
	t.Logf("full groups delta: %s, %d pages (%.0f pages/s), %d groups (%.0f groups/s), %d members (%.0f members/s), stats %+v",
		el, st.Pages, float64(st.Pages)/el.Seconds(), len(seen), float64(len(seen))/el.Seconds(), members, float64(members)/el.Seconds(), st)
}

package graph

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"runtime"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
)

var (
	size       = flag.String("size", "S", "tenant size: S (1,000 groups, 10,000 memberships), M (10,000, 100,000) or L (20,000, 500,000, one of 250,000)")
	configFile = flag.String("config", "", "BenchmarkExternal: a file with an entra: section (a running emulator writes DIR/entra.yaml; or a real tenant)")
)

// sizes are wbbench's tenant shapes (bench/cmd/wbbench/main.go).
var sizes = map[string]emulator.GenOptions{
	"S": {Groups: 1000, Users: 2000, Memberships: 10000, Nested: 50, Largest: 1000},
	"M": {Groups: 10000, Users: 10000, Memberships: 100000, Nested: 500, Largest: 5000},
	"L": {Groups: 20000, Users: 300000, Memberships: 500000, Nested: 500, Largest: 250000},
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// BenchmarkDelta reads a generated tenant served by the in-process
// emulator: the full groups delta (with members), an incremental delta
// after one rename, and the full users delta; reported per second.
func BenchmarkDelta(b *testing.B) {
	o, ok := sizes[*size]
	if !ok {
		b.Fatalf("-size %q: want S, M or L", *size)
	}
	o.CloudOnlyRatio, o.Seed = 0.1, 1
	f, err := emulator.Generate(o)
	if err != nil {
		b.Fatal(err)
	}
	env := emulatortest.Start(b, &f)
	f = emulator.TenantFile{}
	runtime.GC()
	c, err := entra.New(context.Background(), entraconfig.Options(env.Config), entra.WithLogger(quiet()), entra.WithPageSize(999))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	renamed := env.Admin.Export().Groups[1].ID
	b.ResetTimer()
	for b.Loop() {
		groups := map[string]bool{}
		members := 0
		link, _, err := c.GroupsDelta(ctx, "", func(g entra.Group) error {
			groups[g.ID] = true
			members += len(g.MembersDelta)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if len(groups) != o.Groups {
			b.Fatalf("full groups delta saw %d groups, want %d", len(groups), o.Groups)
		}
		b.ReportMetric(float64(members), "members/op")
		if _, err := env.Admin.UpdateGroup(renamed, func(g *emulator.Group) { g.DisplayName += "!" }); err != nil {
			b.Fatal(err)
		}
		recs := 0
		if _, full, err := c.GroupsDelta(ctx, link, func(entra.Group) error { recs++; return nil }); err != nil || full || recs != 1 {
			b.Fatalf("incremental delta after one rename: full=%v records=%d err=%v", full, recs, err)
		}
		users := 0
		if _, _, err := c.UsersDelta(ctx, "", func(entra.User) error { users++; return nil }); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(users), "users/op")
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse>>20), "heapMiB")
	b.ReportMetric(float64(c.Stats().Pages)/float64(b.N), "pages/op")
}

// BenchmarkExternal reads the full groups delta of a running emulator (or,
// with a real entra: section, a tenant) through the client.
func BenchmarkExternal(b *testing.B) {
	if *configFile == "" {
		b.Skip("-config not set: name a file with an entra: section (a running emulator writes DIR/entra.yaml)")
	}
	raw, err := os.ReadFile(*configFile)
	if err != nil {
		b.Fatal(err)
	}
	var doc struct {
		Entra config.Entra `yaml:"entra"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		b.Fatalf("%s: %v", *configFile, err)
	}
	c, err := entra.New(context.Background(), entraconfig.Options(doc.Entra), entra.WithLogger(quiet()), entra.WithPageSize(999))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		groups, members := 0, 0
		if _, _, err := c.GroupsDelta(context.Background(), "", func(g entra.Group) error {
			groups++
			members += len(g.MembersDelta)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(groups), "groups/op")
		b.ReportMetric(float64(members), "members/op")
	}
}

package engine

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
	"github.com/writeback/writeback/internal/state"
)

// TestSpeedRoundFromConfig runs rounds against a real configuration, to
// profile the engine alone (the bench's emulator runs in another process):
//
//	WRITEBACK_SPEED_CONFIG=/var/tmp/x/M/full.yaml WRITEBACK_SPEED_ROUNDS=2 \
//	  go test ./internal/engine/ -run TestSpeedRoundFromConfig -cpuprofile cpu.out -v
//
// WRITEBACK_SPEED_DRYRUN=1 plans without applying. Skipped without the variable.
func TestSpeedRoundFromConfig(t *testing.T) {
	path := os.Getenv("WRITEBACK_SPEED_CONFIG")
	if path == "" {
		t.Skip("WRITEBACK_SPEED_CONFIG not set")
	}
	ctx := context.Background()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := state.Open(cfg.State.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dc, err := ad.Dial(ctx, adconfig.Options(cfg.AD))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	gc, err := ad.DialGC(ctx, adconfig.Options(cfg.AD))
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	src, err := entra.New(ctx, entraconfig.Options(*cfg.Entra))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	eng, err := New(ctx, Options{Config: cfg, State: db, DC: dc, GC: gc, Source: src, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rounds := 1
	if os.Getenv("WRITEBACK_SPEED_ROUNDS") == "2" {
		rounds = 2
	}
	for range rounds {
		start := time.Now()
		res, err := eng.RunOnce(ctx, RoundOptions{PlanOptions: PlanOptions{Full: true}, DryRun: os.Getenv("WRITEBACK_SPEED_DRYRUN") == "1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %s: %d changes, LDAP %+v", time.Since(start).Round(time.Millisecond), len(res.Planned.Plan.Changes), res.LDAP)
	}
}

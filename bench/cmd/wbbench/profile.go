package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/engine"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/resolve"
	"github.com/writeback/writeback/internal/state"
)

// profileRound runs one full round of the engine in this process (the same
// code `writeback run` runs; the writeback binary has no profiling flag) with
// a CPU profile, and writes a heap profile after it (dryRun: plan only). The emulator runs in
// this process too, so its share shows in the CPU profile under
// internal/emulator.
func profileRound(ctx context.Context, cfgPath, prefix string, dryRun bool) ([]string, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	db, err := state.Open(cfg.State.Path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	dc, err := ad.Dial(ctx, cfg.AD)
	if err != nil {
		return nil, err
	}
	defer dc.Close()
	gc, err := ad.DialGC(ctx, cfg.AD)
	if err != nil {
		return nil, err
	}
	defer gc.Close()
	src, err := entra.New(ctx, *cfg.Entra)
	if err != nil {
		return nil, err
	}
	eng, err := engine.New(ctx, engine.Options{Config: cfg, State: db, DC: dc, GC: gc, Source: src,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Resolver: resolve.New(nil)})
	if err != nil {
		return nil, err
	}
	cpuPath, heapPath := prefix+".cpu.pprof", prefix+".heap.pprof"
	f, err := os.Create(cpuPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, err
	}
	res, err := eng.RunOnce(ctx, engine.RoundOptions{PlanOptions: engine.PlanOptions{Full: true}, DryRun: dryRun})
	pprof.StopCPUProfile()
	if err != nil {
		return []string{cpuPath}, fmt.Errorf("profiled full round: %w", err)
	}
	runtime.GC()
	h, err := os.Create(heapPath)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := pprof.WriteHeapProfile(h); err != nil {
		return nil, err
	}
	runtime.KeepAlive(eng)
	fmt.Fprintf(os.Stderr, "profiled full round: %s, %d changes, %d LDAP searches, %d writes\n",
		res.Duration, len(res.Planned.Plan.Changes), res.LDAP.Searches, res.LDAP.Writes)
	return []string{cpuPath, heapPath}, nil
}

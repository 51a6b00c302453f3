package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab"
	"github.com/writeback/writeback/internal/plan"
)

// probeResult is the memory probe of a size too large to provision here.
type probeResult struct {
	Seconds    float64 `json:"seconds"`
	PeakRSSMiB float64 `json:"peakRSSMiB"`
	PeakSplit  string  `json:"peakRSSSplit,omitempty"`
	GraphReqs  int64   `json:"graphRequests"`
	// Summary is the plan's: creates, member adds, unresolved members.
	Summary *plan.Summary `json:"planSummary,omitempty"`
}

// probeSize measures `writeback plan --full` over the size's tenant: Graph
// ingest of every group and membership, the state file, member resolution
// and the plan of every create, but no write. With the size's user snapshot
// (see runSize) the tenant's synced users resolve to the snapshot's AD users,
// so the plan holds every member DN of the first sync; without one, the
// probe runs against a pristine lab and every member is unresolvable (a lower
// bound). For sizes whose writes take too long on Samba to run in full.
func probeSize(ctx context.Context, o options, s sizeSpec, profile bool) (*sizeResult, error) {
	res := &sizeResult{Size: s, Setup: map[string]any{}}
	work := filepath.Join(o.work, s.Name+"-probe")
	if err := os.RemoveAll(work); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	lo := lab.Options{Dir: o.labDir, Addr: o.labAddr, Log: io.Discard}
	if _, err := lab.Up(ctx, lo); err != nil {
		return nil, err
	}
	var (
		l       *lab.Lab
		err     error
		anchors []emulator.Anchor
	)
	if s.ADUsers >= seedAbove && lab.HasSnapshot(lo, s.Name) {
		res.Setup["mode"] = fmt.Sprintf("plan probe: %d AD users from snapshot %q, every synced user in AD resolvable; no writes", s.ADUsers, s.Name)
		if l, err = lab.RestoreSnapshot(ctx, lo, s.Name); err != nil {
			return nil, err
		}
		d, err := newDirInfo(l.Env)
		if err != nil {
			return nil, err
		}
		if anchors, err = readUsers(d, "OU=BenchUsers,"+d.Base); err != nil {
			return nil, err
		}
	} else {
		res.Setup["mode"] = "plan probe: no AD users, every member unresolvable"
		res.Size.ADUsers = 0
		if l, err = lab.Reset(ctx, lo); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	tf, err := emulator.Generate(emulator.GenOptions{Groups: s.Groups, Users: s.Users, Memberships: s.Memberships,
		Nested: s.Nested, Largest: s.Largest, CloudOnlyRatio: 0.05, Seed: 7, Anchors: anchors})
	if err != nil {
		return nil, err
	}
	res.Setup["generateSeconds"] = secs(time.Since(t0))
	emu, stopEmu, err := serveTenant(ctx, work, tf)
	if err != nil {
		return nil, err
	}
	defer stopEmu()
	tf, anchors = emulator.TenantFile{}, nil
	cfg := configFiles{work: work, env: l.Env, emu: emu, interval: o.interval, workers: o.workers, memLimit: o.memLimit}
	planCfg, err := cfg.write("plan.yaml", "plan.db", "24h", true)
	if err != nil {
		return nil, err
	}
	// The probe's own process is profiled (writeback's WRITEBACK_*PROFILE):
	// the profiles hold writeback alone, not the emulator serving it.
	var env []string
	if profile {
		prefix := filepath.Join(o.out, "profile-"+s.Name+"-plan")
		res.Profiles = []string{prefix + ".cpu.pprof", prefix + ".heap.pprof"}
		env = []string{"WRITEBACK_CPUPROFILE=" + res.Profiles[0], "WRITEBACK_HEAPPROFILE=" + res.Profiles[1]}
	}
	st0 := emu.Server.Stats()
	t0 = time.Now()
	out, _, rss, err := runWBEnv(ctx, o.bin, env, nil, "plan", "--json", "--full", "--config", planCfg)
	if err != nil && exitCode(err) != 2 {
		return res, fmt.Errorf("writeback plan: %w", err)
	}
	res.Probe = &probeResult{Seconds: secs(time.Since(t0)), PeakRSSMiB: rss.MiB, PeakSplit: rss.Split(), GraphReqs: emu.Server.Stats().GraphRequests - st0.GraphRequests}
	var planned struct {
		Plan plan.Plan `json:"plan"`
	}
	if err := json.Unmarshal(out, &planned); err != nil {
		return res, fmt.Errorf("parse plan --json: %w", err)
	}
	res.Setup["plan"] = planned.Plan.Summary
	res.Probe.Summary = &planned.Plan.Summary
	fmt.Fprintf(os.Stderr, "[%s] plan probe: %.1f s, %.0f MiB peak RSS (%s)\n", s.Name, res.Probe.Seconds, res.Probe.PeakRSSMiB, res.Probe.PeakSplit)
	return res, nil
}

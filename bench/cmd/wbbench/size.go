package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab"
	"github.com/writeback/writeback/internal/plan"
)

// sizeResult is everything measured for one size.
type sizeResult struct {
	Size      sizeSpec       `json:"size"`
	Setup     map[string]any `json:"setup"`
	Raw       *rawResult     `json:"rawLimit,omitempty"` // the fastest of RawRuns
	RawRuns   []rawResult    `json:"rawRuns,omitempty"`
	FirstSync *syncResult    `json:"firstSync,omitempty"` // of the median round in Repeats
	// Repeats are the rounds of raw limit and first sync (small sizes run
	// several; Raw and FirstSync are the median round's).
	Repeats      []repeatResult `json:"repeats,omitempty"`
	NoChange     *roundResult   `json:"noChangeRound,omitempty"`
	NoChangeFull *roundResult   `json:"noChangeFullRound,omitempty"`
	Latency      *latencyResult `json:"incrementalLatency,omitempty"`
	// Repair: edits made by hand in AD to owned groups, from the edit to
	// the DC showing it undone by the daemon (issue 20 item 4).
	Repair    *latencyResult `json:"repairLatency,omitempty"`
	Migration *migResult     `json:"migrationPrepare,omitempty"`
	Probe     *probeResult   `json:"planProbe,omitempty"`
	Profiles  []string       `json:"profiles,omitempty"`
	Notes     []string       `json:"notes,omitempty"`
}

type repeatResult struct {
	Raw       *rawResult  `json:"rawLimit,omitempty"`
	FirstSync *syncResult `json:"firstSync"`
}

// rank orders rounds for the median: by ratio, or by time without a raw loop.
func (r repeatResult) rank() float64 {
	if r.Raw == nil {
		return r.FirstSync.Seconds
	}
	return r.FirstSync.RatioToRaw
}

type rawResult struct {
	Seconds      float64 `json:"seconds"`
	Creates      int     `json:"creates"`
	MemberWrites int     `json:"memberModifies"`
	MemberValues int     `json:"memberValues"`
	Batch        int     `json:"batch"`
	InFlight     int     `json:"requestsInFlight"`      // on one connection
	Conns        int     `json:"connections,omitempty"` // results of the earlier multi-connection loop
	// CreatesSeconds is the time until the last create (creates come first in a plan).
	CreatesSeconds float64 `json:"createsSeconds"`
}

type syncResult struct {
	Seconds     float64 `json:"seconds"`
	RatioToRaw  float64 `json:"ratioToRaw"`
	LDAPWrites  int64   `json:"ldapWrites"`
	PeakRSSMiB  float64 `json:"peakRSSMiB"`
	PeakSplit   string  `json:"peakRSSSplit,omitempty"`
	GraphReqs   int64   `json:"graphRequests"`
	Unresolved  int     `json:"unresolvedMembers"`
	PlanChanges int     `json:"planChanges"`
	Failed      int     `json:"failedGroups"`
	// ApplyPhaseSeconds is the write phase alone, as apply reports it; the
	// rest of Seconds is process start, Graph ingest, member resolution and planning.
	ApplyPhaseSeconds float64 `json:"applyPhaseSeconds"`
}

type roundResult struct {
	WallSeconds  float64 `json:"wallSeconds"`  // the whole process: start, connect, round, exit
	RoundSeconds float64 `json:"roundSeconds"` // the round as the daemon logs it
	GraphReqs    int64   `json:"graphRequests"`
	LDAPSearches int64   `json:"ldapSearches"`
	LDAPWrites   int64   `json:"ldapWrites"`
	PeakRSSMiB   float64 `json:"peakRSSMiB"`
	PeakSplit    string  `json:"peakRSSSplit,omitempty"`
	// CPU is the CPU time each process used during the round: writeback,
	// the lab's Samba and the in-process Graph emulator share the machine's
	// cores, and a round slower than its work is one that waited on them.
	CPU *roundCPU `json:"cpuSeconds,omitempty"`
}

type roundCPU struct {
	Writeback float64 `json:"writeback"`
	Directory float64 `json:"directory"`
	Emulator  float64 `json:"emulator"`
}

type latencyResult struct {
	Changes    int       `json:"changes"`
	Interval   float64   `json:"intervalSeconds"`
	P50        float64   `json:"p50Seconds"`
	P95        float64   `json:"p95Seconds"`
	Max        float64   `json:"maxSeconds"`
	TimedOut   int       `json:"timedOut"`
	PeakRSSMiB float64   `json:"daemonPeakRSSMiB"`
	PeakSplit  string    `json:"daemonPeakRSSSplit,omitempty"`
	All        []float64 `json:"allSeconds"`
}

type migResult struct {
	Groups            int     `json:"groups"`
	PrepareSeconds    float64 `json:"prepareSeconds"`
	PrepareRSSMiB     float64 `json:"preparePeakRSSMiB"`
	PerConnSeconds    float64 `json:"perGroupConnectionSeconds"` // all groups, fresh LDAPS connection+bind per group
	ProcessSample     int     `json:"processSample"`
	ProcessPerGroupMs float64 `json:"processPerGroupMs"` // ldapmodify process per group
	ProcessExtrapol   float64 `json:"processExtrapolatedSeconds"`
	RatioConn         float64 `json:"ratioVsConnection"`
	RatioProcess      float64 `json:"ratioVsProcess"`
}

func runSize(ctx context.Context, o options, s sizeSpec, profile bool) (*sizeResult, error) {
	r := &sizeRun{o: o, s: s, res: &sizeResult{Size: s, Setup: map[string]any{}}, work: filepath.Join(o.work, s.Name)}
	if err := os.RemoveAll(r.work); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.work, 0o755); err != nil {
		return nil, err
	}
	if err := r.freshLab(ctx); err != nil { // 1
		return nil, err
	}
	if err := r.adUsers(ctx); err != nil { // 2
		return nil, err
	}
	if err := r.tenant(); err != nil { // 3
		return nil, err
	}
	// 4. The emulator, in this process (its CPU is not writeback's).
	emu, stopEmu, err := serveTenant(ctx, r.work, r.tf)
	if err != nil {
		return nil, err
	}
	defer stopEmu()
	r.emu = emu
	if err := r.writeConfigs(); err != nil {
		return nil, err
	}
	res := r.res
	if err := r.dryRunPlan(ctx); err != nil { // 5
		return res, err
	}
	if err := r.firstSyncs(ctx); err != nil { // 6, 7
		return res, err
	}
	if err := r.noChangeRounds(ctx); err != nil { // 8
		return res, err
	}
	if o.hold {
		r.logf("holding: emulator at %s; configs %s (incremental), %s (full round); AD at %s. Ctrl-C ends.", emu.URL, r.mainCfg, r.fullCfg, r.l.Env["LAB_LDAPS_URL"])
		<-ctx.Done()
		return res, ctx.Err()
	}
	// 9. Incremental latency with the daemon running.
	if res.Latency, err = latency(ctx, o, r.d, emu, r.tf, r.p.Changes, r.mainCfg, r.anchors); err != nil {
		return res, err
	}
	r.logf("latency p50 %.2fs p95 %.2fs max %.2fs", res.Latency.P50, res.Latency.P95, res.Latency.Max)
	// 9b. Repair latency: edits made by hand in AD, undone by the daemon.
	if o.repairEdits > 0 {
		if res.Repair, err = repairLatency(ctx, o, r.d, r.p.Changes, r.mainCfg, r.anchors); err != nil {
			return res, err
		}
		r.logf("repair latency p50 %.2fs p95 %.2fs max %.2fs, %d timed out", res.Repair.P50, res.Repair.P95, res.Repair.Max, res.Repair.TimedOut)
	}
	if profile {
		r.profiles(ctx) // 10
	}
	stopEmu()
	return res, r.migrationPrepare(ctx) // 11
}

// sizeRun is one size's run in progress.
type sizeRun struct {
	o    options
	s    sizeSpec
	res  *sizeResult
	work string

	lo                        lab.Options
	l                         *lab.Lab
	d                         *dirInfo
	seeded                    bool // the users came from a snapshot
	usersOU, migA, migB       string
	anchors                   []emulator.Anchor
	tf                        emulator.TenantFile
	emu                       *emulator.Running
	cfg                       configFiles
	mainCfg, planCfg, fullCfg string
	p                         plan.Plan
}

func (r *sizeRun) logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[%s %s] %s\n", time.Now().Format("15:04:05"), r.s.Name, fmt.Sprintf(format, a...))
}

// freshLab (1) brings up a fresh, pristine lab instance with the bench's OUs.
func (r *sizeRun) freshLab(ctx context.Context) error {
	t0 := time.Now()
	r.lo = lab.Options{Dir: r.o.labDir, Addr: r.o.labAddr, Log: io.Discard}
	if _, err := lab.Up(ctx, r.lo); err != nil {
		return err
	}
	// Sizes with many users start from a snapshot of pristine + users, taken
	// the first time: creating them is setup, not what is measured.
	r.seeded = r.s.ADUsers >= seedAbove && lab.HasSnapshot(r.lo, r.s.Name)
	var err error
	if r.seeded {
		r.logf("restoring snapshot %q (pristine lab + %d users)", r.s.Name, r.s.ADUsers)
		r.l, err = lab.RestoreSnapshot(ctx, r.lo, r.s.Name)
	} else {
		r.l, err = lab.Reset(ctx, r.lo)
	}
	if err != nil {
		return err
	}
	r.res.Setup["labResetSeconds"] = secs(time.Since(t0))
	r.res.Setup["usersFromSnapshot"] = r.seeded
	if r.d, err = newDirInfo(r.l.Env); err != nil {
		return err
	}
	r.usersOU = "OU=BenchUsers," + r.d.Base
	r.migA = "OU=CSyncPrepare," + r.d.Base
	r.migB = "OU=CSyncGuide," + r.d.Base
	return withConn(r.d, r.addOUs)
}

func (r *sizeRun) addOUs(c *ldap.Conn) error {
	for _, ou := range []string{r.usersOU, r.migA, r.migB, r.d.TargetOU} {
		if err := addOU(c, ou); err != nil {
			return err
		}
	}
	return nil
}

// adUsers (2) creates the AD users the tenant's synced users point at, and
// the snapshot every measured write pass starts from.
func (r *sizeRun) adUsers(ctx context.Context) error {
	t0 := time.Now()
	var err error
	switch {
	case r.seeded:
		r.anchors, err = readUsers(r.d, r.usersOU)
	case r.s.ADUsers >= seedAbove:
		r.logf("seeding %d AD users into the stopped DC, then saving snapshot %q", r.s.ADUsers, r.s.Name)
		err = lab.SeedUsers(ctx, r.lo, lab.Seed{OU: r.usersOU, Prefix: "Bench User ", SAMPrefix: "bu", Digits: 7, From: 0, To: r.s.ADUsers})
		if err == nil {
			err = lab.SaveSnapshot(ctx, r.lo, r.s.Name)
		}
		if err == nil {
			r.anchors, err = readUsers(r.d, r.usersOU)
		}
	default:
		r.logf("creating %d AD users", r.s.ADUsers)
		r.anchors, err = createUsers(ctx, r.d, r.usersOU, r.s.ADUsers)
	}
	if err != nil {
		return err
	}
	if len(r.anchors) != r.s.ADUsers {
		return fmt.Errorf("%d AD users under %s, want %d (remove the snapshot %q of %s to seed again)", len(r.anchors), r.usersOU, r.s.ADUsers, r.s.Name, r.o.labDir)
	}
	r.res.Setup["adUsersSeconds"] = secs(time.Since(t0))
	r.logf("created %d AD users in %s", len(r.anchors), time.Since(t0).Round(time.Millisecond))
	// Every measured write pass starts from this same directory: Samba's adds
	// slow down as the directory grows, so a pass run after another's 10,000
	// groups would be measured against a bigger DC.
	if !r.seeded && r.s.ADUsers < seedAbove {
		return lab.SaveSnapshot(ctx, r.lo, r.s.Name)
	}
	return nil
}

// fresh restores the directory every measured write pass starts from.
func (r *sizeRun) fresh(ctx context.Context) error {
	if _, err := lab.RestoreSnapshot(ctx, r.lo, r.s.Name); err != nil {
		return err
	}
	return withConn(r.d, r.addOUs)
}

// tenant (3) generates the synthetic tenant.
func (r *sizeRun) tenant() error {
	t0 := time.Now()
	s := r.s
	var err error
	r.tf, err = emulator.Generate(emulator.GenOptions{Groups: s.Groups, Users: s.Users, Memberships: s.Memberships,
		Nested: s.Nested, Largest: s.Largest, CloudOnlyRatio: 0.05, Seed: 7, Anchors: r.anchors})
	if err != nil {
		return err
	}
	r.res.Setup["generateSeconds"] = secs(time.Since(t0))
	return nil
}

func (r *sizeRun) writeConfigs() error {
	r.cfg = configFiles{work: r.work, env: r.l.Env, emu: r.emu, interval: r.o.interval, workers: r.o.workers, memLimit: r.o.memLimit}
	var err error
	if r.mainCfg, err = r.cfg.write("writeback.yaml", "state.db", "24h", true); err != nil {
		return err
	}
	if r.planCfg, err = r.cfg.write("plan.yaml", "plan.db", "24h", true); err != nil {
		return err
	}
	// fullReconcile = interval: the full round is due whenever the last one is older than that.
	r.fullCfg, err = r.cfg.write("full.yaml", "state.db", r.o.interval.String(), true)
	return err
}

// dryRunPlan (5) runs the plan (dry run, separate state): the LDAP work both
// the raw loop and apply do.
func (r *sizeRun) dryRunPlan(ctx context.Context) error {
	r.logf("plan")
	out, _, _, err := runWB(ctx, r.o.bin, nil, "plan", "--json", "--full", "--config", r.planCfg)
	if err != nil && exitCode(err) != 2 {
		return fmt.Errorf("writeback plan: %w", err)
	}
	var planned struct {
		Plan plan.Plan `json:"plan"`
	}
	if err := json.Unmarshal(out, &planned); err != nil {
		return fmt.Errorf("parse plan --json: %w", err)
	}
	r.p = planned.Plan
	r.res.Setup["plan"] = r.p.Summary
	r.res.Setup["syncWorkers"] = r.o.workers // 0: writeback's default (4)
	return nil
}

// firstSyncs (6 and 7, repeated): the raw directory limit, then writeback's
// first sync, each from the same directory. Small sizes take seconds, where
// one noisy pass moves the ratio by a third: they run several rounds and
// report the median round (all rounds are kept).
func (r *sizeRun) firstSyncs(ctx context.Context) error {
	reps := r.o.repeat
	if reps == 0 {
		reps = 1
		if r.s.Groups <= 1000 {
			reps = 3
		}
	}
	if r.o.skipRaw {
		reps = 1
	}
	fresh := func() error { return r.fresh(ctx) }
	for rep := range reps {
		raw, err := rawPasses(ctx, r.o, r.d, r.p, r.res, fresh, rep > 0, r.logf)
		if err != nil {
			return err
		}
		// 7. First full sync with writeback apply, on the directory the raw loop started from.
		if raw != nil {
			if err := fresh(); err != nil {
				return err
			}
		}
		if rep > 0 { // a first sync: no state from the previous round
			_ = os.Remove(filepath.Join(r.work, "state.db"))
		}
		fs, err := r.firstSync(ctx, raw, rep == reps-1)
		if err != nil {
			return err
		}
		r.res.Repeats = append(r.res.Repeats, repeatResult{Raw: raw, FirstSync: fs})
	}
	// The median round by ratio (by time without a raw loop) stands for the size.
	med := slices.Clone(r.res.Repeats)
	slices.SortFunc(med, func(a, b repeatResult) int { return cmp.Compare(a.rank(), b.rank()) })
	r.res.Raw, r.res.FirstSync = med[len(med)/2].Raw, med[len(med)/2].FirstSync
	if len(r.res.Repeats) == 1 {
		r.res.Repeats = nil
	}
	return nil
}

// firstSync runs writeback apply once and reads its figures from the output.
func (r *sizeRun) firstSync(ctx context.Context, raw *rawResult, last bool) (*syncResult, error) {
	st0 := r.emu.Server.Stats()
	r.logf("writeback apply")
	t0 := time.Now()
	out, errOut, rss, err := runWB(ctx, r.o.bin, nil, "apply", "--yes", "--config", r.mainCfg)
	wall := time.Since(t0)
	if err != nil && !(exitCode(err) == 1 && bytes.Contains(out, []byte("Apply complete:"))) {
		return nil, fmt.Errorf("writeback apply: %w\n%s", err, tailBytes(out, 2000))
	}
	fs := &syncResult{Seconds: secs(wall), PeakRSSMiB: rss.MiB, PeakSplit: rss.Split(),
		GraphReqs: r.emu.Server.Stats().GraphRequests - st0.GraphRequests, Unresolved: r.p.Summary.Unresolved, PlanChanges: len(r.p.Changes)}
	fmt.Sscanf(afterLast(string(out), "groups failed, "), "%d LDAP writes", &fs.LDAPWrites)
	fmt.Sscanf(afterLast(string(out), "changes applied, "), "%d groups failed", &fs.Failed)
	if d, err := time.ParseDuration(strings.TrimSuffix(strings.Fields(afterLast(string(out), " LDAP writes in ") + " x")[0], ".")); err == nil {
		fs.ApplyPhaseSeconds = secs(d)
	}
	if raw != nil && raw.Seconds > 0 {
		fs.RatioToRaw = secs(wall) / raw.Seconds
	}
	_ = os.WriteFile(filepath.Join(r.work, "apply.out"), out, 0o644)
	_ = os.WriteFile(filepath.Join(r.work, "apply.log"), errOut, 0o644) // its phase timings
	if last {
		for _, line := range strings.Split(afterLast(string(out), "Apply complete:"), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "! group") {
				r.res.Notes = append(r.res.Notes, "first sync: "+strings.TrimSpace(line))
			}
		}
	}
	r.logf("apply %.1fs (%.2fx raw), %d writes, %.0f MiB", fs.Seconds, fs.RatioToRaw, fs.LDAPWrites, fs.PeakRSSMiB)
	return fs, nil
}

// noChangeRounds (8): incremental (the daemon's every-interval round) and full.
func (r *sizeRun) noChangeRounds(ctx context.Context) error {
	var err error
	if r.res.NoChange, err = oneRound(ctx, r.o.bin, r.emu, r.mainCfg, r.l.PID()); err != nil {
		return err
	}
	time.Sleep(r.o.interval)
	if r.res.NoChangeFull, err = oneRound(ctx, r.o.bin, r.emu, r.fullCfg, r.l.PID()); err != nil {
		return err
	}
	r.logf("no-change: incremental %+v; full %+v", *r.res.NoChange, *r.res.NoChangeFull)
	return nil
}

// profiles (10) of a full no-change round of the writeback process (largest
// size only), through writeback's WRITEBACK_*PROFILE.
func (r *sizeRun) profiles(ctx context.Context) {
	prefix := filepath.Join(r.o.out, "profile-"+r.s.Name)
	files := []string{prefix + ".cpu.pprof", prefix + ".heap.pprof"}
	env := []string{"WRITEBACK_CPUPROFILE=" + files[0], "WRITEBACK_HEAPPROFILE=" + files[1]}
	if _, _, _, err := runWBEnv(ctx, r.o.bin, env, nil, "run", "--once", "--config", r.fullCfg); err != nil {
		r.res.Notes = append(r.res.Notes, "profile failed: "+err.Error())
	} else {
		r.res.Profiles = files
	}
}

// migrationPrepare (11): migration prepare against the guide's
// one-modify-per-group way.
func (r *sizeRun) migrationPrepare(ctx context.Context) error {
	if r.s.MigGroups == 0 {
		r.res.Notes = append(r.res.Notes, "migration prepare: measured at M (10,000 groups, the count issue 7 names), not repeated here")
		return nil
	}
	if r.o.skipMig {
		return nil
	}
	migCfg, err := r.cfg.write("migrate.yaml", "migrate.db", "24h", false)
	if err != nil {
		return err
	}
	m, err := migration(ctx, r.o, r.d, r.s.MigGroups, r.migA, r.migB, migCfg, r.work)
	r.res.Migration = m
	if err != nil {
		return err
	}
	r.logf("migration prepare %.1fs vs per-connection %.1fs (%.1fx) vs per-process ~%.1fs (%.1fx)", m.PrepareSeconds,
		m.PerConnSeconds, m.RatioConn, m.ProcessExtrapol, m.RatioProcess)
	return nil
}

// seedAbove is the user count from which the bench seeds users straight into
// the stopped DC (lab.SeedUsers) and keeps a snapshot, instead of LDAP adds.
const seedAbove = 50000

// serveTenant writes tf to work/tenant.json and serves it with the Graph
// emulator in this process on a free loopback port.
func serveTenant(ctx context.Context, work string, tf emulator.TenantFile) (*emulator.Running, context.CancelFunc, error) {
	tenantPath := filepath.Join(work, "tenant.json")
	if err := writeTenant(tenantPath, tf); err != nil {
		return nil, nil, fmt.Errorf("write tenant %s: %w", tenantPath, err)
	}
	ectx, stop := context.WithCancel(ctx)
	emu, err := emulator.Run(ectx, emulator.RunConfig{Addr: "127.0.0.1:0", Dir: filepath.Join(work, "emulator"), TenantFile: tenantPath,
		Reset: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("start emulator: %w", err)
	}
	return emu, stop, nil
}

func writeTenant(path string, tf emulator.TenantFile) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := emulator.WriteTenant(w, tf); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type configFiles struct {
	work     string
	env      map[string]string
	emu      *emulator.Running
	interval time.Duration
	workers  int
	memLimit string
}

func (c configFiles) write(name, state, fullReconcile string, withEntra bool) (string, error) {
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	e := c.env
	var b strings.Builder
	fmt.Fprintf(&b, "ad:\n  url: %s\n  gcUrl: %s\n  caFile: %s\n  bindDN: %s\n  password:\n    file: %s\n  baseDN: %s\n  targetOU: %s\n  pageSize: 1000\n  memberBatch: 1000\n  timeout: 120s\n",
		q(e["LAB_LDAPS_URL"]), q(e["LAB_GCS_URL"]), q(e["LAB_CA_CERT"]), q(e["LAB_BIND_DN"]), q(e["LAB_PASSWORD_FILE"]), q(e["LAB_BASE_DN"]), q(e["LAB_TARGET_OU"]))
	if withEntra {
		fmt.Fprintf(&b, "entra:\n  tenantId: %s\n  clientId: %s\n  authorityHost: %s\n  graphUrl: %s\n  caFile: %s\n  credential:\n    kind: secret\n    secret:\n      file: %s\n",
			q(c.emu.TenantID), q(c.emu.ClientID), q(c.emu.URL+"/"), q(c.emu.URL), q(c.emu.CAFile), q(c.emu.ClientSecretFile))
		fmt.Fprintf(&b, "sync:\n  interval: %s\n  fullReconcile: %s\n  searchBase: %s\n", c.interval, fullReconcile, q(e["LAB_TARGET_OU"]))
		if c.workers > 0 {
			fmt.Fprintf(&b, "  workers: %d\n", c.workers)
		}
		if c.memLimit != "" {
			fmt.Fprintf(&b, "  memoryLimit: %s\n", c.memLimit)
		}
	}
	fmt.Fprintf(&b, "safety:\n  deleteThreshold: 1000000\nstate:\n  path: %s\nlog:\n  format: json\n  level: debug\n", q(filepath.Join(c.work, state)))
	path := filepath.Join(c.work, name)
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// runWB runs the writeback binary and returns its stdout, stderr and peak RSS.
func runWB(ctx context.Context, bin string, stderr io.Writer, args ...string) ([]byte, []byte, memPeak, error) {
	return runWBEnv(ctx, bin, nil, stderr, args...)
}

// runWBEnv is runWB with env added to wbbench's environment.
func runWBEnv(ctx context.Context, bin string, env []string, stderr io.Writer, args ...string) ([]byte, []byte, memPeak, error) {
	cmd, peak := measuredCommand(ctx, bin, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if stderr != nil {
		cmd.Stderr = io.MultiWriter(&errb, stderr)
	}
	err := cmd.Run()
	rss := peak()
	if err != nil {
		err = fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, tailBytes(errb.Bytes(), 1500))
	}
	return out.Bytes(), errb.Bytes(), rss, err
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func secs(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

func tailBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func afterLast(s, sep string) string {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return ""
	}
	return s[i+len(sep):]
}

// rawReplay does the plan's LDAP work with plain go-ldap on one connection
// with inFlight requests outstanding (go-ldap multiplexes them), no planning:
// every create with the same attributes, then the member adds in batches of
// the same size (one group's batches in order, as writeback does). It writes
// into rawOU (group DNs moved there; anchors and sAMAccountNames altered, with
// tag, so writeback never sees these groups). One connection because Samba
// serves each connection in one of its prefork processes, and writes from
// several processes contend for the database (measured at M: 4 connections
// slower than 1).
func rawReplay(ctx context.Context, d *dirInfo, changes []plan.Change, rawOU, tag string, batch, inFlight int) (*rawResult, error) {
	target := strings.ToLower(d.TargetOU)
	move := func(dn string) string {
		if strings.HasSuffix(strings.ToLower(dn), ","+target) {
			return dn[:len(dn)-len(target)] + rawOU
		}
		return dn
	}
	var creates, adds []func(*ldap.Conn) error
	r := &rawResult{Batch: batch, InFlight: inFlight}
	n := 0
	for _, ch := range changes {
		switch ch.Action {
		case plan.Create:
			req := ldap.NewAddRequest(move(ch.DN), nil)
			req.Attribute("objectClass", []string{"group"})
			for _, a := range ch.Attrs {
				v := a.After
				switch strings.ToLower(a.Name) {
				case "samaccountname":
					n++
					v = []string{fmt.Sprintf("%s%07d", tag, n)}
				case "msds-externaldirectoryobjectid", "admindescription":
					v = []string{tag + "_" + strings.TrimPrefix(v[0], "Group_")}
				}
				if len(v) > 0 {
					req.Attribute(a.Name, v)
				}
			}
			creates = append(creates, func(c *ldap.Conn) error {
				if err := c.Add(req); err != nil {
					return fmt.Errorf("raw create %s: %w", req.DN, err)
				}
				return nil
			})
			r.Creates++
		case plan.AddMembers:
			var mods []*ldap.ModifyRequest
			for i := 0; i < len(ch.Members); i += batch {
				vals := ch.Members[i:min(i+batch, len(ch.Members))]
				moved := make([]string, len(vals))
				for j, v := range vals {
					moved[j] = move(v)
				}
				m := ldap.NewModifyRequest(move(ch.DN), nil)
				m.Add("member", moved)
				mods = append(mods, m)
				r.MemberWrites++
				r.MemberValues += len(vals)
			}
			adds = append(adds, func(c *ldap.Conn) error {
				for _, m := range mods {
					if err := c.Modify(m); err != nil {
						return fmt.Errorf("raw add members %s: %w", m.DN, err)
					}
				}
				return nil
			})
		}
	}
	c, err := d.dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	cs := make([]*ldap.Conn, inFlight) // the same connection, used by inFlight goroutines
	for i := range cs {
		cs[i] = c
	}
	start := time.Now()
	if err := runParallel(ctx, cs, creates); err != nil {
		return nil, err
	}
	r.CreatesSeconds = secs(time.Since(start))
	if err := runParallel(ctx, cs, adds); err != nil {
		return nil, err
	}
	r.Seconds = secs(time.Since(start))
	return r, nil
}

// runParallel runs jobs on the connections (which may repeat one
// connection), one job at a time per entry.
func runParallel(ctx context.Context, cs []*ldap.Conn, jobs []func(*ldap.Conn) error) error {
	work := make(chan func(*ldap.Conn) error)
	errs := make(chan error, len(cs))
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range work {
				if err := job(c); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
	for _, job := range jobs {
		if err = ctx.Err(); err != nil {
			break
		}
		select {
		case work <- job:
		case err = <-errs:
		}
		if err != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err != nil {
		return err
	}
	return <-errs
}

// oneRound runs `writeback run --once` and reads the round's counters from its JSON log.
func oneRound(ctx context.Context, bin string, emu *emulator.Running, cfg string, dirPID int) (*roundResult, error) {
	st0 := emu.Server.Stats()
	d0 := processCPU(dirPID)
	e0 := selfCPU()
	t0 := time.Now()
	_, errOut, rss, err := runWB(ctx, bin, nil, "run", "--once", "--config", cfg)
	if err != nil {
		return nil, err
	}
	wall, e1 := time.Since(t0), selfCPU() // before reading /proc, which is this process's work
	r := &roundResult{WallSeconds: secs(wall), GraphReqs: emu.Server.Stats().GraphRequests - st0.GraphRequests, PeakRSSMiB: rss.MiB, PeakSplit: rss.Split(),
		CPU: &roundCPU{Writeback: rss.CPUSeconds, Directory: processCPU(dirPID) - d0, Emulator: e1 - e0}}
	found := false
	for _, line := range strings.Split(string(errOut), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if msg, _ := m["msg"].(string); !strings.HasPrefix(msg, "round") {
			continue
		}
		found = true
		r.LDAPSearches += int64(num(m["ldapSearches"]))
		r.LDAPWrites += int64(num(m["ldapWrites"]))
		if sec, ok := m["durationSeconds"].(float64); ok {
			r.RoundSeconds += sec
		} else if dur, ok := m["duration"].(string); ok { // versions before durationSeconds
			if d, err := time.ParseDuration(dur); err == nil {
				r.RoundSeconds += secs(d)
			}
		} else {
			r.RoundSeconds += num(m["duration"]) / 1e9
		}
	}
	if !found {
		return r, fmt.Errorf("run --once logged no round line:\n%s", tailBytes(errOut, 2000))
	}
	return r, nil
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// latency starts the daemon and times single member adds made in the
// emulator until each is readable in AD.
func latency(ctx context.Context, o options, d *dirInfo, emu *emulator.Running, tf emulator.TenantFile, changes []plan.Change, cfg string, anchors []emulator.Anchor) (*latencyResult, error) {
	groupDN := map[string]string{}
	for _, ch := range changes {
		if ch.Action == plan.Create {
			groupDN[ch.GroupID] = ch.DN
		}
	}
	userDN := map[string]string{} // tenant user ID -> AD DN, for users that resolve
	byGUID := map[string]string{}
	for _, a := range anchors {
		byGUID[strings.ToLower(a.GUID)] = a.DN
	}
	var users []string
	for _, u := range tf.Users {
		if dn, ok := byGUID[strings.ToLower(u.OnPremisesObjectIdentifier)]; ok && u.OnPremisesObjectIdentifier != "" {
			userDN[u.ID] = dn
			users = append(users, u.ID)
		}
	}
	var groups []string
	for id := range groupDN {
		groups = append(groups, id)
	}
	sort.Strings(groups)
	if len(groups) == 0 || len(users) == 0 {
		return nil, errors.New("latency: no provisioned groups or resolvable users")
	}
	dmn, err := startDaemon(ctx, o, cfg, "daemon.log")
	if err != nil {
		return nil, err
	}
	defer dmn.stop()
	c, err := d.dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	time.Sleep(o.interval + time.Second) // let the daemon open its sessions and do its first (empty) round
	rng := rand.New(rand.NewPCG(1, 2))
	r := &latencyResult{Changes: o.changes, Interval: o.interval.Seconds()}
	t := emu.Server.Tenant()
	for i := 0; i < o.changes; i++ {
		// spread the changes over the poll cycle, as real changes are
		if err := sleep(ctx, time.Duration(rng.Int64N(int64(o.interval)))); err != nil {
			return nil, err
		}
		var g, u string
		for tries := 0; ; tries++ {
			g, u = groups[rng.IntN(len(groups))], users[rng.IntN(len(users))]
			cur, ok := t.Group(g)
			if ok && !contains(cur.Members, u) {
				break
			}
			if tries > 100 {
				return nil, errors.New("latency: no group/user pair found")
			}
		}
		if err := t.AddMembers(g, u); err != nil {
			return nil, fmt.Errorf("emulator add member: %w", err)
		}
		t0 := time.Now()
		for {
			ok, err := memberVisible(c, groupDN[g], userDN[u])
			if err != nil {
				return nil, fmt.Errorf("poll %s: %w", groupDN[g], err)
			}
			if ok {
				r.All = append(r.All, time.Since(t0).Seconds())
				break
			}
			if time.Since(t0) > 60*time.Second {
				r.TimedOut++
				break
			}
			if err := sleep(ctx, 20*time.Millisecond); err != nil {
				return nil, err
			}
		}
	}
	dmn.finish(r)
	r.summarise()
	return r, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// pct is the nearest-rank percentile of sorted values.
func pct(sorted []float64, p float64) float64 {
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// withConn runs fn on a fresh bound connection.
func withConn(d *dirInfo, fn func(*ldap.Conn) error) error {
	c, err := d.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// rawPasses measures the raw directory limit: the plan's LDAP work replayed
// by a plain go-ldap loop, each pass from the same directory (restoreFirst:
// the directory has been written since it was restored). It returns the
// fastest pass (nil when skipped) and records every pass in res.RawRuns.
func rawPasses(ctx context.Context, o options, d *dirInfo, p plan.Plan, res *sizeResult, fresh func() error, restoreFirst bool, logf func(string, ...any)) (*rawResult, error) {
	if o.skipRaw {
		return nil, nil
	}
	// The directory's limit is the faster of one connection and
	// writeback's parallelism: which wins depends on the DC and the load.
	workers := o.workers
	if workers == 0 {
		workers = 4 // writeback's default sync.workers
	}
	passes := []int{1, workers}
	if o.rawInFlight > 0 {
		passes = []int{o.rawInFlight}
	}
	var best *rawResult
	for i, inFlight := range passes {
		if i > 0 && inFlight == 1 {
			break
		}
		if i > 0 || restoreFirst {
			if err := fresh(); err != nil {
				return nil, err
			}
		}
		ou := fmt.Sprintf("OU=RawBench%d,%s", inFlight, d.Base)
		if err := withConn(d, func(c *ldap.Conn) error { return addOU(c, ou) }); err != nil {
			return nil, err
		}
		logf("raw loop, 1 connection, %d request(s) in flight: %d creates, %d member adds", inFlight, p.Summary.Create, p.Summary.MemberAdds)
		r, err := rawReplay(ctx, d, p.Changes, ou, fmt.Sprintf("raw%d", inFlight), 1000, inFlight)
		if err != nil {
			return nil, err
		}
		logf("raw, %d in flight: %.1fs", inFlight, r.Seconds)
		res.RawRuns = append(res.RawRuns, *r)
		if best == nil || r.Seconds < best.Seconds {
			best = r
		}
	}
	return best, nil
}

// daemon is a `writeback run` the bench measures while it works, its
// output in a log file beside the configuration.
type daemon struct {
	cmd  *exec.Cmd
	peak func() memPeak
	stop context.CancelFunc
	log  *os.File
}

// startDaemon starts `writeback run --config cfg`, logging to logName.
func startDaemon(ctx context.Context, o options, cfg, logName string) (*daemon, error) {
	dctx, stop := context.WithCancel(ctx)
	cmd, peak := measuredCommand(dctx, o.bin, "run", "--config", cfg)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	logFile, err := os.Create(filepath.Join(filepath.Dir(cfg), logName))
	if err != nil {
		stop()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		stop()
		logFile.Close()
		return nil, fmt.Errorf("start writeback run: %w", err)
	}
	return &daemon{cmd: cmd, peak: peak, stop: stop, log: logFile}, nil
}

// finish stops the daemon (SIGTERM) and records its peak memory in r.
func (d *daemon) finish(r *latencyResult) {
	d.stop()
	err := d.cmd.Wait()
	d.log.Close()
	m := d.peak()
	r.PeakRSSMiB, r.PeakSplit = m.MiB, m.Split()
	if err != nil && d.cmd.ProcessState != nil && !d.cmd.ProcessState.Success() {
		slog.Warn("writeback run exited with an error", "err", err)
	}
}

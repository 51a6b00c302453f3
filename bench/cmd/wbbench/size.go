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
	res := &sizeResult{Size: s, Setup: map[string]any{}}
	work := filepath.Join(o.work, s.Name)
	if err := os.RemoveAll(work); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%s %s] %s\n", time.Now().Format("15:04:05"), s.Name, fmt.Sprintf(format, a...))
	}

	// 1. A fresh, pristine lab instance.
	t0 := time.Now()
	lo := lab.Options{Dir: o.labDir, Addr: o.labAddr, Log: io.Discard}
	if _, err := lab.Up(ctx, lo); err != nil {
		return nil, err
	}
	// Sizes with many users start from a snapshot of pristine + users, taken
	// the first time: creating them is setup, not what is measured.
	seeded := s.ADUsers >= seedAbove && lab.HasSnapshot(lo, s.Name)
	var (
		l   *lab.Lab
		err error
	)
	if seeded {
		logf("restoring snapshot %q (pristine lab + %d users)", s.Name, s.ADUsers)
		l, err = lab.RestoreSnapshot(ctx, lo, s.Name)
	} else {
		l, err = lab.Reset(ctx, lo)
	}
	if err != nil {
		return nil, err
	}
	res.Setup["labResetSeconds"] = secs(time.Since(t0))
	res.Setup["usersFromSnapshot"] = seeded
	d, err := newDirInfo(l.Env)
	if err != nil {
		return nil, err
	}
	c, err := d.dial()
	if err != nil {
		return nil, err
	}
	usersOU := "OU=BenchUsers," + d.Base
	migA := "OU=CSyncPrepare," + d.Base
	migB := "OU=CSyncGuide," + d.Base
	for _, ou := range []string{usersOU, migA, migB, d.TargetOU} {
		if err := addOU(c, ou); err != nil {
			c.Close()
			return nil, err
		}
	}
	c.Close()

	// 2. AD users the tenant's synced users point at.
	t0 = time.Now()
	var anchors []emulator.Anchor
	switch {
	case seeded:
		anchors, err = readUsers(d, usersOU)
	case s.ADUsers >= seedAbove:
		logf("seeding %d AD users into the stopped DC, then saving snapshot %q", s.ADUsers, s.Name)
		err = lab.SeedUsers(ctx, lo, lab.Seed{OU: usersOU, Prefix: "Bench User ", SAMPrefix: "bu", Digits: 7, From: 0, To: s.ADUsers})
		if err == nil {
			err = lab.SaveSnapshot(ctx, lo, s.Name)
		}
		if err == nil {
			anchors, err = readUsers(d, usersOU)
		}
	default:
		logf("creating %d AD users", s.ADUsers)
		anchors, err = createUsers(ctx, d, usersOU, s.ADUsers)
	}
	if err != nil {
		return nil, err
	}
	if len(anchors) != s.ADUsers {
		return nil, fmt.Errorf("%d AD users under %s, want %d (remove the snapshot %q of %s to seed again)", len(anchors), usersOU, s.ADUsers, s.Name, o.labDir)
	}
	res.Setup["adUsersSeconds"] = secs(time.Since(t0))
	logf("created %d AD users in %s", len(anchors), time.Since(t0).Round(time.Millisecond))
	// Every measured write pass starts from this same directory: Samba's adds
	// slow down as the directory grows, so a pass run after another's 10,000
	// groups would be measured against a bigger DC.
	if !seeded && s.ADUsers < seedAbove {
		if err := lab.SaveSnapshot(ctx, lo, s.Name); err != nil {
			return nil, err
		}
	}
	fresh := func() error {
		if _, err := lab.RestoreSnapshot(ctx, lo, s.Name); err != nil {
			return err
		}
		return withConn(d, func(c *ldap.Conn) error {
			for _, ou := range []string{usersOU, migA, migB, d.TargetOU} {
				if err := addOU(c, ou); err != nil {
					return err
				}
			}
			return nil
		})
	}

	// 3. The synthetic tenant.
	t0 = time.Now()
	tf, err := emulator.Generate(emulator.GenOptions{Groups: s.Groups, Users: s.Users, Memberships: s.Memberships,
		Nested: s.Nested, Largest: s.Largest, CloudOnlyRatio: 0.05, Seed: 7, Anchors: anchors})
	if err != nil {
		return nil, err
	}
	res.Setup["generateSeconds"] = secs(time.Since(t0))

	// 4. The emulator, in this process (its CPU is not writeback's).
	emu, stopEmu, err := serveTenant(ctx, work, tf)
	if err != nil {
		return nil, err
	}
	defer stopEmu()
	cfg := configFiles{work: work, env: l.Env, emu: emu, interval: o.interval, workers: o.workers, memLimit: o.memLimit}
	mainCfg, err := cfg.write("writeback.yaml", "state.db", "24h", true)
	if err != nil {
		return nil, err
	}
	planCfg, err := cfg.write("plan.yaml", "plan.db", "24h", true)
	if err != nil {
		return nil, err
	}
	// fullReconcile = interval: the full round is due whenever the last one is older than that.
	fullCfg, err := cfg.write("full.yaml", "state.db", o.interval.String(), true)
	if err != nil {
		return nil, err
	}

	// 5. The plan (dry run, separate state): the LDAP work both the raw loop and apply do.
	logf("plan")
	out, _, _, err := runWB(ctx, o.bin, nil, "plan", "--json", "--full", "--config", planCfg)
	if err != nil && exitCode(err) != 2 {
		return res, fmt.Errorf("writeback plan: %w", err)
	}
	var planned struct {
		Plan plan.Plan `json:"plan"`
	}
	if err := json.Unmarshal(out, &planned); err != nil {
		return res, fmt.Errorf("parse plan --json: %w", err)
	}
	p := planned.Plan
	res.Setup["plan"] = p.Summary
	res.Setup["syncWorkers"] = o.workers // 0: writeback's default (4)

	// 6 and 7, repeated: the raw directory limit, then writeback's first sync,
	// each from the same directory. Small sizes take seconds, where one
	// noisy pass moves the ratio by a third: they run several rounds and
	// report the median round (all rounds are kept).
	reps := o.repeat
	if reps == 0 {
		reps = 1
		if s.Groups <= 1000 {
			reps = 3
		}
	}
	if o.skipRaw {
		reps = 1
	}
	for rep := range reps {
		raw, err := rawPasses(ctx, o, d, p, res, fresh, rep > 0, logf)
		if err != nil {
			return res, err
		}
		// 7. First full sync with writeback apply, on the directory the raw loop started from.
		if raw != nil {
			if err := fresh(); err != nil {
				return res, err
			}
		}
		if rep > 0 { // a first sync: no state from the previous round
			_ = os.Remove(filepath.Join(work, "state.db"))
		}
		st0 := emu.Server.Stats()
		logf("writeback apply")
		t0 = time.Now()
		out, errOut, rss, err := runWB(ctx, o.bin, nil, "apply", "--yes", "--config", mainCfg)
		wall := time.Since(t0)
		if err != nil && !(exitCode(err) == 1 && bytes.Contains(out, []byte("Apply complete:"))) {
			return res, fmt.Errorf("writeback apply: %w\n%s", err, tailBytes(out, 2000))
		}
		fs := &syncResult{Seconds: secs(wall), PeakRSSMiB: rss.MiB, PeakSplit: rss.Split(),
			GraphReqs: emu.Server.Stats().GraphRequests - st0.GraphRequests, Unresolved: p.Summary.Unresolved, PlanChanges: len(p.Changes)}
		fmt.Sscanf(afterLast(string(out), "groups failed, "), "%d LDAP writes", &fs.LDAPWrites)
		fmt.Sscanf(afterLast(string(out), "changes applied, "), "%d groups failed", &fs.Failed)
		if d, err := time.ParseDuration(strings.TrimSuffix(strings.Fields(afterLast(string(out), " LDAP writes in ") + " x")[0], ".")); err == nil {
			fs.ApplyPhaseSeconds = secs(d)
		}
		if raw != nil && raw.Seconds > 0 {
			fs.RatioToRaw = secs(wall) / raw.Seconds
		}
		_ = os.WriteFile(filepath.Join(work, "apply.out"), out, 0o644)
		_ = os.WriteFile(filepath.Join(work, "apply.log"), errOut, 0o644) // its phase timings
		if rep == reps-1 {
			for _, line := range strings.Split(afterLast(string(out), "Apply complete:"), "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "! group") {
					res.Notes = append(res.Notes, "first sync: "+strings.TrimSpace(line))
				}
			}
		}
		logf("apply %.1fs (%.2fx raw), %d writes, %.0f MiB", fs.Seconds, fs.RatioToRaw, fs.LDAPWrites, fs.PeakRSSMiB)
		res.Repeats = append(res.Repeats, repeatResult{Raw: raw, FirstSync: fs})
	}
	// The median round by ratio (by time without a raw loop) stands for the size.
	med := slices.Clone(res.Repeats)
	slices.SortFunc(med, func(a, b repeatResult) int { return cmp.Compare(a.rank(), b.rank()) })
	res.Raw, res.FirstSync = med[len(med)/2].Raw, med[len(med)/2].FirstSync
	if len(res.Repeats) == 1 {
		res.Repeats = nil
	}

	// 8. No-change rounds: incremental (the daemon's every-interval round) and full.
	if res.NoChange, err = oneRound(ctx, o.bin, emu, mainCfg, l.PID()); err != nil {
		return res, err
	}
	time.Sleep(o.interval)
	if res.NoChangeFull, err = oneRound(ctx, o.bin, emu, fullCfg, l.PID()); err != nil {
		return res, err
	}
	logf("no-change: incremental %+v; full %+v", *res.NoChange, *res.NoChangeFull)
	if o.hold {
		logf("holding: emulator at %s; configs %s (incremental), %s (full round); AD at %s. Ctrl-C ends.", emu.URL, mainCfg, fullCfg, l.Env["LAB_LDAPS_URL"])
		<-ctx.Done()
		return res, ctx.Err()
	}

	// 9. Incremental latency with the daemon running.
	if res.Latency, err = latency(ctx, o, d, emu, tf, p.Changes, mainCfg, anchors); err != nil {
		return res, err
	}
	logf("latency p50 %.2fs p95 %.2fs max %.2fs", res.Latency.P50, res.Latency.P95, res.Latency.Max)

	// 9b. Repair latency: edits made by hand in AD, undone by the daemon.
	if o.repairEdits > 0 {
		if res.Repair, err = repairLatency(ctx, o, d, p.Changes, mainCfg, anchors); err != nil {
			return res, err
		}
		logf("repair latency p50 %.2fs p95 %.2fs max %.2fs, %d timed out", res.Repair.P50, res.Repair.P95, res.Repair.Max, res.Repair.TimedOut)
	}

	// 10. Profiles of a full no-change round of the writeback process
	// (largest size only), through writeback's WRITEBACK_*PROFILE.
	if profile {
		prefix := filepath.Join(o.out, "profile-"+s.Name)
		files := []string{prefix + ".cpu.pprof", prefix + ".heap.pprof"}
		env := []string{"WRITEBACK_CPUPROFILE=" + files[0], "WRITEBACK_HEAPPROFILE=" + files[1]}
		if _, _, _, err := runWBEnv(ctx, o.bin, env, nil, "run", "--once", "--config", fullCfg); err != nil {
			res.Notes = append(res.Notes, "profile failed: "+err.Error())
		} else {
			res.Profiles = files
		}
	}
	stopEmu()

	// 11. Migration prepare against the guide's one-modify-per-group way.
	if s.MigGroups == 0 {
		res.Notes = append(res.Notes, "migration prepare: measured at M (10,000 groups, the count issue 7 names), not repeated here")
	} else if !o.skipMig {
		migCfg, err := cfg.write("migrate.yaml", "migrate.db", "24h", false)
		if err != nil {
			return res, err
		}
		if res.Migration, err = migration(ctx, o, d, s.MigGroups, migA, migB, migCfg, work); err != nil {
			return res, err
		}
		logf("migration prepare %.1fs vs per-connection %.1fs (%.1fx) vs per-process ~%.1fs (%.1fx)", res.Migration.PrepareSeconds,
			res.Migration.PerConnSeconds, res.Migration.RatioConn, res.Migration.ProcessExtrapol, res.Migration.RatioProcess)
	}
	return res, nil
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
	dctx, stopDaemon := context.WithCancel(ctx)
	defer stopDaemon()
	cmd, peak := measuredCommand(dctx, o.bin, "run", "--config", cfg)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	logFile, err := os.Create(filepath.Join(filepath.Dir(cfg), "daemon.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start writeback run: %w", err)
	}
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
	stopDaemon()
	err = cmd.Wait()
	m := peak()
	r.PeakRSSMiB, r.PeakSplit = m.MiB, m.Split()
	if err != nil && cmd.ProcessState != nil && !cmd.ProcessState.Success() {
		slog.Warn("writeback run exited with an error", "err", err)
	}
	sorted := append([]float64(nil), r.All...)
	sort.Float64s(sorted)
	if n := len(sorted); n > 0 {
		r.P50 = round2(pct(sorted, 0.50))
		r.P95 = round2(pct(sorted, 0.95))
		r.Max = round2(sorted[n-1])
	}
	for i := range r.All {
		r.All[i] = round2(r.All[i])
	}
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

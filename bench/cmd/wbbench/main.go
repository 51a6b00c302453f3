// Command wbbench measures writeback against a fresh Samba lab instance and
// the Graph emulator (issue 7): the directory's raw write limit, the first
// full sync, a no-change round, incremental latency, peak memory and
// migration prepare. It is a benchmark, not a test: it writes JSON and
// Markdown results to bench/results/. See bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type sizeSpec struct {
	Name        string `json:"name"`
	Groups      int    `json:"groups"`
	Memberships int    `json:"memberships"`
	Users       int    `json:"users"`   // users in the tenant
	ADUsers     int    `json:"adUsers"` // of those, created in AD (the rest of the synced ones do not resolve)
	Nested      int    `json:"nested"`
	Largest     int    `json:"largest"`
	MigGroups   int    `json:"migrationGroups"` // Connect-Sync-style groups per migration method
}

var sizes = map[string]sizeSpec{
	"XS": {Name: "XS", Groups: 100, Memberships: 1000, Users: 300, ADUsers: 250, Nested: 10, Largest: 100, MigGroups: 200},
	"S":  {Name: "S", Groups: 1000, Memberships: 10000, Users: 2000, ADUsers: 1800, Nested: 50, Largest: 1000, MigGroups: 1000},
	"M":  {Name: "M", Groups: 10000, Memberships: 100000, Users: 10000, ADUsers: 9000, Nested: 500, Largest: 5000, MigGroups: 10000},
	"L":  {Name: "L", Groups: 20000, Memberships: 500000, Users: 300000, ADUsers: 270000, Nested: 500, Largest: 250000, MigGroups: 0},
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == runnerArg {
		os.Exit(runnerMain(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "wbbench:", err)
		os.Exit(1)
	}
}

type options struct {
	sizes     []string
	labDir    string
	labAddr   string
	out       string
	work      string
	bin       string
	changes   int
	interval  time.Duration
	migSample int
	profile   bool
	skipMig   bool
	probe     bool
	workers   int
	skipRaw   bool
	hold      bool
	// rawInFlight > 0 measures the raw loop with only that many requests
	// in flight (at L one pass is ~40 min of Samba's time).
	rawInFlight int
	memLimit    string
	repeat      int
	// repairEdits are the edits made by hand in AD whose repair is timed
	// (issue 20 item 4); 0 skips the measurement.
	repairEdits int
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("wbbench", flag.ContinueOnError)
	var o options
	size := fs.String("size", "S", "comma-separated sizes to run: XS (smoke), S, M, L")
	fs.StringVar(&o.labDir, "lab-dir", "/var/tmp/wb-bench", "lab directory of the bench's own Samba instance (never the default lab)")
	fs.StringVar(&o.labAddr, "lab-addr", "127.0.0.3", "loopback address of the bench's Samba instance")
	fs.StringVar(&o.out, "out", "bench/results", "results `DIR`")
	fs.StringVar(&o.work, "work", "/var/tmp/wb-bench-work", "scratch `DIR` (tenant files, configs, state)")
	fs.StringVar(&o.bin, "bin", "", "writeback binary (default: built from ./cmd/writeback into the work dir)")
	fs.IntVar(&o.changes, "changes", 100, "incremental changes to time (issue 7 asks for 100)")
	fs.DurationVar(&o.interval, "interval", 2*time.Second, "sync.interval of the daemon during the latency test")
	fs.IntVar(&o.repairEdits, "repair-edits", 50, "edits made by hand in AD to owned groups (member added, description changed) whose repair by the daemon is timed (issue 20 asks for 50; 0 skips)")
	fs.IntVar(&o.migSample, "mig-process-sample", 50, "groups done with one ldapmodify process each (the rest is extrapolated)")
	fs.BoolVar(&o.profile, "profile", true, "write CPU and heap profiles of an in-process full round for the largest size")
	fs.IntVar(&o.workers, "workers", 0, "sync.workers for writeback (0: writeback's default)")
	fs.BoolVar(&o.skipMig, "skip-migration", false, "skip the migration prepare measurement")
	fs.IntVar(&o.rawInFlight, "raw-inflight", 0, "measure the raw loop only with `N` requests in flight (default: both 1 and sync.workers, the faster counts)")
	fs.IntVar(&o.repeat, "repeat", 0, "rounds of raw limit + first sync per size, the median round reported (default: 3 up to 1,000 groups, else 1)")
	fs.StringVar(&o.memLimit, "memory-limit", "", "sync.memoryLimit for writeback (default: writeback's own)")
	fs.BoolVar(&o.skipRaw, "skip-raw", false, "skip the raw directory loop (no ratio; for iterating on writeback itself)")
	fs.BoolVar(&o.hold, "hold", false, "after the no-change rounds, print the configs and keep the emulator serving until interrupted (for profiling writeback by hand)")
	fs.BoolVar(&o.probe, "plan-probe", false, "only a memory probe: no AD users (every member unresolvable), time and peak RSS of 'writeback plan --full' over the tenant")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: go run ./bench/cmd/wbbench [flags]

Brings up (or resets to pristine) a separate Samba lab instance, creates the
AD users, generates a synthetic tenant, serves it with the Graph emulator and
measures writeback (issue 7). Needs root (Samba lab).

Examples:
  go run ./bench/cmd/wbbench -size S
  go run ./bench/cmd/wbbench -size S,M -changes 50

Flags:
`)
		fs.PrintDefaults()
	}
	render := fs.String("render", "", "only print the Markdown table of a results `FILE` (.json) again")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *render != "" {
		b, err := os.ReadFile(*render)
		if err != nil {
			return err
		}
		var r report
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", *render, err)
		}
		fmt.Print(markdown(r))
		return nil
	}
	o.sizes = strings.Split(*size, ",")
	for _, s := range o.sizes {
		if _, ok := sizes[s]; !ok {
			return fmt.Errorf("-size %q: want XS, S, M or L", s)
		}
	}
	if os.Getenv("WRITEBACK_LAB_DIR") != "" || os.Getenv("WRITEBACK_LAB_ADDR") != "" {
		slog.Info("ignoring WRITEBACK_LAB_DIR/ADDR: the bench uses -lab-dir/-lab-addr")
	}
	if o.labDir == "/var/tmp/writeback-lab" || o.labAddr == "127.0.0.1" {
		return fmt.Errorf("-lab-dir/-lab-addr must select a separate instance, not the default lab (it resets it)")
	}
	if err := os.MkdirAll(o.work, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	if o.bin == "" {
		o.bin = filepath.Join(o.work, "writeback")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", o.bin, "./cmd/writeback")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build writeback: %w", err)
		}
	}
	rep := report{Date: time.Now().UTC(), Machine: machine(), Versions: versions(ctx, o.bin)}
	for i, s := range o.sizes {
		largest := i == len(o.sizes)-1
		run := runSize
		if o.probe {
			run = probeSize
		}
		r, err := run(ctx, o, sizes[s], largest && o.profile)
		if r != nil {
			rep.Runs = append(rep.Runs, *r)
			if werr := writeReport(o.out, rep, o.probe); werr != nil {
				return werr
			}
		}
		if err != nil {
			return fmt.Errorf("size %s: %w", s, err)
		}
	}
	fmt.Println(markdown(rep))
	return nil
}

func machine() map[string]string {
	m := map[string]string{"goos": runtime.GOOS, "goarch": runtime.GOARCH, "cpus": fmt.Sprint(runtime.NumCPU())}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, v, _ := strings.Cut(l, ":")
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		l, _, _ := strings.Cut(string(b), "\n")
		m["memTotal"] = strings.Join(strings.Fields(l)[1:], " ")
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m["loadAtStart"] = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	h, _ := os.Hostname()
	m["host"] = h
	return m
}

func versions(ctx context.Context, bin string) map[string]string {
	v := map[string]string{"go": runtime.Version()}
	if out, err := exec.CommandContext(ctx, bin, "version").Output(); err == nil {
		v["writeback"] = strings.TrimSpace(string(out))
	}
	if out, err := exec.CommandContext(ctx, "samba", "--version").Output(); err == nil {
		v["samba"] = strings.TrimSpace(string(out))
	} else if out, err := exec.CommandContext(ctx, "/usr/sbin/samba", "--version").Output(); err == nil {
		v["samba"] = strings.TrimSpace(string(out))
	}
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		v["commit"] = strings.TrimSpace(string(out))
		if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
			v["commit"] += "+uncommitted"
		}
	}
	return v
}

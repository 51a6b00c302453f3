package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/engine"
	"github.com/writeback/writeback/internal/opsserver"
)

// runArgs are run's flags.
type runArgs struct {
	config       string
	once         bool
	allowDeletes bool
	listen       string
	json         bool // with once: print the round's result as JSON on stdout
}

func parseRunArgs(args []string, stderr io.Writer) (runArgs, error) {
	var a runArgs
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a.config, "config", defaultConfig(), "configuration `FILE` (env WRITEBACK_CONFIG)")
	fs.BoolVar(&a.once, "once", false, "run one round and exit")
	fs.BoolVar(&a.allowDeletes, "allow-deletes", false, "lift the deletion threshold for the first round only")
	asJSON := jsonFlags(fs, "with --once: print the round's result as JSON on stdout")
	fs.StringVar(&a.listen, "listen", "", "serve /metrics, /healthz, /readyz and the status page on `host:port` (default sync.listen; off when neither is set)")
	fs.Usage = func() {
		w := fs.Output() // stdout for -h: see parseFlags
		fmt.Fprint(w, `Usage: writeback run [flags]

The daemon: a full round first (when no delta tokens are stored, or a full
reconcile is due), then incremental rounds from Graph's delta tokens every
sync.interval, and a full reconcile every sync.fullReconcile. Each round also
asks the DC (one search) for the owned groups changed in AD since the last
round and repairs edits made by hand to them (members, managed attributes),
logged as repairs; the full reconcile also finds groups deleted or moved out
of sync.searchBase by hand. A group that keeps failing is quarantined with
exponential backoff and does not stop the others. SIGTERM or Ctrl-C finishes
the write in flight and stops cleanly.

A round past safety.deleteThreshold applies nothing and is reported every
round until the deletes are allowed (writeback apply --allow-deletes) or the
tenant is fixed.

With --listen (or sync.listen) it serves, for operations: /metrics for
Prometheus, /healthz (alive), /readyz (a round succeeded within 3 intervals,
AD and Graph reachable) and a status page at / (JSON with Accept:
application/json). See docs/operations.md.

Under systemd (Type=notify) it reports READY=1 once the state is open and
pings the watchdog (WatchdogSec=) between and during rounds.

Examples:
  writeback run --config /etc/writeback/writeback.yaml
  writeback run --once
  writeback run --once -o json > round.json
  writeback run --listen 127.0.0.1:9464

Flags:
`)
		printFlags(fs, w)
	}
	if err := parseNoArgs(fs, args, stderr); err != nil {
		return a, err
	}
	a.json = *asJSON
	if a.json && !a.once {
		// The daemon's rounds are in the log, the metrics and the status page.
		fmt.Fprintln(stderr, "writeback run: -o json needs --once (one round, then its result)")
		fs.Usage()
		return a, errUsage
	}
	return a, nil
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseRunArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	return runCmd(ctx, a, stdout, stderr)
}

// runCmd is the daemon: rounds every interval until ctx ends.
func runCmd(ctx context.Context, a runArgs, stdout, stderr io.Writer) error {
	logOut := stderr
	if isTerminal(stderr) {
		logOut = newTermOut(stderr) // log lines above the live bars
	}
	s, err := openSession(ctx, "run", a.config, logOut)
	if err != nil {
		return err
	}
	defer s.Close()
	o := newOps(s.db, a.config, s.cfg)
	s.ops = o
	stopListener, err := startListener(s, a.listen, o)
	if err != nil {
		return err
	}
	defer stopListener()
	interval := time.Duration(s.cfg.Sync.Interval)
	s.log.Info("writeback running", "version", buildInfo().Version, "interval", interval, "fullReconcile", time.Duration(s.cfg.Sync.FullReconcile), "state", s.db.Path())
	// The state stays open (and locked) for the daemon's life: a second
	// run or apply is refused even between rounds, and 'writeback status'
	// and 'writeback log' ask this process (statesock.go).
	hup := notifyReload()
	defer hup.stop()
	sd := newNotifier(s.log)
	wdCtx, stopWatchdog := context.WithCancel(ctx)
	defer stopWatchdog()
	go sd.watchdog(wdCtx)
	// A long round says how far it is: in the log every 10 s, and on a
	// terminal with a live bar per phase. (The log line keeps the logger
	// of the start: a reload's new format applies to it at the next start.)
	go logProgress(wdCtx, s.log, &s.progress, 10*time.Second)
	if isTerminal(stderr) {
		defer liveBars(logOut, &s.progress)()
	}
	// Ready once the state is open and the listener up, before the first
	// round: a first sync of a large tenant outlasts any start timeout, and
	// its progress is in the log, /readyz and the status page.
	sd.notify("READY=1")
	defer sd.notify("STOPPING=1")
	// A DC restart or a reset connection needs nothing here: the AD
	// connections redial by themselves (and repeat idempotent operations).
	var last *engine.Result // the round's, for --once -o json
	d := &engine.Daemon{
		Round: func(ctx context.Context, full, allow bool) error {
			res, err := leaderRound(ctx, s, full, allow)
			last = res
			return err
		},
		Interval:      func() time.Duration { return time.Duration(s.cfg.Sync.Interval) },
		FullReconcile: func() time.Duration { return time.Duration(s.cfg.Sync.FullReconcile) },
		LastFull:      func() (time.Time, bool, error) { return s.db.LastFull() },
		Once:          a.once,
		AllowDeletes:  a.allowDeletes,
		Reload:        hup.c,
		OnReload: func() {
			s.reload(a.config, s.db.Path())
			o.setConfig(s.cfg)
		},
		Log: func() *slog.Logger { return s.log },
	}
	err = d.Run(ctx)
	if a.json && last != nil {
		// As far as the round got; the exit status and the log say how it ended.
		if jerr := writeJSON(stdout, last); jerr != nil && err == nil {
			err = jerr
		}
	}
	return err
}

// leaderRound is oneRound with a shared (PostgreSQL) state (ha.go): a
// follower waits here until it leads, and the round ends when the lease is
// lost. With a state file it is oneRound.
func leaderRound(ctx context.Context, s *session, full, allow bool) (*engine.Result, error) {
	if err := s.awaitLeadership(ctx); err != nil {
		return nil, err
	}
	rctx, endRound := s.leaderContext(ctx)
	defer endRound()
	return oneRound(rctx, s, full, allow)
}

// oneRound runs a round of the daemon (engine.Daemon decides full), logs it
// and returns its result, as far as it got.
func oneRound(ctx context.Context, s *session, full, allow bool) (*engine.Result, error) {
	start := time.Now()
	if err := s.connect(ctx); err != nil {
		s.log.Error("round skipped", "err", err)
		if s.ops != nil {
			s.ops.observe(start, false, nil, err, true)
		}
		return nil, err
	}
	if err := s.newEngine(ctx); err != nil {
		return nil, err
	}
	res, err := s.eng.RunOnce(ctx, engine.RoundOptions{PlanOptions: engine.PlanOptions{Full: full, AllowDeletes: allow}})
	switch {
	case ctx.Err() != nil:
	case errors.Is(err, engine.ErrBlocked):
		// The engine warned when this set of deletes was first blocked.
		s.log.Debug("round blocked: nothing applied", "err", err)
	case engine.IsDCChanged(err): // hook (issue #20): not a failure of writeback's; the next round reads the new DC
		s.log.Warn("round stopped: the AD connection moved to another domain controller; the next round reads everything again there", "err", err)
	case err != nil:
		s.log.Error("round failed", "err", err)
	default:
		logRound(s, res)
	}
	if s.ops != nil && ctx.Err() == nil {
		s.ops.observe(start, full, res, err, false)
	}
	return res, err
}

// startListener starts the operations listener when --listen or
// sync.listen asks for one; the returned func stops it.
func startListener(s *session, flagAddr string, o *ops) (func(), error) {
	addr := cmp.Or(flagAddr, s.cfg.Sync.Listen)
	if addr == "" {
		return func() {}, nil
	}
	var token string
	if s.cfg.Sync.ListenToken.IsSet() {
		t, err := s.cfg.Sync.ListenToken.Value("sync.listenToken")
		if err != nil {
			return nil, err
		}
		token = t
	} else if !config.ListenLoopback(addr) {
		return nil, fmt.Errorf("--listen %s is reachable from other machines: set sync.listenToken so that only Prometheus and operators with the token read it, or listen on 127.0.0.1", addr)
	}
	srv, err := opsserver.Start(opsserver.Options{Addr: addr, CertFile: s.cfg.Sync.ListenTLS.CertFile, KeyFile: s.cfg.Sync.ListenTLS.KeyFile,
		Token: token, Log: s.log}, o, o.metrics)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if s.cfg.Sync.ListenTLS.CertFile != "" {
		scheme = "https"
	}
	s.log.Info("operations listener", "url", scheme+"://"+srv.Addr()+"/", "metrics", scheme+"://"+srv.Addr()+"/metrics", "token", token != "")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

func logRound(s *session, res *engine.Result) {
	p := res.Planned.Plan
	attrs := []any{"full", res.Planned.Full, "groupsFromGraph", res.Ingested.Groups, "usersFromGraph", res.Ingested.Users,
		"planned", len(res.Planned.Planned), "changes", len(p.Changes), "ldapWrites", res.LDAP.Writes,
		"ldapSearches", res.LDAP.Searches, "durationSeconds", res.Duration.Round(time.Millisecond).Seconds()}
	if res.Planned.Full {
		attrs = append(attrs, "why", p.Basis)
	}
	if res.Applied != nil && res.Applied.Failed > 0 {
		attrs = append(attrs, "failed", res.Applied.Failed)
	}
	if res.Applied != nil && res.Applied.Repaired > 0 {
		attrs = append(attrs, "repaired", res.Applied.Repaired) // edits made by hand in AD undone
	}
	if p.Summary.Unresolved > 0 {
		attrs = append(attrs, "unresolved", p.Summary.Unresolved)
	}
	if len(p.Changes) == 0 && res.Ingested.Groups == 0 && res.Ingested.Users == 0 {
		s.log.Debug("round: no changes", attrs...)
		return
	}
	s.log.Info("round", attrs...)
	for _, c := range p.Changes {
		s.log.Info("change", "action", c.Action, "group", c.GroupID, "name", c.Name, "dn", c.DN, "newDN", c.NewDN, "members", len(c.Members))
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/engine"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/mapping"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/resolve"
	"github.com/writeback/writeback/internal/scope"
	"github.com/writeback/writeback/internal/state"
)

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plan", `Usage: writeback plan [flags]

Shows what a sync would change in AD, without changing anything: per group
the attributes before -> after, members to add and remove, unresolved members
and name collisions, then a summary line. Reading Graph's changes is recorded
in the state file, so the next apply still knows about them; so, like apply,
plan is refused while another process (writeback run) holds the state.

Exit status: 0 no changes, 2 changes present or groups that cannot be written
(collisions, skips), 1 error or blocked plan (as terraform plan -detailed-exitcode).

Examples:
  writeback plan --config writeback.yaml
  writeback plan --json > plan.json
  writeback plan -out tonight.plan && writeback apply tonight.plan
`, stderr)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	out := fs.String("out", "", "save the plan to `FILE` for 'writeback apply FILE'")
	full := fs.Bool("full", false, "plan every group (full reconcile), not only those changed since the last round")
	var groups listFlag
	fs.Var(&groups, "group", "plan only this Entra group `ID` (repeatable)")
	if err := parseNoArgs(fs, args, stderr); err != nil {
		return err
	}
	s, err := openSession(ctx, "plan", *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.eng.RunOnce(ctx, engine.RoundOptions{DryRun: true, PlanOptions: engine.PlanOptions{Full: *full, Groups: groups}})
	if err != nil {
		return err
	}
	p := res.Planned
	if *out != "" {
		if err := s.eng.SavePlan(*out, p); err != nil {
			return err
		}
	}
	if *asJSON {
		if err := engine.WritePlannedJSON(stdout, p); err != nil {
			return err
		}
	} else {
		if err := writePlanned(stdout, p); err != nil {
			return err
		}
		if *out != "" {
			fmt.Fprintf(stdout, "\nSaved the plan to %s. To apply exactly this plan: writeback apply %s\n", *out, *out)
		}
	}
	if p.Plan.Blocked {
		return withExitCode(1, errors.New(p.Plan.BlockedReason))
	}
	// A group that cannot be written (a collision, a protected object, a
	// place outside sync.searchBase) is a difference from the configuration
	// too: "exit 0" must mean AD matches what was compared.
	if !p.Plan.Empty() || len(p.Plan.Collisions) > 0 {
		return withExitCode(2, nil)
	}
	return nil
}

// writePlanned prints a plan and the groups that could not be planned.
func writePlanned(w io.Writer, p *engine.Planned) error {
	if err := plan.WriteText(w, p.Plan); err != nil {
		return err
	}
	for _, e := range p.Errors {
		fmt.Fprintf(w, "Error: group %s: %s: %s\n", e.GroupID, e.Step, e.Error)
	}
	for _, u := range p.Untouched {
		fmt.Fprintf(w, "Note: %s\n", u.Reason)
	}
	if n := len(p.Quarantined); n > 0 {
		fmt.Fprintf(w, "Skipped %d quarantined group(s); see writeback status.\n", n)
	}
	return nil
}

// session is what plan, apply, run and provision share: config, state, AD
// connections, the Graph client and the engine.
type session struct {
	cfg    *config.Config
	db     *state.DB
	dc, gc *ad.Conn
	src    *entra.Client
	eng    *engine.Engine
	log    *slog.Logger
	// resolver keeps resolved members across the daemon's rounds.
	resolver *resolve.Resolver
	// logOut is where the logger writes (a reloaded configuration makes a new logger).
	logOut io.Writer
	// lock is this process's claim on the state, held until Close; srv
	// answers status and log meanwhile (see statesock.go).
	lock *state.Lock
	srv  *stateServer
	// leader is this process's candidacy with a PostgreSQL state (ha.go);
	// stopKeep ends its renewals.
	leader   *state.Leader
	stopKeep context.CancelFunc
	// ops, for the daemon only, receives each round (metrics, readiness).
	ops *ops
	// progress counts the work of the engine's rounds as they run.
	progress engine.Progress
}

// connect makes the connections the session does not have yet: all of them
// at first, and after a reload those whose settings changed.
func (s *session) connect(ctx context.Context) error {
	var err error
	if s.dc == nil {
		if s.dc, err = ad.Dial(ctx, s.cfg.AD); err != nil {
			return fmt.Errorf("connect to AD: %w", err)
		}
		s.dc.SetLogger(s.log)
	}
	if s.gc == nil {
		if s.gc, err = ad.DialGC(ctx, s.cfg.AD); err != nil {
			return fmt.Errorf("connect to the Global Catalog: %w", err)
		}
		s.gc.SetLogger(s.log)
	}
	if s.src == nil {
		props, err := graphProperties(s.cfg)
		if err != nil {
			return err
		}
		if s.src, err = entra.New(ctx, *s.cfg.Entra, entra.WithLogger(s.log), entra.WithGroupProperties(props...)); err != nil {
			return fmt.Errorf("connect to Entra: %w", err)
		}
	}
	return nil
}

// graphProperties are the group properties the mappings and scoping filters
// read, which Graph must be asked for by name ($select): a mapping on
// [classification] or [extension_<appId>_<name>] would otherwise get nothing.
func graphProperties(cfg *config.Config) ([]string, error) {
	m, err := mapping.Compile(cfg.Mappings, "OU=placeholder")
	if err != nil {
		return nil, err
	}
	sc, err := scope.New(cfg.Scope)
	if err != nil {
		return nil, err
	}
	return append(m.Properties(), sc.Properties()...), nil
}

func (s *session) Close() {
	s.srv.Close()
	s.closeLeader() // HA (ha.go): hand the lease over
	if s.db != nil {
		s.db.Close()
	}
	s.lock.Release()
	if s.gc != nil {
		s.gc.Close()
	}
	if s.dc != nil {
		s.dc.Close()
	}
}

// openSession opens what command (run, apply, plan, ...) needs. The state is
// claimed for the session's life: a second process on the same state is
// refused at once, naming this one. plan claims it too: it records Graph's
// delta links in the state.
func openSession(ctx context.Context, command, cfgPath string, stderr io.Writer) (*session, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	if cfg.Entra == nil {
		return nil, fmt.Errorf("config %s: the entra section is required to provision (run 'writeback init' for an example)", cfgPath)
	}
	s := &session{cfg: cfg, log: newLogger(cfg.Log, stderr), logOut: stderr}
	applyMemoryLimit(cfg.Sync, s.log)
	for _, w := range cfg.LooseSecretFiles() {
		s.log.Warn("secret file permissions too open", "problem", w)
	}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	// The state file (locked) or PostgreSQL (HA: ha.go).
	if err := s.openState(ctx, command); err != nil {
		return nil, err
	}
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	if err := s.newEngine(ctx); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

func (s *session) newEngine(ctx context.Context) error {
	if s.resolver == nil {
		s.resolver = resolve.New(nil) // the engine sets its directory
	}
	eng, err := engine.New(ctx, engine.Options{Config: s.cfg, State: s.db, DC: s.dc, GC: s.gc, Source: s.src, Logger: s.log, Resolver: s.resolver})
	if err != nil {
		return err
	}
	eng.SetProgress(&s.progress)
	s.eng = eng
	return nil
}

// statePath resolves state.path relative to the config file's directory.
func statePath(cfg *config.Config) string {
	p := cfg.State.Path
	if filepath.IsAbs(p) || cfg.Path == "" || cfg.Path == "-" {
		return p
	}
	return filepath.Join(filepath.Dir(cfg.Path), p)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// newFlagSet starts a subcommand's flags; usage is printed above the flag list
// on -h and on bad arguments.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fmt.Fprint(stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseNoArgs parses the flags of a subcommand that takes no positional
// arguments. Its errors are errUsage; a -h also matches flag.ErrHelp, for the
// commands that treat asking for help as success.
func parseNoArgs(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "writeback %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// applyMemoryLimit sets sync.memoryLimit as the Go runtime's soft memory
// limit, unless GOMEMLIMIT already set one. Under a limit the collector can
// also wait longer between cycles (GOGC 400 instead of 100, unless GOGC is
// set): a round allocates far more than it keeps, and the limit, not the
// percentage, is what bounds a large round's heap. A small tenant's heap
// stays small either way.
func applyMemoryLimit(s config.Sync, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" || s.MemoryLimitBytes <= 0 {
		return
	}
	debug.SetMemoryLimit(s.MemoryLimitBytes)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercentUnderLimit)
	}
	log.Debug("soft memory limit", "sync.memoryLimit", s.MemoryLimit)
}

const gcPercentUnderLimit = 400

// configFlag registers --config; the default comes from $WRITEBACK_CONFIG or writeback.yaml.
func configFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("WRITEBACK_CONFIG")
	if def == "" {
		def = "writeback.yaml"
	}
	return fs.String("config", def, "configuration `FILE` (env WRITEBACK_CONFIG)")
}

// listFlag is a repeatable (or comma-separated) string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

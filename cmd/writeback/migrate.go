package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/migrate"
	"github.com/writeback/writeback/internal/resolve"
	"github.com/writeback/writeback/internal/scope"
	"github.com/writeback/writeback/internal/wire"
)

// Exit status of migrate subcommands when the work ran but something needs
// attention (not ready, mismatches, conflicts, values left alone).
const exitAttention = 3

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"assess":              migrateAssess,
		"prepare":             migratePrepare,
		"verify":              migrateVerify,
		"rollback":            migrateRollback,
		"connect-sync-script": migrateScript,
		"handover":            migrateHandover,
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		// Help asked for goes to stdout; without a step it is a usage error.
		w := stdout
		if len(args) == 0 {
			w = stderr
		}
		fmt.Fprint(w, `Usage: writeback migrate <step> [flags]

Moves the security groups Entra Connect Sync group writeback v2 wrote into
writeback, without renaming, recreating or losing a member. In order:

  assess               report on every group Connect Sync wrote: class, anchor,
                       naming and rename preview, members, verdict (--json, --html)
  prepare              copy adminDescription to msDS-ExternalDirectoryObjectId
                       (journaled, resumable, --dry-run)
  verify               both attributes equal on every in-scope group, plus assess
  rollback             undo what prepare changed (--journal FILE)
  connect-sync-script  PowerShell for steps 2 to 6 on the Connect Sync server
  handover             write the writeback configuration that takes the groups
                       over, then run 'writeback plan' with it

Run 'writeback migrate <step> -h' for its flags. docs/migration.md is the runbook.
Exit status: 0 ok, 1 error, 2 usage, 3 done but needs attention (not ready,
mismatch, conflicts, values left alone).
`)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	f, ok := sub[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "writeback migrate: unknown step %q (assess, prepare, verify, rollback, connect-sync-script, handover)\n", args[0])
		return errUsage
	}
	return inStep(args[0], f(ctx, args[1:], stdout, stderr))
}

// migrateArgs are the flags shared by the steps that talk to AD.
type migrateArgs struct {
	config string
	base   string   // where Connect Sync wrote the groups; "" for the default
	accept []string // --accept-removals (assess, verify, handover)
}

// migrateFlags registers the shared flags on a step's flag set.
type migrateFlags struct {
	fs *flag.FlagSet
	a  *migrateArgs
}

func newMigrateFlags(name, usage string, stderr io.Writer, a *migrateArgs) *migrateFlags {
	fs := newFlagSet("migrate "+name, usage, stderr)
	fs.StringVar(&a.config, "config", defaultConfig(), "configuration `FILE` (env WRITEBACK_CONFIG)")
	fs.StringVar(&a.base, "base", "", "where Connect Sync wrote the groups: the writeback `OU` (default: sync.searchBase, else the whole domain)")
	return &migrateFlags{fs: fs, a: a}
}

// acceptFlag adds --accept-removals to assess, verify and handover.
func (m *migrateFlags) acceptFlag() {
	m.fs.Var((*groupListFlag)(&m.a.accept), "accept-removals", "accept that writeback removes the AD members listed under 'Members who would lose access' from `GROUP` (DN, CN, object ID or display name; repeat, or comma-separate): no longer a blocker, and handover takes the group over")
}

// groupListFlag is a repeatable, comma-separated flag.
type groupListFlag []string

func (l *groupListFlag) String() string { return strings.Join(*l, ",") }

func (l *groupListFlag) Set(v string) error {
	// A DN holds commas, so a value with "=" is one group.
	if strings.Contains(v, "=") {
		*l = append(*l, strings.TrimSpace(v))
		return nil
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// parse parses a step's flags; a --base that is no DN is an error.
func (m *migrateFlags) parse(args []string) error {
	if err := parseNoArgs(m.fs, args, m.fs.Output()); err != nil {
		return err
	}
	if b := m.a.base; b != "" {
		if _, err := ldapdn.Parse(b); err != nil || !strings.Contains(b, "=") {
			return fmt.Errorf("--base %q: want a DN such as OU=Writeback,DC=contoso,DC=com", b)
		}
	}
	return nil
}

// migrateEnv is the open connections of one step.
type migrateEnv struct {
	cfg    *config.Config
	dc     *ad.Conn
	gc     *ad.Conn
	gcErr  error
	cloud  *entra.Client
	log    *slog.Logger
	domain string
	base   string
}

func (e *migrateEnv) Close() {
	if e.gc != nil {
		e.gc.Close()
	}
	if e.dc != nil {
		e.dc.Close()
	}
}

// openMigrate loads the configuration and dials the DC (and the GC, and
// Entra, when asked); the configured logger writes to stderr.
func openMigrate(ctx context.Context, a migrateArgs, stderr io.Writer, withGC, withCloud bool) (*migrateEnv, error) {
	cfg, log, err := wire.Load(a.config, stderr)
	if err != nil {
		return nil, err
	}
	e := &migrateEnv{cfg: cfg, log: log}
	if e.dc, err = wire.DC(ctx, cfg.AD, e.log); err != nil {
		return nil, err
	}
	root, err := e.dc.RootDSE(ctx)
	if err != nil {
		e.Close()
		return nil, err
	}
	e.domain = cfg.AD.BaseDN
	if e.domain == "" {
		e.domain = root.DefaultNamingContext
	}
	e.base = a.base
	if e.base == "" {
		e.base = cfg.Sync.SearchBase
	}
	if e.base == "" {
		e.base = e.domain
	}
	if withGC {
		// A GC that cannot be reached is an assessment finding, not an error.
		e.gc, e.gcErr = wire.GC(ctx, cfg.AD, e.log, e.dc)
	}
	if withCloud && cfg.Entra != nil {
		if e.cloud, err = wire.Graph(ctx, cfg, e.log); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

// orphanFunc reports cloud groups that no longer exist; nil without Entra.
func (e *migrateEnv) orphanFunc(ctx context.Context) (func(string) bool, error) {
	if e.cloud == nil {
		return nil, nil
	}
	live, err := migrate.CloudGroups(ctx, e.cloud)
	if err != nil {
		return nil, err
	}
	return func(id string) bool { return !live[strings.ToLower(id)] }, nil
}

func (e *migrateEnv) assess(ctx context.Context, accept []string) (*migrate.Report, error) {
	m := e.cfg.Members
	o := migrate.AssessOptions{Base: e.base, Domain: e.domain, DC: e.dc, GCErr: e.gcErr, AcceptRemovals: accept,
		Members: resolve.Policy{Allow: m.Allow, InetOrgPerson: m.InetOrgPerson, Devices: m.DevicesEnabled()}}
	if e.gc != nil {
		o.GC = e.gc
	}
	if e.cloud != nil {
		o.Cloud = e.cloud
		sc, err := scope.New(e.cfg.Scope)
		if err != nil {
			return nil, err
		}
		o.Scope = sc
	}
	return migrate.Assess(ctx, o)
}

func migrateWriteFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

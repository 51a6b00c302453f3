package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/engine"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
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
		fmt.Fprint(stderr, `Usage: writeback migrate <step> [flags]

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
	return f(ctx, args[1:], stdout, stderr)
}

// migrateFlags are shared by the steps that talk to AD.
type migrateFlags struct {
	fs      *flag.FlagSet
	stderr  io.Writer // where the configured logger writes
	cfgPath *string
	base    *string
	accept  groupListFlag
}

func newMigrateFlags(name, usage string, stderr io.Writer) *migrateFlags {
	fs := newFlagSet("migrate "+name, usage, stderr)
	m := &migrateFlags{fs: fs, stderr: stderr, cfgPath: configFlag(fs)}
	m.base = fs.String("base", "", "where Connect Sync wrote the groups: the writeback `OU` (default: sync.searchBase, else the whole domain)")
	return m
}

// acceptFlag adds --accept-removals to assess, verify and handover.
func (m *migrateFlags) acceptFlag() {
	m.fs.Var(&m.accept, "accept-removals", "accept that writeback removes the AD members listed under 'Members who would lose access' from `GROUP` (DN, CN, object ID or display name; repeat, or comma-separate): no longer a blocker, and handover takes the group over")
}

func (m *migrateFlags) accepted() []string { return m.accept }

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

func (m *migrateFlags) parse(args []string, stderr io.Writer) error {
	if err := parseNoArgs(m.fs, args, stderr); err != nil {
		return err
	}
	if *m.base != "" {
		if _, err := ldapdn.Parse(*m.base); err != nil || !strings.Contains(*m.base, "=") {
			return fmt.Errorf("--base %q: want a DN such as OU=Writeback,DC=contoso,DC=com", *m.base)
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

func openMigrate(ctx context.Context, m *migrateFlags, withGC, withCloud bool) (*migrateEnv, error) {
	cfg, err := config.Load(*m.cfgPath)
	if err != nil {
		return nil, err
	}
	e := &migrateEnv{cfg: cfg, log: wire.Logger(cfg.Log, m.stderr)}
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
	e.base = *m.base
	if e.base == "" {
		e.base = cfg.Sync.SearchBase
	}
	if e.base == "" {
		e.base = e.domain
	}
	if withGC {
		// A GC that cannot be reached is an assessment finding, not an error.
		if e.gc, e.gcErr = ad.DialGC(ctx, adconfig.Options(cfg.AD, e.log)); e.gcErr == nil {
			e.gc.SetLogger(e.log)
		}
	}
	if withCloud && cfg.Entra != nil {
		// Only the groups' IDs are read: no properties to select.
		if e.cloud, err = entra.New(ctx, entraconfig.Options(*cfg.Entra), entra.WithLogger(e.log)); err != nil {
			e.Close()
			return nil, fmt.Errorf("connect to Entra: %w", err)
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

func migrateAssess(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m := newMigrateFlags("assess", `Usage: writeback migrate assess [flags]

Reads AD (and Entra, when the configuration has an entra section) and reports
on every group Connect Sync wrote (adminDescription Group_<object ID>): class
(only universal security groups are migrated), anchor state, naming format and
the CN each cn mapping would give (rename preview), members that will not
resolve and why, orphans and drift, preflight, and a verdict with fixes.
Changes nothing.

Examples:
  writeback migrate assess --config writeback.yaml
  writeback migrate assess --base OU=Writeback,DC=contoso,DC=com --html assessment.html
  writeback migrate assess --json > assessment.json
`, stderr)
	asJSON := jsonFlags(m.fs, "print the report as JSON")
	htmlOut := m.fs.String("html", "", "also write the report as one self-contained HTML `FILE`")
	noEntra := m.fs.Bool("no-entra", false, "assess AD only, even if Entra is configured")
	m.acceptFlag()
	if err := m.parse(args, stderr); err != nil {
		return err
	}
	e, err := openMigrate(ctx, m, true, !*noEntra)
	if err != nil {
		return err
	}
	defer e.Close()
	r, err := e.assess(ctx, m.accepted())
	if err != nil {
		return err
	}
	if *htmlOut != "" {
		if err := migrateWriteFile(*htmlOut, func(w io.Writer) error { return migrate.WriteHTML(w, r) }); err != nil {
			return err
		}
	}
	if *asJSON {
		err = migrateWriteJSON(stdout, r)
	} else {
		err = migrate.WriteText(stdout, r)
		if *htmlOut != "" {
			fmt.Fprintf(stdout, "\nHTML report: %s\n", *htmlOut)
		}
	}
	if err != nil {
		return err
	}
	if !r.Verdict.Ready {
		return withExitCode(exitAttention, nil)
	}
	return nil
}

func migratePrepare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m := newMigrateFlags("prepare", `Usage: writeback migrate prepare [flags]

Step 1 of the migration, done right: copies adminDescription into
msDS-ExternalDirectoryObjectId on every in-scope group (universal security,
adminDescription Group_<object ID>) where it is empty. A different value is
never overwritten: it is reported as a conflict. Every change is written to the
journal and flushed to disk before it is made; interrupt it at any time and run
the same command again to finish; undo it with 'writeback migrate rollback'.

Examples:
  writeback migrate prepare --dry-run
  writeback migrate prepare --journal prepare-2026-11-23.journal
  writeback migrate rollback --journal prepare-2026-11-23.journal
`, stderr)
	dry := m.fs.Bool("dry-run", false, "list the changes; write nothing")
	journal := m.fs.String("journal", "writeback-prepare.journal", "journal `FILE` (appended to; keep it for rollback)")
	conns := m.fs.Int("connections", 1, "LDAP connections to spread the modifies over (1..16; one was fastest against Samba, a Windows DC may take more)")
	workers := m.fs.Int("workers", 4, "modifies in flight at once (1..64)")
	batch := m.fs.Int("batch", 200, "changes journaled and flushed together before they are sent (1..5000)")
	asJSON := jsonFlags(m.fs, "print the result as JSON")
	noEntra := m.fs.Bool("no-entra", false, "do not ask Entra which cloud groups still exist (orphans then get their anchor too)")
	if err := m.parse(args, stderr); err != nil {
		return err
	}
	if err := migrateCheckRanges(*conns, *workers, *batch); err != nil {
		return err
	}
	e, err := openMigrate(ctx, m, false, !*noEntra)
	if err != nil {
		return err
	}
	defer e.Close()
	o := migrate.PrepareOptions{Base: e.base, DryRun: *dry, Server: e.dc.URL(), Workers: *workers, Batch: *batch}
	if o.Orphan, err = e.orphanFunc(ctx); err != nil {
		return err
	}
	if !*dry {
		j, _, err := migrate.OpenJournal(*journal)
		if err != nil {
			return err
		}
		defer j.Close()
		o.Journal = j
		writers, closeAll, err := migrateExtraConns(ctx, e, *conns)
		if err != nil {
			return err
		}
		defer closeAll()
		o.Writers = writers
		if migrateIsTerminal(stderr) {
			o.Progress = migrate.NewBar(stderr, "prepare").Update
		}
	}
	res, err := migrate.Prepare(ctx, e.dc, o)
	if res != nil {
		if *asJSON {
			if jerr := migrateWriteJSON(stdout, res); jerr != nil && err == nil {
				err = jerr
			}
		} else {
			migratePrintPrepare(stdout, res, *dry, *journal)
		}
	}
	if err != nil {
		if res != nil && res.Interrupted {
			return fmt.Errorf("interrupted after %d changes; run the same command again to finish (journal %s): %w", res.Changed, *journal, err)
		}
		return err
	}
	switch {
	case len(res.Failures) > 0:
		return withExitCode(1, fmt.Errorf("%d modifies failed (listed above); fix them and run prepare again", len(res.Failures)))
	case len(res.Conflicts) > 0:
		return withExitCode(exitAttention, nil)
	}
	return nil
}

func migrateCheckRanges(conns, workers, batch int) error {
	switch {
	case conns < 1 || conns > 16:
		return fmt.Errorf("--connections %d: want 1..16", conns)
	case workers < 1 || workers > 64:
		return fmt.Errorf("--workers %d: want 1..64", workers)
	case batch < 1 || batch > 5000:
		return fmt.Errorf("--batch %d: want 1..5000", batch)
	}
	return nil
}

// extraConns opens n-1 more DC connections; the modifies are spread over all n.
func migrateExtraConns(ctx context.Context, e *migrateEnv, n int) ([]migrate.Directory, func(), error) {
	ws := []migrate.Directory{e.dc}
	var extra []*ad.Conn
	closeAll := func() {
		for _, c := range extra {
			c.Close()
		}
	}
	for i := 1; i < n; i++ {
		c, err := wire.DC(ctx, e.cfg.AD, e.log)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("open AD connection %d of %d: %w", i+1, n, err)
		}
		extra = append(extra, c)
		ws = append(ws, c)
	}
	return ws, closeAll, nil
}

func migratePrintPrepare(w io.Writer, r *migrate.PrepareResult, dry bool, journal string) {
	fmt.Fprintf(w, "Groups with adminDescription Group_*: %d; in scope: %d; already equal: %d\n", r.Scanned, r.InScope, r.AlreadyEqual)
	if dry {
		fmt.Fprintf(w, "Would copy adminDescription -> msDS-ExternalDirectoryObjectId on %d groups:\n", len(r.Planned))
		for _, p := range r.Planned {
			fmt.Fprintf(w, "  ~ %s\n      msDS-ExternalDirectoryObjectId: (absent) -> %q\n", p.DN, p.After)
		}
	} else {
		rate := 0.0
		if s := r.Elapsed.Seconds(); s > 0 {
			rate = float64(r.Changed) / s
		}
		fmt.Fprintf(w, "Copied on %d groups in %s (%.0f modifies/s); journal %s\n", r.Changed, r.Elapsed.Round(time.Millisecond), rate, journal)
	}
	for _, c := range r.Conflicts {
		fmt.Fprintf(w, "  CONFLICT %s\n      adminDescription %q, msDS-ExternalDirectoryObjectId %q: %s\n", c.DN, c.AdminDescription, c.Anchor, c.Reason)
		for _, d := range c.Duplicates {
			fmt.Fprintf(w, "      also on %s\n", d)
		}
	}
	for _, o := range r.Orphans {
		fmt.Fprintf(w, "  SKIPPED %s: %s\n", o.DN, o.Reason)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  FAILED %s: %s\n", f.DN, f.Error)
	}
	if !dry && len(r.Conflicts) == 0 && len(r.Failures) == 0 {
		fmt.Fprintln(w, "Next: writeback migrate verify")
	}
}

func migrateVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m := newMigrateFlags("verify", `Usage: writeback migrate verify [flags]

Checks that msDS-ExternalDirectoryObjectId equals adminDescription on every
in-scope group and that no anchor is on two groups (Microsoft's verification
script), then runs every check of assess. Exit status 3 on any mismatch or
blocker.

Examples:
  writeback migrate verify --config writeback.yaml
  writeback migrate verify --json
`, stderr)
	asJSON := jsonFlags(m.fs, "print the result as JSON")
	noEntra := m.fs.Bool("no-entra", false, "check AD only, even if Entra is configured")
	m.acceptFlag()
	if err := m.parse(args, stderr); err != nil {
		return err
	}
	e, err := openMigrate(ctx, m, true, !*noEntra)
	if err != nil {
		return err
	}
	defer e.Close()
	orphan, err := e.orphanFunc(ctx)
	if err != nil {
		return err
	}
	v, err := migrate.VerifyAnchors(ctx, e.dc, e.base, orphan)
	if err != nil {
		return err
	}
	r, err := e.assess(ctx, m.accepted())
	if err != nil {
		return err
	}
	ok := len(v.Mismatches) == 0 && v.InScope > 0 && r.Verdict.Ready
	if *asJSON {
		if err := migrateWriteJSON(stdout, struct {
			OK         bool                  `json:"ok"`
			Anchors    *migrate.VerifyResult `json:"anchors"`
			Assessment *migrate.Report       `json:"assessment"`
		}{ok, v, r}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "Anchors: %d of %d in-scope groups have msDS-ExternalDirectoryObjectId = adminDescription\n", v.Equal, v.InScope)
		for _, mm := range v.Mismatches {
			fmt.Fprintf(stdout, "  MISMATCH %s\n      adminDescription %q, msDS-ExternalDirectoryObjectId %q: %s\n", mm.DN, mm.AdminDescription, mm.Anchor, mm.Problem)
		}
		fmt.Fprintln(stdout)
		if err := migrate.WriteText(stdout, r); err != nil {
			return err
		}
		if ok {
			fmt.Fprintln(stdout, "\nverify: OK")
		} else {
			fmt.Fprintln(stdout, "\nverify: FAILED")
		}
	}
	if !ok {
		return withExitCode(exitAttention, nil)
	}
	return nil
}

func migrateRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m := newMigrateFlags("rollback", `Usage: writeback migrate rollback --journal FILE [flags]

Undoes what 'writeback migrate prepare' changed, as its journal recorded:
each group's msDS-ExternalDirectoryObjectId goes back to its value before
prepare (absent, in the usual case), but only while it still holds what
prepare wrote. Anything changed since is reported and left alone. Groups are
found by objectGUID, so a renamed or moved group is still found. Rollback
journals its own changes to FILE.rollback.

Examples:
  writeback migrate rollback --journal writeback-prepare.journal --dry-run
  writeback migrate rollback --journal writeback-prepare.journal
`, stderr)
	journal := m.fs.String("journal", "", "the prepare journal `FILE` (required)")
	dry := m.fs.Bool("dry-run", false, "list what would be restored; write nothing")
	asJSON := jsonFlags(m.fs, "print the result as JSON")
	if err := m.parse(args, stderr); err != nil {
		return err
	}
	if *journal == "" {
		fmt.Fprintln(stderr, "writeback migrate rollback: --journal is required (the file prepare wrote, default writeback-prepare.journal)")
		m.fs.Usage()
		return errUsage
	}
	recs, err := migrate.ReadJournal(*journal)
	if err != nil {
		return err
	}
	e, err := openMigrate(ctx, m, false, false)
	if err != nil {
		return err
	}
	defer e.Close()
	// Groups are found by objectGUID wherever they are now: under --base,
	// else sync.searchBase, else the whole domain; not only the base prepare
	// searched, so a group moved since is still found.
	o := migrate.RollbackOptions{DryRun: *dry, Server: e.dc.URL(), Base: e.base}
	if !*dry {
		j, _, err := migrate.OpenJournal(*journal + ".rollback")
		if err != nil {
			return err
		}
		defer j.Close()
		o.Journal = j
		if migrateIsTerminal(stderr) {
			o.Progress = migrate.NewBar(stderr, "rollback").Update
		}
	}
	res, err := migrate.Rollback(ctx, e.dc, recs, o)
	if res != nil {
		if *asJSON {
			if jerr := migrateWriteJSON(stdout, res); jerr != nil && err == nil {
				err = jerr
			}
		} else {
			counts := map[string]int{}
			for _, it := range res.Items {
				counts[it.Result]++
				if it.Result != "restored" && it.Result != "already-original" {
					fmt.Fprintf(stdout, "  %s %s\n      now %s, original %s", strings.ToUpper(it.Result), it.DN, it.Current, it.Restore)
					if it.Detail != "" {
						fmt.Fprintf(stdout, ": %s", it.Detail)
					}
					fmt.Fprintln(stdout)
				}
			}
			fmt.Fprintf(stdout, "Rollback of %d groups from %s: %d restored, %d already original, %d would restore, %d left alone\n",
				res.Groups, *journal, counts["restored"], counts["already-original"], counts["would-restore"], res.Skipped)
		}
	}
	if err != nil {
		return err
	}
	if res.Skipped > 0 {
		return withExitCode(exitAttention, nil)
	}
	return nil
}

func migrateScript(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate connect-sync-script", `Usage: writeback migrate connect-sync-script --ad-connector NAME [flags]

Writes the PowerShell for steps 2 to 6 of the migration, to run on the Connect
Sync server after prepare and verify: staging-mode check, scheduler off, the
inbound cloudNoFlow rule on the Microsoft Entra connector, the outbound
JoinNoFlow rule on the AD connector, the sync cycles, and the irreversible
Set-ADSyncAADCompanyFeature -GroupWritebackV2 $false behind a typed
confirmation. Check that both precedences are unused first:
  Get-ADSyncRule | Sort-Object Precedence | Format-Table Precedence, Name

Examples:
  writeback migrate connect-sync-script --ad-connector contoso.com --out migrate-connect-sync.ps1
  writeback migrate connect-sync-script --ad-connector contoso.com --inbound-precedence 50 --outbound-precedence 51
`, stderr)
	var p migrate.ScriptParams
	fs.StringVar(&p.ADConnector, "ad-connector", "", "`NAME` of the Active Directory connector that wrote the groups (Get-ADSyncConnector)")
	fs.IntVar(&p.InboundPrecedence, "inbound-precedence", 88, "precedence `N` (0..99, unused) of the inbound cloudNoFlow rule")
	fs.IntVar(&p.OutboundPrecedence, "outbound-precedence", 89, "precedence `N` (0..99, unused, not the inbound one) of the outbound JoinNoFlow rule")
	out := fs.String("out", "", "write the script to `FILE` (UTF-8 with BOM, for Windows PowerShell 5.1) instead of stdout")
	if err := parseNoArgs(fs, args, stderr); err != nil {
		return err
	}
	s, err := migrate.ConnectSyncScript(p)
	if err != nil {
		// Bad flag values are usage errors (exit 2, as documented).
		fmt.Fprintf(stderr, "writeback migrate connect-sync-script: %v\n", err)
		return errUsage
	}
	if *out == "" {
		_, err = io.WriteString(stdout, s)
		return err
	}
	if err := os.WriteFile(*out, append([]byte("\ufeff"), s...), 0o644); err != nil {
		return fmt.Errorf("write script: %w", err)
	}
	fmt.Fprintf(stdout, "Wrote %s. Reminder: check precedences %d and %d are unused (Get-ADSyncRule) before running it.\n", *out, p.InboundPrecedence, p.OutboundPrecedence)
	return nil
}

func migrateHandover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m := newMigrateFlags("handover", `Usage: writeback migrate handover [flags]

Writes the writeback configuration that takes the migrated groups over with no
change users can see: the cn mapping that matches the naming Connect Sync used
(applied on create only if any group would otherwise be renamed), the existing
writeback OU as target, and scope 'selected' listing exactly the groups whose
anchor is in place. The ad, entra and state sections are copied from --config.
Then it runs 'writeback plan --full' with the new file, which must show no
rename, no delete and no member removal.

Examples:
  writeback migrate handover --config writeback.yaml --out writeback.migrated.yaml
  writeback migrate handover --no-plan --out writeback.migrated.yaml
`, stderr)
	out := m.fs.String("out", "writeback.migrated.yaml", "write the configuration to `FILE` (refuses to overwrite unless --force)")
	force := m.fs.Bool("force", false, "write even if assess has blockers (the blocked groups are left out) or FILE exists")
	noPlan := m.fs.Bool("no-plan", false, "do not run 'writeback plan' afterwards; print the command instead")
	m.acceptFlag()
	if err := m.parse(args, stderr); err != nil {
		return err
	}
	e, err := openMigrate(ctx, m, true, true)
	if err != nil {
		return err
	}
	r, err := e.assess(ctx, m.accepted())
	e.Close()
	if err != nil {
		return err
	}
	if e.cloud == nil {
		return errors.New("handover needs the entra section in the configuration: the takeover is checked against the cloud groups")
	}
	if !r.Verdict.Ready && !*force {
		migrate.WriteText(stdout, r)
		return withExitCode(exitAttention, errors.New("assess has blockers (above); fix them, or pass --force to leave the blocked groups out"))
	}
	h, err := migrate.BuildHandover(e.cfg, r)
	if err != nil {
		return err
	}
	b, err := h.YAML(r)
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(*out, flags, 0o600)
	if err != nil {
		return fmt.Errorf("write handover configuration: %w (pass --force to overwrite)", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write handover configuration: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write handover configuration: %w", err)
	}
	fmt.Fprintf(stdout, "Wrote %s: %d groups taken over in %s, cn mapping %s", *out, len(h.Groups), h.TargetOU, r.Recommended.Name)
	if r.Recommended.OnCreate {
		fmt.Fprint(stdout, " (on create only)")
	}
	fmt.Fprintf(stdout, ", %d left out.\n", len(h.Excluded))
	for _, x := range h.Excluded {
		fmt.Fprintf(stdout, "  left out %s: %s\n", x.DN, x.Reason)
	}
	if *noPlan {
		fmt.Fprintf(stdout, "Next: writeback plan --full --config %s  (expect no rename, delete or member removal)\n", *out)
		return nil
	}
	fmt.Fprintf(stdout, "\nwriteback plan --full --config %s\n", *out)
	s, err := openSession(ctx, "migrate handover", *out, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.eng.RunOnce(ctx, engine.RoundOptions{DryRun: true, PlanOptions: engine.PlanOptions{Full: true}})
	if err != nil {
		return err
	}
	if err := writePlanned(stdout, res.Planned); err != nil {
		return err
	}
	if v := migrate.TakeoverViolations(res.Planned.Plan, migrate.AcceptedDNs(r)...); len(v) > 0 {
		fmt.Fprintf(stdout, "\nThe takeover would change what users see (%d):\n", len(v))
		for _, x := range v {
			fmt.Fprintf(stdout, "  %s\n", x)
		}
		return withExitCode(exitAttention, errors.New("do not apply this configuration yet: fix the groups above (run assess) and run handover again"))
	}
	if acc := migrate.AcceptedDNs(r); len(acc) > 0 {
		fmt.Fprintf(stdout, "\nTakeover check passed: no rename, move, delete or create; member removals only from the %d groups accepted with --accept-removals. Next: writeback apply --config %s\n", len(acc), *out)
		return nil
	}
	fmt.Fprintf(stdout, "\nTakeover check passed: no rename, move, delete, create or member removal. Next: writeback apply --config %s\n", *out)
	return nil
}

func migrateWriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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

func migrateIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/migrate"
	"github.com/writeback/writeback/internal/wire"
)

// migratePrepareArgs are migrate prepare's flags.
type migratePrepareArgs struct {
	migrateArgs
	dryRun      bool
	journal     string
	connections int
	workers     int
	batch       int
	json        bool
	noEntra     bool
}

func parseMigratePrepareArgs(args []string, stderr io.Writer) (migratePrepareArgs, error) {
	var a migratePrepareArgs
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
`, stderr, &a.migrateArgs)
	m.fs.BoolVar(&a.dryRun, "dry-run", false, "list the changes; write nothing")
	m.fs.StringVar(&a.journal, "journal", "writeback-prepare.journal", "journal `FILE` (appended to; keep it for rollback)")
	m.fs.IntVar(&a.connections, "connections", 1, "LDAP connections to spread the modifies over (1..16; one was fastest against Samba, a Windows DC may take more)")
	m.fs.IntVar(&a.workers, "workers", 4, "modifies in flight at once (1..64)")
	m.fs.IntVar(&a.batch, "batch", 200, "changes journaled and flushed together before they are sent (1..5000)")
	asJSON := jsonFlags(m.fs, "print the result as JSON")
	m.fs.BoolVar(&a.noEntra, "no-entra", false, "do not ask Entra which cloud groups still exist (orphans then get their anchor too)")
	if err := m.parse(args); err != nil {
		return a, err
	}
	if err := migrateCheckRanges(a.connections, a.workers, a.batch); err != nil {
		return a, err
	}
	a.json = *asJSON
	return a, nil
}

func migratePrepare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseMigratePrepareArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	e, err := openMigrate(ctx, a.migrateArgs, stderr, false, !a.noEntra)
	if err != nil {
		return err
	}
	defer e.Close()
	o := migrate.PrepareOptions{Base: e.base, DryRun: a.dryRun, Server: e.dc.URL(), Workers: a.workers, Batch: a.batch}
	if o.Orphan, err = e.orphanFunc(ctx); err != nil {
		return err
	}
	if !a.dryRun {
		j, _, err := migrate.OpenJournal(a.journal)
		if err != nil {
			return err
		}
		defer j.Close()
		o.Journal = j
		writers, closeAll, err := migrateExtraConns(ctx, e, a.connections)
		if err != nil {
			return err
		}
		defer closeAll()
		o.Writers = writers
		if isTerminal(stderr) {
			o.Progress = migrate.NewBar(stderr, "prepare").Update
		}
	}
	res, err := migrate.Prepare(ctx, e.dc, o)
	if res != nil {
		if a.json {
			if jerr := writeJSON(stdout, res); jerr != nil && err == nil {
				err = jerr
			}
		} else {
			migratePrintPrepare(stdout, res, a.dryRun, a.journal)
		}
	}
	if err != nil {
		if res != nil && res.Interrupted {
			return fmt.Errorf("interrupted after %d changes; run the same command again to finish (journal %s): %w", res.Changed, a.journal, err)
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

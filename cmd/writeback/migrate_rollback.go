package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/writeback/writeback/internal/migrate"
)

// migrateRollbackArgs are migrate rollback's flags.
type migrateRollbackArgs struct {
	migrateArgs
	journal string
	dryRun  bool
	json    bool
}

func parseMigrateRollbackArgs(args []string, stderr io.Writer) (migrateRollbackArgs, error) {
	var a migrateRollbackArgs
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
`, stderr, &a.migrateArgs)
	m.fs.StringVar(&a.journal, "journal", "", "the prepare journal `FILE` (required)")
	m.fs.BoolVar(&a.dryRun, "dry-run", false, "list what would be restored; write nothing")
	asJSON := jsonFlags(m.fs, "print the result as JSON")
	if err := m.parse(args); err != nil {
		return a, err
	}
	if a.journal == "" {
		fmt.Fprintln(stderr, "writeback migrate rollback: --journal is required (the file prepare wrote, default writeback-prepare.journal)")
		m.fs.Usage()
		return a, errUsage
	}
	a.json = *asJSON
	return a, nil
}

func migrateRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseMigrateRollbackArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	recs, err := migrate.ReadJournal(a.journal)
	if err != nil {
		return err
	}
	e, err := openMigrate(ctx, a.migrateArgs, stderr, false, false)
	if err != nil {
		return err
	}
	defer e.Close()
	// Groups are found by objectGUID wherever they are now: under --base,
	// else sync.searchBase, else the whole domain; not only the base prepare
	// searched, so a group moved since is still found.
	o := migrate.RollbackOptions{DryRun: a.dryRun, Server: e.dc.URL(), Base: e.base}
	if !a.dryRun {
		j, _, err := migrate.OpenJournal(a.journal + ".rollback")
		if err != nil {
			return err
		}
		defer j.Close()
		o.Journal = j
		if isTerminal(stderr) {
			o.Progress = migrate.NewBar(stderr, "rollback").Update
		}
	}
	res, err := migrate.Rollback(ctx, e.dc, recs, o)
	if res != nil {
		if a.json {
			if jerr := writeJSON(stdout, res); jerr != nil && err == nil {
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
				res.Groups, a.journal, counts["restored"], counts["already-original"], counts["would-restore"], res.Skipped)
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

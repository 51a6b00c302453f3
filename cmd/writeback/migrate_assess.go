package main

import (
	"context"
	"fmt"
	"io"

	"github.com/writeback/writeback/internal/migrate"
)

// migrateAssessArgs are migrate assess's flags.
type migrateAssessArgs struct {
	migrateArgs
	json    bool
	html    string // also write the report here
	noEntra bool
}

func parseMigrateAssessArgs(args []string, stderr io.Writer) (migrateAssessArgs, error) {
	var a migrateAssessArgs
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
`, stderr, &a.migrateArgs)
	asJSON := jsonFlags(m.fs, "print the report as JSON")
	m.fs.StringVar(&a.html, "html", "", "also write the report as one self-contained HTML `FILE`")
	m.fs.BoolVar(&a.noEntra, "no-entra", false, "assess AD only, even if Entra is configured")
	m.acceptFlag()
	if err := m.parse(args); err != nil {
		return a, err
	}
	a.json = *asJSON
	return a, nil
}

func migrateAssess(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseMigrateAssessArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	e, err := openMigrate(ctx, a.migrateArgs, stderr, true, !a.noEntra)
	if err != nil {
		return err
	}
	defer e.Close()
	r, err := e.assess(ctx, a.accept)
	if err != nil {
		return err
	}
	if a.html != "" {
		if err := migrateWriteFile(a.html, func(w io.Writer) error { return migrate.WriteHTML(w, r) }); err != nil {
			return err
		}
	}
	if a.json {
		err = writeJSON(stdout, r)
	} else {
		err = migrate.WriteText(stdout, r)
		if a.html != "" {
			fmt.Fprintf(stdout, "\nHTML report: %s\n", a.html)
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

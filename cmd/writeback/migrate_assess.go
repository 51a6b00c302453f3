package main

import (
	"context"
	"fmt"
	"io"

	"github.com/writeback/writeback/internal/migrate"
)

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
		err = writeJSON(stdout, r)
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

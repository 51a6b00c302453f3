package main

import (
	"context"
	"fmt"
	"io"

	"github.com/writeback/writeback/internal/migrate"
)

// migrateVerifyArgs are migrate verify's flags.
type migrateVerifyArgs struct {
	migrateArgs
	json    bool
	noEntra bool
}

func parseMigrateVerifyArgs(args []string, stderr io.Writer) (migrateVerifyArgs, error) {
	var a migrateVerifyArgs
	m := newMigrateFlags("verify", `Usage: writeback migrate verify [flags]

Checks that msDS-ExternalDirectoryObjectId equals adminDescription on every
in-scope group and that no anchor is on two groups (Microsoft's verification
script), then runs every check of assess. Exit status 3 on any mismatch or
blocker.

Examples:
  writeback migrate verify --config writeback.yaml
  writeback migrate verify --json
`, stderr, &a.migrateArgs)
	asJSON := jsonFlags(m.fs, "print the result as JSON")
	m.fs.BoolVar(&a.noEntra, "no-entra", false, "check AD only, even if Entra is configured")
	m.acceptFlag()
	if err := m.parse(args); err != nil {
		return a, err
	}
	a.json = *asJSON
	return a, nil
}

func migrateVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseMigrateVerifyArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	e, err := openMigrate(ctx, a.migrateArgs, stderr, true, !a.noEntra)
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
	r, err := e.assess(ctx, a.accept)
	if err != nil {
		return err
	}
	ok := len(v.Mismatches) == 0 && v.InScope > 0 && r.Verdict.Ready
	if a.json {
		if err := writeJSON(stdout, struct {
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

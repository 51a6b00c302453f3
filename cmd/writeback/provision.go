package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/writeback/writeback/internal/engine"
)

func runProvision(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("provision", `Usage: writeback provision [flags] GROUP_ID

Provisions one Entra group now and reports each step, as Cloud Sync's
"provision on demand" does: import, scope evaluation, match in AD, each
member's resolution, and the action taken. Deletes are still guarded by
safety.deleteThreshold.

Examples:
  writeback provision 3f2a1b4c-0000-0000-0000-000000000000
  writeback provision --dry-run 3f2a1b4c-0000-0000-0000-000000000000
`, stderr)
	cfgPath := configFlag(fs)
	dryRun := fs.Bool("dry-run", false, "show the steps and the plan, write nothing")
	asJSON := jsonFlags(fs, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	s, err := openSession(ctx, "provision", *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	r, err := s.eng.Provision(ctx, fs.Arg(0), *dryRun)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(r); jerr != nil {
			return jerr
		}
		return err
	}
	fmt.Fprintf(stdout, "1. Import: ")
	if r.Group == nil {
		fmt.Fprintf(stdout, "group %s not found in Entra\n", r.GroupID)
	} else {
		g := r.Group
		fmt.Fprintf(stdout, "%q (%s) securityEnabled=%v mailEnabled=%v\n", g.DisplayName, g.ID, g.SecurityEnabled, g.MailEnabled)
	}
	fmt.Fprintf(stdout, "2. Scope evaluation: in scope=%v: %s\n", r.InScope, r.ScopeReason)
	if r.MatchedDN != "" {
		fmt.Fprintf(stdout, "3. Match: AD group with anchor Group_%s: %s\n", r.GroupID, r.MatchedDN)
	} else {
		fmt.Fprintf(stdout, "3. Match: no AD group carries Group_%s\n", r.GroupID)
	}
	fmt.Fprintf(stdout, "4. Members (%d):\n", len(r.Members))
	for _, m := range r.Members {
		switch {
		case m.DN != "":
			fmt.Fprintf(stdout, "   ok   %-6s %s -> %s\n", m.Type, m.ID, m.DN)
		default:
			fmt.Fprintf(stdout, "   skip %-6s %s %s: %s\n", m.Type, m.ID, m.Name, m.Reason)
		}
	}
	fmt.Fprintf(stdout, "5. Action:\n")
	if r.Planned != nil {
		if perr := writePlanned(stdout, r.Planned); perr != nil {
			return perr
		}
	}
	if *dryRun {
		fmt.Fprintln(stdout, "\nDry run: nothing written.")
	} else if r.Applied != nil {
		if rerr := reportApplied(stdout, r.Applied, engine.LDAPStats{Writes: r.Applied.Writes}); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

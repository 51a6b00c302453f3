package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/engine"
	"github.com/writeback/writeback/internal/state"
)

// provisionArgs are provision's flags and argument.
type provisionArgs struct {
	config string
	dryRun bool
	json   bool
	group  string // object ID or display name
}

func parseProvisionArgs(args []string, stderr io.Writer) (provisionArgs, error) {
	var a provisionArgs
	fs := newFlagSet("provision", `Usage: writeback provision [flags] GROUP

Provisions one Entra group now and reports each step, as Cloud Sync's
"provision on demand" does: import, scope evaluation, match in AD, each
member's resolution, and the action taken. Deletes are still guarded by
safety.deleteThreshold. GROUP is the group's object ID or its display name
(case-insensitive; a name two groups share is refused with their IDs). Exit
status 1 when no group matches.

Examples:
  writeback provision 3f2a1b4c-0000-0000-0000-000000000000
  writeback provision --dry-run 3f2a1b4c-0000-0000-0000-000000000000
  writeback provision Engineering --dry-run -o json
`, stderr)
	fs.StringVar(&a.config, "config", defaultConfig(), "configuration `FILE` (env WRITEBACK_CONFIG)")
	fs.BoolVar(&a.dryRun, "dry-run", false, "show the steps and the plan, write nothing")
	asJSON := jsonFlags(fs, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return a, err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return a, errUsage
	}
	a.json, a.group = *asJSON, fs.Arg(0)
	return a, nil
}

func runProvision(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseProvisionArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	return provision(ctx, a, stdout, stderr)
}

// provision provisions one group now and prints the step report.
func provision(ctx context.Context, a provisionArgs, stdout, stderr io.Writer) error {
	s, err := openSession(ctx, "provision", a.config, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	id, err := groupID(ctx, s, a.group)
	if err != nil {
		return err
	}
	r, err := s.eng.Provision(ctx, id, a.dryRun)
	if err == nil && r.Group == nil {
		// Printed in the report too, but an error: a script must not take
		// "nothing to provision" for success.
		err = withExitCode(1, fmt.Errorf("group %s not found in Entra", id))
	}
	if a.json {
		if jerr := writeJSON(stdout, r); jerr != nil {
			return jerr
		}
		return err
	}
	stdout = colorOutput(stdout)
	if perr := printProvision(stdout, r, a.dryRun); perr != nil {
		return perr
	}
	if !a.dryRun && r.Applied != nil && r.Group != nil {
		if rerr := reportApplied(stdout, r.Applied, engine.LDAPStats{Writes: r.Applied.Writes}); rerr != nil && err == nil {
			return rerr
		}
	}
	return err
}

// printProvision prints the step report, as Cloud Sync's provision on demand.
func printProvision(stdout io.Writer, r *engine.Report, dryRun bool) error {
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
		if err := writePlanned(stdout, r.Planned); err != nil {
			return err
		}
	}
	if dryRun {
		fmt.Fprintln(stdout, "\nDry run: nothing written.")
	}
	return nil
}

// groupID returns the object ID of the group named by arg: arg itself when
// it is an object ID (a GUID), else the one group in Entra with that display
// name (case-insensitive), read from Graph's changes into the state.
func groupID(ctx context.Context, s *session, arg string) (string, error) {
	if id, ok := objectID(arg); ok {
		return id, nil
	}
	if _, err := s.eng.Ingest(ctx, false); err != nil {
		return "", err
	}
	ids, err := groupsNamed(s.db, arg)
	if err != nil {
		return "", err
	}
	switch len(ids) {
	case 0:
		return "", withExitCode(1, fmt.Errorf("no group in Entra has the object ID or display name %q", arg))
	case 1:
		return ids[0], nil
	default:
		return "", withExitCode(1, fmt.Errorf("%d groups are named %q (%s): give the object ID", len(ids), arg, strings.Join(ids, ", ")))
	}
}

// groupsNamed returns the IDs of the cloud groups in the state whose display
// name is name, ignoring case.
func groupsNamed(db *state.DB, name string) ([]string, error) {
	var ids []string
	err := db.View(func(tx *state.Tx) error {
		return tx.Groups(func(g state.Group) error {
			if strings.EqualFold(g.DisplayName, name) {
				ids = append(ids, g.ID)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("look up group %q in the state: %w", name, err)
	}
	slices.Sort(ids)
	return ids, nil
}

// objectID is s as an Entra object ID in Graph's form (lower case, no
// braces), when s is a GUID: ad.ParseGUID decides.
func objectID(s string) (string, bool) {
	g, err := ad.ParseGUID(s)
	if err != nil {
		return "", false
	}
	return g.String(), true
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/writeback/writeback/internal/engine"
	"github.com/writeback/writeback/internal/plan"
)

// planArgs are plan's flags.
type planArgs struct {
	config string
	json   bool
	out    string // save the plan to this file
	full   bool
	groups []string
	// allowRemovals plans held takeovers as apply --allow-removals would.
	allowRemovals bool
}

func parsePlanArgs(args []string, stderr io.Writer) (planArgs, error) {
	var a planArgs
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
	fs.StringVar(&a.config, "config", defaultConfig(), "configuration `FILE` (env WRITEBACK_CONFIG)")
	asJSON := jsonFlags(fs, "print the plan as JSON")
	fs.StringVar(&a.out, "out", "", "save the plan to `FILE` for 'writeback apply FILE'")
	fs.BoolVar(&a.full, "full", false, "plan every group (full reconcile), not only those changed since the last round")
	fs.BoolVar(&a.allowRemovals, "allow-removals", false, "plan the takeover of groups converted to the cloud even when it removes members (as apply --allow-removals)")
	fs.Var((*listFlag)(&a.groups), "group", "plan only this Entra group `ID` (repeatable)")
	if err := parseNoArgs(fs, args, stderr); err != nil {
		return a, err
	}
	a.json = *asJSON
	return a, nil
}

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parsePlanArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	return planCmd(ctx, a, stdout, stderr)
}

// planCmd computes a plan, prints it and saves it when asked.
func planCmd(ctx context.Context, a planArgs, stdout, stderr io.Writer) error {
	s, err := openSession(ctx, "plan", a.config, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.eng.RunOnce(ctx, engine.RoundOptions{DryRun: true, PlanOptions: engine.PlanOptions{Full: a.full, Groups: a.groups, AllowRemovals: a.allowRemovals}})
	if err != nil {
		return err
	}
	p := res.Planned
	if !a.json {
		stdout = colorOutput(stdout)
	}
	if a.out != "" {
		t, err := s.planTarget(ctx)
		if err != nil {
			return err
		}
		if err := s.eng.SavePlan(a.out, p, t); err != nil {
			return err
		}
	}
	if a.json {
		if err := engine.WritePlannedJSON(stdout, p); err != nil {
			return err
		}
	} else {
		if err := writePlanned(stdout, p); err != nil {
			return err
		}
		if a.out != "" {
			fmt.Fprintf(stdout, "\nSaved the plan to %s. To apply exactly this plan: writeback apply %s\n", a.out, a.out)
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

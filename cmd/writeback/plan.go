package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/writeback/writeback/internal/config"
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

// newFlagSet starts a subcommand's flags; usage is printed above the flag list
// on -h and on bad arguments.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output() // stdout for -h: see parseFlags
		fmt.Fprint(w, usage)
		fmt.Fprint(w, "\nFlags:\n")
		printFlags(fs, w)
	}
	return fs
}

// parseNoArgs parses the flags of a subcommand that takes no positional
// arguments. Its errors are errUsage; a -h also matches flag.ErrHelp, for the
// commands that treat asking for help as success.
func parseNoArgs(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "writeback %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// applyMemoryLimit sets sync.memoryLimit as the Go runtime's soft memory
// limit, unless GOMEMLIMIT already set one. Under a limit the collector can
// also wait longer between cycles (GOGC 400 instead of 100, unless GOGC is
// set): a round allocates far more than it keeps, and the limit, not the
// percentage, is what bounds a large round's heap. A small tenant's heap
// stays small either way.
func applyMemoryLimit(s config.Sync, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" || s.MemoryLimitBytes <= 0 {
		return
	}
	debug.SetMemoryLimit(s.MemoryLimitBytes)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercentUnderLimit)
	}
	log.Debug("soft memory limit", "sync.memoryLimit", s.MemoryLimit)
}

const gcPercentUnderLimit = 400

// configFlag registers --config; the default comes from $WRITEBACK_CONFIG or writeback.yaml.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", defaultConfig(), "configuration `FILE` (env WRITEBACK_CONFIG)")
}

// defaultConfig is $WRITEBACK_CONFIG, else writeback.yaml.
func defaultConfig() string {
	if def := os.Getenv("WRITEBACK_CONFIG"); def != "" {
		return def
	}
	return "writeback.yaml"
}

// listFlag is a repeatable (or comma-separated) string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

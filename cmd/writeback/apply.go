package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/writeback/writeback/internal/engine"
)

// applyArgs are apply's flags and argument.
type applyArgs struct {
	config        string
	yes           bool
	allowDeletes  bool
	allowRemovals bool
	full          bool
	groups        []string
	planFile      string // apply this saved plan; "" to plan now
	json          bool   // print the round's result as JSON on stdout, and nothing else there
}

func parseApplyArgs(args []string, stderr io.Writer) (applyArgs, error) {
	var a applyArgs
	fs := newFlagSet("apply", `Usage: writeback apply [flags] [PLANFILE]

Without PLANFILE: computes the plan, shows it, asks for confirmation (unless
--yes) and applies it. With PLANFILE (from 'writeback plan -out'): applies
exactly that plan, and refuses it if AD or the tenant changed since.

Safe to interrupt (Ctrl-C finishes the write in flight) and to re-run: a new
apply converges without duplicate groups, lost members or second renames.

Examples:
  writeback apply --config writeback.yaml
  writeback apply --yes
  writeback plan -out p.plan && writeback apply p.plan
  writeback apply --allow-deletes     # past the deletion threshold, on purpose
  writeback apply --allow-removals    # take over converted groups even when members are removed
  writeback apply --yes -o json > result.json

With -o json the plan and the question go to stderr; stdout gets only the
round's result: what was read, planned and applied, LDAP and Graph counts.
`, stderr)
	fs.StringVar(&a.config, "config", defaultConfig(), "configuration `FILE` (env WRITEBACK_CONFIG)")
	fs.BoolVar(&a.yes, "yes", false, "apply without asking for confirmation")
	fs.BoolVar(&a.allowDeletes, "allow-deletes", false, "apply even when the plan deletes more groups than safety.deleteThreshold")
	fs.BoolVar(&a.allowRemovals, "allow-removals", false, "take over groups converted to the cloud even when that removes members AD has and the cloud group has not (or soa.acceptRemovals)")
	fs.BoolVar(&a.full, "full", false, "plan every group (full reconcile) instead of only those changed since the last round")
	fs.Var((*listFlag)(&a.groups), "group", "apply only for this Entra group `ID` (repeatable)")
	asJSON := jsonFlags(fs, "print the round's result as JSON on stdout (the plan and the question go to stderr)")
	if err := parseFlags(fs, args); err != nil {
		return a, err
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return a, errUsage
	}
	a.planFile = fs.Arg(0)
	a.json = *asJSON
	return a, nil
}

func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseApplyArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	return applyCmd(ctx, a, stdout, stderr)
}

// applyCmd applies a saved plan, or plans, asks and applies.
func applyCmd(ctx context.Context, a applyArgs, stdout, stderr io.Writer) error {
	// On a terminal the log shares stderr with the live bars: through
	// termOut, a log line appears above the bar, not inside it.
	logOut := stderr
	if isTerminal(stderr) {
		logOut = newTermOut(stderr)
	}
	s, err := openSession(ctx, "apply", a.config, logOut)
	if err != nil {
		return err
	}
	defer s.Close()
	// show is where people read the plan and the question: stdout, unless
	// stdout is for the JSON result alone.
	show := colorOutput(stdout)
	if a.json {
		show = colorOutput(stderr)
	}
	prog := newProgress(stderr)
	if isTerminal(stderr) {
		// A bar per phase (read, resolve, write) instead of the changes' alone.
		defer liveBars(logOut, &s.progress)()
		prog = newProgress(io.Discard)
	}
	if a.planFile != "" {
		return applySaved(ctx, s, a, show, stdout, prog)
	}
	confirm := func(p *engine.Planned) bool {
		if err := writePlanned(show, p); err != nil {
			return false
		}
		if a.yes {
			return true
		}
		return askYes(show)
	}
	res, err := s.eng.RunOnce(ctx, engine.RoundOptions{
		PlanOptions: engine.PlanOptions{Full: a.full, Groups: a.groups, AllowDeletes: a.allowDeletes, AllowRemovals: a.allowRemovals},
		Confirm:     confirm,
		Apply:       engine.ApplyOptions{Progress: prog.update},
	})
	prog.done()
	if a.json && res != nil {
		// The result as far as the round got, whatever the outcome; the
		// exit status and stderr say the outcome.
		if jerr := writeJSON(stdout, res); jerr != nil && err == nil {
			err = jerr
		}
	}
	if res != nil && res.Planned != nil && res.Planned.Plan.Empty() {
		if !a.json {
			writePlanned(show, res.Planned)
		}
		return nil
	}
	if errors.Is(err, engine.ErrBlocked) {
		if !a.json {
			writePlanned(show, res.Planned)
		}
		return withExitCode(1, fmt.Errorf("nothing applied: %w", err))
	}
	if errors.Is(err, engine.ErrAborted) {
		fmt.Fprintln(show, "Apply cancelled; nothing written.")
		return withExitCode(1, nil)
	}
	if err != nil {
		return err
	}
	if a.json {
		return appliedExit(res.Applied)
	}
	return reportApplied(show, res.Applied, res.LDAP)
}

// applySaved applies the plan in a.planFile; show gets the text report,
// stdout the JSON result when a.json.
func applySaved(ctx context.Context, s *session, a applyArgs, show, stdout io.Writer, prog *progress) error {
	path, allowDeletes := a.planFile, a.allowDeletes
	f, err := engine.LoadPlan(path)
	if err != nil {
		return err
	}
	t, err := s.planTarget(ctx)
	if err != nil {
		return err
	}
	if err := f.CheckTarget(path, t); err != nil {
		return err
	}
	p := f.Planned
	if p.Plan.Blocked && !allowDeletes {
		return fmt.Errorf("plan %s is blocked: %s", path, p.Plan.BlockedReason)
	}
	start := time.Now()
	applied, err := s.eng.ApplySaved(ctx, p, engine.ApplyOptions{Progress: prog.update, AllowDeletes: allowDeletes})
	prog.done()
	if a.json {
		// A saved plan's round reads nothing from Graph: only what was
		// planned and applied, and the LDAP operations.
		res := engine.Result{Planned: p, Applied: applied, LDAP: s.eng.LDAPStats(), Duration: time.Since(start)}
		if jerr := writeJSON(stdout, res); jerr != nil && err == nil {
			err = jerr
		}
	}
	if err != nil {
		return err
	}
	if a.json {
		return appliedExit(applied)
	}
	if applied == nil || p.Plan.Empty() {
		fmt.Fprintln(show, "No changes in the saved plan.")
		return nil
	}
	return reportApplied(show, applied, s.eng.LDAPStats())
}

func reportApplied(w io.Writer, a *engine.Applied, ldap engine.LDAPStats) error {
	if a == nil {
		return nil
	}
	fmt.Fprintf(w, "\nApply complete: %d changes applied, %d groups failed, %d LDAP writes in %s.\n",
		a.Applied, a.Failed, ldap.Writes, a.Duration.Round(time.Millisecond))
	for _, e := range a.Errors {
		fmt.Fprintf(w, "  ! group %s (%s): %s\n", e.GroupID, e.Step, e.Error)
	}
	return appliedExit(a)
}

// appliedExit is the exit status of an apply: 130 interrupted, 1 when
// groups failed.
func appliedExit(a *engine.Applied) error {
	if a == nil {
		return nil
	}
	if a.Interrupted {
		return withExitCode(130, errors.New("interrupted; run writeback apply again to finish"))
	}
	if a.Failed > 0 {
		return withExitCode(1, fmt.Errorf("%d group(s) failed and are quarantined; see writeback status", a.Failed))
	}
	return nil
}

// askYes asks for confirmation on the terminal, like terraform apply.
func askYes(w io.Writer) bool {
	fi, err := os.Stdin.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		fmt.Fprintln(w, "\nNot a terminal: re-run with --yes to apply without confirmation.")
		return false
	}
	fmt.Fprint(w, "\nDo you want to apply these changes to AD?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	return strings.TrimSpace(line) == "yes"
}

// progress prints "applied N/M changes" at most every two seconds, and only
// for applies that run long enough to need it.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  time.Time
	shown bool
}

func newProgress(w io.Writer) *progress { return &progress{w: w, start: time.Now()} }

func (p *progress) update(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.start) < 2*time.Second || now.Sub(p.last) < 2*time.Second {
		return
	}
	p.last, p.shown = now, true
	const width = 30
	n := width * done / max(total, 1)
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d changes", strings.Repeat("#", n), strings.Repeat(".", width-n), done, total)
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprintln(p.w)
	}
}

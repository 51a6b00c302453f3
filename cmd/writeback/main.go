// Command writeback provisions Microsoft Entra ID cloud security groups, with their
// memberships, into on-premises Active Directory, and migrates groups written by
// Entra Connect Sync group writeback v2.
//
// Each subcommand lives in its own file as a function of (ctx, args, stdout, stderr)
// that parses its flags into a typed struct (parsePlanArgs, ...) and hands that to
// a plain body (planCmd, ...); root.go hangs them on cobra for help, --version and
// completion, and internal/wire builds what they talk to. main only dispatches, so
// every command can be tested without a process. The test instruments (lab,
// Graph emulator) are in cmd/writeback-lab.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// command is one subcommand. run gets the arguments after the subcommand's name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	// steps are the subcommands (migrate assess, expr eval), for completion.
	steps []string
	// hidden commands work but are not listed (the forwards to writeback-lab).
	hidden bool
}

// commands is the table printed by `writeback help`, in the order a newcomer meets them.
var commands = []command{
	{name: "check", summary: "preflight: can writeback reach, bind to and write into AD and Entra?", run: runCheck},
	{name: "init", summary: "write a commented configuration file", run: runInit},
	{name: "plan", summary: "show what a sync would change in AD, without changing anything", run: runPlan},
	{name: "apply", summary: "compute (or load) a plan and apply it to AD", run: runApply},
	{name: "run", summary: "the daemon: full sync, then incremental rounds every interval", run: runRun},
	{name: "provision", summary: "provision one group on demand, with a step-by-step report", run: runProvision},
	{name: "status", summary: "last rounds, quarantined groups (the daemon also serves them: run --listen)", run: runStatus},
	{name: "log", summary: "provisioning log entries with before/after values", run: runLog},
	{name: "migrate", summary: "migrate groups written by Connect Sync group writeback v2", run: runMigrate,
		steps: []string{"assess", "prepare", "verify", "rollback", "connect-sync-script", "handover"}},
	{name: "state", summary: "copy a state file into PostgreSQL for high availability (state migrate)", run: runState, steps: []string{"migrate"}},
	{name: "expr", summary: "evaluate or check an attribute-mapping expression", run: runExpr, steps: []string{"eval", "check"}},
	{name: "version", summary: "print the version, commit and build date (also --version)", run: runVersion},
	// The test instruments moved to writeback-lab; these forward to it.
	{name: "lab", summary: "test instrument: run writeback-lab", run: runLab, hidden: true},
	{name: "emulator", summary: "test instrument: run writeback-lab emulator", run: runEmulator, hidden: true},
}

// exitError carries a specific process exit code (e.g. plan's 2 = "changes present").
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// withExitCode makes run return code; a nil err means "exit quietly with code".
func withExitCode(code int, err error) error { return &exitError{code: code, err: err} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfiles := startProfiles(os.Stderr)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfiles()
	stop()
	os.Exit(code)
}

// dispatch runs the command line args (without the program name) and
// returns the process exit code; see root.go.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	if len(args) > 0 && args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	root.SetArgs(args)
	c, err := root.ExecuteContextC(ctx)
	return commandExit(c, err, stderr)
}

// stepError is an error of one step of a command with steps (migrate
// assess, expr eval, state migrate), so that it is printed under the full
// command path: "writeback migrate assess: ...".
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// inStep marks err (if any) as step's.
func inStep(step string, err error) error {
	if err == nil {
		return nil
	}
	return &stepError{step: step, err: err}
}

// commandExit turns what a command returned into the process exit code, and
// prints its error as "writeback <command> [<step>]: <error>".
func commandExit(c *cobra.Command, err error, stderr io.Writer) int {
	name := "writeback"
	if c != nil && c.HasParent() {
		name = c.CommandPath()
	}
	var se *stepError
	if errors.As(err, &se) {
		name += " " + se.step
	}
	var ee *exitError
	switch {
	case err == nil, isHelp(err):
		return 0
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, ee.err)
		}
		return ee.code
	case errors.Is(err, errUsage):
		return 2
	case c == nil || !c.HasParent():
		// cobra's own: an unknown command or flag of writeback itself.
		fmt.Fprintf(stderr, "writeback: %v; run 'writeback help' for the list\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}

// errUsage means the command already printed a usage message for bad arguments.
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprint(w, `writeback provisions Entra ID cloud security groups into Active Directory.

Usage: writeback <command> [flags]

Commands:
`)
	for _, c := range commands {
		if !c.hidden {
			fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprint(w, `
  completion  shell completion: writeback completion bash|zsh|fish|powershell

Flags may follow arguments. -o json (or --json) where a command prints data.
Run 'writeback <command> -h' for a command's flags and examples.
Start here: 'writeback init > writeback.yaml', edit it, then 'writeback check'.
To try writeback without AD or Entra, the source tree's lab gives both (README).
`)
}

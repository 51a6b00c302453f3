// Command writeback provisions Microsoft Entra ID cloud security groups, with their
// memberships, into on-premises Active Directory, and migrates groups written by
// Entra Connect Sync group writeback v2.
//
// Each subcommand lives in its own file as a function of (ctx, args, stdout, stderr);
// main only dispatches, so every command can be tested without a process.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. run gets the arguments after the subcommand's name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands is the table printed by `writeback help`, in the order a newcomer meets them.
var commands = []command{
	{"lab", "start, stop or reset the throwaway Samba AD DC and Graph emulator (test instrument)", runLab},
	{"check", "preflight: can writeback reach, bind to and write into AD and Entra?", runCheck},
	{"init", "write a commented configuration file", runInit},
	{"plan", "show what a sync would change in AD, without changing anything", runPlan},
	{"apply", "compute (or load) a plan and apply it to AD", runApply},
	{"run", "the daemon: full sync, then incremental rounds every interval", runRun},
	{"provision", "provision one group on demand, with a step-by-step report", runProvision},
	{"status", "last rounds, quarantined groups (the daemon also serves them: run --listen)", runStatus},
	{"log", "provisioning log entries with before/after values", runLog},
	{"migrate", "migrate groups written by Connect Sync group writeback v2", runMigrate},
	{"state", "copy a state file into PostgreSQL for high availability (state migrate)", runState},
	{"expr", "evaluate or check an attribute-mapping expression", runExpr},
	{"emulator", "run the Microsoft Graph emulator (test instrument)", runEmulator},
	{"version", "print the version, commit and build date (also --version)", runVersion},
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

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return dispatch(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		usage(stdout)
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		var ee *exitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee):
			if ee.err != nil {
				fmt.Fprintf(stderr, "writeback %s: %v\n", c.name, ee.err)
			}
			return ee.code
		case errors.Is(err, errUsage):
			return 2
		default:
			fmt.Fprintf(stderr, "writeback %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "writeback: unknown command %q; run 'writeback help' for the list\n", args[0])
	return 2
}

// errUsage means the command already printed a usage message for bad arguments.
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprint(w, `writeback provisions Entra ID cloud security groups into Active Directory.

Usage: writeback <command> [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'writeback <command> -h' for a command's flags and examples.
Start here: 'writeback lab up' then 'writeback check --config <(writeback lab config)'.
`)
}

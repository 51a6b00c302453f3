package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/writeback/writeback/internal/lab"
)

func runLab(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "lab directory (default $WRITEBACK_LAB_DIR or "+lab.DefaultDir+")")
	noSchema := fs.Bool("no-schema", false, "use the second lab instance on 127.0.0.2 whose schema lacks msDS-ExternalDirectoryObjectId")
	quiet := fs.Bool("q", false, "do not show the lab script's progress")
	noEmulator := fs.Bool("no-emulator", false, "up/reset: only the AD, without the Graph emulator and the sample tenant")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: writeback lab [flags] up|down|reset|env|config

A throwaway lab on loopback, for trying writeback and for its tests: a Samba
AD domain controller (realm CONTOSO.TEST) and, beside it, writeback's Graph
emulator (a test instrument) serving a sample tenant whose synced users exist
in the lab AD (OU=SyncedUsers) with the same objectGUIDs. It lives in its own
directory and never touches the system's Samba. Needs root (installs
samba-ad-dc from Debian packages on first use and listens on ports
389/636/3268/3269, and 8443 for the emulator).

  up      install, provision (first time, ~15 s) and start AD and the emulator
          with the sample tenant; reuse what is already running
  down    stop both (data is kept)
  reset   restore the pristine AD taken after the first provision and a fresh
          sample tenant, and discard the lab's writeback state (seconds)
  env     print the connection settings of both as shell exports
  config  print a complete writeback config file for the lab (ad, entra, state)

Environment: WRITEBACK_LAB_DIR (default `+lab.DefaultDir+`), WRITEBACK_LAB_ADDR
(loopback address of the default instance, default 127.0.0.1).

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(stderr, `
Examples:
  writeback lab up
  writeback check --config <(writeback lab config)
  writeback plan --config <(writeback lab config)
  eval "$(writeback lab env)"; ldapsearch -H "$LAB_LDAPS_URL" ...
  writeback lab --no-schema up     # a DC without msDS-ExternalDirectoryObjectId
`)
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	o := lab.Default()
	if *noSchema {
		o = lab.NoSchema()
	}
	o.Dir = *dir
	if !*quiet {
		o.Log = stderr
	}
	if !*noEmulator {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("lab: find the writeback binary to run the Graph emulator: %w (or use --no-emulator)", err)
		}
		o.Executable = exe
	}
	flagSuffix := map[bool]string{true: " --no-schema"}[*noSchema]
	switch fs.Arg(0) {
	case "up":
		start := time.Now()
		l, err := lab.Up(ctx, o)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, l.ShellEnv())
		what := "lab AD is up"
		if l.Env["LAB_EMULATOR_URL"] != "" {
			what = "lab AD and Graph emulator (" + l.Env["LAB_EMULATOR_URL"] + ", sample tenant) are up"
		}
		fmt.Fprintf(stderr, "%s in %s (%s)\nnext: writeback check --config <(writeback lab%s config)\n",
			what, l.Dir, time.Since(start).Round(100*time.Millisecond), flagSuffix)
	case "down":
		return lab.Down(ctx, o)
	case "reset":
		start := time.Now()
		l, err := lab.Reset(ctx, o)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, l.ShellEnv())
		fmt.Fprintf(stderr, "lab reset to pristine in %s\n", time.Since(start).Round(100*time.Millisecond))
	case "env", "config":
		l, err := lab.Running(o)
		if err != nil {
			return err
		}
		if fs.Arg(0) == "env" {
			fmt.Fprint(stdout, l.ShellEnv())
		} else {
			fmt.Fprint(stdout, l.ConfigYAML())
		}
	default:
		fmt.Fprintf(stderr, "writeback lab: unknown action %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

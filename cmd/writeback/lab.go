package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/writeback/writeback/internal/lab"
)

func runLab(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "lab directory (default $WRITEBACK_LAB_DIR or "+lab.DefaultDir+")")
	noSchema := fs.Bool("no-schema", false, "use the second lab instance on 127.0.0.2 whose schema lacks msDS-ExternalDirectoryObjectId")
	quiet := fs.Bool("q", false, "do not show the lab script's progress")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: writeback lab [flags] up|down|reset|env|config

A throwaway Samba AD domain controller (realm CONTOSO.TEST) on loopback, for
trying writeback and for its tests. It lives in its own directory and never
touches the system's Samba. Needs root (installs samba-ad-dc from Debian
packages on first use and listens on ports 389/636/3268/3269).

  up      install, provision (first time, ~15 s) and start; reuse a running lab
  down    stop (data is kept)
  reset   restore the pristine copy taken after the first provision (seconds)
  env     print the connection settings as shell exports
  config  print a complete writeback config file for the lab

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(stderr, `
Examples:
  writeback lab up
  writeback check --config <(writeback lab config)
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
	switch fs.Arg(0) {
	case "up":
		start := time.Now()
		l, err := lab.Up(ctx, o)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, l.ShellEnv())
		fmt.Fprintf(stderr, "lab AD is up in %s (%s)\nnext: writeback check --config <(writeback lab%s config)\n",
			l.Dir, time.Since(start).Round(100*time.Millisecond), map[bool]string{true: " --no-schema"}[*noSchema])
	case "down":
		return lab.Down(ctx, o)
	case "reset":
		start := time.Now()
		l, err := lab.Reset(ctx, o)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, l.ShellEnv())
		fmt.Fprintf(stderr, "lab AD reset to pristine in %s\n", time.Since(start).Round(100*time.Millisecond))
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

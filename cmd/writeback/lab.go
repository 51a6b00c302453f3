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
	withPG := fs.Bool("postgres", false, "up: also start the lab's PostgreSQL (its own cluster on the lab's address, port 5432) for high-availability tests; down: stop it too (docs/ha.md)")
	noEmulator := fs.Bool("no-emulator", false, "up/reset: only the AD, without the Graph emulator and the sample tenant")
	connectSync := fs.Bool("connect-sync", false, "up/reset: also write OU=ConnectSync, groups as Connect Sync group writeback v2 left them, with their cloud groups, to try 'writeback migrate'")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: writeback lab [flags] up|down|reset|env|config
       writeback lab [flags] seed-users --count N [--ou OU] [--prefix P] [--sam-prefix S] [--digits D] [--from I]

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
  up --connect-sync, reset --connect-sync
          also (re)write OU=ConnectSync: 5 groups as Connect Sync group
          writeback v2 left them (both CN formats, a mail-enabled and a global
          group, an anchor conflict, an AD contact the cloud group lacks, a
          cloud-only member) and their cloud groups in the emulator; try
          ./scripts/demo-migrate.sh
  env     print the connection settings of both as shell exports
  config  print a complete writeback config file for the lab (ad, entra, state)
  seed-users
          add N disabled users fast (~2,000/s, 270,000 in ~2 min, where LDAP
          manages 20-150/s): stops this instance's Samba, writes them into its
          database, starts it again; use a lab of your own (WRITEBACK_LAB_DIR)

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
  writeback lab --connect-sync up  # plus a Connect-Sync-shaped OU for 'writeback migrate'
  writeback migrate assess --config <(writeback lab config) --base OU=ConnectSync,DC=contoso,DC=test
  WRITEBACK_LAB_DIR=/var/tmp/wb-large WRITEBACK_LAB_ADDR=127.0.0.6 writeback lab --no-emulator up
  WRITEBACK_LAB_DIR=/var/tmp/wb-large WRITEBACK_LAB_ADDR=127.0.0.6 writeback lab seed-users --count 250000
`)
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return errUsage
	}
	if fs.NArg() < 1 || (fs.NArg() > 1 && fs.Arg(0) != "seed-users") {
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
	if *connectSync && (*noEmulator || (fs.Arg(0) != "up" && fs.Arg(0) != "reset")) {
		fmt.Fprintln(stderr, "writeback lab: --connect-sync goes with up or reset, and needs the emulator (not --no-emulator)")
		return errUsage
	}
	seed := func(l *lab.Lab) error {
		if !*connectSync {
			return nil
		}
		ou, err := lab.SeedConnectSync(ctx, l)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "Connect-Sync-shaped groups written to %s (and their cloud groups to the emulator)\nnext: writeback migrate assess --config <(writeback lab%s config) --base '%s'\n", ou, flagSuffix, ou)
		return nil
	}
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
		if *withPG { // HA (#23)
			if err := labPostgresUp(ctx, o, stderr); err != nil {
				return err
			}
		}
		return seed(l)
	case "down":
		if *withPG { // HA (#23)
			if err := lab.PostgresDown(ctx, o); err != nil {
				return err
			}
		}
		return lab.Down(ctx, o)
	case "reset":
		start := time.Now()
		l, err := lab.Reset(ctx, o)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, l.ShellEnv())
		fmt.Fprintf(stderr, "lab reset to pristine in %s\n", time.Since(start).Round(100*time.Millisecond))
		return seed(l)
	case "seed-users":
		return runLabSeed(ctx, o, fs.Args()[1:], stderr)
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

func runLabSeed(ctx context.Context, o lab.Options, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("lab seed-users", flag.ContinueOnError)
	fs.SetOutput(stderr)
	count := fs.Int("count", 0, "how many users to add (required)")
	ou := fs.String("ou", "", "OU to add them to, created if missing (default OU=SeedUsers,<base DN>)")
	prefix := fs.String("prefix", "seed", "cn of user i is <prefix><i>")
	samPrefix := fs.String("sam-prefix", "wbseed", "sAMAccountName of user i is <sam-prefix><i> (at most 20 characters in all)")
	from := fs.Int("from", 0, "index of the first user (to add more to an OU seeded before)")
	digits := fs.Int("digits", 0, "zero-pad the index to this many digits (7: \"Bench User 0000042\")")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: writeback lab [--dir DIR] seed-users --count N [--ou OU] [--prefix P] [--sam-prefix S] [--digits D] [--from I]

Adds N disabled users to the lab AD without going through LDAP: the lab's
Samba is stopped, the users are written into its database in bulk (the first
through Samba's own modules, the others cloned from it with their own
objectGUID, objectSid, USN and names), and Samba is started again: about
2,000 users/s. User i is CN=<prefix><i>,<ou> with displayName <prefix><i>,
sAMAccountName <sam-prefix><i> and userPrincipalName <sam-prefix><i>@<domain>,
disabled. Anyone using this lab instance meanwhile loses it for that time:
seed a lab of your own.

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(stderr, `
Example (the benchmark's L users, "Bench User 0000000" / bu0000000 ...):
  WRITEBACK_LAB_DIR=/var/tmp/wb-seed WRITEBACK_LAB_ADDR=127.0.0.7 writeback lab seed-users --count 270000 \
    --ou OU=BenchUsers,DC=contoso,DC=test --prefix 'Bench User ' --sam-prefix bu --digits 7
`)
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return errUsage
	}
	if *count < 1 || *from < 0 || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	l, err := lab.Running(o)
	if err != nil {
		return err
	}
	if *ou == "" {
		*ou = "OU=SeedUsers," + l.Env["LAB_BASE_DN"]
	}
	start := time.Now()
	err = lab.SeedUsers(ctx, o, lab.Seed{OU: *ou, Prefix: *prefix, SAMPrefix: *samPrefix, Digits: *digits, From: *from, To: *from + *count})
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(stderr, "seeded %d users into %s in %s (%.0f/s, Samba restart included)\n", *count, *ou, el.Round(100*time.Millisecond), float64(*count)/el.Seconds())
	return nil
}

package labcli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/writeback/writeback/internal/lab"
)

// labArgs are the flags and action of writeback-lab.
type labArgs struct {
	dir, action             string
	rest                    []string // seed-users' own arguments
	noSchema, quiet         bool
	noEmulator, connectSync bool
	dcs                     int  // up: 2 joins a second DC (issue #20)
	postgres                bool // up/down: the lab's PostgreSQL too (issue #23)
}

func labFlags(a *labArgs, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a.dir, "dir", "", "lab directory (default $WRITEBACK_LAB_DIR or "+lab.DefaultDir+")")
	fs.BoolVar(&a.noSchema, "no-schema", false, "use the second lab instance on 127.0.0.2 whose schema lacks msDS-ExternalDirectoryObjectId")
	fs.BoolVar(&a.quiet, "q", false, "do not show the lab script's progress")
	fs.BoolVar(&a.noEmulator, "no-emulator", false, "up/reset: only the AD, without the Graph emulator and the sample tenant")
	fs.BoolVar(&a.postgres, "postgres", false, "up: also start the lab's PostgreSQL (its own cluster on the lab's address, port 15432) for high-availability tests; down: stop it too (docs/ha.md)")
	fs.IntVar(&a.dcs, "dcs", 1, "up: 2 joins a second Samba DC to the lab domain on the next loopback address (replicate: 'writeback-lab replicate')")
	fs.BoolVar(&a.connectSync, "connect-sync", false, "up/reset: also write OU=ConnectSync, groups as Connect Sync group writeback v2 left them, with their cloud groups, to try 'writeback migrate'")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: writeback-lab [flags] up|down|reset|replicate|env|config
       writeback-lab [flags] seed-users --count N [--ou OU] [--prefix P] [--sam-prefix S] [--digits D] [--from I]

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
  up --dcs 2
          also join a second Samba DC (dc2) to the lab domain on the next
          loopback address, for ad.servers / failover tests
  replicate
          replicate the domain partition between the two DCs now, both ways
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

Environment: WRITEBACK_LAB_DIR (default %s), WRITEBACK_LAB_ADDR
(loopback address of the default instance, default 127.0.0.1).

Flags:
`, lab.DefaultDir)
		fs.PrintDefaults()
		fmt.Fprint(stderr, `
Examples:
  writeback-lab up
  writeback check --config <(writeback-lab config)
  writeback plan --config <(writeback-lab config)
  eval "$(writeback-lab env)"; ldapsearch -H "$LAB_LDAPS_URL" ...
  writeback-lab --no-schema up     # a DC without msDS-ExternalDirectoryObjectId
  writeback-lab --connect-sync up  # plus a Connect-Sync-shaped OU for 'writeback migrate'
  writeback migrate assess --config <(writeback-lab config) --base OU=ConnectSync,DC=contoso,DC=test
  WRITEBACK_LAB_DIR=/var/tmp/wb-large WRITEBACK_LAB_ADDR=127.0.0.6 writeback-lab --no-emulator up
  WRITEBACK_LAB_DIR=/var/tmp/wb-large WRITEBACK_LAB_ADDR=127.0.0.6 writeback-lab seed-users --count 250000
`)
	}
	return fs
}

// Lab runs writeback-lab's lab actions: up, down, reset, env, config, seed-users.
func Lab(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var a labArgs
	fs := labFlags(&a, stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return ErrUsage
	}
	rest := fs.Args()
	if len(rest) > 1 && rest[0] == "up" { // writeback-lab up --dcs 2
		if err := fs.Parse(rest[1:]); err != nil || fs.NArg() > 0 {
			fs.Usage()
			return ErrUsage
		}
		rest = []string{"up"}
	}
	if len(rest) < 1 || (len(rest) > 1 && rest[0] != "seed-users") || a.dcs < 1 || a.dcs > 2 {
		fs.Usage()
		return ErrUsage
	}
	a.action, a.rest = rest[0], rest[1:]
	if a.connectSync && (a.noEmulator || (a.action != "up" && a.action != "reset")) {
		fmt.Fprintln(stderr, "writeback-lab: --connect-sync goes with up or reset, and needs the emulator (not --no-emulator)")
		return ErrUsage
	}
	o := lab.Default()
	if a.noSchema {
		o = lab.NoSchema()
	}
	o.Dir = a.dir
	if !a.quiet {
		o.Log = stderr
	}
	if !a.noEmulator {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("lab: find the writeback-lab binary to run the Graph emulator: %w (or use --no-emulator)", err)
		}
		o.Executable = exe
	}
	err := labAction(ctx, a, o, stdout, stderr)
	if errors.Is(err, ErrUsage) {
		fs.Usage()
	}
	return err
}

// labAction does a's action on the lab instance o.
func labAction(ctx context.Context, a labArgs, o lab.Options, stdout, stderr io.Writer) error {
	flagSuffix := map[bool]string{true: " --no-schema"}[a.noSchema]
	seed := func(l *lab.Lab) error {
		if !a.connectSync {
			return nil
		}
		ou, err := lab.SeedConnectSync(ctx, l)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "Connect-Sync-shaped groups written to %s (and their cloud groups to the emulator)\nnext: writeback migrate assess --config <(writeback-lab%s config) --base '%s'\n", ou, flagSuffix, ou)
		return nil
	}
	switch a.action {
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
		fmt.Fprintf(stderr, "%s in %s (%s)\nnext: writeback check --config <(writeback-lab%s config)\n",
			what, l.Dir, time.Since(start).Round(100*time.Millisecond), flagSuffix)
		if a.postgres { // issue #23
			if err := postgresUp(ctx, o, stderr); err != nil {
				return err
			}
		}
		if a.dcs == 2 { // issue #20: a second DC joined to the lab domain
			l2, err := lab.UpSecond(ctx, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "second DC %s is up in %s (ad.servers: [%s, %s]; 'writeback-lab replicate' replicates both ways now)\n",
				l2.Env["LAB_TLS_SERVER_NAME"], l2.Dir, l.Env["LAB_LDAPS_URL"], l2.Env["LAB_LDAPS_URL"])
		}
		return seed(l)
	case "replicate":
		return lab.Replicate(ctx, o)
	case "down":
		if a.postgres { // issue #23
			if err := lab.PostgresDown(ctx, o); err != nil {
				return err
			}
		}
		if _, err := lab.Running(lab.Second(o)); err == nil {
			if err := lab.DownSecond(ctx, o); err != nil {
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
		return labSeed(ctx, o, a.rest, stderr)
	case "env", "config":
		l, err := lab.Running(o)
		if err != nil {
			return err
		}
		if a.action == "env" {
			fmt.Fprint(stdout, l.ShellEnv())
		} else {
			fmt.Fprint(stdout, l.ConfigYAML())
		}
		return nil
	default:
		fmt.Fprintf(stderr, "writeback-lab: unknown action %q\n", a.action)
		return ErrUsage
	}
}

func labSeed(ctx context.Context, o lab.Options, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("lab seed-users", flag.ContinueOnError)
	fs.SetOutput(stderr)
	count := fs.Int("count", 0, "how many users to add (required)")
	ou := fs.String("ou", "", "OU to add them to, created if missing (default OU=SeedUsers,<base DN>)")
	prefix := fs.String("prefix", "seed", "cn of user i is <prefix><i>")
	samPrefix := fs.String("sam-prefix", "wbseed", "sAMAccountName of user i is <sam-prefix><i> (at most 20 characters in all)")
	from := fs.Int("from", 0, "index of the first user (to add more to an OU seeded before)")
	digits := fs.Int("digits", 0, "zero-pad the index to this many digits (7: \"Bench User 0000042\")")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: writeback-lab [--dir DIR] seed-users --count N [--ou OU] [--prefix P] [--sam-prefix S] [--digits D] [--from I]

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
  WRITEBACK_LAB_DIR=/var/tmp/wb-seed WRITEBACK_LAB_ADDR=127.0.0.7 writeback-lab seed-users --count 270000 \
    --ou OU=BenchUsers,DC=contoso,DC=test --prefix 'Bench User ' --sam-prefix bu --digits 7
`)
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return ErrUsage
	}
	if *count < 1 || *from < 0 || fs.NArg() != 0 {
		fs.Usage()
		return ErrUsage
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

// postgresUp starts the lab's PostgreSQL ('writeback-lab up --postgres').
func postgresUp(ctx context.Context, o lab.Options, stderr io.Writer) error {
	p, err := lab.PostgresUp(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "lab PostgreSQL is up: %s (superuser password in %s); state.postgres: {url: %s, password: {file: %s}}\n",
		p.URL("postgres"), p.PasswordFile, p.URL("postgres"), p.PasswordFile)
	return nil
}

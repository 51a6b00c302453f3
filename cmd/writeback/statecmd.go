package main

import (
	"context"

	"fmt"
	"io"
	"time"

	"github.com/writeback/writeback/internal/state"
	"github.com/writeback/writeback/internal/wire"
)

// stateMigrateArgs are 'state migrate's flags.
type stateMigrateArgs struct {
	config string
	from   string // "" for the configuration's state.path
	to     string
}

// parseStateMigrateArgs parses the flags after 'state migrate'.
func parseStateMigrateArgs(args []string, stderr io.Writer) (stateMigrateArgs, error) {
	var a stateMigrateArgs
	fs := newFlagSet("state migrate", stateUsage, stderr)
	fs.StringVar(&a.config, "config", defaultConfig(), "configuration `FILE` (env WRITEBACK_CONFIG)")
	fs.StringVar(&a.from, "from", "", "the state `FILE` to copy (default: state.path of the configuration)")
	fs.StringVar(&a.to, "to", "postgres", "where to copy it: postgres (state.postgres of the configuration)")
	if err := parseNoArgs(fs, args, stderr); err != nil {
		return a, err
	}
	return a, nil
}

// runState is 'writeback state SUBCOMMAND'; today: migrate.
func runState(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "migrate" {
		help := len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help")
		if help {
			// asking for help is not a mistake: stdout, exit 0
			fmt.Fprint(stdout, stateUsage)
			return nil
		}
		if len(args) > 0 {
			fmt.Fprintf(stderr, "writeback state: unknown subcommand %q\n", args[0])
		}
		fmt.Fprint(stderr, stateUsage)
		return errUsage
	}
	a, err := parseStateMigrateArgs(args[1:], usageTo(stdout, stderr))
	if err != nil {
		return inStep("migrate", err)
	}
	return inStep("migrate", stateMigrate(ctx, a.config, a.from, a.to, stdout, stderr))
}

const stateUsage = `Usage: writeback state migrate [--from FILE] --to postgres [--config FILE]

Copies a state file (delta links, cloud cache, ownership, statuses and
quarantine, rounds, the provisioning log, findings, the configuration
fingerprint) into the PostgreSQL database of state.postgres, for
high availability (docs/ha.md). The database must hold no state yet; the
file is not changed. Stop 'writeback run' first: the file is locked for the
copy, and the copy takes the leader lease, so no instance writes meanwhile.
Then point every instance at state.postgres: the next round continues from
the copied delta links, without a full round.

Examples:
  writeback state migrate --from /var/lib/writeback/writeback.db --to postgres --config /etc/writeback/writeback.yaml
`

// stateMigrate copies the state file from (default: the configuration's
// state.path) into the configuration's state.postgres.
func stateMigrate(ctx context.Context, cfgPath, from, to string, stdout, stderr io.Writer) error {
	if to != "postgres" {
		return fmt.Errorf("--to %s: only postgres is supported (the database of state.postgres)", to)
	}
	cfg, _, err := wire.Load(cfgPath, stderr)
	if err != nil {
		return err
	}
	if cfg.State.Postgres == nil {
		return fmt.Errorf("config %s has no state.postgres: add state.postgres.url (and password) first (docs/ha.md)", cfgPath)
	}
	if from == "" {
		from = wire.StatePath(cfg)
	}
	lock, err := state.AcquireLock(from, "state migrate")
	if err != nil {
		return err
	}
	defer lock.Release()
	src, err := state.OpenReadOnly(from, openTimeoutMigrate)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, _, err := wire.OpenState(ctx, cfg, "state migrate") // state.postgres: no lock file
	if err != nil {
		return err
	}
	defer dst.Close()
	l, err := dst.NewLeader(holderName()+" (state migrate)", nil)
	if err != nil {
		return err
	}
	ok, err := l.TryAcquire(ctx)
	if err != nil {
		return err
	}
	if !ok {
		info, _, _ := dst.Lease(ctx)
		return fmt.Errorf("a writeback instance leads on %s (%s, epoch %d): stop every instance before migrating", dst.Path(), info.Holder, info.Epoch)
	}
	defer l.Release(context.WithoutCancel(ctx))
	st, err := state.Copy(dst, src)
	if err != nil {
		return err
	}
	g, u, err := dst.Links()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Copied %s into %s: %d buckets, %d keys.\n", from, dst.Path(), st.Buckets, st.Keys)
	if g == "" || u == "" {
		fmt.Fprintln(stdout, "The state had no delta links yet: the first round on PostgreSQL is a full one.")
	} else {
		fmt.Fprintln(stdout, "The delta links came along: the next round continues incrementally.")
	}
	fmt.Fprintf(stdout, "Next: keep %s as a backup, and start the instances with state.postgres.\n", from)
	return nil
}

const openTimeoutMigrate = 5 * time.Second // the file is locked by us; a reader holds it for moments

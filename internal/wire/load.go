package wire

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/state"
)

// Load reads the configuration file at path ("-" for stdin) and builds the
// configured logger writing to logOut: where every command starts, so each
// one logs as log.format and log.level say.
func Load(path string, logOut io.Writer) (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	return cfg, Logger(cfg.Log, logOut), nil
}

// PostgresOptions are state.postgres's settings as the state package takes
// them, the password read from its file or environment variable.
func PostgresOptions(cfg *config.Config, readOnly bool) (state.PostgresOptions, error) {
	p := cfg.State.Postgres
	o := state.PostgresOptions{URL: p.URL, Takeover: time.Duration(p.Takeover), ReadOnly: readOnly}
	if p.Password.IsSet() {
		pw, err := p.Password.Value("state.postgres.password")
		if err != nil {
			return o, err
		}
		o.Password = pw
	}
	return o, nil
}

// OpenState opens cfg's state for the process that writes it: the
// PostgreSQL database of state.postgres, or else the file at StatePath,
// claimed first with its lock file for command, so that a second process
// is refused at once, naming this one. The lock (nil for PostgreSQL, whose
// writers take turns through its lease) is released after the state is
// closed.
func OpenState(ctx context.Context, cfg *config.Config, command string) (*state.DB, *state.Lock, error) {
	if cfg.State.Postgres != nil {
		o, err := PostgresOptions(cfg, false)
		if err != nil {
			return nil, nil, err
		}
		db, err := state.OpenPostgres(ctx, o)
		return db, nil, err
	}
	path := StatePath(cfg)
	lock, err := state.AcquireLock(path, command)
	if err != nil {
		return nil, nil, err
	}
	db, err := state.Open(path)
	if err != nil {
		lock.Release()
		return nil, nil, err
	}
	return db, lock, nil
}

// OpenStateReadOnly opens cfg's state to read it (status, log): the
// PostgreSQL database read-only, or the file read-only, waiting up to wait
// while another process writes it. state.ErrNoState says there is none yet.
func OpenStateReadOnly(ctx context.Context, cfg *config.Config, wait time.Duration) (*state.DB, error) {
	if cfg.State.Postgres != nil {
		o, err := PostgresOptions(cfg, true)
		if err != nil {
			return nil, err
		}
		return state.OpenPostgres(ctx, o)
	}
	return state.OpenReadOnly(StatePath(cfg), wait)
}

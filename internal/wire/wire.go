// Package wire builds writeback's parts from a configuration, in one place:
// the configuration with its logger (Load: log.format, log.level), the state
// (OpenState for the writer, OpenStateReadOnly for status and log; a file or
// PostgreSQL), the AD connections (domain controller and Global Catalog),
// the Graph client and the engine.
// Every command that talks to AD or Entra, and the tests that need the same
// parts, get them here, so each part logs through the configured logger:
// the AD connection's reconnects and Graph's warnings included.
package wire

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/engine"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
	"github.com/writeback/writeback/internal/mapping"
	"github.com/writeback/writeback/internal/resolve"
	"github.com/writeback/writeback/internal/scope"
	"github.com/writeback/writeback/internal/state"
)

// Logger is the configured logger writing to w: text or JSON lines at
// log.level (info when unset or unknown).
func Logger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// StatePath resolves state.path relative to the config file's directory.
func StatePath(cfg *config.Config) string {
	p := cfg.State.Path
	if filepath.IsAbs(p) || cfg.Path == "" || cfg.Path == "-" {
		return p
	}
	return filepath.Join(filepath.Dir(cfg.Path), p)
}

// DC connects to a domain controller (the one URL, or the first that answers
// of ad.servers / the DCs ad.domain locates), logging through log.
func DC(ctx context.Context, c config.AD, log *slog.Logger) (*ad.Conn, error) {
	conn, err := ad.Dial(ctx, adconfig.Options(c, log))
	if err != nil {
		return nil, fmt.Errorf("connect to AD: %w", err)
	}
	return conn, nil
}

// GC connects to the Global Catalog, logging through log: near's own GC
// first when near is not nil (it holds what that DC wrote: issue #20).
func GC(ctx context.Context, c config.AD, log *slog.Logger, near *ad.Conn) (*ad.Conn, error) {
	conn, err := ad.DialGCNear(ctx, adconfig.Options(c, log), near)
	if err != nil {
		return nil, fmt.Errorf("connect to the Global Catalog: %w", err)
	}
	return conn, nil
}

// Graph builds the Graph client for cfg's entra section, logging through
// log and selecting the group properties cfg's mappings and scope read.
func Graph(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...entra.Option) (*entra.Client, error) {
	if cfg.Entra == nil {
		return nil, fmt.Errorf("config %s: the entra section is required (run 'writeback init' for an example)", cfg.Path)
	}
	props, err := GraphProperties(cfg)
	if err != nil {
		return nil, err
	}
	opts = append([]entra.Option{entra.WithLogger(log), entra.WithGroupProperties(props...)}, opts...)
	c, err := entra.New(ctx, entraconfig.Options(*cfg.Entra), opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to Entra: %w", err)
	}
	return c, nil
}

// GraphProperties are the group properties the mappings and scoping filters
// read, which Graph must be asked for by name ($select): a mapping on
// [classification] or [extension_<appId>_<name>] would otherwise get nothing.
func GraphProperties(cfg *config.Config) ([]string, error) {
	m, err := mapping.Compile(cfg.Mappings, "OU=placeholder")
	if err != nil {
		return nil, err
	}
	sc, err := scope.New(cfg.Scope)
	if err != nil {
		return nil, err
	}
	return append(m.Properties(), sc.Properties()...), nil
}

// Parts are what an engine runs on.
type Parts struct {
	Config *config.Config
	State  *state.DB
	DC, GC *ad.Conn
	Graph  *entra.Client
	Log    *slog.Logger
	// Resolver keeps resolved members across rounds (nil: a new one).
	Resolver *resolve.Resolver
}

// Engine builds the engine on p.
func Engine(ctx context.Context, p Parts) (*engine.Engine, error) {
	if p.Resolver == nil {
		p.Resolver = resolve.New(nil) // the engine sets its directory
	}
	return engine.New(ctx, engine.Options{Config: p.Config, State: p.State, DC: p.DC, GC: p.GC,
		Source: p.Graph, Logger: p.Log, Resolver: p.Resolver})
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/engine"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/resolve"
	"github.com/writeback/writeback/internal/state"
	"github.com/writeback/writeback/internal/wire"
)

// session is what plan, apply, run and provision share: config, state, AD
// connections, the Graph client and the engine.
type session struct {
	cfg    *config.Config
	db     *state.DB
	dc, gc *ad.Conn
	src    *entra.Client
	eng    *engine.Engine
	log    *slog.Logger
	// resolver keeps resolved members across the daemon's rounds.
	resolver *resolve.Resolver
	// logOut is where the logger writes (a reloaded configuration makes a new logger).
	logOut io.Writer
	// lock is this process's claim on the state, held until Close; srv
	// answers status and log meanwhile (see statesock.go).
	lock *state.Lock
	srv  *stateServer
	// leader is this process's candidacy with a PostgreSQL state (ha.go);
	// stopKeep ends its renewals.
	leader   *state.Leader
	stopKeep context.CancelFunc
	// ops, for the daemon only, receives each round (metrics, readiness).
	ops *ops
	// progress counts the work of the engine's rounds as they run.
	progress engine.Progress
}

// connect makes the connections the session does not have yet: all of them
// at first, and after a reload those whose settings changed.
func (s *session) connect(ctx context.Context) error {
	var err error
	if s.dc == nil {
		if s.dc, err = wire.DC(ctx, s.cfg.AD, s.log); err != nil {
			return err
		}
	}
	if s.gc == nil {
		if s.gc, err = wire.GC(ctx, s.cfg.AD, s.log, s.dc); err != nil {
			return err
		}
	}
	if s.src == nil {
		if s.src, err = wire.Graph(ctx, s.cfg, s.log); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) Close() {
	s.srv.Close()
	s.closeLeader() // HA (ha.go): hand the lease over
	if s.db != nil {
		s.db.Close()
	}
	s.lock.Release()
	if s.gc != nil {
		s.gc.Close()
	}
	if s.dc != nil {
		s.dc.Close()
	}
}

// openSession opens what command (run, apply, plan, ...) needs. The state is
// claimed for the session's life: a second process on the same state is
// refused at once, naming this one. plan claims it too: it records Graph's
// delta links in the state.
func openSession(ctx context.Context, command, cfgPath string, stderr io.Writer) (*session, error) {
	cfg, log, err := wire.Load(cfgPath, stderr)
	if err != nil {
		return nil, err
	}
	if cfg.Entra == nil {
		return nil, fmt.Errorf("config %s: the entra section is required to provision (run 'writeback init' for an example)", cfgPath)
	}
	s := &session{cfg: cfg, log: log, logOut: stderr}
	applyMemoryLimit(cfg.Sync, s.log)
	for _, w := range cfg.LooseSecretFiles() {
		s.log.Warn("secret file permissions too open", "problem", w)
	}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	// The state file (locked) or PostgreSQL (HA: ha.go).
	if err := s.openState(ctx, command); err != nil {
		return nil, err
	}
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	if err := s.newEngine(ctx); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

func (s *session) newEngine(ctx context.Context) error {
	if s.resolver == nil {
		s.resolver = resolve.New(nil) // the engine sets its directory
	}
	eng, err := wire.Engine(ctx, wire.Parts{Config: s.cfg, State: s.db, DC: s.dc, GC: s.gc, Graph: s.src, Log: s.log, Resolver: s.resolver})
	if err != nil {
		return err
	}
	eng.SetProgress(&s.progress)
	s.eng = eng
	return nil
}

// planTarget is what a plan made in this session is for: this build, the
// configured DC, the domain (ad.baseDN, else the DC's default naming
// context) and the tenant.
func (s *session) planTarget(ctx context.Context) (engine.PlanTarget, error) {
	b := buildInfo()
	t := engine.PlanTarget{Version: b.Version, ADServer: configuredAD(s.cfg.AD), BaseDN: s.cfg.AD.BaseDN}
	if b.Commit != "" {
		t.Version += " (" + b.Commit + ")"
	}
	if s.cfg.Entra != nil {
		t.TenantID = s.cfg.Entra.TenantID
	}
	if t.BaseDN == "" {
		root, err := s.dc.RootDSE(ctx)
		if err != nil {
			return t, fmt.Errorf("read the domain's naming context for the plan file: %w", err)
		}
		t.BaseDN = root.DefaultNamingContext
	}
	return t, nil
}

// configuredAD names the domain controllers the configuration points at:
// ad.url, the ad.servers list, or the domain whose DCs DNS locates.
func configuredAD(a config.AD) string {
	switch {
	case a.URL != "":
		return a.URL
	case len(a.Servers) > 0:
		return strings.Join(a.Servers, ",")
	case a.Domain != "":
		return "domain " + a.Domain
	}
	return ""
}

package main

import (
	"errors"
	"os"
	"os/signal"
	"reflect"
	"syscall"

	"github.com/writeback/writeback/internal/engine"
	"github.com/writeback/writeback/internal/wire"
)

// reloadSignal delivers SIGHUP, the conventional "read your configuration
// again" of a daemon (systemctl reload).
type reloadSignal struct{ c chan os.Signal }

func notifyReload() reloadSignal {
	r := reloadSignal{c: make(chan os.Signal, 1)}
	signal.Notify(r.c, syscall.SIGHUP)
	return r
}

func (r reloadSignal) stop() { signal.Stop(r.c) }

// reload reads the configuration file again. A valid one replaces the
// running configuration (and the logger); the connections whose settings
// changed are made again before the next round, which also re-reads their
// secrets. An invalid one is reported with all its errors and the running
// configuration is kept: a typo must not stop the daemon.
func (s *session) reload(cfgPath, running string) {
	cfg, log, err := wire.Load(cfgPath, s.logOut)
	if err == nil && cfg.Entra == nil {
		err = errors.New("the entra section is required to provision")
	}
	if err == nil {
		err = engine.Validate(cfg)
	}
	if err != nil {
		s.log.Error("configuration not reloaded: the running configuration is kept; fix the file and send SIGHUP again",
			"file", cfgPath, "err", err)
		return
	}
	// HA (ha.go): the shared state stays the one opened at start.
	cfg.State.Postgres = s.cfg.State.Postgres
	if p := wire.StatePath(cfg); p != running && s.cfg.State.Postgres == nil {
		s.log.Warn("state.path changed: it takes effect when writeback restarts; this run keeps its state file",
			"file", cfgPath, "running", running, "new", p)
		cfg.State.Path = running
	}
	old := s.cfg
	s.cfg = cfg
	s.log = log
	applyMemoryLimit(cfg.Sync, s.log)
	for _, w := range cfg.LooseSecretFiles() {
		s.log.Warn("secret file permissions too open", "problem", w)
	}
	// The connections log through the logger they were made with.
	relog := !reflect.DeepEqual(old.Log, cfg.Log)
	if relog || !reflect.DeepEqual(old.AD, cfg.AD) {
		if s.gc != nil {
			s.gc.Close()
		}
		if s.dc != nil {
			s.dc.Close()
		}
		s.dc, s.gc = nil, nil
		if !reflect.DeepEqual(old.AD, cfg.AD) {
			s.resolver = nil // cached DNs may be of another forest or account's view
		}
	}
	// The Graph client selects the properties the mappings and filters read.
	if relog || !reflect.DeepEqual(*old.Entra, *cfg.Entra) ||
		!reflect.DeepEqual(old.Mappings, cfg.Mappings) || !reflect.DeepEqual(old.Scope, cfg.Scope) {
		s.src = nil
	}
	s.log.Info("configuration reloaded", "file", cfgPath)
}

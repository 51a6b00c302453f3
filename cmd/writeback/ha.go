package main

// High availability (docs/ha.md): with state.postgres, the state is in
// PostgreSQL, shared by every instance, and one instance at a time leads.
// This file opens either kind of state for a session, keeps the daemon a
// follower until it leads, and reports the role to status, metrics and
// /readyz. The hooks elsewhere are one call each: openSession (plan.go)
// calls openState; the daemon loop (run.go) calls awaitLeadership and
// leaderContext; ops (ops.go) reads role.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/state"
	"github.com/writeback/writeback/internal/wire"
)

// holderName names this process in the lease: host and pid.
func holderName() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", h, os.Getpid())
}

// openState opens the session's state. A state file is claimed with its
// lock file, as before. A PostgreSQL state makes this process a candidate
// for leadership: the daemon (run) waits for it in its loop; the one-shot
// commands (plan, apply, provision) take the lease at once or refuse, as a
// second process on a state file is refused.
func (s *session) openState(ctx context.Context, command string) error {
	var err error
	if s.db, s.lock, err = wire.OpenState(ctx, s.cfg, command); err != nil {
		return err
	}
	if s.cfg.State.Postgres == nil {
		s.srv = serveState(s.db, s.log)
		return nil
	}
	if s.leader, err = s.db.NewLeader(holderName(), s.log); err != nil {
		return err
	}
	// Renewals run for the session's life; they do nothing while following.
	keepCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopKeep = stop
	go s.leader.Keep(keepCtx)
	if command == "run" {
		return nil
	}
	ok, err := s.leader.TryAcquire(ctx)
	if err != nil {
		return err
	}
	if !ok {
		info, _, _ := s.db.Lease(ctx)
		return fmt.Errorf("state %s: another writeback instance leads (%s, epoch %d): stop it, or run %s on it", s.db.Path(), info.Holder, info.Epoch, command)
	}
	return nil
}

// role is this instance's part: "leader" or "follower" with a shared
// state, "" with a state file.
type role struct{ v atomic.Value }

func (r *role) set(s string) { r.v.Store(s) }
func (r *role) get() string {
	s, _ := r.v.Load().(string)
	return s
}

// awaitLeadership returns once this process leads (at once for a state
// file), following meanwhile: the role is "follower" and no round runs. It
// returns ctx's error when ctx ends first.
func (s *session) awaitLeadership(ctx context.Context) error {
	if s.leader == nil {
		return nil
	}
	said := false
	for {
		ok, err := s.leader.TryAcquire(ctx)
		if ok {
			if s.ops != nil {
				s.ops.role.set("leader")
			}
			// What this process cached while another led may be stale:
			// the other changed AD meanwhile.
			s.resolver = nil
			s.log.Info("leading: running rounds", "epoch", s.leader.Epoch())
			return nil
		}
		if s.ops != nil {
			s.ops.role.set("follower")
		}
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("leader election failed; retrying", "err", err)
		case !said:
			info, _, _ := s.db.Lease(ctx)
			s.log.Info("following: another instance leads", "leader", info.Holder, "epoch", info.Epoch,
				"takeoverWithin", s.leader.Takeover())
			said = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.leader.PollEvery()):
		}
	}
}

// leaderContext is ctx, ended also when this process stops leading: the
// round stops before its next AD write (the engine's fence says the same
// a little earlier, from the lease's clock).
func (s *session) leaderContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.leader == nil {
		return ctx, func() {}
	}
	lost := s.leader.Lost()
	rctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-lost:
			cancel(state.ErrNotLeader)
		case <-rctx.Done():
		}
	}()
	return rctx, func() { cancel(nil) }
}

// closeLeader stops renewing and hands the lease over (a clean stop).
func (s *session) closeLeader() {
	if s.stopKeep != nil {
		s.stopKeep()
	}
	if s.leader != nil {
		s.leader.Release(context.Background())
	}
}

// registerRoleMetrics adds writeback_role{role="leader"|"follower"} (1 for
// the instance's role) to the metrics of a shared state.
func (o *ops) registerRoleMetrics() {
	for _, r := range []string{"leader", "follower"} {
		o.metrics.Registry().MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "writeback", Name: "role", Help: "1 for this instance's role with a shared (PostgreSQL) state: leader or follower.",
			ConstLabels: prometheus.Labels{"role": r},
		}, func() float64 {
			if o.role.get() == r {
				return 1
			}
			return 0
		}))
	}
}

// Role is the instance's role for /readyz ("" with a state file).
func (o *ops) Role() string { return o.role.get() }

// standbyReady is readiness as a follower: it syncs nothing, so no round
// need have succeeded; it is ready to take over when it reads the state.
func (o *ops) standbyReady(ctx context.Context) []string {
	if _, _, err := o.db.Lease(ctx); err != nil {
		return []string{fmt.Sprintf("follower: cannot read the shared state: %v", err)}
	}
	return nil
}

// queryShared answers status and log from a PostgreSQL state: every
// instance and every reader sees the same database, so there is no holder
// to ask.
func queryShared(ctx context.Context, cfg *config.Config, q stateQuery, stdout interface{ Write([]byte) (int, error) }) error {
	db, err := wire.OpenStateReadOnly(ctx, cfg, 0)
	if errors.Is(err, state.ErrNoState) {
		fmt.Fprintf(stdout, "No state yet in %s: writeback has not run with this database.\n", cfg.State.Postgres.URL)
		if q.Cmd == "status" {
			return errNeedsOperator
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer db.Close()
	return answerQuery(db, q, stdout)
}

// leaseLine describes the lease for status.
func leaseLine(ctx context.Context, db *state.DB) (*state.LeaseInfo, error) {
	if !db.Shared() {
		return nil, nil
	}
	info, ok, err := db.Lease(ctx)
	if err != nil || !ok {
		return nil, err
	}
	return &info, nil
}

func roleSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ", " + r
}

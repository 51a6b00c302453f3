package engine

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/writeback/writeback/internal/state"
)

// Clock is the daemon's time: the real one (nil in Daemon), or a fake one in
// tests. (Tests in a testing/synctest bubble can use the real one: its time
// is the bubble's.)
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Daemon is 'writeback run': a round at once (a full one when no full round
// was applied yet or sync.fullReconcile is due), then a round every
// sync.interval, a full one whenever the reconcile is due again, until ctx
// ends. A failed round does not stop it (the next one plans again), but a
// damaged state file does: every following round would fail the same way.
// The command supplies the round itself (connecting, making the engine,
// RunOnce, reporting) and the configuration, which a reload may change.
type Daemon struct {
	// Round runs one round. full: a full reconcile is due; allowDeletes
	// lifts the deletion threshold (the first round only, --allow-deletes).
	Round func(ctx context.Context, full, allowDeletes bool) error
	// Interval and FullReconcile return sync.interval and
	// sync.fullReconcile, read again for every round (a reload changes them).
	Interval, FullReconcile func() time.Duration
	// LastFull says when a full round was last applied (state.DB.LastFull).
	LastFull func() (t time.Time, set bool, err error)
	// Once stops after the first round and returns its error.
	Once bool
	// AllowDeletes is passed to the first round only.
	AllowDeletes bool
	// Reload, when it delivers, calls OnReload between rounds (SIGHUP);
	// the next round starts at once.
	Reload   <-chan os.Signal
	OnReload func()
	// Log returns the logger (a reload may replace it); nil: slog.Default.
	Log   func() *slog.Logger
	Clock Clock // nil: the real clock
}

// Run runs rounds until ctx ends (nil), Once is set (the round's error) or
// the state is damaged (that error).
func (d *Daemon) Run(ctx context.Context) error {
	if d.Log == nil {
		d.Log = slog.Default
	}
	allow := d.AllowDeletes
	for {
		err := d.round(ctx, allow)
		allow = false
		if state.IsDamaged(err) {
			return err
		}
		if ctx.Err() != nil {
			d.Log().Info("stopped", "reason", context.Cause(ctx))
			return nil
		}
		if d.Once {
			return err
		}
		select {
		case <-ctx.Done():
			d.Log().Info("stopped", "reason", context.Cause(ctx))
			return nil
		case <-d.clock().After(d.Interval()):
		case <-d.Reload:
			// A new configuration takes effect in a round at once (a full
			// one when it changes what AD should hold: see the engine's
			// configuration fingerprint).
			d.OnReload()
		}
	}
}

// round runs one round, full when the reconcile is due.
func (d *Daemon) round(ctx context.Context, allow bool) error {
	full, err := d.FullDue()
	if err != nil {
		return err
	}
	return d.Round(ctx, full, allow)
}

// FullDue reports whether the next round must be full: no full round was
// applied yet (or its record is unreadable), or the last one is
// sync.fullReconcile old.
func (d *Daemon) FullDue() (bool, error) {
	t, set, err := d.LastFull()
	if err != nil {
		return false, err
	}
	if !set || t.IsZero() {
		return true, nil
	}
	return d.clock().Now().Sub(t) >= d.FullReconcile(), nil
}

func (d *Daemon) clock() Clock {
	if d.Clock == nil {
		return realClock{}
	}
	return d.Clock
}

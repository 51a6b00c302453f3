package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/writeback/writeback/internal/state"
)

// roundCall is one round the daemon ran: when (bubble time since the
// start) and what it asked for.
type roundCall struct {
	at                time.Duration
	full, allowDelete bool
}

// testDaemon returns a daemon whose rounds are recorded in *calls; a full
// round records itself as the last full one, as Apply does. round, when
// not nil, decides each round's error.
func testDaemon(calls *[]roundCall, round func(n int) error) *Daemon {
	start := time.Now()
	var lastFull time.Time
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &Daemon{
		Round: func(ctx context.Context, full, allow bool) error {
			*calls = append(*calls, roundCall{at: time.Since(start), full: full, allowDelete: allow})
			if full {
				lastFull = time.Now()
			}
			if round != nil {
				return round(len(*calls))
			}
			return nil
		},
		Interval:      func() time.Duration { return time.Minute },
		FullReconcile: func() time.Duration { return time.Hour },
		LastFull: func() (time.Time, bool, error) {
			return lastFull, !lastFull.IsZero(), nil
		},
		Log: func() *slog.Logger { return log },
	}
}

// The schedule: a full round at once (none applied yet), then a round
// every interval, full again when the reconcile is due; --allow-deletes
// holds for the first round only; cancelling stops the daemon cleanly.
func TestDaemonSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls []roundCall
		d := testDaemon(&calls, nil)
		d.AllowDeletes = true
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- d.Run(ctx) }()
		time.Sleep(90*time.Minute + time.Second)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
		if len(calls) != 91 {
			t.Fatalf("rounds in 90 minutes at a 1-minute interval = %d, want 91", len(calls))
		}
		for i, c := range calls {
			if c.at != time.Duration(i)*time.Minute {
				t.Errorf("round %d at %s, want %s", i, c.at, time.Duration(i)*time.Minute)
			}
			wantFull := i == 0 || i == 60
			if c.full != wantFull {
				t.Errorf("round %d (at %s) full = %v, want %v", i, c.at, c.full, wantFull)
			}
			if c.allowDelete != (i == 0) {
				t.Errorf("round %d allowDeletes = %v, want it on the first round only", i, c.allowDelete)
			}
		}
	})
}

// A failed round does not stop the daemon; --once returns the round's error.
func TestDaemonFailedRoundsAndOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("DC unreachable")
		var calls []roundCall
		d := testDaemon(&calls, func(int) error { return boom })
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- d.Run(ctx) }()
		time.Sleep(3*time.Minute + time.Second)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
		if len(calls) != 4 {
			t.Fatalf("failing rounds in 3 minutes = %d, want 4 (failures do not stop the daemon)", len(calls))
		}

		calls = nil
		d = testDaemon(&calls, func(int) error { return boom })
		d.Once = true
		if err := d.Run(t.Context()); !errors.Is(err, boom) {
			t.Fatalf("Run with Once = %v, want the round's error", err)
		}
		if len(calls) != 1 {
			t.Fatalf("rounds with Once = %d, want 1", len(calls))
		}
	})
}

// A damaged state file stops the daemon: every following round would fail
// the same way.
func TestDaemonStopsOnDamagedState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls []roundCall
		d := testDaemon(&calls, func(n int) error {
			if n == 3 {
				return &state.DamagedError{Path: "/x/state.db", Cause: errors.New("bad meta page")}
			}
			return nil
		})
		err := d.Run(t.Context())
		if !state.IsDamaged(err) {
			t.Fatalf("Run = %v, want the damaged-state error", err)
		}
		if len(calls) != 3 || calls[2].at != 2*time.Minute {
			t.Fatalf("rounds = %+v, want 3, the last at 2m", calls)
		}
	})
}

// A reload (SIGHUP) between rounds applies the new configuration and runs a
// round at once, with the new interval from then on.
func TestDaemonReloadRunsARoundAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls []roundCall
		d := testDaemon(&calls, nil)
		hup := make(chan os.Signal, 1)
		interval := time.Minute
		reloads := 0
		d.Reload = hup
		d.OnReload = func() { reloads++; interval = 10 * time.Minute }
		d.Interval = func() time.Duration { return interval }
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- d.Run(ctx) }()
		time.Sleep(90 * time.Second) // rounds at 0 and 1m
		hup <- syscall.SIGHUP
		synctest.Wait() // the reload's round, at 1m30s
		time.Sleep(10 * time.Minute)
		synctest.Wait() // and one at 11m30s
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := []time.Duration{0, time.Minute, 90 * time.Second, 11*time.Minute + 30*time.Second}
		if reloads != 1 || len(calls) != len(want) {
			t.Fatalf("reloads = %d, rounds = %+v; want 1 reload and rounds at %v", reloads, calls, want)
		}
		for i, c := range calls {
			if c.at != want[i] {
				t.Errorf("round %d at %s, want %s", i, c.at, want[i])
			}
		}
	})
}

// FullDue: no full round yet or an unreadable record makes the next round
// full; else the reconcile interval decides, on the daemon's clock.
func TestDaemonFullDue(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		last time.Time
		set  bool
		want bool
	}{
		{"never", time.Time{}, false, true},
		{"unreadable", time.Time{}, true, true},
		{"recent", now.Add(-time.Hour), true, false},
		{"due", now.Add(-24 * time.Hour), true, true},
	} {
		d := &Daemon{Clock: fixedClock(now), FullReconcile: func() time.Duration { return 24 * time.Hour },
			LastFull: func() (time.Time, bool, error) { return tc.last, tc.set, nil }}
		got, err := d.FullDue()
		if err != nil || got != tc.want {
			t.Errorf("%s: FullDue = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time                         { return time.Time(c) }
func (c fixedClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

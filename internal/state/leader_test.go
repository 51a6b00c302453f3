package state

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/lab/labtest"
)

func candidate(t *testing.T, pg *labtest.PG, holder string, takeover time.Duration) (*DB, *Leader) {
	t.Helper()
	db := openPG(t, pg, takeover)
	l, err := db.NewLeader(holder, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db, l
}

func setWho(db *DB, v string) error { return db.setMeta("who", v) }

// One leads; the other's writes and fence are refused; a leader that stops
// renewing (frozen) is taken over once its lease expires, and then can
// write neither state nor (by its fence) AD, even before it notices.
func TestLeaderFencing(t *testing.T) {
	pg := labtest.Postgres(t)
	ctx := context.Background()
	const takeover = 1500 * time.Millisecond // lease 1 s
	a, la := candidate(t, pg, "a", takeover)
	b, lb := candidate(t, pg, "b", takeover)
	if ok, err := la.TryAcquire(ctx); !ok || err != nil {
		t.Fatalf("a: %v %v", ok, err)
	}
	if ok, err := lb.TryAcquire(ctx); ok || err != nil {
		t.Fatalf("b took a live lease: %v %v", ok, err)
	}
	if err := setWho(a, "a"); err != nil {
		t.Fatalf("leader's write: %v", err)
	}
	if err := setWho(b, "b"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower's write = %v, want ErrNotLeader", err)
	}
	if err := b.Fence().Check(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower's fence = %v", err)
	}
	if err := a.Fence().Check(ctx); err != nil {
		t.Fatalf("leader's fence: %v", err)
	}
	// A renews for a while: b cannot take over.
	for range 4 {
		time.Sleep(300 * time.Millisecond)
		if err := la.Renew(ctx); err != nil {
			t.Fatal(err)
		}
		if ok, _ := lb.TryAcquire(ctx); ok {
			t.Fatal("b took over a renewed lease")
		}
	}
	// A freezes (stops renewing). Its own fence closes before the lease
	// can expire in the database...
	epochA := la.Epoch()
	time.Sleep(la.TTL() - la.p.times.margin + 50*time.Millisecond)
	if err := a.Fence().Check(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a's fence after ttl-margin without renewal = %v", err)
	}
	// ...and b takes over once it has.
	deadline := time.Now().Add(takeover)
	for {
		ok, err := lb.TryAcquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b did not take over an expired lease")
		}
		time.Sleep(lb.PollEvery())
	}
	if lb.Epoch() <= epochA {
		t.Fatalf("epoch %d after takeover, a had %d", lb.Epoch(), epochA)
	}
	if err := setWho(b, "b"); err != nil {
		t.Fatalf("new leader's write: %v", err)
	}
	// A resumes: it still thinks it leads, but the database refuses its write...
	if !la.Leading() {
		t.Fatal("a noticed without renewing (test assumption)")
	}
	if err := setWho(a, "a-stale"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("stale leader's write = %v, want ErrNotLeader", err)
	}
	// ...its renewal tells it, and it stops.
	if err := la.Renew(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("stale renewal = %v", err)
	}
	select {
	case <-la.Lost():
	default:
		t.Fatal("Lost not closed")
	}
	if v, _ := b.meta("who"); v != "b" {
		t.Fatalf("the new leader's write was undone: %q", v)
	}
}

// A leader whose database session ends (kill -9, or a PostgreSQL restart
// under a live leader) is taken over when its lease expires, not before: its
// AD write in flight must not land after the new leader read AD.
func TestLeaderTakeoverAfterSessionEnd(t *testing.T) {
	pg := labtest.Postgres(t)
	ctx := context.Background()
	const takeover = 3 * time.Second // lease 2 s
	_, la := candidate(t, pg, "a", takeover)
	_, lb := candidate(t, pg, "b", takeover)
	if ok, err := la.TryAcquire(ctx); !ok || err != nil {
		t.Fatalf("a: %v %v", ok, err)
	}
	acquired := time.Now()
	// What kill -9 does to a's sessions: the server sees them end; the lease row stays valid.
	la.dropLockSession()
	if ok, err := lb.TryAcquire(ctx); ok || err != nil {
		t.Fatalf("b took over a valid lease: %v %v", ok, err)
	}
	for {
		ok, err := lb.TryAcquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Since(acquired) > takeover {
			t.Fatalf("b did not take over within %s", takeover)
		}
		time.Sleep(lb.PollEvery())
	}
	if d := time.Since(acquired); d < lb.TTL() {
		t.Errorf("took over after %v, before the lease of %v expired", d, lb.TTL())
	}
	if _, err := la.p.pool.Exec(ctx, `SELECT 1`); err != nil {
		t.Fatal(err)
	}
	if err := la.Renew(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("old leader's renewal = %v", err)
	}
}

// A clean stop hands over at once.
func TestLeaderRelease(t *testing.T) {
	pg := labtest.Postgres(t)
	ctx := context.Background()
	a, la := candidate(t, pg, "a", 30*time.Second)
	_, lb := candidate(t, pg, "b", 30*time.Second)
	if ok, _ := la.TryAcquire(ctx); !ok {
		t.Fatal("a did not lead")
	}
	a.Close()
	if ok, err := lb.TryAcquire(ctx); !ok || err != nil {
		t.Fatalf("b after a released: %v %v", ok, err)
	}
}

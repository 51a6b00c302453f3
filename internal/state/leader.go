package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Leadership of a PostgreSQL state.
//
// Instances contend for one lease row (holder, epoch, expires_at). The
// holder of an unexpired lease is the leader: it alone runs rounds, and the
// database refuses every state write that does not carry its holder and
// epoch (kv_postgres.go). Taking the lease over always increments the epoch,
// so a leader that was frozen or cut off and comes back finds its writes
// refused.
//
// A follower takes over only once the lease has expired, whatever happened
// to the leader. The leader also keeps a session of its own open (its
// presence), whose server process ID the lease row records, and a takeover
// says whether that session was gone (a dead leader) or not (frozen, cut
// off); but a session gone is not proof that the leader stopped writing AD:
// a PostgreSQL restart ends every session of a live leader, whose AD write
// in flight then landed after a new leader had read AD, and that group was
// left half-written until the next full round (lab test
// TestLabHAPostgresRestartMidSync, before this rule). Waiting for the
// expiry means the old leader's fence (lease - margin) closed at least the
// margin before anyone else writes. (A session advisory lock, the first
// design, had the same flaw and another: a stale leader could take it back
// from a leader that had taken over an expired lease.)
//
// The AD half of the fencing is Check: before each AD write the engine asks
// whether the lease is still valid with a margin, measured on this process's
// monotonic clock from the moment the last successful renewal was sent (the
// database's expiry is later than that, never earlier). A leader frozen past
// its lease so stops before its next AD write when it resumes; what is left
// is a write already handed to the DC before the freeze, which no lease can
// recall (AD has no fencing token).

// Fence says whether this process may write AD now.
type Fence interface {
	Check(ctx context.Context) error
}

type noFence struct{}

func (noFence) Check(context.Context) error { return nil }

type refuseFence struct{ why error }

func (f refuseFence) Check(context.Context) error { return f.why }

// Fence is what the engine asks before each AD write: for a state file,
// nothing (the file lock keeps other processes out); for PostgreSQL, the
// lease of this process's Leader (or a refusal when it has none).
func (db *DB) Fence() Fence {
	if db.pg == nil {
		return noFence{}
	}
	if l := db.pg.leader.Load(); l != nil {
		return l
	}
	return refuseFence{ErrNotLeader}
}

// Shared reports whether the state is in PostgreSQL, shared by instances
// that elect a leader.
func (db *DB) Shared() bool { return db.pg != nil }

// Leader is one instance's part in the election.
type Leader struct {
	p      *pgBackend
	holder string
	log    *slog.Logger

	mu         sync.Mutex
	epoch      int64
	leading    bool
	validUntil time.Time     // monotonic: AD writes stop here (renewal sent + ttl - margin)
	lost       chan struct{} // closed when leadership ends
	presence   *pgx.Conn     // the session whose pid the lease records
}

// LeaseInfo is the lease as the database has it.
type LeaseInfo struct {
	Holder    string    `json:"holder"`
	Epoch     int64     `json:"epoch"`
	ExpiresAt time.Time `json:"expiresAt"`
	Valid     bool      `json:"valid"`
}

// NewLeader makes this process a candidate for the state's leadership;
// holder names it (host and pid) in the lease and in messages. The state
// file has no election: NewLeader returns an error for it.
func (db *DB) NewLeader(holder string, log *slog.Logger) (*Leader, error) {
	if db.pg == nil {
		return nil, errors.New("leader election needs a PostgreSQL state (state.postgres)")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Leader{p: db.pg, holder: holder, log: log, lost: make(chan struct{})}
	db.pg.leader.Store(l)
	return l, nil
}

// Timings of the lease (derived from state.postgres.takeover).
func (l *Leader) Takeover() time.Duration  { return l.p.times.takeover }
func (l *Leader) PollEvery() time.Duration { return l.p.times.poll }
func (l *Leader) TTL() time.Duration       { return l.p.times.ttl }

// Holder is this candidate's name.
func (l *Leader) Holder() string { return l.holder }

// Leading reports whether this process holds the lease (as far as it
// knows: Check also says whether the lease is fresh enough to write).
func (l *Leader) Leading() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leading
}

// Epoch is the epoch of the lease held (0 when not leading).
func (l *Leader) Epoch() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.leading {
		return 0
	}
	return l.epoch
}

// Lost is closed when the leadership this process held ends (taken over,
// released). A new channel comes with each acquisition.
func (l *Leader) Lost() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// Check is the fence: nil while this process leads and its lease, renewed
// recently enough, cannot have expired yet (with the margin).
func (l *Leader) Check(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.leading {
		return fmt.Errorf("%w (another instance leads)", ErrNotLeader)
	}
	if !time.Now().Before(l.validUntil) {
		return fmt.Errorf("%w: the lease of epoch %d was last renewed too long ago to be sure it is still ours", ErrNotLeader, l.epoch)
	}
	return nil
}

// TryAcquire makes this process the leader if the lease is free, expired,
// or held by a process whose database session has ended. It reports
// whether this process leads afterwards.
func (l *Leader) TryAcquire(ctx context.Context) (bool, error) {
	if l.Leading() {
		return true, nil
	}
	pid, err := l.presencePID(ctx)
	if err != nil {
		return false, err
	}
	sent := time.Now()
	var prev LeaseInfo
	var alive bool
	var epoch int64
	took := false
	err = pgx.BeginFunc(ctx, l.p.pool, func(tx pgx.Tx) error {
		// A frozen leader in the middle of a write holds the row FOR SHARE
		// until the server ends its session: do not wait that long here.
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '1s'`); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT holder, epoch, expires_at, expires_at > now(),
				EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = holder_pid)
			FROM writeback_lease WHERE name = 'leader' FOR UPDATE`).
			Scan(&prev.Holder, &prev.Epoch, &prev.ExpiresAt, &prev.Valid, &alive)
		if errors.Is(err, pgx.ErrNoRows) {
			epoch = 1
			took = true
			_, err = tx.Exec(ctx, `INSERT INTO writeback_lease (name, holder, epoch, expires_at, acquired_at, holder_pid)
				VALUES ('leader', $1, 1, now() + $2 * interval '1 millisecond', now(), $3)`, l.holder, l.p.times.ttl.Milliseconds(), pid)
			return err
		}
		if err != nil {
			return err
		}
		if prev.Valid {
			return nil // follow until the lease expires (see above)
		}
		epoch = prev.Epoch + 1
		took = true
		_, err = tx.Exec(ctx, `UPDATE writeback_lease SET holder = $1, epoch = $2, expires_at = now() + $3 * interval '1 millisecond',
			acquired_at = now(), holder_pid = $4 WHERE name = 'leader'`, l.holder, epoch, l.p.times.ttl.Milliseconds(), pid)
		return err
	})
	if err != nil {
		if IsUnavailable(err) {
			l.dropLockSession()
		}
		return false, fmt.Errorf("leader election in %s: %w", l.p.where, err)
	}
	if !took {
		return false, nil
	}
	if prev.Holder != "" {
		why := "its lease expired; its database session is still open (frozen or cut off)"
		if !alive {
			why = "its lease expired; its database session had ended"
		}
		l.log.Warn("taking over as leader", "previous", prev.Holder, "previousEpoch", prev.Epoch, "why", why, "epoch", epoch)
	} else {
		l.log.Info("leading", "epoch", epoch)
	}
	l.mu.Lock()
	l.epoch, l.leading = epoch, true
	l.validUntil = sent.Add(l.p.times.ttl - l.p.times.margin)
	l.lost = make(chan struct{})
	l.mu.Unlock()
	l.p.token.Store(&leaseToken{holder: l.holder, epoch: epoch})
	return true, nil
}

// presencePID is the server process ID of this process's presence session,
// (re)connected when needed.
func (l *Leader) presencePID(ctx context.Context) (int32, error) {
	l.mu.Lock()
	c := l.presence
	l.mu.Unlock()
	if c == nil || c.IsClosed() {
		var err error
		c, err = pgx.ConnectConfig(ctx, l.p.pool.Config().ConnConfig.Copy())
		if err != nil {
			return 0, fmt.Errorf("leader election: connect to %s: %w", l.p.where, err)
		}
		l.mu.Lock()
		l.presence = c
		l.mu.Unlock()
	}
	// A round trip: a session the server ended (restart) shows here.
	var pid int32
	if err := c.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		l.dropLockSession()
		return 0, fmt.Errorf("leader election in %s: %w", l.p.where, err)
	}
	return pid, nil
}

// dropLockSession closes the presence session.
func (l *Leader) dropLockSession() {
	l.mu.Lock()
	c := l.presence
	l.presence = nil
	l.mu.Unlock()
	if c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	}
}

// Renew extends the lease. It returns ErrNotLeader (and ends the
// leadership) when another process has taken the lease over; another error
// (the database unreachable) leaves the leadership to Check's clock.
func (l *Leader) Renew(ctx context.Context) error {
	l.mu.Lock()
	leading, epoch := l.leading, l.epoch
	l.mu.Unlock()
	if !leading {
		return ErrNotLeader
	}
	sent := time.Now()
	rctx, cancel := context.WithTimeout(ctx, l.p.times.renew)
	defer cancel()
	// The presence session is checked (and, after a server restart,
	// opened again) first, so that the lease names a live session.
	pid, err := l.presencePID(rctx)
	if err != nil {
		return err
	}
	tag, err := l.p.pool.Exec(rctx, `UPDATE writeback_lease SET expires_at = now() + $3 * interval '1 millisecond', holder_pid = $4
		WHERE name = 'leader' AND holder = $1 AND epoch = $2`, l.holder, epoch, l.p.times.ttl.Milliseconds(), pid)
	if err != nil {
		return fmt.Errorf("renew the leader lease in %s: %w", l.p.where, err)
	}
	if tag.RowsAffected() == 0 {
		l.step(epoch, "another instance took the lease over")
		return ErrNotLeader
	}
	l.mu.Lock()
	if l.leading && l.epoch == epoch {
		l.validUntil = sent.Add(l.p.times.ttl - l.p.times.margin)
	}
	l.mu.Unlock()
	return nil
}

// step ends the leadership of epoch (if it is still the current one).
func (l *Leader) step(epoch int64, why string) {
	l.mu.Lock()
	if !l.leading || l.epoch != epoch {
		l.mu.Unlock()
		return
	}
	l.leading = false
	close(l.lost)
	l.mu.Unlock()
	if t := l.p.token.Load(); t != nil && t.epoch == epoch {
		l.p.token.CompareAndSwap(t, nil)
	}
	l.log.Warn("no longer the leader: stopping writes", "epoch", epoch, "why", why)
}

// Keep renews the lease while leading, until ctx ends.
func (l *Leader) Keep(ctx context.Context) {
	t := time.NewTicker(l.p.times.renew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !l.Leading() {
			continue
		}
		if err := l.Renew(ctx); err != nil && !errors.Is(err, ErrNotLeader) && ctx.Err() == nil {
			l.log.Warn("could not renew the leader lease; AD writes stop if it is not renewed in time", "err", err)
		}
	}
}

// Release gives the lease up at once (a clean stop): a follower takes over
// at its next look instead of waiting for the lease to expire.
func (l *Leader) Release(ctx context.Context) {
	l.mu.Lock()
	leading, epoch := l.leading, l.epoch
	l.mu.Unlock()
	if leading {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_, _ = l.p.pool.Exec(ctx, `UPDATE writeback_lease SET expires_at = now() WHERE name = 'leader' AND holder = $1 AND epoch = $2`, l.holder, epoch)
		l.step(epoch, "released")
	}
	l.dropLockSession()
}

// Lease reads the lease as the database has it (ok false: nobody ever led).
func (db *DB) Lease(ctx context.Context) (info LeaseInfo, ok bool, err error) {
	if db.pg == nil {
		return info, false, nil
	}
	err = db.pg.pool.QueryRow(ctx, `SELECT holder, epoch, expires_at, expires_at > now() FROM writeback_lease WHERE name = 'leader'`).
		Scan(&info.Holder, &info.Epoch, &info.ExpiresAt, &info.Valid)
	if errors.Is(err, pgx.ErrNoRows) {
		return info, false, nil
	}
	if err != nil {
		return info, false, fmt.Errorf("read the leader lease in %s: %w", db.pg.where, err)
	}
	return info, true, nil
}

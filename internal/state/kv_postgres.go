package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The PostgreSQL backend keeps the same buckets as the state file, as rows:
//
//	writeback_buckets (name, seq)        one row per bucket, with its sequence
//	writeback_kv      (bucket, key, value) one row per key; bytea sorts bytewise,
//	                                     as bbolt's keys do
//	writeback_lease   (name, holder, epoch, expires_at, acquired_at, holder_pid)
//	                                     who may write (see Leader)
//	writeback_schema  (id, version)      the schema's version
//
// One table of keys rather than one per bucket: buckets are created and
// dropped at run time (the consistency misses), and DDL at run time would
// need rights an operator would rather not grant beyond the first start.
//
// Every write transaction checks, inside itself, that this process's lease
// is the current one (holder and epoch) and unexpired, and keeps the lease
// row locked FOR SHARE until it commits: a takeover (which updates that row)
// waits for a write in flight to end, and a write after a takeover fails.
// That is the state half of the fencing; the AD half is Fence.

// pgSchemaVersion is the schema this version writes. Open upgrades an older
// one and refuses a newer one.
const pgSchemaVersion = 1

var pgSchema = []string{
	`CREATE TABLE IF NOT EXISTS writeback_schema (id int PRIMARY KEY CHECK (id = 1), version int NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS writeback_buckets (name bytea PRIMARY KEY, seq bigint NOT NULL DEFAULT 0)`,
	`CREATE TABLE IF NOT EXISTS writeback_kv (bucket bytea NOT NULL, key bytea NOT NULL, value bytea NOT NULL, PRIMARY KEY (bucket, key))`,
	`CREATE TABLE IF NOT EXISTS writeback_lease (name text PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL,
		expires_at timestamptz NOT NULL, acquired_at timestamptz NOT NULL, holder_pid int NOT NULL DEFAULT 0)`,
}

// ErrNotLeader is what a write to a PostgreSQL state returns when this
// process does not hold the current lease: another instance has taken over
// (or this one never led). Nothing of the transaction was written.
var ErrNotLeader = errors.New("this writeback instance does not hold the leader lease")

// PostgresOptions say how to reach the database.
type PostgresOptions struct {
	// URL is a postgres:// URL. Its sslmode must verify the server
	// (verify-full, the default here, or verify-ca) unless the host is a
	// loopback address or a unix socket.
	URL string
	// Password, when not empty, replaces the URL's.
	Password string
	// Takeover is how long after a leader dies another instance takes over
	// (default 30 s); the lease's timings follow from it (see leaseTimes).
	Takeover time.Duration
	// ReadOnly opens for reading only (status, log): no schema is created.
	ReadOnly bool
}

// pgBackend is a state in PostgreSQL.
type pgBackend struct {
	pool  *pgxpool.Pool
	where string
	times leaseTimes
	// token is the lease this process holds (nil: none; writes refused).
	token atomic.Pointer[leaseToken]
	// leader is set once a Leader is made for this state (its Fence).
	leader atomic.Pointer[Leader]
	// buckets caches which buckets exist: every instance creates the same
	// ones, and a bucket dropped (the misses) is created again in the
	// same transaction.
	mu      sync.Mutex
	buckets map[string]bool
}

type leaseToken struct {
	holder string
	epoch  int64
}

// leaseTimes derive from the takeover time T: the lease lasts 2T/3 (a dead
// leader's lease has expired by then), followers look every T/6 (so they
// take over within 2T/3 + T/6 < T), the leader renews every lease/4, and
// stops writing AD a quarter-lease before the lease could expire as seen
// from this process.
type leaseTimes struct {
	takeover, ttl, poll, renew, margin time.Duration
}

func newLeaseTimes(takeover time.Duration) leaseTimes {
	if takeover <= 0 {
		takeover = 30 * time.Second
	}
	ttl := takeover * 2 / 3
	return leaseTimes{takeover: takeover, ttl: ttl, poll: takeover / 6, renew: ttl / 4, margin: ttl / 4}
}

// pgTxTimeout bounds one transaction: the state API has no context, and a
// database that stops answering must fail a round, not hang it.
const pgTxTimeout = 5 * time.Minute

// OpenPostgres opens (and, unless read-only, creates or upgrades) the state
// in the database o.URL names.
func OpenPostgres(ctx context.Context, o PostgresOptions) (*DB, error) {
	cfg, where, err := pgConfig(o)
	if err != nil {
		return nil, err
	}
	times := newLeaseTimes(o.Takeover)
	// A frozen process (SIGSTOP, a VM paused) in the middle of a
	// transaction would hold its locks, the lease row's among them, for as
	// long as it stays frozen: the server ends such a session instead.
	idle := max(times.ttl/2, time.Second)
	cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = fmt.Sprint(idle.Milliseconds())
	cfg.ConnConfig.RuntimeParams["application_name"] = "writeback"
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open state in PostgreSQL %s: %w", where, err)
	}
	p := &pgBackend{pool: pool, where: where, times: times, buckets: map[string]bool{}}
	db := &DB{kv: p, path: where, readOnly: o.ReadOnly, pg: p}
	if o.ReadOnly {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'writeback_kv' AND schemaname = ANY (current_schemas(false))`).Scan(&n)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("open state in PostgreSQL %s: %w (is the server up, and are the URL and password right?)", where, err)
		}
		if n == 0 {
			pool.Close()
			return nil, fmt.Errorf("open state in PostgreSQL %s: %w (writeback has not run with this database)", where, ErrNoState)
		}
		return db, nil
	}
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// pgConfig parses o.URL, applies the password and refuses a connection that
// does not verify the server beyond loopback.
func pgConfig(o PostgresOptions) (*pgxpool.Config, string, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, "", fmt.Errorf("state.postgres.url: want postgres://user@host:port/database?sslmode=verify-full")
	}
	q := u.Query()
	mode := q.Get("sslmode")
	if mode == "" {
		mode = "verify-full"
		q.Set("sslmode", mode)
		u.RawQuery = q.Encode()
	}
	host := u.Hostname()
	if h := q.Get("host"); h != "" {
		host = h
	}
	local := host == "" || strings.HasPrefix(host, "/") || host == "localhost"
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		local = true
	}
	switch mode {
	case "verify-full", "verify-ca":
	case "disable", "allow", "prefer", "require":
		if !local {
			return nil, "", fmt.Errorf("state.postgres.url: sslmode=%s does not verify the server %s: use sslmode=verify-full (with sslrootcert=FILE for a private CA)", mode, host)
		}
	default:
		return nil, "", fmt.Errorf("state.postgres.url: unknown sslmode %q", mode)
	}
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, "", fmt.Errorf("state.postgres.url: %w", err)
	}
	if o.Password != "" {
		cfg.ConnConfig.Password = o.Password
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	where := fmt.Sprintf("postgres://%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	return cfg, where, nil
}

// migrate creates the schema or brings it to pgSchemaVersion, and the
// buckets every version expects. Instances starting together are kept
// apart by a transaction-scoped advisory lock.
func (p *pgBackend) migrate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pgTxTimeout)
	defer cancel()
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgSchemaLockKey); err != nil {
			return err
		}
		for _, s := range pgSchema {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		var v int
		err := tx.QueryRow(ctx, `SELECT version FROM writeback_schema WHERE id = 1`).Scan(&v)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if _, err := tx.Exec(ctx, `INSERT INTO writeback_schema (id, version) VALUES (1, $1)`, pgSchemaVersion); err != nil {
				return err
			}
		case err != nil:
			return err
		case v > pgSchemaVersion:
			return fmt.Errorf("the schema is version %d, written by a newer writeback; this one knows %d: upgrade it", v, pgSchemaVersion)
		case v < pgSchemaVersion:
			// Upgrades from older schema versions go here, one step each.
			if _, err := tx.Exec(ctx, `UPDATE writeback_schema SET version = $1 WHERE id = 1`, pgSchemaVersion); err != nil {
				return err
			}
		}
		t := &pgTx{ctx: ctx, tx: tx, p: p, write: true}
		if err := initBuckets(t); err != nil {
			return err
		}
		if t.err != nil {
			return t.err
		}
		return t.flush()
	})
	if err != nil {
		return fmt.Errorf("create the state schema in PostgreSQL %s: %w", p.where, err)
	}
	return nil
}

// pgSchemaLockKey is the advisory lock (arbitrary, fixed) that keeps
// schema migrations of instances starting together apart.
const pgSchemaLockKey = 0x77624d4947 // "wbMIG"

func (p *pgBackend) close() error {
	if l := p.leader.Load(); l != nil {
		l.Release(context.Background())
	}
	p.pool.Close()
	return nil
}

func (p *pgBackend) view(fn func(kvTx) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgTxTimeout)
	defer cancel()
	tx, err := p.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("read the state in PostgreSQL %s: %w", p.where, err)
	}
	defer tx.Rollback(ctx)
	t := &pgTx{ctx: ctx, tx: tx, p: p}
	if err := fn(t); err != nil {
		return err
	}
	if t.err != nil {
		return fmt.Errorf("read the state in PostgreSQL %s: %w", p.where, t.err)
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	t.remember()
	return nil
}

func (p *pgBackend) update(fn func(kvTx) error) error {
	tok := p.token.Load()
	if tok == nil {
		return fmt.Errorf("write the state in PostgreSQL %s: %w", p.where, ErrNotLeader)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pgTxTimeout)
	defer cancel()
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("write the state in PostgreSQL %s: %w", p.where, err)
	}
	defer tx.Rollback(ctx)
	var one int
	err = tx.QueryRow(ctx, `SELECT 1 FROM writeback_lease WHERE name = 'leader' AND holder = $1 AND epoch = $2 AND expires_at > now() FOR SHARE`,
		tok.holder, tok.epoch).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("write the state in PostgreSQL %s: %w (epoch %d is no longer current, or its lease expired)", p.where, ErrNotLeader, tok.epoch)
	}
	if err != nil {
		return fmt.Errorf("write the state in PostgreSQL %s: check the lease: %w", p.where, err)
	}
	t := &pgTx{ctx: ctx, tx: tx, p: p, write: true}
	if err := fn(t); err != nil {
		return err
	}
	if t.err == nil {
		t.err = t.flush()
	}
	if t.err != nil {
		return fmt.Errorf("write the state in PostgreSQL %s: %w", p.where, t.err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("write the state in PostgreSQL %s: commit: %w", p.where, err)
	}
	t.remember()
	return nil
}

// pgTx is one transaction. A Get, which has no error to return in the
// bucket interface, records a failure in err: the transaction then rolls
// back, whatever fn made of the missing value.
//
// Writes are queued and sent in batches (one round trip for up to
// pgBatchMax statements); pending holds them so that a Get in the same
// transaction sees them. A range read (cursor, ForEach, KeyN) sends the
// queue first.
type pgTx struct {
	ctx     context.Context
	tx      pgx.Tx
	p       *pgBackend
	write   bool
	err     error
	batch   pgx.Batch
	pending map[pgKey]*[]byte // nil value: deleted
	// found are the buckets this transaction saw exist: the backend's
	// cache learns them once it commits (a rolled-back create must not
	// be remembered).
	found []string
}

// remember adds what the committed transaction found to the bucket cache.
func (t *pgTx) remember() {
	t.p.mu.Lock()
	for _, n := range t.found {
		t.p.buckets[n] = true
	}
	t.p.mu.Unlock()
}

type pgKey struct{ bucket, key string }

const pgBatchMax = 1000

func (t *pgTx) fail(err error) {
	if t.err == nil && err != nil {
		t.err = err
	}
}

func (t *pgTx) flush() error {
	if t.batch.Len() == 0 {
		return nil
	}
	err := t.tx.SendBatch(t.ctx, &t.batch).Close()
	t.batch = pgx.Batch{}
	clear(t.pending)
	return err
}

func (t *pgTx) exists(name []byte) bool {
	t.p.mu.Lock()
	known := t.p.buckets[string(name)]
	t.p.mu.Unlock()
	if known {
		return true
	}
	var one int
	err := t.tx.QueryRow(t.ctx, `SELECT 1 FROM writeback_buckets WHERE name = $1`, name).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false
	}
	if err != nil {
		t.fail(err)
		return false
	}
	t.found = append(t.found, string(name))
	return true
}

func (t *pgTx) Bucket(name []byte) kvBucket {
	if !t.exists(name) {
		return nil
	}
	return &pgBucket{t: t, name: bytes.Clone(name)}
}

func (t *pgTx) CreateBucket(name []byte) (kvBucket, error) {
	if !t.write {
		return nil, errors.New("create a bucket in a read transaction")
	}
	if t.exists(name) {
		return nil, fmt.Errorf("bucket %q already exists", name)
	}
	return t.CreateBucketIfNotExists(name)
}

func (t *pgTx) CreateBucketIfNotExists(name []byte) (kvBucket, error) {
	if !t.write {
		return nil, errors.New("create a bucket in a read transaction")
	}
	if _, err := t.tx.Exec(t.ctx, `INSERT INTO writeback_buckets (name) VALUES ($1) ON CONFLICT DO NOTHING`, name); err != nil {
		t.fail(err)
		return nil, err
	}
	return &pgBucket{t: t, name: bytes.Clone(name)}, nil
}

func (t *pgTx) DeleteBucket(name []byte) error {
	if !t.write {
		return errors.New("delete a bucket in a read transaction")
	}
	if err := t.flush(); err != nil {
		t.fail(err)
		return err
	}
	tag, err := t.tx.Exec(t.ctx, `DELETE FROM writeback_buckets WHERE name = $1`, name)
	if err == nil && tag.RowsAffected() == 0 {
		return fmt.Errorf("bucket %q not found", name)
	}
	if err == nil {
		_, err = t.tx.Exec(t.ctx, `DELETE FROM writeback_kv WHERE bucket = $1`, name)
	}
	t.p.mu.Lock()
	delete(t.p.buckets, string(name))
	t.p.mu.Unlock()
	t.fail(err)
	return err
}

func (t *pgTx) ForEachBucket(fn func(name []byte) error) error {
	rows, err := t.tx.Query(t.ctx, `SELECT name FROM writeback_buckets ORDER BY name`)
	if err != nil {
		t.fail(err)
		return err
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		t.fail(err)
		return err
	}
	for _, n := range list {
		if err := fn(n); err != nil {
			return err
		}
	}
	return nil
}

func (t *pgTx) trim() {}

type pgBucket struct {
	t    *pgTx
	name []byte
}

func (b *pgBucket) key(k []byte) pgKey { return pgKey{string(b.name), string(k)} }

func (b *pgBucket) Get(k []byte) []byte {
	t := b.t
	if t.err != nil {
		return nil
	}
	if v, ok := t.pending[b.key(k)]; ok {
		if v == nil {
			return nil
		}
		return *v
	}
	var v []byte
	err := t.tx.QueryRow(t.ctx, `SELECT value FROM writeback_kv WHERE bucket = $1 AND key = $2`, b.name, k).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		t.fail(fmt.Errorf("read %s/%s: %w", b.name, k, err))
		return nil
	}
	if v == nil {
		v = []byte{}
	}
	return v
}

func (b *pgBucket) queue(k []byte, v *[]byte, sql string, args ...any) error {
	t := b.t
	if !t.write {
		return errors.New("write in a read transaction")
	}
	if t.err != nil {
		return t.err
	}
	if t.pending == nil {
		t.pending = map[pgKey]*[]byte{}
	}
	t.pending[b.key(k)] = v
	t.batch.Queue(sql, args...)
	if t.batch.Len() >= pgBatchMax {
		if err := t.flush(); err != nil {
			t.fail(err)
			return err
		}
	}
	return nil
}

func (b *pgBucket) Put(k, v []byte) error {
	k, v = bytes.Clone(k), append([]byte{}, v...)
	return b.queue(k, &v, `INSERT INTO writeback_kv (bucket, key, value) VALUES ($1, $2, $3)
		ON CONFLICT (bucket, key) DO UPDATE SET value = EXCLUDED.value`, b.name, k, v)
}

func (b *pgBucket) Delete(k []byte) error {
	k = bytes.Clone(k)
	return b.queue(k, nil, `DELETE FROM writeback_kv WHERE bucket = $1 AND key = $2`, b.name, k)
}

func (b *pgBucket) ForEach(fn func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return b.t.err
}

func (b *pgBucket) Cursor() kvCursor {
	if err := b.t.flush(); err != nil {
		b.t.fail(err)
	}
	return &pgCursor{b: b}
}

func (b *pgBucket) NextSequence() (uint64, error) {
	var n int64
	err := b.t.tx.QueryRow(b.t.ctx, `UPDATE writeback_buckets SET seq = seq + 1 WHERE name = $1 RETURNING seq`, b.name).Scan(&n)
	if err != nil {
		b.t.fail(err)
		return 0, err
	}
	return uint64(n), nil
}

func (b *pgBucket) Sequence() uint64 {
	var n int64
	if err := b.t.tx.QueryRow(b.t.ctx, `SELECT seq FROM writeback_buckets WHERE name = $1`, b.name).Scan(&n); err != nil {
		b.t.fail(err)
	}
	return uint64(n)
}

func (b *pgBucket) SetSequence(n uint64) error {
	_, err := b.t.tx.Exec(b.t.ctx, `UPDATE writeback_buckets SET seq = $2 WHERE name = $1`, b.name, int64(n))
	b.t.fail(err)
	return err
}

func (b *pgBucket) KeyN() int {
	if err := b.t.flush(); err != nil {
		b.t.fail(err)
		return 0
	}
	var n int
	if err := b.t.tx.QueryRow(b.t.ctx, `SELECT count(*) FROM writeback_kv WHERE bucket = $1`, b.name).Scan(&n); err != nil {
		b.t.fail(err)
	}
	return n
}

// pgCursor reads a bucket in pages of keys, in either direction.
type pgCursor struct {
	b    *pgBucket
	rows [][2][]byte
	i    int
	asc  bool
	more bool // the page was full: there may be more beyond it
	n    int  // next page size
}

func (c *pgCursor) load(op string, from []byte, asc bool) (k, v []byte) {
	if c.n == 0 {
		c.n = 64 // a group's members are often few: start small
	} else {
		c.n = min(c.n*4, 4096)
	}
	order := "ASC"
	if !asc {
		order = "DESC"
	}
	sql := `SELECT key, value FROM writeback_kv WHERE bucket = $1 ORDER BY key ` + order + ` LIMIT $2`
	args := []any{c.b.name, c.n}
	if op != "" {
		sql = `SELECT key, value FROM writeback_kv WHERE bucket = $1 AND key ` + op + ` $3 ORDER BY key ` + order + ` LIMIT $2`
		args = append(args, from)
	}
	t := c.b.t
	c.rows, c.i, c.asc = c.rows[:0], 0, asc
	rows, err := t.tx.Query(t.ctx, sql, args...)
	if err != nil {
		t.fail(err)
		return nil, nil
	}
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			t.fail(err)
			rows.Close()
			return nil, nil
		}
		if v == nil {
			v = []byte{}
		}
		c.rows = append(c.rows, [2][]byte{k, v})
	}
	if err := rows.Err(); err != nil {
		t.fail(err)
		return nil, nil
	}
	c.more = len(c.rows) == c.n
	return c.at()
}

func (c *pgCursor) at() (k, v []byte) {
	if c.i < 0 || c.i >= len(c.rows) {
		return nil, nil
	}
	return c.rows[c.i][0], c.rows[c.i][1]
}

func (c *pgCursor) First() (k, v []byte) { c.n = 0; return c.load("", nil, true) }
func (c *pgCursor) Last() (k, v []byte)  { c.n = 0; return c.load("", nil, false) }
func (c *pgCursor) Seek(seek []byte) (k, v []byte) {
	c.n = 0
	return c.load(">=", bytes.Clone(seek), true)
}

func (c *pgCursor) step(asc bool) (k, v []byte) {
	if c.i < 0 || c.i >= len(c.rows) {
		return nil, nil
	}
	cur := c.rows[c.i][0]
	if c.asc != asc {
		// Turned around: read the other way from where the cursor is.
		c.n = 0
		if asc {
			return c.load(">", cur, true)
		}
		return c.load("<", cur, false)
	}
	c.i++
	if c.i < len(c.rows) {
		return c.at()
	}
	if !c.more {
		c.rows = c.rows[:0]
		return nil, nil
	}
	if asc {
		return c.load(">", cur, true)
	}
	return c.load("<", cur, false)
}

func (c *pgCursor) Next() (k, v []byte) { return c.step(true) }
func (c *pgCursor) Prev() (k, v []byte) { return c.step(false) }

// IsUnavailable reports whether err is PostgreSQL being unreachable or
// going away (as opposed to a refusal such as ErrNotLeader).
func IsUnavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || pgconn.Timeout(err) || errors.Is(err, net.ErrClosed)
}

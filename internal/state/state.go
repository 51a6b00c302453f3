// Package state owns writeback's database (an embedded bbolt file, or
// PostgreSQL shared by several instances: see kv.go): the Graph delta
// links, the cloud model cache that incremental rounds need (groups with their
// member sets, users with their on-premises anchors), which groups still need
// work, per-group status and quarantine, and the provisioning log.
//
// Everything is keyed so it can be streamed with a cursor: 500,000 groups never
// have to be in memory at once.
package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Bucket names. Cloud buckets carry a generation suffix: versions before
// in-place snapshots wrote each full snapshot into a new generation, and Open
// still drops a generation such a version left half-written.
var (
	bMeta   = []byte("meta")
	bDirty  = []byte("dirty")
	bStatus = []byte("status")
	bLog    = []byte("log")
	bRounds = []byte("rounds")
	bMisses = []byte("consistencyMisses")
)

const (
	kindGroups = "groups"
	kindUsers  = "users"
)

// Group is the cached cloud side of one group (members are kept apart).
type Group struct {
	ID                    string         `json:"id"`
	DisplayName           string         `json:"displayName,omitempty"`
	Description           string         `json:"description,omitempty"`
	MailNickname          string         `json:"mailNickname,omitempty"`
	SecurityEnabled       bool           `json:"securityEnabled"`
	MailEnabled           bool           `json:"mailEnabled"`
	OnPremisesSyncEnabled *bool          `json:"onPremisesSyncEnabled,omitempty"`
	GroupTypes            []string       `json:"groupTypes,omitempty"`
	Raw                   map[string]any `json:"raw,omitempty"` // selected properties, for scoping filters and mappings
}

// User is the cached cloud side of one user: what member resolution needs.
type User struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName,omitempty"`
	UserPrincipalName string `json:"upn,omitempty"`
	ObjectIdentifier  string `json:"onPremisesObjectIdentifier,omitempty"`
	SID               string `json:"onPremisesSecurityIdentifier,omitempty"`
	ImmutableID       string `json:"onPremisesImmutableId,omitempty"`
	SyncEnabled       *bool  `json:"onPremisesSyncEnabled,omitempty"`
}

// DB is the open state. A state file is held read-write by one process
// only (see Lock); any number may read it with OpenReadOnly while no one
// writes. A PostgreSQL state (OpenPostgres) is shared: every process reads
// it, and only the holder of the lease (see Leader) writes.
type DB struct {
	kv       backend
	bolt     *bolt.DB // nil unless the state is a bbolt file
	path     string
	readOnly bool
	// pg is set for a PostgreSQL state.
	pg *pgBackend
}

// view runs fn in a read transaction of the backend.
func (db *DB) view(fn func(kvTx) error) error { return db.kv.view(fn) }

// update runs fn in a write transaction of the backend.
func (db *DB) update(fn func(kvTx) error) error {
	if db.readOnly {
		return fmt.Errorf("state %s is open read-only", db.path)
	}
	return db.kv.update(fn)
}

// initBuckets creates the buckets every version expects and drops the cloud
// generations a killed full ingestion of an older version left behind.
func initBuckets(tx kvTx) error {
	for _, name := range [][]byte{bMeta, bDirty, bStatus, bLog, bRounds, bMisses} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	cur := map[string]bool{}
	for _, k := range []string{kindGroups, kindUsers} {
		g := gen(tx, k)
		for _, n := range names(k, g) {
			cur[string(n)] = true
			if _, err := tx.CreateBucketIfNotExists(n); err != nil {
				return err
			}
		}
	}
	var stale [][]byte
	_ = tx.ForEachBucket(func(name []byte) error {
		if bytes.Contains(name, []byte(".")) && !cur[string(name)] {
			stale = append(stale, bytes.Clone(name))
		}
		return nil
	})
	for _, n := range stale {
		if err := tx.DeleteBucket(n); err != nil {
			return err
		}
	}
	return nil
}

// openTimeout is how long Open waits for bbolt's lock on the file. Writers
// are kept apart by the Lock; what can hold the file here is a status or log
// reading it read-only, which takes moments.
var openTimeout = 10 * time.Second

// Open opens (or creates) the state file. A second writeback on the same file
// gets a clear error instead of waiting forever; a damaged file gets a
// *DamagedError instead of a crash.
func Open(path string) (*DB, error) {
	b, err := openBolt(path, &bolt.Options{Timeout: openTimeout, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open state %s: locked by another writeback process (stop it, or set state.path to another file)", path)
		}
		if IsDamaged(err) {
			return nil, err
		}
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	db := &DB{bolt: b, path: path}
	db.kv = boltBackend{db}
	err = db.update(initBuckets)
	if err != nil {
		b.Close()
		if IsDamaged(err) {
			return nil, err
		}
		return nil, fmt.Errorf("initialise state %s: %w", path, err)
	}
	// Opening walked every page (bbolt rebuilds its free list when it is not
	// stored): none of that needs to stay resident.
	_ = db.ReleaseMapped()
	return db, nil
}

// ErrNoState is returned by OpenReadOnly for a state file that does not exist.
var ErrNoState = errors.New("no state file yet")

// OpenReadOnly opens the state file for reading only (status, log): it
// writes nothing, so it works on a read-only file system and beside a
// process that holds the Lock. bbolt still takes a shared lock on the file,
// which waits while a process has it open read-write; timeout bounds that
// wait (then the error wraps bolt's ErrTimeout, see IsBusy).
func OpenReadOnly(path string, timeout time.Duration) (*DB, error) {
	if fi, err := os.Stat(path); errors.Is(err, os.ErrNotExist) || (err == nil && fi.Size() == 0) {
		return nil, fmt.Errorf("open state %s: %w (writeback has not run a round with this configuration)", path, ErrNoState)
	}
	b, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: timeout, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if IsDamaged(err) {
			return nil, err
		}
		return nil, fmt.Errorf("open state %s read-only: %w", path, err)
	}
	db := &DB{bolt: b, path: path, readOnly: true}
	db.kv = boltBackend{db}
	return db, nil
}

// IsBusy reports whether err is OpenReadOnly giving up on a file another
// process has open read-write.
func IsBusy(err error) bool { return errors.Is(err, berrors.ErrTimeout) }

// Close releases the file (or the database connections).
func (db *DB) Close() error { return db.kv.close() }

// Path is the file's path; for PostgreSQL, the database it is in (host,
// port and name, without credentials).
func (db *DB) Path() string { return db.path }

func gen(tx kvTx, kind string) uint64 {
	v := tx.Bucket(bMeta).Get([]byte("gen." + kind))
	if v == nil {
		return 0
	}
	n, _ := strconv.ParseUint(string(v), 10, 64)
	return n
}

// names lists the buckets of one kind's generation.
func names(kind string, g uint64) [][]byte {
	s := "." + strconv.FormatUint(g, 10)
	if kind == kindGroups {
		return [][]byte{[]byte("groups" + s), []byte("members" + s), []byte("memberof" + s)}
	}
	return [][]byte{[]byte("users" + s)}
}

// Links returns the stored delta links ("" = none yet: the next round is full).
func (db *DB) Links() (groups, users string, err error) {
	err = db.view(func(tx kvTx) error {
		if m := tx.Bucket(bMeta); m != nil {
			groups, users = string(m.Get([]byte("link.groups"))), string(m.Get([]byte("link.users")))
		}
		return nil
	})
	return groups, users, err
}

// meta reads a small value from the meta bucket. It is private: the keys
// are spelt once, in this package, and callers use the typed accessors
// (rounds_meta.go, dcmarks.go, findings.go).
func (db *DB) meta(key string) (string, error) {
	var v string
	err := db.view(func(tx kvTx) error {
		if m := tx.Bucket(bMeta); m != nil { // nil: read-only open of a file no version initialised
			v = string(m.Get([]byte("x." + key)))
		}
		return nil
	})
	return v, err
}

// setMeta stores a small value in the meta bucket.
func (db *DB) setMeta(key, value string) error {
	return db.update(func(tx kvTx) error {
		return tx.Bucket(bMeta).Put([]byte("x."+key), []byte(value))
	})
}

// Tx is a read-write view for ingesting one batch of delta results. Changes
// become visible (and durable) only when the batch's function returns nil.
type Tx struct {
	tx                        kvTx
	groups, members, memberOf kvBucket
	users                     kvBucket
	snap                      *FullIngest // set while a full snapshot is read
}

// Update runs fn in one write transaction against the current generation.
func (db *DB) Update(fn func(*Tx) error) error {
	return db.update(func(btx kvTx) error {
		return fn(newTx(btx, gen(btx, kindGroups), gen(btx, kindUsers)))
	})
}

// View runs fn in a read transaction; the Tx must not be written.
func (db *DB) View(fn func(*Tx) error) error {
	return db.view(func(btx kvTx) error {
		return fn(newTx(btx, gen(btx, kindGroups), gen(btx, kindUsers)))
	})
}

func newTx(btx kvTx, gg, ug uint64) *Tx {
	g, u := names(kindGroups, gg), names(kindUsers, ug)
	return &Tx{tx: btx, groups: btx.Bucket(g[0]), members: btx.Bucket(g[1]), memberOf: btx.Bucket(g[2]), users: btx.Bucket(u[0])}
}

// objects is the bucket of kind's objects (groups or users).
func (t *Tx) objects(kind string) kvBucket {
	if kind == kindGroups {
		return t.groups
	}
	return t.users
}

// Fresh reports whether a full snapshot is being read and has not sent id
// yet: what the cache holds for id predates the snapshot and is to be
// replaced, not merged into.
func (t *Tx) Fresh(id string) bool {
	if t.snap == nil || t.snap.seen == nil {
		return false
	}
	_, ok := t.snap.seen[id]
	return !ok
}

// saw records id as sent by the snapshot of kind.
func (t *Tx) saw(kind, id string) {
	if t.snap != nil && t.snap.kind == kind && t.snap.seen != nil {
		t.snap.seen[id] = struct{}{}
	}
}

// PutGroup stores a group's properties and reports whether they changed.
func (t *Tx) PutGroup(g Group) (changed bool, err error) {
	t.saw(kindGroups, g.ID)
	v, err := json.Marshal(g)
	if err != nil {
		return false, fmt.Errorf("encode group %s: %w", g.ID, err)
	}
	if old := t.groups.Get([]byte(g.ID)); bytes.Equal(old, v) {
		return false, nil
	}
	return true, t.groups.Put([]byte(g.ID), v)
}

// DeleteGroup removes a group and its member set; it returns the IDs of the
// groups it was a member of (their membership changed too).
func (t *Tx) DeleteGroup(id string) (parents []string, err error) {
	if err := t.groups.Delete([]byte(id)); err != nil {
		return nil, err
	}
	var drop []string
	if err := t.Members(id, func(m string, _ string) error { drop = append(drop, m); return nil }); err != nil {
		return nil, err
	}
	if _, err := t.ChangeMembers(id, nil, drop); err != nil {
		return nil, err
	}
	err = t.MemberOf(id, func(p string) error { parents = append(parents, p); return nil })
	return parents, err
}

// Group reads one cached group.
func (t *Tx) Group(id string) (*Group, error) {
	v := t.groups.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	var g Group
	if err := json.Unmarshal(v, &g); err != nil {
		return nil, fmt.Errorf("decode cached group %s: %w", id, err)
	}
	return &g, nil
}

// Groups streams every cached group in ID order.
func (t *Tx) Groups(fn func(Group) error) error {
	return t.groups.ForEach(func(k, v []byte) error {
		var g Group
		if err := json.Unmarshal(v, &g); err != nil {
			return fmt.Errorf("decode cached group %s: %w", k, err)
		}
		return fn(g)
	})
}

// GroupIDs streams the IDs of every cached group in ID order, without
// decoding the groups (a full round's list of candidates).
func (t *Tx) GroupIDs(fn func(id string) error) error {
	return t.groups.ForEach(func(k, _ []byte) error { return fn(string(k)) })
}

// GroupCount is the number of cached groups.
func (t *Tx) GroupCount() int { return t.groups.KeyN() }

func pair(a, b string) []byte { return []byte(a + "/" + b) }

// ChangeMembers applies a membership delta (add: member ID → type) and
// reports whether anything changed.
func (t *Tx) ChangeMembers(groupID string, add map[string]string, remove []string) (changed bool, err error) {
	if t.snap != nil && t.snap.kind == kindGroups && t.snap.seen != nil && (len(add) > 0 || len(remove) > 0) {
		sent := t.snap.members[groupID]
		if sent == nil {
			sent = make(map[string]struct{}, len(add))
			t.snap.members[groupID] = sent
		}
		for m := range add {
			sent[m] = struct{}{}
		}
		for _, m := range remove {
			delete(sent, m)
		}
	}
	// In key order: the group's members then go into bbolt's pages one after
	// the other instead of being inserted all over a node.
	for _, m := range slices.Sorted(maps.Keys(add)) {
		typ := add[m]
		k := pair(groupID, m)
		if old := t.members.Get(k); old != nil && string(old) == typ {
			continue
		}
		changed = true
		if err := t.members.Put(k, []byte(typ)); err != nil {
			return changed, err
		}
		if err := t.memberOf.Put(pair(m, groupID), []byte{}); err != nil {
			return changed, err
		}
	}
	for _, m := range remove {
		k := pair(groupID, m)
		if t.members.Get(k) == nil {
			continue
		}
		changed = true
		if err := t.members.Delete(k); err != nil {
			return changed, err
		}
		if err := t.memberOf.Delete(pair(m, groupID)); err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// Members streams a group's cached members (ID, type).
func (t *Tx) Members(groupID string, fn func(id, typ string) error) error {
	prefix := []byte(groupID + "/")
	c := t.members.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := fn(string(k[len(prefix):]), memberType(v)); err != nil {
			return err
		}
	}
	return nil
}

// memberType returns the stored member type without allocating for the
// common ones: a large group streams hundreds of thousands of members.
func memberType(v []byte) string {
	switch string(v) {
	case "user":
		return "user"
	case "group":
		return "group"
	case "device":
		return "device"
	}
	return string(v)
}

// HasMember reports whether memberID is a cached member of groupID.
func (t *Tx) HasMember(groupID, memberID string) bool {
	return t.members.Get(pair(groupID, memberID)) != nil
}

// MemberOf streams the IDs of the cached groups that have memberID as a member.
func (t *Tx) MemberOf(memberID string, fn func(groupID string) error) error {
	prefix := []byte(memberID + "/")
	c := t.memberOf.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if err := fn(string(k[len(prefix):])); err != nil {
			return err
		}
	}
	return nil
}

// PutUser stores a user and reports whether anything resolution uses changed.
func (t *Tx) PutUser(u User) (changed bool, err error) {
	t.saw(kindUsers, u.ID)
	v := encodeUser(u)
	if old := t.users.Get([]byte(u.ID)); bytes.Equal(old, v) {
		return false, nil
	}
	return true, t.users.Put([]byte(u.ID), v)
}

// DeleteUser forgets a user.
func (t *Tx) DeleteUser(id string) error { return t.users.Delete([]byte(id)) }

// User reads one cached user (nil when unknown).
func (t *Tx) User(id string) (*User, error) {
	v := t.users.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	u, err := decodeUser(id, v)
	if err != nil {
		return nil, fmt.Errorf("decode cached user %s: %w", id, err)
	}
	return &u, nil
}

// userFormat starts a user value in the compact encoding. Users are most of
// a large tenant's state (300,000 of them at 20,000 groups), and the file is
// mapped into memory, so the value is kept to the bytes it needs: a version
// byte, a flags byte, then length-prefixed strings, without the field names
// and the repeated ID of JSON. Older files hold JSON objects ('{'), which
// decodeUser still reads; they are rewritten by the next ingest that touches them.
const userFormat = 1

// User flags.
const (
	userSyncKnown = 1 << iota // SyncEnabled is not nil
	userSyncOn                // *SyncEnabled
)

func encodeUser(u User) []byte {
	fields := [...]string{u.DisplayName, u.UserPrincipalName, u.ObjectIdentifier, u.SID, u.ImmutableID}
	n := 2
	for _, f := range fields {
		n += binary.MaxVarintLen32 + len(f)
	}
	v := make([]byte, 2, n)
	v[0] = userFormat
	if u.SyncEnabled != nil {
		v[1] |= userSyncKnown
		if *u.SyncEnabled {
			v[1] |= userSyncOn
		}
	}
	for _, f := range fields {
		v = binary.AppendUvarint(v, uint64(len(f)))
		v = append(v, f...)
	}
	return v
}

var errBadUser = errors.New("malformed value")

func decodeUser(id string, v []byte) (User, error) {
	u := User{ID: id}
	if len(v) > 0 && v[0] == '{' {
		err := json.Unmarshal(v, &u)
		return u, err
	}
	if len(v) < 2 || v[0] != userFormat {
		return u, errBadUser
	}
	if v[1]&userSyncKnown != 0 {
		on := v[1]&userSyncOn != 0
		u.SyncEnabled = &on
	}
	v = v[2:]
	for _, f := range [...]*string{&u.DisplayName, &u.UserPrincipalName, &u.ObjectIdentifier, &u.SID, &u.ImmutableID} {
		n, k := binary.Uvarint(v)
		if k <= 0 || uint64(len(v)-k) < n {
			return u, errBadUser
		}
		*f = string(v[k : k+int(n)])
		v = v[k+int(n):]
	}
	return u, nil
}

// MarkDirty records that a group needs planning (reason: changed, deleted, softDeleted, member).
// A "deleted" mark is never downgraded by a later "changed" in the same batch.
func (t *Tx) MarkDirty(id, reason string) error {
	b := t.tx.Bucket(bDirty)
	if old := string(b.Get([]byte(id))); old == "deleted" || old == "softDeleted" {
		if reason != "deleted" {
			return nil
		}
	}
	return b.Put([]byte(id), []byte(reason))
}

// setMeta stores a small value in the meta bucket within this transaction
// (the same key space as DB.setMeta).
func (t *Tx) setMeta(key, value string) error {
	return t.tx.Bucket(bMeta).Put([]byte("x."+key), []byte(value))
}

// SetLink stores a delta link (kind "groups" or "users").
func (t *Tx) SetLink(kind, link string) error {
	return t.tx.Bucket(bMeta).Put([]byte("link."+kind), []byte(link))
}

// Dirty returns the groups waiting for a round, with the reason they were marked.
func (db *DB) Dirty() (map[string]string, error) {
	out := map[string]string{}
	err := db.view(func(tx kvTx) error {
		b := tx.Bucket(bDirty)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	return out, err
}

// ClearDirty unmarks groups a round finished with. A mark set again since the
// round read it (different reason) is kept.
func (db *DB) ClearDirty(done map[string]string) error {
	return db.update(func(tx kvTx) error {
		b := tx.Bucket(bDirty)
		for id, reason := range done {
			if string(b.Get([]byte(id))) == reason {
				if err := b.Delete([]byte(id)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// FullIngest refreshes one kind (groups or users) from a complete Graph
// snapshot, in place: an object or membership the cache already holds as Graph
// sends it is only read, what differs is written, and Commit drops what the
// snapshot did not contain. A full round of an unchanged tenant so writes
// next to nothing (rewriting the whole cache was most of its time).
//
// A snapshot cut short (error, kill) leaves the cache with what was read so
// far, each object as new as Graph sent it, and nothing dropped: an object is
// only taken to be gone once the whole snapshot has been read. The caller
// keeps a full round pending across a cut: refreshed objects are not marked.
type FullIngest struct {
	db   *DB
	kind string
	// seen holds the IDs the snapshot has sent, members the member IDs it
	// has sent per group (a large group's members come in several items).
	seen    map[string]struct{}
	members map[string]map[string]struct{}
}

// BeginFull starts a full snapshot of kind "groups" or "users".
func (db *DB) BeginFull(kind string) (*FullIngest, error) {
	if kind != kindGroups && kind != kindUsers {
		return nil, fmt.Errorf("begin full snapshot: unknown kind %q", kind)
	}
	f := &FullIngest{db: db, kind: kind}
	err := db.view(func(btx kvTx) error {
		tx := newTx(btx, gen(btx, kindGroups), gen(btx, kindUsers))
		if k, _ := tx.objects(kind).Cursor().First(); k != nil {
			// Only a cache that holds something can hold what Graph no
			// longer has: the first sync (300,000 users at L) tracks nothing.
			f.seen, f.members = map[string]struct{}{}, map[string]map[string]struct{}{}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("begin full %s snapshot: %w", kind, err)
	}
	return f, nil
}

// Update runs fn in one write transaction; what fn puts of the snapshot's
// kind is recorded as seen.
func (f *FullIngest) Update(fn func(*Tx) error) error {
	return f.db.update(func(btx kvTx) error {
		tx := newTx(btx, gen(btx, kindGroups), gen(btx, kindUsers))
		tx.snap = f
		return fn(tx)
	})
}

// Commit stores the snapshot's delta link, drops what the snapshot did not
// contain and returns the IDs of the objects dropped (deleted while no delta
// link was valid).
func (f *FullIngest) Commit(link string) (vanished []string, err error) {
	err = f.CommitWith(link, func(_ *Tx, v []string) error {
		vanished = v
		return nil
	})
	return vanished, err
}

// CommitWith is Commit with fn run in the same transaction, after the drop:
// whatever fn records (the dirty marks for vanished objects) becomes durable
// together with the link or not at all.
func (f *FullIngest) CommitWith(link string, fn func(tx *Tx, vanished []string) error) error {
	err := f.db.update(func(btx kvTx) error {
		tx := newTx(btx, gen(btx, kindGroups), gen(btx, kindUsers))
		b := tx.objects(f.kind)
		var vanished []string
		if f.seen == nil {
			// The cache was empty when the snapshot began: all it holds is new.
			if err := tx.SetLink(f.kind, link); err != nil {
				return err
			}
			if fn == nil {
				return nil
			}
			return fn(tx, nil)
		}
		// These scans read the whole kind, and the members of every group:
		// at L, 250 MiB of mapped pages within a second (see TrimMapped).
		n := 0
		if err := b.ForEach(func(k, _ []byte) error {
			if n++; n%5000 == 0 {
				btx.trim()
			}
			if _, ok := f.seen[string(k)]; !ok {
				vanished = append(vanished, string(k))
			}
			return nil
		}); err != nil {
			return err
		}
		btx.trim()
		if f.kind == kindGroups {
			for _, id := range vanished {
				if _, err := tx.DeleteGroup(id); err != nil {
					return err
				}
			}
			// Members the snapshot no longer lists, in ID order (the order
			// of the pages they are on).
			for i, id := range slices.Sorted(maps.Keys(f.seen)) {
				if i%200 == 199 {
					btx.trim()
				}
				sent := f.members[id]
				var drop []string
				if err := tx.Members(id, func(m, _ string) error {
					if _, ok := sent[m]; !ok {
						drop = append(drop, m)
					}
					return nil
				}); err != nil {
					return err
				}
				if _, err := tx.ChangeMembers(id, nil, drop); err != nil {
					return err
				}
			}
		} else {
			for _, id := range vanished {
				if err := tx.DeleteUser(id); err != nil {
					return err
				}
			}
		}
		if err := tx.SetLink(f.kind, link); err != nil {
			return err
		}
		if fn == nil {
			return nil
		}
		return fn(tx, vanished)
	})
	f.seen, f.members = nil, nil
	if err != nil {
		return fmt.Errorf("commit full %s snapshot: %w", f.kind, err)
	}
	return nil
}

// Restart starts the tracking over: the snapshot is being read again from
// its beginning (Graph refused a token mid-way), and only what the new pass
// sends counts as present. What the abandoned pass wrote is in the cache now,
// so the new pass tracks even if the cache was empty when it began.
func (f *FullIngest) Restart() {
	f.seen, f.members = map[string]struct{}{}, map[string]map[string]struct{}{}
}

// Abort forgets the snapshot; what it wrote stays (it is Graph's, and
// newer than what it replaced).
func (f *FullIngest) Abort() error {
	f.seen, f.members = nil, nil
	return nil
}

func seqKey(n uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k
}

// ConsistencyMisses returns the mS-DS-ConsistencyGuid values the last rounds
// did not find in AD (see SetConsistencyMisses).
func (db *DB) ConsistencyMisses() ([]string, error) {
	var out []string
	err := db.view(func(tx kvTx) error {
		return tx.Bucket(bMisses).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read the mS-DS-ConsistencyGuid misses saved in state %s: %w", db.path, err)
	}
	return out, nil
}

// SetConsistencyMisses replaces the saved misses. mS-DS-ConsistencyGuid is
// not indexed in AD, so each lookup scans the domain's users; a miss is kept
// until the next full round looks again, across restarts of the daemon.
func (db *DB) SetConsistencyMisses(guids []string) error {
	err := db.update(func(tx kvTx) error {
		if err := tx.DeleteBucket(bMisses); err != nil {
			return err
		}
		b, err := tx.CreateBucket(bMisses)
		if err != nil {
			return err
		}
		for _, g := range guids {
			if err := b.Put([]byte(g), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save the mS-DS-ConsistencyGuid misses in state %s (the next rounds search for them again): %w", db.path, err)
	}
	return nil
}

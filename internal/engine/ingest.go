package engine

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/state"
)

// Ingested says what a Graph delta read brought in.
type Ingested struct {
	Full   bool `json:"full"`   // a full snapshot refreshed the cache: plan every group
	Groups int  `json:"groups"` // objects returned by Graph
	Users  int  `json:"users"`
	// The delta links to resume from: Graph's state tokens, not for
	// display (the saved plan's preconditions carry them).
	GroupsLink string `json:"-"`
	UsersLink  string `json:"-"`
}

// batchSize and batchWeight bound one bbolt write transaction while
// ingesting: at most batchSize objects and batchWeight keys written (a group
// item writes two keys per member on its page). bbolt holds every page a
// transaction touches in memory, unsplit, until it commits: a batch of 500
// pages of a 250,000-member group put 500,000 keys into one transaction, and
// into an empty bucket (the first sync) that is a single node, where every
// insert moved the ones after it (minutes of memmove, hundreds of MB of
// dirty pages).
const (
	batchSize   = 500
	batchWeight = 8000
)

// Ingest reads the users and groups deltas into the state and marks the
// affected groups dirty. full forces full snapshots (as a full reconcile does).
func (e *Engine) Ingest(ctx context.Context, full bool) (Ingested, error) {
	var in Ingested
	if err := e.restartDeltaIfSelectChanged(); err != nil {
		return in, fmt.Errorf("check whether the stored delta links were made with the Graph properties selected now (state %s): %w", e.db.Path(), err)
	}
	gl, ul, err := e.db.Links()
	if err != nil {
		return in, fmt.Errorf("read delta links: %w", err)
	}
	if full {
		gl, ul = "", ""
	}
	var fullU, fullG bool
	if gl == "" && ul == "" {
		// Two snapshots (a full round, the first sync), marking nothing: they
		// do not depend on each other, so both deltas are read at once (Graph
		// answers one page at a time per delta; the state file takes the
		// batches of both in turn). One failing stops the other.
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() (err error) {
			in.Users, in.UsersLink, fullU, err = e.ingestUsers(gctx, ul)
			return err
		})
		g.Go(func() (err error) {
			in.Groups, in.GroupsLink, fullG, err = e.ingestGroups(gctx, gl)
			return err
		})
		if err := g.Wait(); err != nil {
			return in, err
		}
	} else {
		// Users first: a changed user marks the groups that hold it, which a
		// groups delta read in the same round may change.
		if in.Users, in.UsersLink, fullU, err = e.ingestUsers(ctx, ul); err != nil {
			return in, err
		}
		if in.Groups, in.GroupsLink, fullG, err = e.ingestGroups(ctx, gl); err != nil {
			return in, err
		}
	}
	in.Full = fullU || fullG
	// A full snapshot has marked a full round pending (see ingestDelta); it is
	// remembered until a full round has been applied: a plan-only run must not
	// make the next round forget that everything needs checking.
	if in.Full {
		// Reading the snapshot in touched every page of the cache; the plan
		// reads only part of it (not the membership index, not freed pages).
		if err := e.db.ReleaseMapped(); err != nil {
			e.log.Debug("release the state file's mapped pages", "err", err)
		}
	}
	return in, nil
}

// writer abstracts "current data" and "new full snapshot" for ingestion.
type writer interface {
	Update(fn func(*state.Tx) error) error
}

func (e *Engine) ingestUsers(ctx context.Context, link string) (int, string, bool, error) {
	return ingestDelta(ctx, e, deltaKind[entra.User]{
		name:   "users",
		read:   e.src.UsersDelta,
		weight: func(entra.User) int { return 1 },
		put: func(tx *state.Tx, u entra.User, full bool) error {
			if u.Removed != nil {
				if err := tx.DeleteUser(u.ID); err != nil {
					return err
				}
				return markParents(tx, u.ID, "member")
			}
			var old *state.User
			if !full {
				// An incremental item may carry only the properties that
				// changed ("at least the properties that have been updated").
				var err error
				if old, err = tx.User(strings.ToLower(u.ID)); err != nil {
					return err
				}
			}
			changed, err := tx.PutUser(userFromEntra(old, u))
			if err != nil {
				return err
			}
			if changed && !full {
				return markParents(tx, u.ID, "member")
			}
			return nil
		},
		vanished: func(tx *state.Tx, id string) error { return markParents(tx, id, "member") },
	}, link)
}

func (e *Engine) ingestGroups(ctx context.Context, link string) (int, string, bool, error) {
	scoping := e.scope.MemberOfGroup()
	return ingestDelta(ctx, e, deltaKind[entra.Group]{
		name:   "groups",
		read:   e.src.GroupsDelta,
		weight: func(g entra.Group) int { return 1 + 2*len(g.MembersDelta) },
		put: func(tx *state.Tx, g entra.Group, full bool) error {
			return putGroup(tx, g, full, scoping)
		},
		vanished: func(tx *state.Tx, id string) error { return tx.MarkDirty(id, "deleted") },
	}, link)
}

// deltaKind holds what differs between ingesting the users and the groups
// delta, so the batching, token-restart and snapshot handling exist once.
type deltaKind[T any] struct {
	name string // state bucket and link key; also names the delta in errors
	read func(ctx context.Context, link string, fn func(T) error) (next string, full bool, err error)
	// weight is about how many keys storing an item writes.
	weight func(T) int
	// put stores one delta item; full says a snapshot is being rebuilt, where
	// every group gets planned anyway and marking dirty would be wasted work.
	put func(tx *state.Tx, item T, full bool) error
	// vanished handles an object the snapshot no longer holds.
	vanished func(tx *state.Tx, id string) error
}

// ingestDelta reads one delta from link ("" = full snapshot) and returns the
// number of objects read, the next link and whether it was a full snapshot.
//
// Reading and writing overlap: batches go to a writer goroutine, so the next
// Graph page is fetched and decoded while the previous batch commits (a
// commit waits for the disk). At most one batch waits for the writer, so
// memory stays bounded by the batch limits.
func ingestDelta[T any](ctx context.Context, e *Engine, k deltaKind[T], link string) (int, string, bool, error) {
	r := &deltaRead[T]{e: e, k: k, full: link == ""}
	if r.full {
		// A snapshot refreshes the cache in place and marks nothing dirty, so
		// the full round is pending from its start: a snapshot cut short
		// leaves refreshed objects that only a full round plans.
		if err := markFullPending(e.db); err != nil {
			return 0, "", false, fmt.Errorf("mark a full round pending before the %s snapshot: %w", k.name, err)
		}
		snap, err := e.db.BeginFull(k.name)
		if err != nil {
			return 0, "", false, err
		}
		r.snap = snap
	}
	next, restarted, err := r.read(ctx, link)
	if err == nil && restarted && !r.full {
		// A source that restarted without telling (no NotifyRestart): the
		// cache may hold objects Graph no longer has; redo it as a snapshot.
		return ingestDelta(ctx, e, k, "")
	}
	if err != nil {
		if r.snap != nil {
			_ = r.snap.Abort()
		}
		return 0, "", false, fmt.Errorf("read %s delta: %w", k.name, err)
	}
	return r.commit(next)
}

// deltaRead is one ingestDelta: the reader's batch, the writer goroutine's
// channel, and whether it has become a snapshot.
type deltaRead[T any] struct {
	e    *Engine
	k    deltaKind[T]
	full bool              // a snapshot is being read
	snap *state.FullIngest // the snapshot's writer, when full
	n    int               // objects read
	buf  []T               // the batch being filled
	// bufWeight is about how many keys buf will write.
	bufWeight int
	batches   chan deltaBatch[T]
	written   chan error
	writeErr  atomic.Pointer[error]
	busy      time.Duration // the writer's time in commits, for the phase log
	beginErr  error         // a snapshot that could not begin on Graph's restart
}

// deltaBatch is one batch for the writer. One with restart set carries no
// items: the snapshot is read again from the start, after the batches before
// it are written. One with begin set switches the writer from the current
// data to that snapshot (an incremental read that Graph turned into a full
// one).
type deltaBatch[T any] struct {
	items   []T
	restart bool
	begin   *state.FullIngest
}

// read reads the delta into the state through the writer goroutine and
// returns the next link and whether the source restarted the read.
func (r *deltaRead[T]) read(ctx context.Context, link string) (string, bool, error) {
	r.batches, r.written = make(chan deltaBatch[T], 1), make(chan error, 1)
	var w writer = r.e.db
	if r.snap != nil {
		w = r.snap
	}
	t0 := time.Now()
	go r.write(w, r.snap, r.full)
	// When Graph refuses the token (410, syncStateNotFound) the client
	// starts a full enumeration itself. An incremental read turns into a
	// snapshot there and then, so one refused token costs one enumeration,
	// not a second one read again afterwards.
	rctx := entra.WithRestart(ctx, r.restart)
	counter := func(p *Progress) *atomic.Int64 { return &p.UsersRead }
	if r.k.name == "groups" {
		counter = func(p *Progress) *atomic.Int64 { return &p.GroupsRead }
	}
	next, restarted, err := r.k.read(rctx, link, func(item T) error {
		if r.beginErr != nil {
			return r.beginErr
		}
		r.n++
		r.e.progress.add(counter, 1)
		r.buf = append(r.buf, item)
		r.bufWeight += r.k.weight(item)
		if len(r.buf) >= batchSize || r.bufWeight >= batchWeight {
			return r.flush()
		}
		return nil
	})
	if err == nil {
		err = r.flush()
	}
	read := time.Since(t0)
	close(r.batches)
	if werr := <-r.written; err == nil {
		err = werr
	}
	r.e.log.Debug("ingest phases", "delta", r.k.name, "full", r.full, "objects", r.n,
		"read", read.Round(time.Millisecond).String(), "writing", r.busy.Round(time.Millisecond).String(),
		"total", time.Since(t0).Round(time.Millisecond).String())
	if err == nil && r.beginErr != nil {
		err = r.beginErr
	}
	return next, restarted, err
}

// write is the writer goroutine: it commits the batches in order and
// reports its first error on r.written once the batches are closed.
func (r *deltaRead[T]) write(w writer, snap *state.FullIngest, full bool) {
	var first error
	for b := range r.batches {
		if first != nil {
			continue // drain: the reader stops at its next item
		}
		if b.begin != nil {
			w, snap, full = b.begin, b.begin, true
			continue
		}
		if b.restart {
			snap.Restart()
			continue
		}
		tw := time.Now()
		first = w.Update(func(tx *state.Tx) error {
			for _, item := range b.items {
				if err := r.k.put(tx, item, full); err != nil {
					return err
				}
			}
			return nil
		})
		r.busy += time.Since(tw)
		if first != nil {
			r.writeErr.Store(&first)
		}
		if full {
			// A snapshot reads the whole state file: at L, 260 MiB of
			// mapped pages, all counted in RSS.
			r.e.db.TrimMapped()
		}
	}
	r.written <- first
}

// flush hands the batch to the writer; it returns the writer's error, if any.
func (r *deltaRead[T]) flush() error {
	if p := r.writeErr.Load(); p != nil {
		return *p
	}
	if len(r.buf) == 0 {
		return nil
	}
	r.batches <- deltaBatch[T]{items: r.buf}
	r.buf, r.bufWeight = make([]T, 0, batchSize), 0
	return nil
}

// restart is called when the source starts the enumeration again: a
// snapshot restarts; an incremental read becomes a snapshot.
func (r *deltaRead[T]) restart() {
	_ = r.flush() // a writer error surfaces at the next item
	if r.full {
		r.batches <- deltaBatch[T]{restart: true}
		return
	}
	if err := markFullPending(r.e.db); err != nil {
		r.beginErr = fmt.Errorf("mark a full round pending before the %s snapshot: %w", r.k.name, err)
		return
	}
	s, err := r.e.db.BeginFull(r.k.name)
	if err != nil {
		r.beginErr = err
		return
	}
	r.snap, r.full, r.n = s, true, 0
	r.batches <- deltaBatch[T]{begin: s}
}

// commit stores the next link. After a snapshot, only now, with the whole
// snapshot read, is an object it lacks known to be gone: a half-read
// snapshot never makes groups look deleted. Dropping them, their marks and
// the new link are one transaction.
func (r *deltaRead[T]) commit(next string) (int, string, bool, error) {
	if r.full {
		err := r.snap.CommitWith(next, func(tx *state.Tx, vanished []string) error {
			for _, id := range vanished {
				if err := r.k.vanished(tx, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, "", false, err
		}
		return r.n, next, true, nil
	}
	if err := r.e.db.Update(func(tx *state.Tx) error { return tx.SetLink(r.k.name, next) }); err != nil {
		return 0, "", false, err
	}
	return r.n, next, false, nil
}

// putGroup stores one groups-delta item and marks what it affects dirty.
func putGroup(tx *state.Tx, g entra.Group, full bool, scoping string) error {
	id := strings.ToLower(g.ID)
	if g.Removed != nil {
		reason := "softDeleted"
		if g.Removed.Permanent() {
			reason = "deleted"
		}
		if err := markMembersIfScoping(tx, id, scoping); err != nil {
			return err
		}
		if _, err := tx.DeleteGroup(id); err != nil {
			return err
		}
		if err := tx.MarkDirty(id, reason); err != nil {
			return err
		}
		return markParents(tx, id, "member")
	}
	old, err := tx.Group(id)
	if err != nil {
		return err
	}
	if tx.Fresh(id) {
		old = nil // a snapshot replaces the cached group; its later items merge
	}
	changed, err := tx.PutGroup(groupFromEntra(old, g))
	if err != nil {
		return err
	}
	if changed && !full {
		if err := tx.MarkDirty(id, "changed"); err != nil {
			return err
		}
		// A nested group's scope may have changed: its parents resolve it differently.
		if err := markParents(tx, id, "member"); err != nil {
			return err
		}
	}
	add := map[string]string{}
	var remove []string
	for _, m := range g.MembersDelta {
		mid := strings.ToLower(m.ID)
		if m.Removed {
			remove = append(remove, mid)
		} else {
			add[mid] = strings.ToLower(m.Type)
		}
	}
	mchanged, err := tx.ChangeMembers(id, add, remove)
	if err != nil {
		return err
	}
	if !mchanged || full {
		return nil
	}
	if err := tx.MarkDirty(id, "member"); err != nil {
		return err
	}
	if id == scoping {
		for m := range add {
			if err := tx.MarkDirty(m, "scope"); err != nil {
				return err
			}
		}
		for _, m := range remove {
			if err := tx.MarkDirty(m, "scope"); err != nil {
				return err
			}
		}
	}
	return nil
}

func markParents(tx *state.Tx, memberID, reason string) error {
	var parents []string
	if err := tx.MemberOf(memberID, func(g string) error { parents = append(parents, g); return nil }); err != nil {
		return err
	}
	for _, p := range parents {
		if err := tx.MarkDirty(p, reason); err != nil {
			return err
		}
	}
	return nil
}

// markMembersIfScoping: deleting the scoping group takes its members out of scope.
func markMembersIfScoping(tx *state.Tx, id, scoping string) error {
	if scoping == "" || id != scoping {
		return nil
	}
	return tx.Members(id, func(m, _ string) error { return tx.MarkDirty(m, "scope") })
}

// groupFromEntra merges a delta item into the cached group: Graph repeats a
// group on every page of its members, and an incremental item carries only the
// properties that changed, so only properties present in Raw overwrite.
func groupFromEntra(old *state.Group, g entra.Group) state.Group {
	var s state.Group
	if old != nil {
		s = *old
	}
	s.ID = strings.ToLower(g.ID)
	if s.Raw == nil {
		s.Raw = map[string]any{}
	}
	has := func(k string) bool {
		if g.Raw == nil {
			return true // a source without Raw sends whole objects
		}
		_, ok := g.Raw[k]
		return ok
	}
	for k, v := range g.Raw {
		s.Raw[k] = v
	}
	if has("displayName") {
		s.DisplayName = g.DisplayName
		s.Raw["displayName"] = nilIfEmpty(g.DisplayName)
	}
	if has("description") {
		s.Description = g.Description
		s.Raw["description"] = nilIfEmpty(g.Description)
	}
	if has("mailNickname") {
		s.MailNickname = g.MailNickname
		s.Raw["mailNickname"] = nilIfEmpty(g.MailNickname)
	}
	if has("securityEnabled") {
		s.SecurityEnabled = g.SecurityEnabled
		s.Raw["securityEnabled"] = g.SecurityEnabled
	}
	if has("mailEnabled") {
		s.MailEnabled = g.MailEnabled
		s.Raw["mailEnabled"] = g.MailEnabled
	}
	if has("onPremisesSyncEnabled") {
		s.OnPremisesSyncEnabled = g.OnPremisesSyncEnabled
		if g.OnPremisesSyncEnabled != nil {
			s.Raw["onPremisesSyncEnabled"] = *g.OnPremisesSyncEnabled
		} else {
			s.Raw["onPremisesSyncEnabled"] = nil
		}
	}
	if has("groupTypes") {
		s.GroupTypes = g.GroupTypes
	}
	delete(s.Raw, "members@delta")
	return s
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// userFromEntra merges a users delta item into the cached user (old, nil
// when none): like groups, only the properties the item carries overwrite,
// so an item with just a changed displayName keeps the on-premises anchors.
func userFromEntra(old *state.User, u entra.User) state.User {
	var s state.User
	if old != nil {
		s = *old
	}
	has := func(k string) bool {
		if u.Raw == nil || old == nil {
			return true // a whole object: a source without Raw, or a new user
		}
		_, ok := u.Raw[k]
		return ok
	}
	s.ID = strings.ToLower(u.ID)
	if has("displayName") {
		s.DisplayName = u.DisplayName
	}
	// The name shown for a user: its UPN, else its display name.
	if has("userPrincipalName") {
		s.UserPrincipalName = cmp.Or(u.UserPrincipalName, u.DisplayName)
	} else if s.UserPrincipalName == "" {
		s.UserPrincipalName = u.DisplayName
	}
	if has("onPremisesObjectIdentifier") {
		s.ObjectIdentifier = u.OnPremisesObjectIdentifier
	}
	if has("onPremisesSecurityIdentifier") {
		s.SID = u.OnPremisesSecurityIdentifier
	}
	if has("onPremisesImmutableId") {
		s.ImmutableID = u.OnPremisesImmutableId
	}
	if has("onPremisesSyncEnabled") {
		s.SyncEnabled = u.OnPremisesSyncEnabled
	}
	return s
}

// markFullPending marks a full round pending from the start of a snapshot.
// The mark is wall-clock time, not e.now: it identifies the snapshot, so two
// snapshots must not share one even under a fixed test clock.
func markFullPending(db *state.DB) error {
	_, err := db.MarkFullPending(time.Now())
	return err
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/state"
)

// cutSource is a Graph whose full groups delta stops after a number of groups,
// as a network failure or a stopped process would stop it; stop may also run
// something at that point (close the state, as a kill would leave it).
type cutSource struct {
	*memSource
	after int
	stop  func()
}

var errCut = errors.New("connection reset")

func (s *cutSource) GroupsDelta(ctx context.Context, link string, fn func(entra.Group) error) (string, bool, error) {
	if link != "" || s.after < 0 {
		return s.memSource.GroupsDelta(ctx, link, fn)
	}
	n := 0
	return s.memSource.GroupsDelta(ctx, link, func(g entra.Group) error {
		if n == s.after {
			if s.stop != nil {
				s.stop()
			}
			return errCut
		}
		n++
		return fn(g)
	})
}

// addOutOfScope adds n groups that sort before idA and idB (so a cut full
// snapshot has written A in several committed batches but not B) and are not
// security groups, so no round provisions them.
func addOutOfScope(src *memSource, n int) {
	for i := range n {
		id := fmt.Sprintf("0000%04d-0000-0000-0000-000000000000", i)
		src.groups[id] = entra.Group{ID: id, DisplayName: "Mail " + id, MailEnabled: true,
			MembersDelta: []entra.MemberRef{{ID: "u1", Type: "user"}}}
	}
}

func cachedGroups(t *testing.T, db *state.DB) (n int, hasB bool) {
	t.Helper()
	if err := db.View(func(tx *state.Tx) error {
		n = tx.GroupCount()
		g, err := tx.Group(idB)
		hasB = g != nil
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n, hasB
}

// A full snapshot is written in many small transactions; one that stops half
// way must neither drop cached groups it had not sent yet (B would look
// deleted) nor lose the fact that a full round is due.
func TestCutFullSnapshotKeepsGroupsAndFullRoundPending(t *testing.T) {
	eng, dir, src, db := newLDAPTestEngine(t, "")
	ctx := context.Background()
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(dir.groups(t)) != 2 {
		t.Fatalf("first round made %d groups, want 2", len(dir.groups(t)))
	}
	addOutOfScope(src, 3*batchSize)
	cut := &cutSource{memSource: src, after: 3*batchSize + 1} // the extras and A, not B
	eng.src = cut

	_, err := eng.Ingest(ctx, true)
	if !errors.Is(err, errCut) {
		t.Fatalf("Ingest = %v, want the cut", err)
	}
	if n, hasB := cachedGroups(t, db); n < 2 || !hasB {
		t.Fatalf("after the cut the cache holds %d groups (B: %v), want at least the 2 from before", n, hasB)
	}
	dirty, err := db.Dirty()
	if err != nil {
		t.Fatal(err)
	}
	if r := dirty[idB]; r != "" {
		t.Fatalf("B marked %q after a cut snapshot", r)
	}
	// The snapshot refreshed groups in place without marking them: the full
	// round must be pending.
	if p, _ := db.FullPending(); p == "" {
		t.Fatal("no full round pending after a cut snapshot")
	}

	// Graph answers again: the next round is a full one, and B stays.
	cut.after = -1
	res, err := eng.RunOnce(ctx, RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Planned.Full {
		t.Errorf("round after the cut was not full")
	}
	for _, c := range res.Planned.Plan.Changes {
		if c.GroupID == idB || c.GroupID == idA {
			t.Errorf("unexpected change to a provisioned group: %+v", c)
		}
	}
	if len(dir.groups(t)) != 2 {
		t.Errorf("%d AD groups after the round, want 2", len(dir.groups(t)))
	}
	if p, _ := db.FullPending(); p != "" {
		t.Errorf("fullPending = %q after an applied full round", p)
	}
}

// A process killed during a full snapshot leaves what it refreshed and drops
// nothing: after a restart the cached groups are all there and the next round
// is a full one that changes nothing in AD.
func TestKilledFullSnapshotKeepsGroups(t *testing.T) {
	eng, dir, src, db := newLDAPTestEngine(t, "")
	ctx := context.Background()
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	addOutOfScope(src, 3*batchSize)
	path := db.Path()
	// Closing the state at the cut is what a kill leaves: no Abort runs.
	eng.src = &cutSource{memSource: src, after: 3*batchSize + 1, stop: func() { db.Close() }}
	if _, err := eng.Ingest(ctx, true); err == nil {
		t.Fatal("Ingest succeeded on a closed state")
	}

	db2, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if n, hasB := cachedGroups(t, db2); n < 2 || !hasB {
		t.Fatalf("after restart the cache holds %d groups (B: %v), want at least the 2 from before", n, hasB)
	}
	eng2, err := New(ctx, Options{Config: eng.cfg, State: db2, DC: dir.dc, GC: dir.dc, Source: src, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng2.RunOnce(ctx, RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Planned.Full || len(dir.groups(t)) != 2 {
		t.Fatalf("round after restart: full %v, %d AD groups, changes %+v", res.Planned.Full, len(dir.groups(t)), res.Planned.Plan.Changes)
	}
}

// A complete snapshot that no longer has a group drops it and marks it
// deleted, in the same transaction as the new link.
func TestFullSnapshotMarksVanished(t *testing.T) {
	eng, _, src, db := newLDAPTestEngine(t, "")
	ctx := context.Background()
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	delete(src.groups, idB)
	in, err := eng.Ingest(ctx, true)
	if err != nil || !in.Full {
		t.Fatalf("Ingest = %+v, %v", in, err)
	}
	dirty, err := db.Dirty()
	if err != nil {
		t.Fatal(err)
	}
	if dirty[idB] != "deleted" {
		t.Errorf("B marked %q, want deleted", dirty[idB])
	}
	if p, _ := db.FullPending(); p == "" {
		t.Error("no full round pending after a snapshot")
	}
}

// Changes Graph made while no delta reached writeback (an expired token, a
// missed delta) are found by the full round's snapshot, refreshed in place:
// a member no longer listed is removed from AD, a renamed group renamed.
func TestFullSnapshotInPlaceFindsMissedChanges(t *testing.T) {
	eng, dir, src, _ := newLDAPTestEngine(t, "")
	ctx := context.Background()
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	a := src.groups[idA]
	a.MembersDelta = nil
	a.DisplayName = "Quietly renamed"
	src.groups[idA] = a // no event: the incremental delta never tells
	if res, err := eng.RunOnce(ctx, RoundOptions{}); err != nil || len(res.Planned.Plan.Changes) != 0 {
		t.Fatalf("incremental round: %v, %v", err, res.Planned.Plan.Changes)
	}
	res, err := eng.RunOnce(ctx, RoundOptions{PlanOptions: PlanOptions{Full: true}})
	if err != nil {
		t.Fatal(err)
	}
	g := dir.get(t, "CN=Quietly renamed_00000000000a,OU=G,DC=test")
	if g == nil || len(g.Members) != 0 {
		t.Fatalf("after the full round: group %+v (changes %+v)", g, res.Planned.Plan.Changes)
	}
}

// restartSource is Graph refusing a full enumeration's token mid-way: the
// first pass sends every group, then the read starts over, and the second
// pass no longer has B (deleted in between).
type restartSource struct{ *memSource }

func (s *restartSource) GroupsDelta(ctx context.Context, link string, fn func(entra.Group) error) (string, bool, error) {
	if link != "" {
		return s.memSource.GroupsDelta(ctx, link, fn)
	}
	for _, k := range sortedKeys(s.groups) {
		if err := fn(s.groups[k]); err != nil {
			return "", true, err
		}
	}
	entra.NotifyRestart(ctx)
	delete(s.groups, idB)
	return s.memSource.GroupsDelta(ctx, link, fn)
}

// What only the abandoned pass of a restarted snapshot sent does not count
// as present: B, gone by the second pass, is dropped and marked deleted.
func TestRestartedSnapshotCountsTheLastPassOnly(t *testing.T) {
	eng, _, src, db := newLDAPTestEngine(t, "")
	ctx := context.Background()
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	eng.src = &restartSource{memSource: src}
	if _, err := eng.Ingest(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, hasB := cachedGroups(t, db); hasB {
		t.Error("B still cached after a snapshot whose last pass did not have it")
	}
	if dirty, _ := db.Dirty(); dirty[idB] != "deleted" {
		t.Errorf("B marked %q, want deleted", dirty[idB])
	}
}

// A full plan saved before a snapshot was cut, applied after it, clears
// only the pending round it covered: the cut snapshot refreshed groups the
// saved plan never saw, so a full round stays pending.
func TestSavedFullPlanKeepsALaterPendingRound(t *testing.T) {
	eng, _, src, db := newLDAPTestEngine(t, "")
	ctx := context.Background()
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	saved, err := eng.Plan(ctx, PlanOptions{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	addOutOfScope(src, 3*batchSize)
	eng.src = &cutSource{memSource: src, after: 3*batchSize + 1}
	if _, err := eng.Ingest(ctx, true); !errors.Is(err, errCut) {
		t.Fatalf("Ingest = %v, want the cut", err)
	}
	if _, err := eng.Apply(ctx, saved, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, _ := db.FullPending(); p == "" {
		t.Error("applying an older full plan cleared the full round a later snapshot left pending")
	}
}

package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func open(t *testing.T) (*DB, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, p
}

func members(t *testing.T, db *DB, gid string) []string {
	t.Helper()
	var out []string
	if err := db.View(func(tx *Tx) error {
		return tx.Members(gid, func(id, typ string) error { out = append(out, id+":"+typ); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIncrementalMembersAndReverseIndex(t *testing.T) {
	db, _ := open(t)
	err := db.Update(func(tx *Tx) error {
		if ch, err := tx.PutGroup(Group{ID: "g1", DisplayName: "One"}); err != nil || !ch {
			t.Fatalf("first put: changed=%v err=%v", ch, err)
		}
		if ch, _ := tx.PutGroup(Group{ID: "g1", DisplayName: "One"}); ch {
			t.Fatal("same put reported a change")
		}
		_, err := tx.ChangeMembers("g1", map[string]string{"u1": "user", "u2": "user", "g2": "group"}, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *Tx) error {
		ch, err := tx.ChangeMembers("g1", nil, []string{"u2", "absent"})
		if !ch {
			t.Error("remove reported no change")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := members(t, db, "g1"), []string{"g2:group", "u1:user"}; !slices.Equal(got, want) {
		t.Fatalf("members = %v, want %v", got, want)
	}
	var parents []string
	_ = db.View(func(tx *Tx) error {
		return tx.MemberOf("g2", func(g string) error { parents = append(parents, g); return nil })
	})
	if !slices.Equal(parents, []string{"g1"}) {
		t.Fatalf("memberOf(g2) = %v", parents)
	}
	// A group ID that is a prefix of another must not see its members.
	_ = db.Update(func(tx *Tx) error {
		_, err := tx.ChangeMembers("g10", map[string]string{"u9": "user"}, nil)
		return err
	})
	if got := members(t, db, "g1"); len(got) != 2 {
		t.Fatalf("prefix leak: %v", got)
	}
}

// A full snapshot refreshes the cache in place: Commit drops the groups and
// members it did not send, a snapshot abandoned by a killed process drops
// nothing, and an unchanged snapshot writes nothing.
func TestFullSnapshotInPlace(t *testing.T) {
	db, p := open(t)
	_ = db.Update(func(tx *Tx) error {
		tx.PutGroup(Group{ID: "old"})
		tx.PutGroup(Group{ID: "kept"})
		_, err := tx.ChangeMembers("kept", map[string]string{"u1": "user", "u2": "user", "old": "group"}, nil)
		return err
	})
	f, err := db.BeginFull("groups")
	if err != nil {
		t.Fatal(err)
	}
	// kept comes in two items (a large group's members are split), u2 in neither.
	_ = f.Update(func(tx *Tx) error {
		if !tx.Fresh("kept") {
			t.Error("kept not fresh before the snapshot sent it")
		}
		tx.PutGroup(Group{ID: "kept"})
		if tx.Fresh("kept") {
			t.Error("kept still fresh after the snapshot sent it")
		}
		tx.ChangeMembers("kept", map[string]string{"u1": "user"}, nil)
		tx.PutGroup(Group{ID: "new"})
		_, err := tx.ChangeMembers("new", map[string]string{"u1": "user"}, nil)
		return err
	})
	_ = f.Update(func(tx *Tx) error {
		tx.PutGroup(Group{ID: "kept"})
		_, err := tx.ChangeMembers("kept", map[string]string{"u3": "user"}, nil)
		return err
	})
	vanished, err := f.Commit("link-1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(vanished, []string{"old"}) {
		t.Fatalf("vanished = %v", vanished)
	}
	if l, _, _ := db.Links(); l != "link-1" {
		t.Fatalf("link = %q", l)
	}
	if got := members(t, db, "kept"); !slices.Equal(got, []string{"u1:user", "u3:user"}) {
		t.Fatalf("kept's members = %v, want u1 and u3", got)
	}
	if got := members(t, db, "new"); !slices.Equal(got, []string{"u1:user"}) {
		t.Fatalf("new's members = %v", got)
	}
	_ = db.View(func(tx *Tx) error {
		var of []string
		_ = tx.MemberOf("u2", func(g string) error { of = append(of, g); return nil })
		_ = tx.MemberOf("old", func(g string) error { of = append(of, g); return nil })
		if len(of) != 0 {
			t.Errorf("memberOf index still holds %v", of)
		}
		return nil
	})

	// The same snapshot again writes nothing: the file's transaction ID stays.
	txid := func() int {
		var id int
		_ = db.bolt.View(func(btx *bolt.Tx) error { id = btx.ID(); return nil })
		return id
	}
	f2, _ := db.BeginFull("groups")
	before := txid()
	_ = f2.Update(func(tx *Tx) error {
		for _, id := range []string{"kept", "new"} {
			if _, err := tx.PutGroup(Group{ID: id}); err != nil {
				return err
			}
		}
		tx.ChangeMembers("kept", map[string]string{"u1": "user", "u3": "user"}, nil)
		_, err := tx.ChangeMembers("new", map[string]string{"u1": "user"}, nil)
		return err
	})
	if got := txid(); got != before+1 {
		t.Errorf("an unchanged snapshot batch committed %d transactions", got-before)
	}
	if _, err := f2.Commit("link-2"); err != nil {
		t.Fatal(err)
	}

	// A snapshot abandoned by a killed process drops nothing.
	f3, _ := db.BeginFull("groups")
	_ = f3.Update(func(tx *Tx) error { _, err := tx.PutGroup(Group{ID: "half"}); return err })
	db.Close()
	db2, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	_ = db2.View(func(tx *Tx) error {
		if n := tx.GroupCount(); n != 3 {
			t.Errorf("after reopen %d groups, want kept, new and half", n)
		}
		return nil
	})
	if got := members(t, db2, "kept"); len(got) != 2 {
		t.Errorf("after reopen kept's members = %v", got)
	}
}

func TestDirtyMarksSurviveConcurrentReMark(t *testing.T) {
	db, _ := open(t)
	_ = db.Update(func(tx *Tx) error {
		tx.MarkDirty("a", "changed")
		tx.MarkDirty("b", "deleted")
		tx.MarkDirty("b", "changed") // must not downgrade
		return nil
	})
	d, _ := db.Dirty()
	if d["b"] != "deleted" {
		t.Fatalf("b = %q", d["b"])
	}
	_ = db.Update(func(tx *Tx) error { return tx.MarkDirty("a", "member") })
	if err := db.ClearDirty(d); err != nil {
		t.Fatal(err)
	}
	d2, _ := db.Dirty()
	if len(d2) != 1 || d2["a"] != "member" {
		t.Fatalf("after clear: %v", d2)
	}
}

func TestLogNewestFirstAndFilter(t *testing.T) {
	db, _ := open(t)
	_ = db.AppendLog(Entry{GroupID: "a", Action: "create"}, Entry{GroupID: "b", Action: "create"}, Entry{GroupID: "a", Action: "update"})
	var got []string
	_ = db.Log("a", func(e Entry) error { got = append(got, e.Action); return nil })
	if !slices.Equal(got, []string{"update", "create"}) {
		t.Fatalf("log = %v", got)
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{0: 0, 1: time.Minute, 2: 2 * time.Minute, 5: 16 * time.Minute, 20: 24 * time.Hour} {
		if got := Backoff(n); got != want {
			t.Errorf("Backoff(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	defer func(d time.Duration) { openTimeout = d }(openTimeout)
	openTimeout = 200 * time.Millisecond
	_, p := open(t)
	if _, err := Open(p); err == nil {
		t.Fatal("second open succeeded")
	}
}

// Releasing the mapped pages loses nothing: the data reads back and the file
// takes further writes.
func TestReleaseMappedKeepsData(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 3000
	put := func(from int) {
		t.Helper()
		if err := db.Update(func(tx *Tx) error {
			for i := from; i < from+n; i++ {
				if _, err := tx.PutUser(User{ID: fmt.Sprintf("u%05d", i), UserPrincipalName: fmt.Sprintf("user%d@x", i)}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(0)
	if err := db.ReleaseMapped(); err != nil {
		t.Fatal(err)
	}
	put(n)
	if err := db.ReleaseMapped(); err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *Tx) error {
		for i := range 2 * n {
			u, err := tx.User(fmt.Sprintf("u%05d", i))
			if err != nil {
				return err
			}
			if u == nil || u.UserPrincipalName != fmt.Sprintf("user%d@x", i) {
				return fmt.Errorf("user %d read back as %+v", i, u)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// Users written by an older writeback (JSON values) still read; new writes use
// the compact encoding, which round-trips every field.
func TestUserEncodingReadsOldJSON(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	on := true
	want := User{ID: "u1", DisplayName: "Ann", UserPrincipalName: "ann@x", ObjectIdentifier: "11111111-2222-3333-4444-555555555555",
		SID: "S-1-5-21-1-2-3-1001", ImmutableID: "AQID", SyncEnabled: &on}
	if err := db.Update(func(tx *Tx) error {
		old, _ := json.Marshal(want)
		if err := tx.users.Put([]byte("u1"), old); err != nil {
			return err
		}
		w2 := want
		w2.ID, w2.SyncEnabled = "u2", nil
		_, err := tx.PutUser(w2)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *Tx) error {
		for _, id := range []string{"u1", "u2"} {
			got, err := tx.User(id)
			if err != nil {
				return err
			}
			w := want
			w.ID = id
			if id == "u2" {
				w.SyncEnabled = nil
			}
			if got == nil || got.ID != w.ID || got.DisplayName != w.DisplayName || got.UserPrincipalName != w.UserPrincipalName ||
				got.ObjectIdentifier != w.ObjectIdentifier || got.SID != w.SID || got.ImmutableID != w.ImmutableID ||
				(got.SyncEnabled == nil) != (w.SyncEnabled == nil) {
				return fmt.Errorf("user %s read back as %+v, want %+v", id, got, w)
			}
		}
		if _, err := decodeUser("x", []byte{userFormat, 0, 200}); err == nil {
			return fmt.Errorf("a truncated value decoded")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// FuzzDecodeUser: a damaged state value gives an error, never a panic, and a
// value written by encodeUser reads back unchanged.
func FuzzDecodeUser(f *testing.F) {
	f.Add([]byte{userFormat, userSyncKnown, 1, 'a', 0, 0, 0, 0})
	f.Add([]byte(`{"id":"u","upn":"a@b"}`))
	f.Add(encodeUser(User{ID: "u", DisplayName: "d", SID: "S-1"}))
	f.Fuzz(func(t *testing.T, v []byte) {
		u, err := decodeUser("u", v)
		if err != nil || len(v) == 0 || v[0] == '{' {
			return
		}
		if got := encodeUser(u); !bytes.Equal(got, v) && len(got) > len(v) {
			t.Errorf("re-encoding %x gave a longer %x", v, got)
		}
	})
}

// The first snapshot into an empty cache tracks nothing (at L that is
// 300,000 users and 500,000 memberships of bookkeeping) and drops nothing.
func TestFirstFullSnapshotTracksNothing(t *testing.T) {
	db, _ := open(t)
	f, err := db.BeginFull("groups")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // one group in two items, as Graph splits a large group
		_ = f.Update(func(tx *Tx) error {
			if tx.Fresh("g") {
				t.Errorf("item %d: Fresh on an empty cache (a later item would not merge into the first)", i)
			}
			tx.PutGroup(Group{ID: "g"})
			_, err := tx.ChangeMembers("g", map[string]string{fmt.Sprint("u", i): "user"}, nil)
			return err
		})
	}
	if f.seen != nil || f.members != nil {
		t.Error("an empty cache's snapshot tracked what it saw")
	}
	vanished, err := f.Commit("link-1")
	if err != nil || len(vanished) != 0 {
		t.Fatalf("Commit = %v, %v", vanished, err)
	}
	if got := members(t, db, "g"); !slices.Equal(got, []string{"u0:user", "u1:user"}) {
		t.Fatalf("members = %v", got)
	}
	if l, _, _ := db.Links(); l != "link-1" {
		t.Fatalf("link = %q", l)
	}
}

// TestConsistencyMissesSurviveReopen: the daemon's next process starts from
// the misses the last one saved, and a save replaces them.
func TestConsistencyMissesSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetConsistencyMisses([]string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetConsistencyMisses([]string{"c"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.ConsistencyMisses()
	if err != nil || len(got) != 1 || got[0] != "c" {
		t.Fatalf("after reopen: %v, %v; want [c]", got, err)
	}
}

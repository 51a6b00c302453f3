package state

import (
	"path/filepath"
	"slices"
	"testing"
	"time"
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

func TestFullSnapshotSwapAndCrashLeavesCurrent(t *testing.T) {
	db, p := open(t)
	_ = db.Update(func(tx *Tx) error {
		tx.PutGroup(Group{ID: "old"})
		tx.PutGroup(Group{ID: "kept"})
		return nil
	})
	f, err := db.BeginFull("groups")
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Update(func(tx *Tx) error {
		tx.PutGroup(Group{ID: "kept"})
		tx.PutGroup(Group{ID: "new"})
		_, err := tx.ChangeMembers("new", map[string]string{"u1": "user"}, nil)
		return err
	})
	// Before commit the current data is unchanged.
	_ = db.View(func(tx *Tx) error {
		if g, _ := tx.Group("new"); g != nil {
			t.Error("uncommitted snapshot visible")
		}
		return nil
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
	if got := members(t, db, "new"); !slices.Equal(got, []string{"u1:user"}) {
		t.Fatalf("members = %v", got)
	}

	// A snapshot abandoned by a killed process is dropped on reopen.
	f2, _ := db.BeginFull("groups")
	_ = f2.Update(func(tx *Tx) error { _, err := tx.PutGroup(Group{ID: "half"}); return err })
	db.Close()
	db2, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	_ = db2.View(func(tx *Tx) error {
		if n := tx.GroupCount(); n != 2 {
			t.Errorf("after reopen %d groups, want 2", n)
		}
		return nil
	})
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
	_, p := open(t)
	if _, err := Open(p); err == nil {
		t.Fatal("second open succeeded")
	}
}

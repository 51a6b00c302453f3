package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/lab/labtest"
)

// The backend conformance tests: the same assertions against the state
// file and against PostgreSQL (the lab's cluster; skipped without it unless
// WRITEBACK_REQUIRE_LAB is set).

type backendCase struct {
	name string
	open func(t *testing.T) *DB
}

func backends() []backendCase {
	return []backendCase{
		{"bbolt", func(t *testing.T) *DB {
			db, err := Open(filepath.Join(t.TempDir(), "state.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}},
		{"postgres", func(t *testing.T) *DB { return openPGLeader(t, labtest.Postgres(t), "test-leader", 30*time.Second) }},
	}
}

// openPG opens the test database's state as one more instance (not leading).
func openPG(t *testing.T, pg *labtest.PG, takeover time.Duration) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := OpenPostgres(ctx, PostgresOptions{URL: pg.URL, Password: pg.Password, Takeover: takeover})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openPGLeader opens it and takes the lease.
func openPGLeader(t *testing.T, pg *labtest.PG, holder string, takeover time.Duration) *DB {
	t.Helper()
	db := openPG(t, pg, takeover)
	l, err := db.NewLeader(holder, nil)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := l.TryAcquire(context.Background())
	if err != nil || !ok {
		t.Fatalf("take the lease: %v %v", ok, err)
	}
	return db
}

func TestBackendKV(t *testing.T) {
	for _, bc := range backends() {
		t.Run(bc.name, func(t *testing.T) {
			db := bc.open(t)
			b := []byte("conformance")
			// Keys that sort differently as text and as bytes, a prefix of
			// another, high bytes, and more than a cursor's page.
			keys := [][]byte{{0x00}, {0x01, 0xff}, []byte("a"), []byte("a/"), []byte("a/b"), []byte("ab"), {0x7f}, {0x80}, {0xff, 0x00}, {0xff}}
			for i := range 5000 {
				keys = append(keys, fmt.Appendf(nil, "n/%05d", i))
			}
			err := db.update(func(tx kvTx) error {
				if tx.Bucket(b) != nil {
					t.Error("bucket exists before it is created")
				}
				bk, err := tx.CreateBucketIfNotExists(b)
				if err != nil {
					return err
				}
				for _, k := range keys {
					if err := bk.Put(k, append([]byte("v:"), k...)); err != nil {
						return err
					}
				}
				if err := bk.Put([]byte("empty"), nil); err != nil {
					return err
				}
				// Read your own writes, before the commit.
				if v := bk.Get([]byte("a/b")); string(v) != "v:a/b" {
					t.Errorf("Get in the writing tx = %q", v)
				}
				if err := bk.Delete([]byte("ab")); err != nil {
					return err
				}
				if v := bk.Get([]byte("ab")); v != nil {
					t.Errorf("Get after Delete = %q", v)
				}
				if _, err := bk.NextSequence(); err != nil {
					return err
				}
				n, err := bk.NextSequence()
				if n != 2 || err != nil {
					t.Errorf("NextSequence = %d, %v; want 2", n, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := slices.DeleteFunc(slices.Clone(keys), func(k []byte) bool { return string(k) == "ab" })
			want = append(want, []byte("empty"))
			slices.SortFunc(want, bytes.Compare)
			err = db.view(func(tx kvTx) error {
				bk := tx.Bucket(b)
				if bk == nil {
					t.Fatal("bucket missing after commit")
				}
				if n := bk.KeyN(); n != len(want) {
					t.Errorf("KeyN = %d, want %d", n, len(want))
				}
				if s := bk.Sequence(); s != 2 {
					t.Errorf("Sequence = %d, want 2", s)
				}
				var got [][]byte
				_ = bk.ForEach(func(k, v []byte) error {
					if string(k) != "empty" && string(v) != "v:"+string(k) {
						t.Errorf("value of %q = %q", k, v)
					}
					got = append(got, bytes.Clone(k))
					return nil
				})
				if !slices.EqualFunc(got, want, bytes.Equal) {
					t.Errorf("ForEach order differs: %d keys, first %q", len(got), got[:min(12, len(got))])
				}
				// Backwards, from the end.
				c := bk.Cursor()
				var back [][]byte
				for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
					back = append(back, bytes.Clone(k))
				}
				slices.Reverse(back)
				if !slices.EqualFunc(back, want, bytes.Equal) {
					t.Errorf("Last/Prev walk differs: %d keys", len(back))
				}
				// Seek to a prefix and walk it; past the end; turn around.
				var pre []string
				for k, _ := c.Seek([]byte("a/")); k != nil && bytes.HasPrefix(k, []byte("a/")); k, _ = c.Next() {
					pre = append(pre, string(k))
				}
				if !slices.Equal(pre, []string{"a/", "a/b"}) {
					t.Errorf("prefix walk = %q", pre)
				}
				if k, _ := c.Seek([]byte{0xff, 0xff}); k != nil {
					t.Errorf("Seek past the end = %q", k)
				}
				if k, _ := c.Seek([]byte("n/02000")); string(k) != "n/02000" {
					t.Errorf("Seek = %q", k)
				}
				if k, _ := c.Prev(); string(k) != "n/01999" {
					t.Errorf("Prev after Seek = %q", k)
				}
				if k, _ := c.Next(); string(k) != "n/02000" {
					t.Errorf("Next after turning = %q", k)
				}
				if k, _ := c.First(); !bytes.Equal(k, []byte{0x00}) {
					t.Errorf("First = %q", k)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// A failing transaction writes nothing.
			boom := errors.New("boom")
			err = db.update(func(tx kvTx) error {
				bk := tx.Bucket(b)
				_ = bk.Put([]byte("a"), []byte("changed"))
				_ = bk.Delete([]byte("a/b"))
				_, _ = tx.CreateBucketIfNotExists([]byte("other"))
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("update = %v, want boom", err)
			}
			_ = db.view(func(tx kvTx) error {
				bk := tx.Bucket(b)
				if v := bk.Get([]byte("a")); string(v) != "v:a" {
					t.Errorf("rolled-back Put is visible: %q", v)
				}
				if v := bk.Get([]byte("a/b")); v == nil {
					t.Error("rolled-back Delete is visible")
				}
				return nil
			})
			// Buckets: delete, then create anew empty.
			err = db.update(func(tx kvTx) error {
				if err := tx.DeleteBucket(b); err != nil {
					return err
				}
				if tx.Bucket(b) != nil {
					t.Error("deleted bucket still there")
				}
				bk, err := tx.CreateBucket(b)
				if err != nil {
					return err
				}
				if n := bk.KeyN(); n != 0 {
					t.Errorf("re-created bucket holds %d keys", n)
				}
				if _, err := tx.CreateBucket(b); err == nil {
					t.Error("CreateBucket of an existing bucket succeeded")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// exercise drives the package's API the way the engine does and returns a
// transcript of what reading it back gives: both backends must give the same.
func exercise(t *testing.T, db *DB) string {
	t.Helper()
	var out strings.Builder
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	f := false
	must(db.Update(func(tx *Tx) error {
		for i := range 30 {
			id := fmt.Sprintf("g%02d", i)
			if _, err := tx.PutGroup(Group{ID: id, DisplayName: "Group " + id, SecurityEnabled: true, OnPremisesSyncEnabled: &f}); err != nil {
				return err
			}
			add := map[string]string{}
			for j := range i % 7 {
				add[fmt.Sprintf("u%03d", j*3+i)] = "user"
			}
			if _, err := tx.ChangeMembers(id, add, nil); err != nil {
				return err
			}
			if _, err := tx.PutUser(User{ID: fmt.Sprintf("u%03d", i), UserPrincipalName: fmt.Sprintf("u%d@x", i), SyncEnabled: &f}); err != nil {
				return err
			}
			if err := tx.MarkDirty(id, "changed"); err != nil {
				return err
			}
		}
		return tx.SetLink("groups", "https://graph/delta?token=1")
	}))
	must(db.setMeta("lastFull", "2026-12-05T00:00:00Z"))
	// A full snapshot that no longer has g00..g04 nor some members.
	fi, err := db.BeginFull("groups")
	must(err)
	must(fi.Update(func(tx *Tx) error {
		for i := 5; i < 30; i++ {
			id := fmt.Sprintf("g%02d", i)
			if _, err := tx.PutGroup(Group{ID: id, DisplayName: "Group " + id, SecurityEnabled: true}); err != nil {
				return err
			}
			if i%7 > 1 {
				if _, err := tx.ChangeMembers(id, map[string]string{fmt.Sprintf("u%03d", i): "user"}, nil); err != nil {
					return err
				}
			}
		}
		return nil
	}))
	vanished, err := fi.Commit("https://graph/delta?token=2")
	must(err)
	fmt.Fprintf(&out, "vanished %v\n", vanished)
	must(db.View(func(tx *Tx) error {
		fmt.Fprintf(&out, "groups %d\n", tx.GroupCount())
		if err := tx.Groups(func(g Group) error {
			fmt.Fprintf(&out, "group %s %q", g.ID, g.DisplayName)
			if err := tx.Members(g.ID, func(id, typ string) error { fmt.Fprintf(&out, " %s:%s", id, typ); return nil }); err != nil {
				return err
			}
			out.WriteString("\n")
			return nil
		}); err != nil {
			return err
		}
		return tx.MemberOf("u012", func(g string) error { fmt.Fprintf(&out, "u012 in %s\n", g); return nil })
	}))
	gl, ul, err := db.Links()
	must(err)
	fmt.Fprintf(&out, "links %q %q\n", gl, ul)
	d, err := db.Dirty()
	must(err)
	fmt.Fprintf(&out, "dirty %d\n", len(d))
	must(db.ClearDirty(d))
	d, _ = db.Dirty()
	fmt.Fprintf(&out, "dirty after clear %d\n", len(d))
	must(db.PutStatuses([]GroupStatus{{ID: "g07", DN: "CN=g07", Failures: 2}, {ID: "g08", DN: "CN=g08"}}))
	must(db.DeleteStatus("g08"))
	must(db.Statuses(func(s GroupStatus) error { fmt.Fprintf(&out, "status %s %s %d\n", s.ID, s.DN, s.Failures); return nil }))
	for i := range 5 {
		must(db.AppendLog(Entry{GroupID: fmt.Sprintf("g%02d", i%2), Action: "create", Time: time.Unix(int64(i), 0).UTC()}))
	}
	must(db.Log("g01", func(e Entry) error { fmt.Fprintf(&out, "log %d %s\n", e.Seq, e.GroupID); return nil }))
	for i := range 3 {
		_, err := db.AddRound(Round{Start: time.Unix(int64(i), 0).UTC(), Groups: i})
		must(err)
	}
	must(db.Rounds(func(r Round) error { fmt.Fprintf(&out, "round %d %d\n", r.Seq, r.Groups); return nil }))
	must(db.PutFindings([]Finding{{GroupID: "g09", Error: "x", Since: time.Unix(9, 0).UTC()}}, nil))
	must(db.Findings(func(f Finding) error { fmt.Fprintf(&out, "finding %s %s\n", f.GroupID, f.Error); return nil }))
	must(db.SetConsistencyMisses([]string{"b", "a"}))
	m, err := db.ConsistencyMisses()
	must(err)
	fmt.Fprintf(&out, "misses %v\n", m)
	return out.String()
}

func TestBackendsAgree(t *testing.T) {
	var ref string
	for _, bc := range backends() {
		t.Run(bc.name, func(t *testing.T) {
			got := exercise(t, bc.open(t))
			for _, want := range []string{"vanished [g00 g01 g02 g03 g04]", "groups 25", "dirty 30", "dirty after clear 0",
				"status g07 CN=g07 2\n", "log 4 g01\nlog 2 g01\n", "round 3 2\nround 2 1\nround 1 0\n", "misses [a b]"} {
				if !strings.Contains(got, want) {
					t.Errorf("transcript lacks %q:\n%s", want, got)
				}
			}
			if ref == "" {
				ref = got
			} else if got != ref {
				t.Errorf("%s reads back differently from bbolt:\n%s\n--- bbolt:\n%s", bc.name, got, ref)
			}
		})
	}
}

// dump lists every bucket's keys, values and sequence.
func dump(t *testing.T, db *DB) string {
	t.Helper()
	var out strings.Builder
	err := db.view(func(tx kvTx) error {
		return tx.ForEachBucket(func(name []byte) error {
			b := tx.Bucket(name)
			fmt.Fprintf(&out, "[%s] seq %d\n", name, b.Sequence())
			return b.ForEach(func(k, v []byte) error { fmt.Fprintf(&out, "%q=%q\n", k, v); return nil })
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestCopyToPostgres(t *testing.T) {
	src := backends()[0].open(t)
	exercise(t, src)
	// More users than one copy transaction carries.
	err := src.Update(func(tx *Tx) error {
		for i := range copyBatch + 500 {
			if _, err := tx.PutUser(User{ID: fmt.Sprintf("bulk%06d", i), UserPrincipalName: "x"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pg := labtest.Postgres(t)
	dst := openPGLeader(t, pg, "migrate", 30*time.Second)
	st, err := Copy(dst, src)
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys < copyBatch {
		t.Errorf("copied %d keys", st.Keys)
	}
	if a, b := dump(t, src), dump(t, dst); a != b {
		t.Errorf("the copy differs from the state file (%d vs %d bytes of dump)", len(a), len(b))
	}
	// What the engine reads: the same.
	g1, u1, _ := src.Links()
	g2, u2, _ := dst.Links()
	if g1 != g2 || u1 != u2 || g2 == "" {
		t.Errorf("links %q %q, copied %q %q", g1, u1, g2, u2)
	}
	// A second copy into a state that holds data is refused.
	if _, err := Copy(dst, src); err == nil || !strings.Contains(err.Error(), "already holds data") {
		t.Errorf("second copy: %v", err)
	}
}

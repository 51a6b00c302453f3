package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// realState builds a state file like a tenant's: groups with members,
// users, statuses, rounds and log entries, spread over many pages.
func realState(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "good.db")
	db, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	for batch := range 10 {
		err := db.Update(func(tx *Tx) error {
			for i := range 200 {
				id := fmt.Sprintf("%08d-0000-0000-0000-%012d", batch, i)
				if _, err := tx.PutGroup(Group{ID: id, DisplayName: strings.Repeat("Group ", 20) + id, SecurityEnabled: true}); err != nil {
					return err
				}
				add := map[string]string{}
				for m := range 20 {
					uid := fmt.Sprintf("u%06d", (i*7+m)%3000)
					add[uid] = "user"
					if _, err := tx.PutUser(User{ID: uid, DisplayName: "User " + uid, UserPrincipalName: uid + "@contoso.test"}); err != nil {
						return err
					}
				}
				if _, err := tx.ChangeMembers(id, add, nil); err != nil {
					return err
				}
				if err := tx.MarkDirty(id, "changed"); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var st []GroupStatus
		for i := range 200 {
			st = append(st, GroupStatus{ID: fmt.Sprintf("%08d-%d", batch, i), DN: "CN=x,OU=y", LastApplied: time.Now()})
		}
		if err := db.PutStatuses(st); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddRound(Round{Start: time.Now(), Duration: time.Second, Full: true, Groups: 200}); err != nil {
			t.Fatal(err)
		}
		if err := db.AppendLog(Entry{GroupID: "g", Action: "create"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func copyFile(t *testing.T, src, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(filepath.Dir(src), name)
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// readEverything is what status and a round read: it must not panic.
func readEverything(db *DB) error {
	if err := db.Rounds(func(Round) error { return nil }); err != nil {
		return err
	}
	if _, err := db.Dirty(); err != nil {
		return err
	}
	if err := db.Statuses(func(GroupStatus) error { return nil }); err != nil {
		return err
	}
	if err := db.Log("", func(Entry) error { return nil }); err != nil {
		return err
	}
	if db.readOnly {
		return nil
	}
	return db.View(func(tx *Tx) error {
		return tx.Groups(func(g Group) error {
			return tx.Members(g.ID, func(string, string) error { return nil })
		})
	})
}

// wantDamaged opens path read-write and read-only, reads everything, and
// wants the DamagedError naming the file and what to do, and no panic (a
// panic fails the test; a SIGBUS would kill the test binary).
func wantDamaged(t *testing.T, path string) {
	t.Helper()
	for _, ro := range []bool{false, true} {
		var db *DB
		var err error
		if ro {
			db, err = OpenReadOnly(path, time.Second)
		} else {
			db, err = Open(path)
		}
		if err == nil {
			err = readEverything(db)
			db.Close()
		}
		if !IsDamaged(err) {
			t.Errorf("read-only %v: got %v, want a DamagedError", ro, err)
			continue
		}
		msg := err.Error()
		t.Logf("read-only %v: %s", ro, msg)
		if !strings.Contains(msg, "state file "+path+" is damaged") || !strings.Contains(msg, "move it away; the next round will be full") {
			t.Errorf("read-only %v: message %q does not name the file and what to do", ro, msg)
		}
	}
}

func TestTruncatedStateIsDamagedNotACrash(t *testing.T) {
	good := realState(t)
	fi, _ := os.Stat(good)
	if fi.Size() < 1<<20 {
		t.Fatalf("state is only %d bytes: too small to stand for a real one", fi.Size())
	}
	p := copyFile(t, good, "half.db")
	if err := os.Truncate(p, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	wantDamaged(t, p)
}

// pagesOfType lists the page ids of a state file with the given bbolt page type.
func pagesOfType(t *testing.T, path string, types ...string) map[int]string {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	out := map[int]string{}
	err = b.View(func(tx *bolt.Tx) error {
		for id := 0; ; id++ {
			info, err := tx.Page(id)
			if err != nil {
				return err
			}
			if info == nil {
				return nil
			}
			for _, typ := range types {
				if info.Type == typ {
					out[id] = typ
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Random bytes over pages in the middle of the file (as dd from
// /dev/urandom would), on pages the tree uses: bbolt asserts "Page expected
// to be ..." and panics; writeback says the file is damaged.
func TestRandomPagesMidFileAreDamagedNotAPanic(t *testing.T) {
	good := realState(t)
	used := pagesOfType(t, good, "leaf", "branch")
	const ps = 4096
	fi, _ := os.Stat(good)
	for seed := range uint64(5) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			p := copyFile(t, good, fmt.Sprintf("mid%d.db", seed))
			rng := rand.New(rand.NewPCG(seed, 42))
			// 8 pages from a random place in the middle third, starting on
			// a page the tree uses.
			pages := int(fi.Size() / ps)
			start := pages/3 + rng.IntN(pages/3)
			for used[start] == "" {
				start++
			}
			buf := make([]byte, 8*ps)
			for i := range buf {
				buf[i] = byte(rng.Uint32())
			}
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(buf, int64(start)*ps); err != nil {
				t.Fatal(err)
			}
			f.Close()
			wantDamaged(t, p)
		})
	}
}

func TestBothMetaPagesOverwrittenIsDamaged(t *testing.T) {
	p := copyFile(t, realState(t), "metas.db")
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 2*4096), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	wantDamaged(t, p)
}

func TestTextFileIsDamaged(t *testing.T) {
	p := filepath.Join(t.TempDir(), "text.db")
	if err := os.WriteFile(p, []byte(strings.Repeat("state:\n  path: writeback.db\n", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	wantDamaged(t, p)
	short := filepath.Join(t.TempDir(), "short.db")
	if err := os.WriteFile(short, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantDamaged(t, short)
}

// One meta page overwritten: bbolt uses the other one; not damage.
func TestOneMetaPageOverwrittenStillOpens(t *testing.T) {
	p := copyFile(t, realState(t), "meta0.db")
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 4096), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	db, err := Open(p)
	if err != nil {
		t.Fatalf("open with meta page 0 overwritten: %v", err)
	}
	defer db.Close()
	n := 0
	if err := db.Rounds(func(Round) error { n++; return nil }); err != nil || n == 0 {
		t.Fatalf("rounds after meta 0 loss: %d, %v", n, err)
	}
}

// An empty file is a new state, as a missing one is: the next round is full.
func TestZeroLengthFileIsANewState(t *testing.T) {
	p := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(p, time.Second); err == nil || IsDamaged(err) {
		t.Errorf("read-only open of an empty file: %v, want the no-state error", err)
	}
	db, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	gl, ul, err := db.Links()
	if err != nil || gl != "" || ul != "" {
		t.Fatalf("links of a new state: %q %q %v", gl, ul, err)
	}
}

// Rounds stored before durationSeconds held nanoseconds under "duration".
func TestRoundReadsOldDurationAndWritesSeconds(t *testing.T) {
	var r Round
	if err := json.Unmarshal([]byte(`{"seq":3,"start":"2026-11-01T10:00:00Z","duration":1500000000,"full":true,"failed":959}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Duration != 1500*time.Millisecond || r.Seq != 3 || !r.Full || r.Failed != 959 {
		t.Fatalf("old record read as %+v", r)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"durationSeconds":1.5`) || strings.Contains(string(b), `"duration":`) {
		t.Fatalf("round written as %s, want durationSeconds only", b)
	}
	var back Round
	if err := json.Unmarshal(b, &back); err != nil || back.Duration != r.Duration {
		t.Fatalf("round read back as %v (%v)", back.Duration, err)
	}
}

// A panic in the caller's own function is a bug, not damage: it is not
// turned into "move the file away".
func TestPanicInCallerIsNotDamage(t *testing.T) {
	db, _ := open(t)
	defer func() {
		if r := recover(); r == nil {
			t.Error("the caller's panic was swallowed")
		}
	}()
	_ = db.Update(func(*Tx) error {
		var m map[string]int
		m["x"] = 1 //lint:ignore SA5000 the deliberate bug whose panic must reach the caller
		return nil
	})
}

// Random bytes in leaf pages behind an intact page header: the elements'
// offsets and lengths point anywhere, into or past the file.
func TestRandomLeafContentIsDamagedNotACrash(t *testing.T) {
	good := realState(t)
	used := pagesOfType(t, good, "leaf")
	var leaves []int
	for id := range used {
		leaves = append(leaves, id)
	}
	const ps = 4096
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			p := copyFile(t, good, fmt.Sprintf("leaf%d.db", seed))
			rng := rand.New(rand.NewPCG(seed, 7))
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			for range 4 {
				id := leaves[rng.IntN(len(leaves))]
				body := make([]byte, ps-16)
				for i := range body {
					body[i] = byte(rng.Uint32())
				}
				if _, err := f.WriteAt(body, int64(id)*ps+16); err != nil {
					t.Fatal(err)
				}
			}
			f.Close()
			wantDamaged(t, p)
		})
	}
}

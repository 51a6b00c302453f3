package entra_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/entra"
)

// syncBuffer is a log sink for tests that read what the client logged.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Point 1: onPremisesObjectIdentifier refused with 400 (Graph v1.0's
// default), served, or served but absent. Every world yields the users with
// their documented anchors; a refusal is logged once and shown by Check.
func TestObjectIdentifierEveryWorld(t *testing.T) {
	ctx := context.Background()
	t.Run("refused", func(t *testing.T) {
		env := emulatortest.Start(t, sample())
		var logs syncBuffer
		c := newClient(t, env, entra.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		users := map[string]entra.User{}
		if _, _, err := c.UsersDelta(ctx, "", func(u entra.User) error { users[u.ID] = u; return nil }); err != nil {
			t.Fatalf("UsersDelta against a Graph that refuses onPremisesObjectIdentifier: %v", err)
		}
		if u := users["u-ada"]; u.OnPremisesSecurityIdentifier != "S-1-5-21-1-2-3-1101" || !u.Synced() {
			t.Errorf("ada without her SID: %+v", u)
		}
		got, err := c.UsersByID(ctx, []string{"u-ada", "u-bob"})
		if err != nil || len(got) != 2 {
			t.Errorf("UsersByID: %d users, %v", len(got), err)
		}
		var users2 []entra.User
		c2 := newClient(t, env)
		got2, err := c2.UsersByID(ctx, []string{"u-ada"}) // a fresh client falls back in UsersByID too
		users2 = append(users2, got2...)
		if err != nil || len(users2) != 1 || users2[0].OnPremisesSecurityIdentifier == "" {
			t.Errorf("fresh client UsersByID: %+v, %v", users2, err)
		}
		var note string
		for _, s := range c.Check(ctx) {
			if s.Err != nil {
				t.Errorf("check %s: %v", s.Name, s.Err)
			}
			if s.Name == "users" {
				note = s.Note
			}
		}
		if !strings.Contains(note, "onPremisesObjectIdentifier") || !strings.Contains(note, "SID") {
			t.Errorf("check users note %q: want it to say what it fell back to", note)
		}
		if n := strings.Count(logs.String(), "Graph refused onPremisesObjectIdentifier"); n != 1 {
			t.Errorf("refusal logged %d times, want once:\n%s", n, logs.String())
		}
		g, u := c.Select()
		if strings.Contains(strings.Join(u, ","), "onPremisesObjectIdentifier") || len(g) == 0 {
			t.Errorf("Select() users %v: must not change when the property is dropped", u)
		}
	})
	t.Run("served", func(t *testing.T) {
		env := emulatortest.StartWith(t, sample(), emulator.Options{ServeObjectIdentifier: true})
		c := newClient(t, env)
		users := map[string]entra.User{}
		if _, _, err := c.UsersDelta(ctx, "", func(u entra.User) error { users[u.ID] = u; return nil }); err != nil {
			t.Fatal(err)
		}
		if users["u-ada"].OnPremisesObjectIdentifier != "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" || c.ObjectIdentifierRefused() {
			t.Errorf("served property not read: %+v", users["u-ada"])
		}
		if users["u-cloud"].OnPremisesObjectIdentifier != "" {
			t.Errorf("absent property read as %q", users["u-cloud"].OnPremisesObjectIdentifier)
		}
	})
}

// Point 2: the properties mappings and filters read are selected,
// extensions included, and come back; unselected ones do not.
func TestGroupPropertiesSelected(t *testing.T) {
	tf := sample()
	tf.Groups[0].Extra = map[string]any{"classification": "HBI", "extension_0123_costCenter": "CC-42"}
	env := emulatortest.Start(t, tf)
	ctx := context.Background()
	raw := func(c *entra.Client) map[string]any {
		var got map[string]any
		if _, _, err := c.GroupsDelta(ctx, "", func(g entra.Group) error {
			if g.ID == "g-eng" {
				got = g.Raw
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if r := raw(newClient(t, env)); r["classification"] != nil || r["extension_0123_costCenter"] != nil {
		t.Errorf("unselected properties served: %v", r)
	}
	c := newClient(t, env, entra.WithGroupProperties("classification", "extension_0123_costCenter"))
	if r := raw(c); r["classification"] != "HBI" || r["extension_0123_costCenter"] != "CC-42" {
		t.Errorf("selected properties not read: %v", r)
	}
	if g, _ := c.Select(); !strings.Contains(strings.Join(g, ","), "extension_0123_costCenter") {
		t.Errorf("Select() groups %v lacks the extension", g)
	}
}

// Point 4: a fractional Retry-After (the emulator sends 1.128 s, like
// Microsoft's sample) is honoured, not replaced by the short back-off.
func TestFractionalRetryAfter(t *testing.T) {
	env := emulatortest.StartWith(t, sample(), emulator.Options{Faults: emulator.Faults{ThrottleNext: 1}})
	c := newClient(t, env) // back-off 10 ms: only Retry-After can make it wait
	start := time.Now()
	if _, err := c.Group(context.Background(), "g-eng"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 1100*time.Millisecond {
		t.Errorf("retried after %s; Retry-After said 1.128 s", d)
	}
	if st := env.Server.Stats(); st.Throttled != 1 {
		t.Errorf("throttled %d times, want 1 (retried too early?)", st.Throttled)
	}
}

// Point 5: an expired token (400 syncStateNotFound) and a reset one (410
// with Location) each cost one full enumeration.
func TestExpiredAndResetDeltaTokens(t *testing.T) {
	ctx := context.Background()
	env := emulatortest.Start(t, sample())
	c := newClient(t, env)
	link, _, err := c.GroupsDelta(ctx, "", func(entra.Group) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	env.Admin.ExpireDeltaTokens()
	before := env.Server.Stats().DeltaPages
	n := 0
	_, full, err := c.GroupsDelta(ctx, link, func(entra.Group) error { n++; return nil })
	if err != nil || !full || n != 3 {
		t.Errorf("after 400 syncStateNotFound: full=%v groups=%d err=%v; want one full round of 3", full, n, err)
	}
	if pages := env.Server.Stats().DeltaPages - before; pages != 1 {
		t.Errorf("%d delta pages served, want 1 (the full round)", pages)
	}

	other := emulatortest.Start(t, sample())
	foreign, _, err := newClient(t, other).GroupsDelta(ctx, "", func(entra.Group) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	foreign = strings.Replace(foreign, other.URL, env.URL, 1)
	n = 0
	_, full, err = c.GroupsDelta(ctx, foreign, func(entra.Group) error { n++; return nil })
	if err != nil || !full || n != 3 {
		t.Errorf("after 410: full=%v groups=%d err=%v; want one full round of 3", full, n, err)
	}
}

// Point 7: every call is checked with the permission it needs; a missing
// one is named. UsersByID needs only User.Read.All (not Directory.Read.All).
func TestCheckNamesMissingPermission(t *testing.T) {
	env := emulatortest.StartWith(t, sample(), emulator.Options{Roles: []string{"Group.Read.All"}})
	steps := newClient(t, env).Check(context.Background())
	byName := map[string]entra.CheckStep{}
	for _, s := range steps {
		byName[s.Name] = s
	}
	for _, n := range []string{"token", "groups", "members", "delta"} {
		if byName[n].Err != nil {
			t.Errorf("%s: %v", n, byName[n].Err)
		}
	}
	for _, n := range []string{"users", "usersdelta"} {
		if s := byName[n]; s.Err == nil || !strings.Contains(s.Fix, "User.Read.All") {
			t.Errorf("%s without User.Read.All: err %v, fix %q", n, s.Err, s.Fix)
		}
	}
	env2 := emulatortest.StartWith(t, sample(), emulator.Options{Roles: []string{"User.Read.All"}})
	if got, err := newClient(t, env2).UsersByID(context.Background(), []string{"u-ada"}); err != nil || len(got) != 1 {
		t.Errorf("UsersByID with User.Read.All only: %v, %v", got, err)
	}
}

// Point 8: v1.0 lists no service principals among members; a memberless
// group comes without members@delta and is read as having none.
func TestMembersAndMemberlessGroups(t *testing.T) {
	tf := sample()
	tf.Objects = append(tf.Objects, emulator.Object{ID: "sp-1", Type: "servicePrincipal", DisplayName: "app"})
	tf.Groups[2].Members = nil
	tf.Groups[0].Members = append(tf.Groups[0].Members, "sp-1")
	env := emulatortest.Start(t, tf)
	c := newClient(t, env)
	var ids []string
	if err := c.Members(context.Background(), "g-eng", func(m entra.MemberRef) error { ids = append(ids, m.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(ids, ","), "sp-1") || len(ids) != 3 {
		t.Errorf("members %v", ids)
	}
	v := newView()
	v.round(t, c, "")
	if m, ok := v.members["g-empty"]; !ok || len(m) != 0 {
		t.Errorf("memberless group read as %v (present %v)", m, ok)
	}
}

// A property a mapping reads that is selected anyway (displayName) is
// selected once: the selection, and so the fingerprint that restarts the
// delta links, does not change.
func TestGroupPropertiesSelectedOnce(t *testing.T) {
	env := emulatortest.Start(t, sample())
	plain, _ := newClient(t, env).Select()
	with, _ := newClient(t, env, entra.WithGroupProperties("displayName", "DisplayName")).Select()
	if strings.Join(plain, ",") != strings.Join(with, ",") {
		t.Errorf("Select() with an already selected property: %v, want %v", with, plain)
	}
}

package entra_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-cmp/cmp"

	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
)

func ptr[T any](v T) *T { return &v }

// sample is a small tenant: two synced users, a cloud user, a device, a group
// nesting another, and a group with a non-ASCII, DN-special name.
func sample() *emulator.TenantFile {
	return &emulator.TenantFile{
		TenantID: "11111111-2222-3333-4444-555555555555",
		Users: []emulator.User{
			{ID: "u-ada", DisplayName: "Ada", UserPrincipalName: "ada@contoso.com", OnPremisesSyncEnabled: ptr(true),
				OnPremisesObjectIdentifier: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", OnPremisesSecurityIdentifier: "S-1-5-21-1-2-3-1101",
				OnPremisesSamAccountName: "ada", OnPremisesDomainName: "contoso.com", OnPremisesDistinguishedName: "CN=Ada,OU=Users,DC=contoso,DC=com"},
			{ID: "u-bob", DisplayName: "Bob", UserPrincipalName: "bob@contoso.com", OnPremisesSyncEnabled: ptr(true),
				OnPremisesObjectIdentifier: "1f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
			{ID: "u-cloud", DisplayName: "Cloud Only", UserPrincipalName: "cloud@contoso.onmicrosoft.com"},
		},
		Objects: []emulator.Object{{ID: "d-1", Type: "device", DisplayName: "laptop"}},
		Groups: []emulator.Group{
			{ID: "g-eng", DisplayName: "Engineering", SecurityEnabled: true, MailNickname: "eng", Members: []string{"u-ada", "u-bob", "g-sub"}},
			{ID: "g-sub", DisplayName: "Zürich, R&D <#1>", SecurityEnabled: true, Members: []string{"u-cloud", "d-1"}},
			{ID: "g-empty", DisplayName: "Empty", SecurityEnabled: true},
		},
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newClient(t *testing.T, env *emulatortest.Env, opts ...entra.Option) *entra.Client {
	t.Helper()
	opts = append([]entra.Option{
		entra.WithLogger(quietLogger()),
		entra.WithRetry(policy.RetryOptions{MaxRetries: 4, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 5 * time.Second}),
	}, opts...)
	c, err := entra.New(context.Background(), entraconfig.Options(env.Config), opts...)
	if err != nil {
		t.Fatalf("entra.New: %v", err)
	}
	return c
}

// view is what a consumer builds from delta rounds: groups by ID with their
// names, members (with types) and removal state.
type view struct {
	names   map[string]string
	members map[string]map[string]string // group -> member -> type
	removed map[string]string            // group -> reason
	seen    int                          // group records yielded in the last round
}

func newView() *view {
	return &view{names: map[string]string{}, members: map[string]map[string]string{}, removed: map[string]string{}}
}

func (v *view) round(t *testing.T, c *entra.Client, link string) (string, bool) {
	t.Helper()
	v.seen = 0
	next, full, err := c.GroupsDelta(context.Background(), link, func(g entra.Group) error {
		v.seen++
		if g.Removed != nil {
			v.removed[g.ID] = g.Removed.Reason
			delete(v.names, g.ID)
			delete(v.members, g.ID)
			return nil
		}
		delete(v.removed, g.ID)
		if _, ok := g.Raw["displayName"]; ok {
			v.names[g.ID] = g.DisplayName
		}
		ms := v.members[g.ID]
		if ms == nil {
			ms = map[string]string{}
			v.members[g.ID] = ms
		}
		for _, m := range g.MembersDelta {
			if m.Removed {
				delete(ms, m.ID)
			} else {
				ms[m.ID] = m.Type
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("GroupsDelta: %v", err)
	}
	if next == "" {
		t.Fatal("GroupsDelta returned no delta link")
	}
	return next, full
}

func TestFullRound(t *testing.T) {
	env := emulatortest.Start(t, sample())
	c := newClient(t, env)
	v := newView()
	_, full := v.round(t, c, "")
	if !full {
		t.Error("first round not reported as full")
	}
	wantNames := map[string]string{"g-eng": "Engineering", "g-sub": "Zürich, R&D <#1>", "g-empty": "Empty"}
	if d := cmp.Diff(wantNames, v.names); d != "" {
		t.Errorf("names (-want +got):\n%s", d)
	}
	wantMembers := map[string]map[string]string{
		"g-eng":   {"u-ada": "user", "u-bob": "user", "g-sub": "group"},
		"g-sub":   {"u-cloud": "user", "d-1": "device"},
		"g-empty": {},
	}
	if d := cmp.Diff(wantMembers, v.members); d != "" {
		t.Errorf("members (-want +got):\n%s", d)
	}
}

func TestIncrementalRounds(t *testing.T) {
	env := emulatortest.Start(t, sample())
	c := newClient(t, env)
	v := newView()
	link, _ := v.round(t, c, "")
	a := env.Admin

	steps := []struct {
		name    string
		change  func() error
		check   func(t *testing.T)
		records int // group records the incremental round yields
	}{
		{"nothing", func() error { return nil }, func(t *testing.T) {}, 0},
		{"create", func() error {
			_, err := a.AddGroup(emulator.Group{ID: "g-new", DisplayName: "New", SecurityEnabled: true, Members: []string{"u-ada"}})
			return err
		}, func(t *testing.T) {
			if v.names["g-new"] != "New" || v.members["g-new"]["u-ada"] != "user" {
				t.Errorf("new group not seen with its member: %q %v", v.names["g-new"], v.members["g-new"])
			}
		}, 1},
		{"rename", func() error {
			_, err := a.UpdateGroup("g-eng", func(g *emulator.Group) { g.DisplayName = "Engineering (EMEA)" })
			return err
		}, func(t *testing.T) {
			if v.names["g-eng"] != "Engineering (EMEA)" {
				t.Errorf("rename not seen: %q", v.names["g-eng"])
			}
			if len(v.members["g-eng"]) != 3 {
				t.Errorf("rename changed members: %v", v.members["g-eng"])
			}
		}, 1},
		{"member add", func() error { return a.AddMembers("g-empty", "u-bob", "u-cloud") }, func(t *testing.T) {
			if d := cmp.Diff(map[string]string{"u-bob": "user", "u-cloud": "user"}, v.members["g-empty"]); d != "" {
				t.Errorf("members (-want +got):\n%s", d)
			}
		}, 1},
		{"member remove", func() error { return a.RemoveMembers("g-eng", "u-bob") }, func(t *testing.T) {
			if d := cmp.Diff(map[string]string{"u-ada": "user", "g-sub": "group"}, v.members["g-eng"]); d != "" {
				t.Errorf("members (-want +got):\n%s", d)
			}
		}, 1},
		// A security group is deleted permanently at once, as in Entra (only
		// Microsoft 365 groups go to the recycle bin): reason "deleted".
		{"delete", func() error { return a.DeleteGroup("g-sub", false) }, func(t *testing.T) {
			if v.removed["g-sub"] != "deleted" {
				t.Errorf("deleted security group: removed reason %q, want deleted", v.removed["g-sub"])
			}
			if _, ok := v.members["g-eng"]["g-sub"]; ok {
				t.Error("deleted group still a member of g-eng")
			}
		}, 2},
		{"restore refused", func() error {
			if err := a.RestoreGroup("g-sub"); !errors.Is(err, emulator.ErrState) {
				return fmt.Errorf("restore of a deleted security group: %v, want ErrState", err)
			}
			return nil
		}, func(t *testing.T) {}, 0},
		{"permanent delete", func() error { return a.DeleteGroup("g-new", true) }, func(t *testing.T) {
			if v.removed["g-new"] != "deleted" {
				t.Errorf("hard-deleted group: removed reason %q, want deleted", v.removed["g-new"])
			}
		}, 1},
	}
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		var full bool
		link, full = v.round(t, c, link)
		t.Run(s.name, func(t *testing.T) {
			if full {
				t.Error("incremental round reported as full")
			}
			if v.seen != s.records {
				t.Errorf("round yielded %d group records, want %d", v.seen, s.records)
			}
			s.check(t)
		})
	}
}

func TestPagingSplitsLargeGroups(t *testing.T) {
	tf := &emulator.TenantFile{}
	for i := range 2500 {
		tf.Users = append(tf.Users, emulator.User{ID: fmt.Sprintf("u%04d", i), DisplayName: "u", UserPrincipalName: fmt.Sprintf("u%d@x", i)})
	}
	big := emulator.Group{ID: "g-big", DisplayName: "Big", SecurityEnabled: true}
	for _, u := range tf.Users {
		big.Members = append(big.Members, u.ID)
	}
	for i := range 120 {
		tf.Groups = append(tf.Groups, emulator.Group{ID: fmt.Sprintf("g%03d", i), DisplayName: fmt.Sprintf("Group %d", i), SecurityEnabled: true, Members: []string{fmt.Sprintf("u%04d", i)}})
		if i == 50 {
			tf.Groups = append(tf.Groups, big)
		}
	}
	env := emulatortest.StartWith(t, tf, emulator.Options{PageSize: 10, MembersPerPage: 300})
	c := newClient(t, env)
	v := newView()
	link, _ := v.round(t, c, "")
	if len(v.names) != 121 {
		t.Errorf("saw %d groups, want 121", len(v.names))
	}
	if n := len(v.members["g-big"]); n != 2500 {
		t.Errorf("big group has %d members after merging pages, want 2500", n)
	}
	if p := c.Stats().Pages; p < 20 {
		t.Errorf("full round took %d pages; want the big group split across pages (>= 20)", p)
	}
	// A bulk change to the big group is split as well.
	var add []string
	for i := range 700 {
		u, err := env.Admin.AddUser(emulator.User{DisplayName: "n", UserPrincipalName: fmt.Sprintf("n%d@x", i)})
		if err != nil {
			t.Fatal(err)
		}
		add = append(add, u.ID)
	}
	if err := env.Admin.AddMembers("g-big", add...); err != nil {
		t.Fatal(err)
	}
	if err := env.Admin.RemoveMembers("g-big", "u0000", "u0001"); err != nil {
		t.Fatal(err)
	}
	before := c.Stats().Pages
	v.round(t, c, link)
	if n := len(v.members["g-big"]); n != 2500+700-2 {
		t.Errorf("big group has %d members after incremental round, want %d", n, 2500+700-2)
	}
	if p := c.Stats().Pages - before; p < 3 {
		t.Errorf("incremental round took %d pages, want >= 3", p)
	}
}

func TestThrottlingHonoursRetryAfter(t *testing.T) {
	env := emulatortest.Start(t, sample())
	c := newClient(t, env)
	env.Server.SetFaults(emulator.Faults{ThrottleNext: 2, RetryAfterSeconds: 1})
	start := time.Now()
	newView().round(t, c, "")
	if el := time.Since(start); el < 2*time.Second {
		t.Errorf("round finished in %s; two 429s with Retry-After: 1 should take >= 2s", el)
	}
	st := c.Stats()
	if st.Throttled != 2 || st.Retries != 2 {
		t.Errorf("stats %+v: want Throttled 2, Retries 2", st)
	}
}

func TestServerErrorsRetried(t *testing.T) {
	env := emulatortest.Start(t, sample())
	c := newClient(t, env)
	env.Server.SetFaults(emulator.Faults{FailNext: 3, ErrorStatus: 500})
	v := newView()
	v.round(t, c, "")
	if len(v.names) != 3 {
		t.Errorf("saw %d groups, want 3", len(v.names))
	}
	if st := c.Stats(); st.Retries != 3 {
		t.Errorf("stats %+v: want 3 retries", st)
	}
}

func TestPersistentFailureNamesRequest(t *testing.T) {
	env := emulatortest.Start(t, sample())
	c := newClient(t, env, entra.WithRetry(policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Millisecond}))
	env.Server.SetFaults(emulator.Faults{ErrorRate: 1, ErrorStatus: 502})
	_, _, err := c.GroupsDelta(context.Background(), "", func(entra.Group) error { return nil })
	if err == nil {
		t.Fatal("round succeeded against a server that always fails")
	}
	for _, want := range []string{"GET /v1.0/groups/delta", "HTTP 502", "BadGateway", "after 3 attempts"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestExpiredDeltaTokenRestartsFull(t *testing.T) {
	env := emulatortest.Start(t, sample())
	c := newClient(t, env)
	v := newView()
	link, _ := v.round(t, c, "")
	env.Admin.ExpireDeltaTokens()
	v2 := newView()
	next, full := v2.round(t, c, link)
	if !full {
		t.Error("round after token expiry not reported as full")
	}
	if len(v2.names) != 3 {
		t.Errorf("resync round saw %d groups, want 3", len(v2.names))
	}
	if c.Stats().Resyncs != 1 {
		t.Errorf("Resyncs = %d, want 1", c.Stats().Resyncs)
	}
	// The new link works incrementally.
	if _, full := v2.round(t, c, next); full {
		t.Error("round with the fresh link was full")
	}
}

func TestDeltaTokenSurvivesClientRestart(t *testing.T) {
	env := emulatortest.Start(t, sample())
	v := newView()
	link, _ := v.round(t, newClient(t, env), "")
	if err := env.Admin.AddMembers("g-empty", "u-ada"); err != nil {
		t.Fatal(err)
	}
	_, full := v.round(t, newClient(t, env), link)
	if full || v.seen != 1 || v.members["g-empty"]["u-ada"] == "" {
		t.Errorf("new client with stored link: full=%v seen=%d members=%v", full, v.seen, v.members["g-empty"])
	}
}

func TestWrongSecret(t *testing.T) {
	env := emulatortest.Start(t, sample())
	cfg := env.Config
	bad := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(bad, []byte("not-the-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Credential.Secret.File = bad
	c, err := entra.New(context.Background(), entraconfig.Options(cfg), entra.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.GroupsDelta(context.Background(), "", func(entra.Group) error { return nil })
	if err == nil {
		t.Fatal("wrong secret accepted")
	}
	for _, want := range []string{"AADSTS7000215", "Invalid client secret", "entra.credential"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestTokenRenewedMidRound(t *testing.T) {
	// Tokens live 2s; the round is slowed so that it outlives several of them.
	tf := &emulator.TenantFile{}
	for i := range 30 {
		tf.Groups = append(tf.Groups, emulator.Group{ID: fmt.Sprintf("g%02d", i), DisplayName: "g", SecurityEnabled: true})
	}
	env := emulatortest.StartWith(t, tf, emulator.Options{TokenLifetime: 2 * time.Second, PageSize: 2,
		Faults: emulator.Faults{LatencyMillis: 200}})
	c := newClient(t, env)
	start := time.Now()
	v := newView()
	v.round(t, c, "")
	if len(v.names) != 30 {
		t.Errorf("saw %d groups, want 30", len(v.names))
	}
	st := env.Server.Stats()
	t.Logf("round %s, %d pages, %d tokens issued", time.Since(start), st.DeltaPages, st.TokensIssued)
	if time.Since(start) < 2*time.Second {
		t.Fatal("round too quick to outlive a token")
	}
	// azcore renews a token in its last 5 minutes (every request, for a 2s
	// token), and a token that expires in flight is renewed after the 401.
	if st.TokensIssued < 2 {
		t.Errorf("emulator stats %+v: want >= 2 tokens issued", st)
	}
}

func TestUsersDeltaAndLookups(t *testing.T) {
	env := emulatortest.Start(t, sample())
	c := newClient(t, env)
	ctx := context.Background()
	users := map[string]entra.User{}
	link, full, err := c.UsersDelta(ctx, "", func(u entra.User) error { users[u.ID] = u; return nil })
	if err != nil || !full {
		t.Fatalf("UsersDelta: full=%v err=%v", full, err)
	}
	// Graph v1.0 refuses onPremisesObjectIdentifier: the client reads
	// users without it, with the documented anchors.
	ada := users["u-ada"]
	if ada.OnPremisesObjectIdentifier != "" || ada.OnPremisesSecurityIdentifier != "S-1-5-21-1-2-3-1101" ||
		ada.OnPremisesSamAccountName != "ada" || !ada.Synced() || !c.ObjectIdentifierRefused() {
		t.Errorf("ada's anchors not read: %+v (refused %v)", ada, c.ObjectIdentifierRefused())
	}
	if users["u-cloud"].Synced() {
		t.Error("cloud-only user reported as synced")
	}
	if _, err := env.Admin.UpdateUser("u-bob", func(u *emulator.User) { u.OnPremisesSamAccountName = "bobby" }); err != nil {
		t.Fatal(err)
	}
	if err := env.Admin.DeleteUser("u-cloud", false); err != nil {
		t.Fatal(err)
	}
	var changed []string
	_, _, err = c.UsersDelta(ctx, link, func(u entra.User) error {
		r := ""
		if u.Removed != nil {
			r = ":" + u.Removed.Reason
		}
		changed = append(changed, u.ID+r+":"+u.OnPremisesSamAccountName)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(changed)
	if d := cmp.Diff([]string{"u-bob:bobby", "u-cloud:changed:"}, changed); d != "" {
		t.Errorf("incremental users (-want +got):\n%s", d)
	}

	g, err := c.Group(ctx, "g-sub")
	if err != nil || g.DisplayName != "Zürich, R&D <#1>" {
		t.Errorf("Group: %+v, %v", g, err)
	}
	if _, err := c.Group(ctx, "nope"); !errors.Is(err, entra.ErrNotFound) {
		t.Errorf("Group(missing) error = %v, want ErrNotFound", err)
	}
	var ms []entra.MemberRef
	if err := c.Members(ctx, "g-eng", func(m entra.MemberRef) error { ms = append(ms, m); return nil }); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]entra.MemberRef{{ID: "u-ada", Type: "user"}, {ID: "u-bob", Type: "user"}, {ID: "g-sub", Type: "group"}}, ms); d != "" {
		t.Errorf("Members (-want +got):\n%s", d)
	}
	got, err := c.UsersByID(ctx, []string{"u-ada", "g-sub", "missing", "u-bob"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range got {
		ids = append(ids, u.ID)
	}
	slices.Sort(ids)
	if d := cmp.Diff([]string{"u-ada", "u-bob"}, ids); d != "" {
		t.Errorf("UsersByID (-want +got):\n%s", d)
	}
}

func TestCheck(t *testing.T) {
	env := emulatortest.Start(t, sample())
	steps := newClient(t, env).Check(context.Background())
	var names []string
	for _, s := range steps {
		if s.Err != nil {
			t.Errorf("step %s: %v", s.Name, s.Err)
		}
		names = append(names, s.Name)
	}
	if d := cmp.Diff([]string{"token", "groups", "members", "users", "delta", "usersdelta"}, names); d != "" {
		t.Errorf("steps (-want +got):\n%s", d)
	}
	bad := env.Config
	f := filepath.Join(t.TempDir(), "s")
	os.WriteFile(f, []byte("wrong"), 0o600)
	bad.Credential.Secret.File = f
	c, err := entra.New(context.Background(), entraconfig.Options(bad), entra.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	steps = c.Check(context.Background())
	if len(steps) != 1 || steps[0].Name != "token" || steps[0].Err == nil || steps[0].Fix == "" {
		t.Errorf("wrong secret: steps %+v", steps)
	}
}

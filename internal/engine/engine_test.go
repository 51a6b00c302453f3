package engine

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/resolve"
	"github.com/writeback/writeback/internal/state"
)

// memDir is an in-memory directory: enough of a DC and GC for the engine's
// unit tests (integration tests use the real Samba lab).
type memDir struct {
	groups   map[string]*ad.Group // lower DN -> group (Anchor "" = foreign)
	users    map[string]string    // GUID string -> DN
	failOn   map[string]bool      // lower DN -> CreateGroup fails
	searches int
	filters  []string   // of Search, in order
	mu       sync.Mutex // the engine applies in parallel
}

func newMemDir() *memDir {
	return &memDir{groups: map[string]*ad.Group{}, users: map[string]string{}, failOn: map[string]bool{}}
}

func (d *memDir) BaseDN(context.Context) (string, error) { return "DC=test", nil }

var samRE = regexp.MustCompile(`\(sAMAccountName=([^)]+)\)`)

var anchorRE = regexp.MustCompile(`msDS-ExternalDirectoryObjectId=([^)]+)\)`)

func (d *memDir) Search(_ context.Context, base string, s ad.Scope, filter string, _ []string, fn func(*ldap.Entry) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.searches++
	d.filters = append(d.filters, filter)
	if m := samRE.FindAllStringSubmatch(filter, -1); m != nil {
		for _, x := range m {
			for _, g := range d.groups {
				if strings.EqualFold(g.SAMAccountName, x[1]) {
					if err := fn(ldap.NewEntry(g.DN, map[string][]string{"sAMAccountName": {g.SAMAccountName}})); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	switch s {
	case ad.ScopeBase:
		g, ok := d.groups[strings.ToLower(base)]
		if !ok {
			return &ad.OpError{Op: "search", DN: base, Code: ad.CodeNoSuchObject, Err: errors.New("no such object")}
		}
		return fn(ldap.NewEntry(g.DN, map[string][]string{ad.AttrExternalDirectoryObjectID: {g.Anchor}}))
	case ad.ScopeOne:
		for _, g := range d.groups {
			if ldapdn.Norm(ldapdn.Parent(g.DN)) == ldapdn.Norm(base) {
				if err := fn(ldap.NewEntry(g.DN, map[string][]string{ad.AttrExternalDirectoryObjectID: {g.Anchor}})); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (d *memDir) Groups(_ context.Context, _ string, filter string, _ ad.GroupQuery, fn func(ad.Group) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.searches++
	want := map[string]bool{}
	for _, m := range anchorRE.FindAllStringSubmatch(filter, -1) {
		want[strings.ToLower(m[1])] = true
	}
	for _, k := range sortedKeys(d.groups) {
		g := d.groups[k]
		if g.Anchor == "" || !(want["group_*"] || want[strings.ToLower(g.Anchor)]) {
			continue
		}
		c := *g
		c.Members = append([]string(nil), g.Members...)
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

func (d *memDir) GroupByAnchor(_ context.Context, _, anchor string, _ bool) (*ad.Group, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.searches++
	for _, g := range d.groups {
		if strings.EqualFold(g.Anchor, anchor) {
			c := *g
			return &c, nil
		}
	}
	return nil, nil
}

func (d *memDir) CreateGroup(_ context.Context, dn string, attrs map[string][]string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := strings.ToLower(dn)
	if d.failOn[k] {
		return &ad.OpError{Op: "create group", DN: dn, Code: ad.CodeConstraintViolation, Err: errors.New("constraint violation")}
	}
	if _, ok := d.groups[k]; ok {
		return &ad.OpError{Op: "create group", DN: dn, Code: ad.CodeEntryAlreadyExists, Err: errors.New("exists")}
	}
	g := &ad.Group{DN: dn, CN: ldapdn.RDNValue(dn), GroupType: ad.GroupTypeUniversalSecurity, USNChanged: 1}
	d.groups[k] = g
	d.set(g, attrs)
	return nil
}

func (d *memDir) set(g *ad.Group, attrs map[string][]string) {
	one := func(v []string) string {
		if len(v) == 0 {
			return ""
		}
		return v[0]
	}
	for k, v := range attrs {
		switch strings.ToLower(k) {
		case "msds-externaldirectoryobjectid":
			g.Anchor = one(v)
		case "admindescription":
			g.AdminDescription = one(v)
		case "samaccountname":
			g.SAMAccountName = one(v)
		case "description":
			g.Description = one(v)
		case "displayname":
			g.DisplayName = one(v)
		case "grouptype":
			var n int32
			fmt.Sscan(one(v), &n)
			g.GroupType = n
		}
	}
	g.USNChanged++
}

func (d *memDir) Modify(_ context.Context, dn string, r map[string][]string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.groups[strings.ToLower(dn)]
	if !ok {
		return &ad.OpError{Code: ad.CodeNoSuchObject, Err: errors.New("no such object")}
	}
	d.set(g, r)
	return nil
}

func (d *memDir) AddMembers(_ context.Context, dn string, m []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.groups[strings.ToLower(dn)]
	g.Members = append(g.Members, m...)
	g.USNChanged++
	return nil
}

func (d *memDir) RemoveMembers(_ context.Context, dn string, m []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.groups[strings.ToLower(dn)]
	drop := map[string]bool{}
	for _, x := range m {
		drop[strings.ToLower(x)] = true
	}
	var keep []string
	for _, x := range g.Members {
		if !drop[strings.ToLower(x)] {
			keep = append(keep, x)
		}
	}
	g.Members = keep
	g.USNChanged++
	return nil
}

func (d *memDir) Move(_ context.Context, dn, rdn, parent string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.groups[strings.ToLower(dn)]
	delete(d.groups, strings.ToLower(dn))
	g.DN = rdn + "," + parent
	g.CN = ldapdn.RDNValue(g.DN)
	d.groups[strings.ToLower(g.DN)] = g
	for _, o := range d.groups { // AD rewrites references to a moved object
		for i, m := range o.Members {
			if strings.EqualFold(m, dn) {
				o.Members[i] = g.DN
			}
		}
	}
	return g.DN, nil
}

func (d *memDir) Delete(_ context.Context, dn string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.groups, strings.ToLower(dn))
	return nil
}

func (d *memDir) FindByAnchors(_ context.Context, anchors []string) (map[string]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]string{}
	for _, a := range anchors {
		for _, g := range d.groups {
			if strings.EqualFold(g.Anchor, a) {
				out[a] = g.DN
			}
		}
	}
	return out, nil
}

func (d *memDir) FindByGUIDs(_ context.Context, guids []ad.GUID) (map[ad.GUID]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[ad.GUID]string{}
	for _, g := range guids {
		if dn, ok := d.users[g.String()]; ok {
			out[g] = dn
		}
	}
	return out, nil
}

func (d *memDir) FindBySIDs(context.Context, []string) (map[string]string, error) {
	return map[string]string{}, nil
}

// memSource is an in-memory Graph: a log of delta items; a delta link is an
// index into it.
type memSource struct {
	groups map[string]entra.Group
	users  []entra.User
	events []entra.Group
	calls  int
}

func (s *memSource) GroupsDelta(_ context.Context, link string, fn func(entra.Group) error) (string, bool, error) {
	s.calls++
	if link == "" {
		for _, k := range sortedKeys(s.groups) {
			if err := fn(s.groups[k]); err != nil {
				return "", true, err
			}
		}
		return fmt.Sprint(len(s.events)), true, nil
	}
	var from int
	fmt.Sscan(link, &from)
	for _, e := range s.events[from:] {
		if err := fn(e); err != nil {
			return "", false, err
		}
	}
	return fmt.Sprint(len(s.events)), false, nil
}

func (s *memSource) UsersDelta(_ context.Context, link string, fn func(entra.User) error) (string, bool, error) {
	if link == "" {
		for _, u := range s.users {
			if err := fn(u); err != nil {
				return "", true, err
			}
		}
		return "u", true, nil
	}
	return "u", false, nil
}

// change records a delta item and updates the full view.
func (s *memSource) change(g entra.Group) {
	s.events = append(s.events, g)
	cur := s.groups[g.ID]
	if g.DisplayName != "" {
		cur.ID, cur.DisplayName, cur.SecurityEnabled = g.ID, g.DisplayName, g.SecurityEnabled
	}
	for _, m := range g.MembersDelta {
		if !m.Removed {
			cur.MembersDelta = append(cur.MembersDelta, m)
		}
	}
	s.groups[g.ID] = cur
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

const (
	uGUID = "11111111-2222-3333-4444-555555555555"
	uDN   = "CN=alice,OU=Users,DC=test"
	idA   = "aaaaaaaa-0000-0000-0000-00000000000a"
	idB   = "aaaaaaaa-0000-0000-0000-00000000000b"
)

func newMemEngine(t *testing.T) (*Engine, *memDir, *memSource, *state.DB) {
	return newMemEngineWith(t, "")
}

func newMemEngineWith(t *testing.T, extraYAML string) (*Engine, *memDir, *memSource, *state.DB) {
	t.Helper()
	dir := newMemDir()
	dir.users[uGUID] = uDN
	src := &memSource{groups: map[string]entra.Group{}}
	src.users = []entra.User{{ID: "u1", UserPrincipalName: "alice@test", OnPremisesObjectIdentifier: uGUID, OnPremisesSyncEnabled: yes()}}
	for _, id := range []string{idA, idB} {
		src.groups[id] = entra.Group{ID: id, DisplayName: "G " + id[len(id)-1:], SecurityEnabled: true, MembersDelta: []entra.MemberRef{{ID: "u1", Type: "user"}}}
	}
	cfg, err := config.Parse([]byte(`
ad: {url: "ldaps://dc.test", bindDN: x, password: {env: X}, targetOU: "OU=G,DC=test"}
entra: {tenantId: t, clientId: c, credential: {kind: secret, secret: {env: Y}}}
safety: {deleteThreshold: 1}
` + extraYAML))
	if err != nil {
		t.Fatal(err)
	}
	db, err := state.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	eng, err := New(context.Background(), Options{Config: cfg, State: db, DC: dir, GC: dir, Source: src, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return eng, dir, src, db
}

func TestRoundsWithFakes(t *testing.T) {
	eng, dir, src, db := newMemEngine(t)
	ctx := context.Background()

	res, err := eng.RunOnce(ctx, RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied.Applied != 4 || len(dir.groups) != 2 {
		t.Fatalf("first round: %d applied, %d groups", res.Applied.Applied, len(dir.groups))
	}
	g := dir.groups[strings.ToLower("CN=G a_00000000000a,OU=G,DC=test")]
	if g == nil || len(g.Members) != 1 || g.Members[0] != uDN || g.SAMAccountName != "G a" {
		t.Fatalf("group A: %+v", g)
	}

	// Nothing from Graph, nothing pending: no LDAP at all.
	res, err = eng.RunOnce(ctx, RoundOptions{})
	if err != nil || res.LDAP.Searches != 0 || res.LDAP.Writes != 0 {
		t.Fatalf("idle round: %v %+v", err, res.LDAP)
	}

	// A rename of A plans A only, and a dry run keeps it pending.
	src.change(entra.Group{ID: idA, DisplayName: "Renamed", SecurityEnabled: true})
	res, err = eng.RunOnce(ctx, RoundOptions{DryRun: true})
	if err != nil || len(res.Planned.Planned) != 1 || res.LDAP.Writes != 0 {
		t.Fatalf("dry run: %v planned %v writes %d", err, res.Planned.Planned, res.LDAP.Writes)
	}
	res, err = eng.RunOnce(ctx, RoundOptions{})
	if err != nil || res.Applied == nil || res.Applied.Applied != 2 { // rename + displayName
		t.Fatalf("apply after dry run: %v %+v", err, res.Applied)
	}
	if dir.groups[strings.ToLower("CN=Renamed_00000000000a,OU=G,DC=test")] == nil {
		t.Fatalf("rename not applied: %v", sortedKeys(dir.groups))
	}

	// Drift by hand in AD is repaired by a full round only.
	for _, g := range dir.groups {
		g.Description = "edited by hand"
	}
	if res, _ = eng.RunOnce(ctx, RoundOptions{}); len(res.Planned.Plan.Changes) != 0 {
		t.Fatalf("incremental round saw drift: %v", res.Planned.Plan.Changes)
	}
	if res, err = eng.RunOnce(ctx, RoundOptions{PlanOptions: PlanOptions{Full: true}}); err != nil || res.Applied.Applied != 2 {
		t.Fatalf("full round repaired %+v (%v)", res.Applied, err)
	}

	// Deleting both groups exceeds the threshold of 1: blocked, nothing written.
	src.change(entra.Group{ID: idA, Removed: &entra.Removed{Reason: "deleted"}})
	src.change(entra.Group{ID: idB, Removed: &entra.Removed{Reason: "deleted"}})
	if res, err = eng.RunOnce(ctx, RoundOptions{}); !errors.Is(err, ErrBlocked) || res.LDAP.Writes != 0 {
		t.Fatalf("threshold: %v, %d writes", err, res.LDAP.Writes)
	}
	if res, err = eng.RunOnce(ctx, RoundOptions{PlanOptions: PlanOptions{AllowDeletes: true}}); err != nil || len(dir.groups) != 0 {
		t.Fatalf("allowed deletes: %v, %d groups left", err, len(dir.groups))
	}
	var staged int
	_ = db.Log("", func(e state.Entry) error {
		if e.Action == "staged-delete" {
			staged++
		}
		return nil
	})
	if staged != 2 {
		t.Errorf("%d staged-delete log entries, want 2", staged)
	}
}

func TestFailingGroupIsQuarantinedOthersGoOn(t *testing.T) {
	eng, dir, _, db := newMemEngine(t)
	ctx := context.Background()
	dir.failOn[strings.ToLower("CN=G a_00000000000a,OU=G,DC=test")] = true
	res, err := eng.RunOnce(ctx, RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied.Failed != 1 || len(dir.groups) != 1 {
		t.Fatalf("failed %d, groups %d", res.Applied.Failed, len(dir.groups))
	}
	st, _ := db.Status(idA)
	if st.Failures != 1 || !st.Quarantined(eng.now()) || !strings.Contains(st.LastError, "constraint violation") {
		t.Fatalf("status: %+v", st)
	}
	// Next round: A is still pending but skipped while quarantined.
	res, err = eng.RunOnce(ctx, RoundOptions{})
	if err != nil || len(res.Planned.Quarantined) != 1 || res.LDAP.Writes != 0 {
		t.Fatalf("quarantined round: %v %+v %+v", err, res.Planned.Quarantined, res.LDAP)
	}
	// Targeting the group retries it at once; fixed, it succeeds and the quarantine ends.
	delete(dir.failOn, strings.ToLower("CN=G a_00000000000a,OU=G,DC=test"))
	if _, err := eng.RunOnce(ctx, RoundOptions{PlanOptions: PlanOptions{Groups: []string{idA}}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := db.Status(idA); st.Failures != 0 || st.DN == "" {
		t.Fatalf("after retry: %+v", st)
	}
	if d, _ := db.Dirty(); len(d) != 0 {
		t.Fatalf("still pending: %v", d)
	}
}

func TestManyCreatesCheckNamesInBatches(t *testing.T) {
	eng, dir, src, _ := newMemEngine(t)
	dir.groups["cn=foreign,dc=test"] = &ad.Group{DN: "CN=foreign,DC=test", SAMAccountName: "Team 07"}
	for i := range 40 {
		id := fmt.Sprintf("bbbbbbbb-0000-0000-0000-%012d", i)
		src.groups[id] = entra.Group{ID: id, DisplayName: fmt.Sprintf("Team %02d", i), SecurityEnabled: true}
	}
	dir.searches = 0
	res, err := eng.RunOnce(context.Background(), RoundOptions{})
	if err != nil || res.Applied.Failed != 0 {
		t.Fatalf("%v %+v", err, res.Applied)
	}
	sams := map[string]bool{}
	for _, g := range dir.groups {
		if sams[g.SAMAccountName] {
			t.Errorf("duplicate sAMAccountName %q", g.SAMAccountName)
		}
		sams[g.SAMAccountName] = true
	}
	if !sams["Team 07_0007"] || !sams["Team 08"] {
		t.Errorf("want the taken name suffixed and the others plain: %v", sams)
	}
	if dir.searches > 10 {
		t.Errorf("%d searches for 42 creates; names should be checked in batches", dir.searches)
	}
}

func TestScopingGroupMembershipChangesScope(t *testing.T) {
	const scoping = "ffffffff-0000-0000-0000-000000000001"
	eng, dir, src, _ := newMemEngineWith(t, "scope: {mode: selected, memberOf: "+scoping+"}\n")
	src.groups[scoping] = entra.Group{ID: scoping, DisplayName: "Writeback scope", SecurityEnabled: true, MembersDelta: []entra.MemberRef{{ID: idA, Type: "group"}}}
	ctx := context.Background()
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(dir.groups) != 1 {
		t.Fatalf("%d groups, want only A (the scoping group is not provisioned)", len(dir.groups))
	}
	// B joins the scoping group: the next delta round provisions it.
	src.change(entra.Group{ID: scoping, MembersDelta: []entra.MemberRef{{ID: idB, Type: "group"}}})
	res, err := eng.RunOnce(ctx, RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dir.groups) != 2 || res.Planned.Full {
		t.Fatalf("after B joined the scope: %d groups (full=%v)", len(dir.groups), res.Planned.Full)
	}
}

// TestConsistencyGUIDMissesOutliveTheProcess: a synced user AD does not hold
// is searched by mS-DS-ConsistencyGuid (on a DC, a scan of the domain's
// users) once; an engine started afresh over the same state file (the
// daemon restarted) does not scan for it again when its group changes, and
// the next full round does.
func TestConsistencyGUIDMissesOutliveTheProcess(t *testing.T) {
	eng, dir, src, db := newMemEngine(t)
	ctx := context.Background()
	ghost := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	src.users = append(src.users, entra.User{ID: "u2", UserPrincipalName: "ghost@test", OnPremisesImmutableId: ghost, OnPremisesSyncEnabled: yes()})
	a := src.groups[idA]
	a.MembersDelta = append(a.MembersDelta, entra.MemberRef{ID: "u2", Type: "user"})
	src.groups[idA] = a
	scans := func() int {
		n := 0
		for _, f := range dir.filters {
			if strings.Contains(f, "mS-DS-ConsistencyGuid") {
				n++
			}
		}
		return n
	}
	res, err := eng.RunOnce(ctx, RoundOptions{})
	if err != nil || res.Planned.Plan.Summary.Unresolved != 1 || scans() != 1 {
		t.Fatalf("first round: %v, %d unresolved, %d consistency GUID searches; want 1 and 1", err, res.Planned.Plan.Summary.Unresolved, scans())
	}
	restarted, err := New(ctx, Options{Config: eng.cfg, State: db, DC: dir, GC: dir, Source: src, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	src.change(entra.Group{ID: idA, DisplayName: "Renamed", SecurityEnabled: true})
	if res, err = restarted.RunOnce(ctx, RoundOptions{}); err != nil || len(res.Planned.Planned) != 1 || res.Planned.Plan.Summary.Unresolved != 1 {
		t.Fatalf("round after restart: %v, planned %v, %+v", err, res.Planned.Planned, res.Planned.Plan.Summary)
	}
	if scans() != 1 {
		t.Errorf("restarted engine searched mS-DS-ConsistencyGuid again (%d searches): the saved miss was not used", scans())
	}
	if _, err = restarted.RunOnce(ctx, RoundOptions{PlanOptions: PlanOptions{Full: true}}); err != nil || scans() != 2 {
		t.Errorf("full round: %v, %d consistency GUID searches, want a second one", err, scans())
	}

	// The daemon keeps one resolver across its rounds; a full round another
	// process ran in between, which found nothing missing any more, wins over
	// the misses that resolver still holds.
	shared := resolve.New(nil)
	daemon := func() *Engine {
		t.Helper()
		e, err := New(ctx, Options{Config: eng.cfg, State: db, DC: dir, GC: dir, Source: src, Resolver: shared, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	daemon()
	if got, _ := shared.Misses(); len(got) != 1 {
		t.Fatalf("daemon loaded misses %v, want the ghost's", got)
	}
	if err := db.SetConsistencyMisses(nil); err != nil { // what the other process saved
		t.Fatal(err)
	}
	daemon()
	if got, _ := shared.Misses(); len(got) != 0 {
		t.Errorf("daemon's next round kept misses %v that the state no longer has", got)
	}
}

package engine

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/resolve"
	"github.com/writeback/writeback/internal/state"
)

// ldapDir is the engine's directory in unit tests: the in-process LDAP
// server ldaptest, spoken to through a real *ad.Conn (the DC and the Global
// Catalog), so the engine's filters are evaluated by an LDAP server rather
// than by a fake that parses them.
type ldapDir struct {
	srv *ldaptest.Server
	dc  *ad.Conn
}

// newLDAPEngine is an engine on a fresh ldaptest directory holding
// OU=G,DC=test (the target OU) and the user alice (uDN, uGUID), with the
// default test configuration plus extraYAML.
func newLDAPEngine(t *testing.T, src *memSource, extraYAML string) (*Engine, *ldapDir, *state.DB) {
	t.Helper()
	return newLDAPEngineWrapped(t, src, extraYAML, nil)
}

// newLDAPEngineWrapped is newLDAPEngine with the DC seen through wrap (a
// fault injector), when not nil.
func newLDAPEngineWrapped(t *testing.T, src *memSource, extraYAML string, wrap func(Directory) Directory) (*Engine, *ldapDir, *state.DB) {
	t.Helper()
	srv := ldaptest.Start(t, ldaptest.Options{BaseDN: "DC=test"})
	srv.Put("OU=G,DC=test", map[string][]string{"objectClass": {"top", "organizationalUnit"}})
	srv.Put("OU=Users,DC=test", map[string][]string{"objectClass": {"top", "organizationalUnit"}})
	g, err := ad.ParseGUID(uGUID)
	if err != nil {
		t.Fatal(err)
	}
	srv.Put(uDN, map[string][]string{"objectClass": {"top", "person", "organizationalPerson", "user"},
		"objectCategory": {"person"}, "objectGUID": {string(g.AD())}, "sAMAccountName": {"alice"}})
	dc, err := ad.Dial(t.Context(), adconfig.Options(srv.Config()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	cfg, err := config.Parse([]byte(`
ad: {url: "ldaps://dc.test", bindDN: x, password: {env: X}, targetOU: "OU=G,DC=test"}
entra: {tenantId: t, clientId: c, credential: {kind: secret, secret: {env: Y}}}
` + extraYAML))
	if err != nil {
		t.Fatal(err)
	}
	db, err := state.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var dir Directory = dc
	if wrap != nil {
		dir = wrap(dc)
	}
	eng, err := New(context.Background(), Options{Config: cfg, State: db, DC: dir, GC: dc, Source: src, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return eng, &ldapDir{srv: srv, dc: dc}, db
}

// groups reads every group back from the directory, by lower-case DN.
func (d *ldapDir) groups(t *testing.T) map[string]ad.Group {
	t.Helper()
	out := map[string]ad.Group{}
	err := d.dc.Groups(t.Context(), "DC=test", "(objectClass=group)", ad.GroupQuery{WithMembers: true}, func(g ad.Group) error {
		out[strings.ToLower(g.DN)] = g
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// group reads one group back by DN; ok is false when there is none.
func (d *ldapDir) group(t *testing.T, dn string) (ad.Group, bool) {
	t.Helper()
	g, ok := d.groups(t)[strings.ToLower(dn)]
	return g, ok
}

// abTenant is the tenant of the round tests: groups A and B ("G a", "G b"),
// each with the synced user alice.
func abTenant() *memSource {
	src := &memSource{groups: map[string]entra.Group{}}
	src.users = []entra.User{{ID: "u1", UserPrincipalName: "alice@test", OnPremisesObjectIdentifier: uGUID, OnPremisesSyncEnabled: yes()}}
	for _, id := range []string{idA, idB} {
		src.groups[id] = entra.Group{ID: id, DisplayName: "G " + id[len(id)-1:], SecurityEnabled: true, MembersDelta: []entra.MemberRef{{ID: "u1", Type: "user"}}}
	}
	return src
}

func TestRounds(t *testing.T) {
	src := abTenant()
	eng, dir, db := newLDAPEngine(t, src, "safety: {deleteThreshold: 1}")
	ctx := context.Background()

	res, err := eng.RunOnce(ctx, RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(dir.groups(t)); res.Applied.Applied != 4 || n != 2 {
		t.Fatalf("first round: %d applied, %d groups", res.Applied.Applied, n)
	}
	g, ok := dir.group(t, "CN=G a_00000000000a,OU=G,DC=test")
	if !ok || len(g.Members) != 1 || !ldapdn.Equal(g.Members[0], uDN) || g.SAMAccountName != "G a" {
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
	if _, ok := dir.group(t, "CN=Renamed_00000000000a,OU=G,DC=test"); !ok {
		t.Fatalf("rename not applied: %v", keys(dir.groups(t)))
	}

	// Drift by hand in AD is repaired by a full round only.
	for _, g := range dir.groups(t) {
		if err := dir.dc.Modify(ctx, g.DN, map[string][]string{"description": {"edited by hand"}}); err != nil {
			t.Fatal(err)
		}
	}
	if res, _ = eng.RunOnce(ctx, RoundOptions{}); len(res.Planned.Plan.Changes) != 0 {
		t.Fatalf("incremental round saw drift: %v", res.Planned.Plan.Changes)
	}
	if res, err = eng.RunOnce(ctx, RoundOptions{PlanOptions: PlanOptions{Full: true}}); err != nil || res.Applied.Applied != 2 {
		t.Fatalf("full round repaired %+v (%v)", res.Applied, err)
	}
	for _, g := range dir.groups(t) {
		if g.Description == "edited by hand" {
			t.Errorf("%s: description still edited by hand after the full round", g.DN)
		}
	}

	// Deleting both groups exceeds the threshold of 1: blocked, nothing written.
	src.change(entra.Group{ID: idA, Removed: &entra.Removed{Reason: "deleted"}})
	src.change(entra.Group{ID: idB, Removed: &entra.Removed{Reason: "deleted"}})
	if res, err = eng.RunOnce(ctx, RoundOptions{}); !errors.Is(err, ErrBlocked) || res.LDAP.Writes != 0 {
		t.Fatalf("threshold: %v, %d writes", err, res.LDAP.Writes)
	}
	if _, err = eng.RunOnce(ctx, RoundOptions{PlanOptions: PlanOptions{AllowDeletes: true}}); err != nil || len(dir.groups(t)) != 0 {
		t.Fatalf("allowed deletes: %v, %d groups left", err, len(dir.groups(t)))
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

// failCreate refuses to create the groups at the DNs it holds (lower-case),
// as a DC refusing a constraint would.
type failCreate struct {
	Directory
	mu  sync.Mutex
	dns map[string]bool
}

func (f *failCreate) CreateGroup(ctx context.Context, dn string, attrs map[string][]string) error {
	f.mu.Lock()
	fail := f.dns[strings.ToLower(dn)]
	f.mu.Unlock()
	if fail {
		return &ad.OpError{Op: "create group", DN: dn, Code: ad.CodeConstraintViolation, Err: errors.New("constraint violation")}
	}
	return f.Directory.CreateGroup(ctx, dn, attrs)
}

func TestFailingGroupIsQuarantinedOthersGoOn(t *testing.T) {
	fc := &failCreate{dns: map[string]bool{strings.ToLower("CN=G a_00000000000a,OU=G,DC=test"): true}}
	eng, dir, db := newLDAPEngineWrapped(t, abTenant(), "safety: {deleteThreshold: 1}", func(d Directory) Directory { fc.Directory = d; return fc })
	ctx := context.Background()
	res, err := eng.RunOnce(ctx, RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(dir.groups(t)); res.Applied.Failed != 1 || n != 1 {
		t.Fatalf("failed %d, groups %d", res.Applied.Failed, n)
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
	fc.mu.Lock()
	clear(fc.dns)
	fc.mu.Unlock()
	if _, err := eng.RunOnce(ctx, RoundOptions{PlanOptions: PlanOptions{Groups: []string{idA}}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := db.Status(idA); st.Failures != 0 || st.DN == "" {
		t.Fatalf("after retry: %+v", st)
	}
	if _, ok := dir.group(t, "CN=G a_00000000000a,OU=G,DC=test"); !ok {
		t.Fatal("A not in AD after the retry")
	}
	if d, _ := db.Dirty(); len(d) != 0 {
		t.Fatalf("still pending: %v", d)
	}
}

func TestManyCreatesCheckNamesInBatches(t *testing.T) {
	src := abTenant()
	eng, dir, _ := newLDAPEngine(t, src, "safety: {deleteThreshold: 1}")
	dir.srv.Put("CN=foreign,DC=test", map[string][]string{"objectClass": {"top", "group"}, "sAMAccountName": {"Team 07"}})
	for i := range 40 {
		id := fmt.Sprintf("bbbbbbbb-0000-0000-0000-%012d", i)
		src.groups[id] = entra.Group{ID: id, DisplayName: fmt.Sprintf("Team %02d", i), SecurityEnabled: true}
	}
	res, err := eng.RunOnce(context.Background(), RoundOptions{})
	if err != nil || res.Applied.Failed != 0 {
		t.Fatalf("%v %+v", err, res.Applied)
	}
	sams := map[string]bool{}
	for _, g := range dir.groups(t) {
		if sams[g.SAMAccountName] {
			t.Errorf("duplicate sAMAccountName %q", g.SAMAccountName)
		}
		sams[g.SAMAccountName] = true
	}
	if !sams["Team 07_0007"] || !sams["Team 08"] {
		t.Errorf("want the taken name suffixed and the others plain: %v", sams)
	}
	if res.LDAP.Searches > 10 {
		t.Errorf("%d searches for 42 creates; names should be checked in batches", res.LDAP.Searches)
	}
}

func TestScopingGroupMembershipChangesScope(t *testing.T) {
	const scoping = "ffffffff-0000-0000-0000-000000000001"
	src := abTenant()
	eng, dir, _ := newLDAPEngine(t, src, "safety: {deleteThreshold: 1}\nscope: {mode: selected, memberOf: "+scoping+"}\n")
	src.groups[scoping] = entra.Group{ID: scoping, DisplayName: "Writeback scope", SecurityEnabled: true, MembersDelta: []entra.MemberRef{{ID: idA, Type: "group"}}}
	ctx := context.Background()
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(dir.groups(t)); n != 1 {
		t.Fatalf("%d groups, want only A (the scoping group is not provisioned)", n)
	}
	// B joins the scoping group: the next delta round provisions it.
	src.change(entra.Group{ID: scoping, MembersDelta: []entra.MemberRef{{ID: idB, Type: "group"}}})
	res, err := eng.RunOnce(ctx, RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(dir.groups(t)); n != 2 || res.Planned.Full {
		t.Fatalf("after B joined the scope: %d groups (full=%v)", n, res.Planned.Full)
	}
}

// recordSearches records the DC's mS-DS-ConsistencyGuid lookups (each a
// scan of the domain's users on a DC).
type recordSearches struct {
	Directory
	mu      sync.Mutex
	filters []string
}

func (r *recordSearches) UsersByConsistencyGUIDs(ctx context.Context, base string, guids []ad.GUID) (map[ad.GUID]ad.Object, error) {
	r.mu.Lock()
	r.filters = append(r.filters, "mS-DS-ConsistencyGuid")
	r.mu.Unlock()
	return r.Directory.UsersByConsistencyGUIDs(ctx, base, guids)
}

func (r *recordSearches) searched() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.filters)
}

// TestConsistencyGUIDMissesOutliveTheProcess: a synced user AD does not hold
// is searched by mS-DS-ConsistencyGuid (on a DC, a scan of the domain's
// users) once; an engine started afresh over the same state file (the
// daemon restarted) does not scan for it again when its group changes, and
// the next full round does.
func TestConsistencyGUIDMissesOutliveTheProcess(t *testing.T) {
	src := abTenant()
	rec := &recordSearches{}
	eng, ld, db := newLDAPEngineWrapped(t, src, "safety: {deleteThreshold: 1}", func(d Directory) Directory { rec.Directory = d; return rec })
	dir := rec
	ctx := context.Background()
	ghost := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	src.users = append(src.users, entra.User{ID: "u2", UserPrincipalName: "ghost@test", OnPremisesImmutableId: ghost, OnPremisesSyncEnabled: yes()})
	a := src.groups[idA]
	a.MembersDelta = append(a.MembersDelta, entra.MemberRef{ID: "u2", Type: "user"})
	src.groups[idA] = a
	scans := func() int {
		n := 0
		for _, f := range dir.searched() {
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
	restarted, err := New(ctx, Options{Config: eng.cfg, State: db, DC: dir, GC: ld.dc, Source: src, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
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
		e, err := New(ctx, Options{Config: eng.cfg, State: db, DC: dir, GC: ld.dc, Source: src, Resolver: shared, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
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

// newLDAPTestEngine is the default engine of the unit tests on ldaptest:
// the tenant of groups A and B with alice (abTenant), a deletion threshold
// of 1, plus extraYAML.
func newLDAPTestEngine(t *testing.T, extraYAML string) (*Engine, *ldapDir, *memSource, *state.DB) {
	t.Helper()
	src := abTenant()
	eng, dir, db := newLDAPEngine(t, src, "safety: {deleteThreshold: 1}\n"+extraYAML)
	return eng, dir, src, db
}

// get reads one group back by DN; nil when there is none.
func (d *ldapDir) get(t *testing.T, dn string) *ad.Group {
	t.Helper()
	if g, ok := d.group(t, dn); ok {
		return &g
	}
	return nil
}

// put stores g in the directory as a group written by someone else (a
// test's setup: another tool, Connect Sync, a name's holder).
func (d *ldapDir) put(g ad.Group) {
	attrs := map[string][]string{"objectClass": {"top", "group"}, "cn": {cmp.Or(g.CN, ldapdn.RDNValue(g.DN))}}
	set := func(k, v string) {
		if v != "" {
			attrs[k] = []string{v}
		}
	}
	set(ad.AttrExternalDirectoryObjectID, g.Anchor)
	set("adminDescription", g.AdminDescription)
	set("displayName", g.DisplayName)
	set("sAMAccountName", g.SAMAccountName)
	set("description", g.Description)
	if g.GroupType != 0 {
		set("groupType", strconv.Itoa(int(g.GroupType)))
	}
	if g.USNChanged != 0 {
		set("uSNChanged", strconv.FormatInt(g.USNChanged, 10))
	}
	if len(g.Members) > 0 {
		attrs["member"] = g.Members
	}
	// Every AD object has an objectGUID; one derived from the DN will do.
	if g.GUID.IsZero() {
		sum := sha256.Sum256([]byte(strings.ToLower(g.DN)))
		copy(g.GUID[:], sum[:16])
	}
	attrs["objectGUID"] = []string{string(g.GUID.AD())}
	if g.SID != "" {
		sid, err := ad.SIDToAD(g.SID)
		if err != nil {
			panic(err)
		}
		attrs["objectSid"] = []string{string(sid)}
	}
	for k, v := range g.Attrs {
		attrs[k] = v
	}
	d.srv.Put(g.DN, attrs)
}

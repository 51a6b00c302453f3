package migrate

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/ldapdn"
)

// fixture is a Connect-Sync-shaped writeback OU in the lab and a matching tenant.
type fixture struct {
	lab    *labtest.Lab
	dc, gc *ad.Conn
	admin  *ad.Conn // Administrator, for objects the service account may not create (contacts, users)
	env    *emulatortest.Env
	cloud  *entra.Client
	ids    map[string]string // fixture name -> cloud object ID
	dns    map[string]string // fixture name -> AD DN
	users  []labtest.User
}

func oid(n int) string {
	return fmt.Sprintf("%08x-1111-4222-8333-%012x", 0xc0ffee00+n, 0xabc000000000+n)
}

func last12(id string) string { return id[24:] }

// newFixture builds:
//
//	sales   universal security, CN=Group_<id> (Connect Sync default), anchor missing,
//	        AD members u0; cloud members u0 + a cloud-only user (unresolvable)
//	eng     universal security, CN=<name>_<last12> (display-name format), anchor copied,
//	        AD members u0 u1 sales; cloud members the same; displayName drift in AD
//	fin     universal security, display-name format, anchor missing; AD members u1 +
//	        a contact (not resolvable, and not in the cloud group); cloud u1 + a device
//	clash   universal security, anchor holds another group's ID (conflict)
//	mail    mail-enabled security (out of scope)
//	global  global security (not supported as is)
//	orphan  universal security whose cloud group was deleted
//	cloud-only: a cloud security group with no AD group
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	l := labtest.AD(t)
	f := &fixture{lab: l, dc: l.Conn(t), gc: l.GC(t), admin: l.AdminConn(t), ids: map[string]string{}, dns: map[string]string{}}
	f.users = l.CreateUsers(t, 2, "migu")
	for i, n := range []string{"sales", "eng", "fin", "clash", "mail", "global", "orphan", "cloudonly", "other"} {
		f.ids[n] = oid(i + 1)
	}
	contact := "CN=Some Contact," + l.OU
	if err := f.admin.Add(ctx, contact, map[string][]string{"objectClass": {"top", "person", "organizationalPerson", "contact"}}); err != nil {
		t.Fatal(err)
	}
	f.dns["contact"] = contact
	type spec struct {
		name, cn, display, anchor, mail string
		gt                              int32
		members                         []string
	}
	u0, u1 := f.users[0].DN, f.users[1].DN
	us := strconv.Itoa(int(ad.GroupTypeUniversalSecurity))
	_ = us
	specs := []spec{
		{name: "sales", cn: "Group_" + f.ids["sales"], display: "Sales", members: []string{u0}},
		{name: "eng", cn: "Engineering_" + last12(f.ids["eng"]), display: "Engineering (old)", anchor: "Group_" + f.ids["eng"], members: []string{u0, u1}},
		{name: "fin", cn: "Finance_" + last12(f.ids["fin"]), display: "Finance", members: []string{u1, contact}},
		{name: "clash", cn: "Clash_" + last12(f.ids["clash"]), display: "Clash", anchor: "Group_" + f.ids["other"]},
		{name: "mail", cn: "Group_" + f.ids["mail"], display: "Mail", mail: "mail-group@lab.example"},
		{name: "global", cn: "Group_" + f.ids["global"], display: "Global", gt: ad.GroupTypeGlobalSecurity},
		{name: "orphan", cn: "Group_" + f.ids["orphan"], display: "Old project"},
	}
	for _, s := range specs {
		dn := "CN=" + s.cn + "," + l.OU
		attrs := map[string][]string{"adminDescription": {"Group_" + f.ids[s.name]}, "displayName": {s.display}}
		if s.anchor != "" {
			attrs[ad.AttrExternalDirectoryObjectID] = []string{s.anchor}
		}
		if s.mail != "" {
			attrs["mail"] = []string{s.mail}
		}
		if s.gt != 0 {
			attrs["groupType"] = []string{strconv.Itoa(int(s.gt))}
		}
		if len(s.members) > 0 {
			attrs["member"] = s.members
		}
		if err := f.dc.CreateGroup(ctx, dn, attrs); err != nil {
			t.Fatal(err)
		}
		f.dns[s.name] = dn
	}
	// Nested: sales is a member of eng in AD, as Connect Sync wrote it.
	if err := f.dc.AddMembers(ctx, f.dns["eng"], []string{f.dns["sales"]}); err != nil {
		t.Fatal(err)
	}

	yes := true
	tn := &emulator.TenantFile{
		Users: []emulator.User{
			{ID: "aaaaaaaa-0000-4000-8000-000000000000", DisplayName: "U0", UserPrincipalName: "u0@lab.example", OnPremisesSyncEnabled: &yes, OnPremisesObjectIdentifier: f.users[0].GUID.String(), OnPremisesSecurityIdentifier: f.users[0].SID},
			{ID: "aaaaaaaa-0000-4000-8000-000000000001", DisplayName: "U1", UserPrincipalName: "u1@lab.example", OnPremisesSyncEnabled: &yes, OnPremisesObjectIdentifier: f.users[1].GUID.String(), OnPremisesSecurityIdentifier: f.users[1].SID},
			{ID: "aaaaaaaa-0000-4000-8000-0000000000c3", DisplayName: "Cloud Only", UserPrincipalName: "cloud.only@lab.example"},
		},
		Objects: []emulator.Object{{ID: "dddddddd-0000-4000-8000-000000000001", Type: "device", DisplayName: "Laptop"}},
		Groups: []emulator.Group{
			{ID: f.ids["sales"], DisplayName: "Sales", SecurityEnabled: true, Members: []string{"aaaaaaaa-0000-4000-8000-000000000000", "aaaaaaaa-0000-4000-8000-0000000000c3"}},
			{ID: f.ids["eng"], DisplayName: "Engineering", SecurityEnabled: true, Members: []string{"aaaaaaaa-0000-4000-8000-000000000000", "aaaaaaaa-0000-4000-8000-000000000001", f.ids["sales"]}},
			{ID: f.ids["fin"], DisplayName: "Finance", SecurityEnabled: true, Members: []string{"aaaaaaaa-0000-4000-8000-000000000001", "dddddddd-0000-4000-8000-000000000001"}},
			{ID: f.ids["clash"], DisplayName: "Clash", SecurityEnabled: true},
			{ID: f.ids["mail"], DisplayName: "Mail", SecurityEnabled: true, MailEnabled: true, Mail: "mail-group@lab.example", MailNickname: "mail-group"},
			{ID: f.ids["global"], DisplayName: "Global", SecurityEnabled: true},
			{ID: f.ids["cloudonly"], DisplayName: "Cloud only group", SecurityEnabled: true},
		},
	}
	f.env = emulatortest.Start(t, tn)
	c, err := entra.New(ctx, entraconfig.Options(f.env.Config))
	if err != nil {
		t.Fatal(err)
	}
	f.cloud = c
	return f
}

func (f *fixture) assess(t *testing.T, withCloud bool) *Report {
	t.Helper()
	o := AssessOptions{Base: f.lab.OU, DC: f.dc, GC: f.gc}
	if withCloud {
		o.Cloud = f.cloud
	}
	r, err := Assess(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	// Go through JSON, as 'assess --json' users do.
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return &back
}

func (r *Report) group(t *testing.T, dn string) GroupReport {
	t.Helper()
	for _, g := range r.Groups {
		if ldapdn.Equal(g.DN, dn) {
			return g
		}
	}
	t.Fatalf("group %s not in the report", dn)
	return GroupReport{}
}

func TestLabAssess(t *testing.T) {
	f := newFixture(t)
	r := f.assess(t, true)

	for _, c := range []struct {
		name     string
		class    Class
		in       bool
		anchor   AnchorState
		naming   Naming
		cloudCN  string // cn under cloud-sync-default
		renameCS bool   // renamed by cloud-sync-default
		renameCD bool   // renamed by connect-sync-default
	}{
		{"sales", ClassUniversalSecurity, true, AnchorMissing, NamingConnectSync, "Sales_" + last12(f.ids["sales"]), true, false},
		{"eng", ClassUniversalSecurity, true, AnchorEqual, NamingDisplayName, "Engineering_" + last12(f.ids["eng"]), false, true},
		{"fin", ClassUniversalSecurity, true, AnchorMissing, NamingDisplayName, "Finance_" + last12(f.ids["fin"]), false, true},
		{"clash", ClassUniversalSecurity, true, AnchorDifferent, NamingDisplayName, "Clash_" + last12(f.ids["clash"]), false, true},
		{"mail", ClassMailEnabledSecurity, false, AnchorMissing, NamingConnectSync, "", false, false},
		{"global", ClassGlobal, false, AnchorMissing, NamingConnectSync, "", false, false},
		{"orphan", ClassUniversalSecurity, true, AnchorMissing, NamingConnectSync, "Old project_" + last12(f.ids["orphan"]), true, false},
	} {
		g := r.group(t, f.dns[c.name])
		if g.Class != c.class || g.InScope != c.in || g.AnchorState != c.anchor || g.Naming != c.naming {
			t.Errorf("%s: class %s in %v anchor %s naming %s; want %s %v %s %s", c.name, g.Class, g.InScope, g.AnchorState, g.Naming, c.class, c.in, c.anchor, c.naming)
		}
		if !c.in {
			continue
		}
		if g.CNs["cloud-sync-default"] != c.cloudCN || g.CNs["connect-sync-default"] != "Group_"+f.ids[c.name] {
			t.Errorf("%s: CNs %v", c.name, g.CNs)
		}
		if g.Renamed["cloud-sync-default"] != c.renameCS || g.Renamed["connect-sync-default"] != c.renameCD {
			t.Errorf("%s: renamed %v, want cloud-sync %v connect-sync %v", c.name, g.Renamed, c.renameCS, c.renameCD)
		}
	}
	if r.Summary.InScope != 5 || r.Summary.Renames["cloud-sync-default"] != 2 || r.Summary.Renames["connect-sync-default"] != 3 {
		t.Errorf("summary %+v", r.Summary)
	}
	if r.Recommended.Name != "cloud-sync-default" || !r.Recommended.OnCreate {
		t.Errorf("recommended %+v, want cloud-sync-default on create only", r.Recommended)
	}

	// Membership as the engine resolves it.
	sales := r.group(t, f.dns["sales"])
	if len(sales.Unresolved) != 1 || !strings.Contains(sales.Unresolved[0].Name, "cloud.only") {
		t.Errorf("sales unresolved %+v, want the cloud-only user", sales.Unresolved)
	}
	eng := r.group(t, f.dns["eng"])
	if len(eng.WouldAdd)+len(eng.WouldRemove)+len(eng.Unresolved) != 0 || eng.Resolvable != 3 {
		t.Errorf("eng: add %v remove %v unresolved %v resolvable %d; want 3 resolvable, nothing else", eng.WouldAdd, eng.WouldRemove, eng.Unresolved, eng.Resolvable)
	}
	fin := r.group(t, f.dns["fin"])
	if len(fin.WouldRemove) != 1 || !ldapdn.Equal(fin.WouldRemove[0], f.dns["contact"]) {
		t.Errorf("fin would remove %v, want the contact", fin.WouldRemove)
	}
	if len(fin.Unresolved) != 1 || fin.Unresolved[0].Type != "device" {
		t.Errorf("fin unresolved %+v, want the device", fin.Unresolved)
	}
	// Cloud side.
	if g := r.group(t, f.dns["orphan"]); g.Cloud == nil || g.Cloud.Found {
		t.Errorf("orphan cloud state %+v", g.Cloud)
	}
	if eng.Cloud == nil || !eng.Cloud.Drift {
		t.Errorf("eng drift not reported: %+v", eng.Cloud)
	}
	if len(r.CloudOnly) != 1 || r.CloudOnly[0].ID != f.ids["cloudonly"] {
		t.Errorf("cloud only %+v", r.CloudOnly)
	}
	// Verdict: the conflict and the member removal block; orphan and drift warn.
	codes := map[string]bool{}
	for _, b := range r.Verdict.Blockers {
		codes[b.Code] = true
	}
	if r.Verdict.Ready || !codes["anchor-conflict"] || !codes["member-removal"] {
		t.Errorf("verdict %+v", r.Verdict)
	}
	for _, c := range r.Preflight {
		if !c.OK {
			t.Errorf("preflight %s failed: %s", c.Name, c.Detail)
		}
	}

	// AD only: members checked in the GC, with reasons.
	ra := f.assess(t, false)
	fa := ra.group(t, f.dns["fin"])
	if fa.Resolvable != 1 || len(fa.Unresolved) != 1 || !strings.Contains(fa.Unresolved[0].Reason, "contact") {
		t.Errorf("AD-only fin: resolvable %d unresolved %+v", fa.Resolvable, fa.Unresolved)
	}
	ea := ra.group(t, f.dns["eng"])
	if ea.Resolvable != 3 || len(ea.Unresolved) != 0 {
		t.Errorf("AD-only eng: resolvable %d unresolved %+v, want 3 (two users, one anchored group)", ea.Resolvable, ea.Unresolved)
	}

	var html strings.Builder
	if err := WriteHTML(&html, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Not ready", "Sales_" + last12(f.ids["sales"]), "cloud.only@lab.example", "anchor-conflict", "<script>"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	if strings.Contains(html.String(), "http://") || strings.Contains(html.String(), "src=") {
		t.Error("HTML report must be self-contained")
	}
	var text strings.Builder
	WriteText(&text, r)
	t.Logf("terminal summary:\n%s", text.String())
}

// snapshotOU reads every attribute of every object under base, leaving out
// the ones AD changes on any write: uSNChanged, whenChanged,
// replPropertyMetaData, msDS-ReplAttributeMetaData, dSCorePropagationData.
func snapshotOU(t *testing.T, c *ad.Conn, base string) map[string]map[string]string {
	t.Helper()
	skip := map[string]bool{"usnchanged": true, "whenchanged": true, "replpropertymetadata": true, "msds-replattributemetadata": true, "dscorepropagationdata": true}
	out := map[string]map[string]string{}
	err := c.Search(context.Background(), base, ad.ScopeSubtree, "(objectClass=*)", []string{"*"}, func(e *ldap.Entry) error {
		m := map[string]string{}
		for _, a := range e.Attributes {
			if skip[strings.ToLower(a.Name)] {
				continue
			}
			vs := make([]string, len(a.ByteValues))
			for i, v := range a.ByteValues {
				vs[i] = hex.EncodeToString(v)
			}
			sort.Strings(vs)
			m[strings.ToLower(a.Name)] = strings.Join(vs, ",")
		}
		out[strings.ToLower(e.DN)] = m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(a, b map[string]map[string]string) []string {
	var d []string
	for dn, am := range a {
		bm, ok := b[dn]
		if !ok {
			d = append(d, "gone: "+dn)
			continue
		}
		for k, v := range am {
			if bm[k] != v {
				d = append(d, fmt.Sprintf("%s: %s changed", dn, k))
			}
		}
		for k := range bm {
			if _, ok := am[k]; !ok {
				d = append(d, fmt.Sprintf("%s: %s added", dn, k))
			}
		}
	}
	for dn := range b {
		if _, ok := a[dn]; !ok {
			d = append(d, "new: "+dn)
		}
	}
	sort.Strings(d)
	return d
}

func TestLabPrepareVerifyRollback(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	before := snapshotOU(t, f.dc, f.lab.OU)
	if len(before) < 10 {
		t.Fatalf("snapshot has %d objects", len(before))
	}

	dry, err := Prepare(ctx, f.dc, PrepareOptions{Base: f.lab.OU, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := diffSnapshots(before, snapshotOU(t, f.dc, f.lab.OU)); len(d) > 0 {
		t.Fatalf("dry run changed AD: %v", d)
	}
	if len(dry.Planned) != 3 { // sales, fin, orphan
		t.Fatalf("dry run plans %d changes: %+v", len(dry.Planned), dry.Planned)
	}

	path := t.TempDir() + "/prepare.journal"
	j, _, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Prepare(ctx, f.dc, PrepareOptions{Base: f.lab.OU, Journal: j, Writers: []Directory{f.dc, f.lab.Conn(t)}})
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed != 3 || len(res.Conflicts) != 1 || res.AlreadyEqual != 1 || !ldapdn.Equal(res.Conflicts[0].DN, f.dns["clash"]) {
		t.Fatalf("prepare: %+v", res)
	}
	g, _ := f.dc.GroupByDN(ctx, f.dns["clash"], false)
	if g.Anchor != "Group_"+f.ids["other"] {
		t.Fatalf("conflicting anchor overwritten: %q", g.Anchor)
	}
	v, err := VerifyAnchors(ctx, f.dc, f.lab.OU, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Equal != 4 || len(v.Mismatches) != 1 {
		t.Fatalf("verify after prepare: %+v", v)
	}

	// Rollback restores the exact pre-state.
	recs, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	rj, _, _ := OpenJournal(path + ".rollback")
	rb, err := Rollback(ctx, f.dc, recs, RollbackOptions{Journal: rj})
	rj.Close()
	if err != nil {
		t.Fatal(err)
	}
	if rb.Restored != 3 || rb.Skipped != 0 {
		t.Fatalf("rollback: %+v", rb)
	}
	if d := diffSnapshots(before, snapshotOU(t, f.dc, f.lab.OU)); len(d) > 0 {
		t.Fatalf("rollback did not restore the pre-state:\n%s", strings.Join(d, "\n"))
	}

	// The runbook's fix for a conflict, then prepare and verify succeed.
	if err := f.dc.Modify(ctx, f.dns["clash"], map[string][]string{ad.AttrExternalDirectoryObjectID: {}}); err != nil {
		t.Fatal(err)
	}
	if err := f.dc.RemoveMembers(ctx, f.dns["fin"], []string{f.dns["contact"]}); err != nil {
		t.Fatal(err)
	}
	// With Entra configured (as the CLI does), the orphan is skipped.
	live, err := CloudGroups(ctx, f.cloud)
	if err != nil {
		t.Fatal(err)
	}
	orphan := func(id string) bool { return !live[id] }
	j, _, _ = OpenJournal(path)
	res, err = Prepare(ctx, f.dc, PrepareOptions{Base: f.lab.OU, Journal: j, Orphan: orphan})
	j.Close()
	if err != nil || res.Changed != 3 || len(res.Conflicts) != 0 || len(res.Orphans) != 1 {
		t.Fatalf("prepare after fix: %+v %v", res, err)
	}
	v, err = VerifyAnchors(ctx, f.dc, f.lab.OU, orphan)
	if err != nil || len(v.Mismatches) != 0 || v.Equal != 4 || v.Orphans != 1 {
		t.Fatalf("verify: %+v %v", v, err)
	}
	r := f.assess(t, true)
	if !r.Verdict.Ready {
		t.Fatalf("assess after prepare not ready: %+v", r.Verdict.Blockers)
	}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// racingDir is the real DC connection (so prepare uses its SwapValue) with
// another writer that sets the anchor right after prepare has read the groups.
type racingDir struct {
	*ad.Conn
	race func()
}

func (r *racingDir) Groups(ctx context.Context, base, filter string, q ad.GroupQuery, fn func(ad.Group) error) error {
	err := r.Conn.Groups(ctx, base, filter, q, fn)
	if err == nil && r.race != nil {
		r.race()
		r.race = nil
	}
	return err
}

// TestLabPrepareConcurrentWriterWins: a value written by someone else between
// prepare's read and its write is not overwritten; prepare reports the group.
func TestLabPrepareConcurrentWriterWins(t *testing.T) {
	l := labtest.AD(t)
	ctx := context.Background()
	dc, other := l.Conn(t), l.Conn(t)
	id := "c0ffee00-" + l.Tag[:4] + "-4000-8000-0000" + l.Tag
	dn := "CN=Group_" + id + "," + l.OU
	if err := dc.CreateGroup(ctx, dn, map[string][]string{"adminDescription": {"Group_" + id}, "sAMAccountName": {"race-" + l.Tag}}); err != nil {
		t.Fatal(err)
	}
	theirs := "Group_" + id + "-theirs"
	dir := &racingDir{Conn: dc, race: func() {
		if err := other.Modify(ctx, dn, map[string][]string{ad.AttrExternalDirectoryObjectID: {theirs}}); err != nil {
			t.Errorf("concurrent writer: %v", err)
		}
	}}
	var _ ValueSwapper = dir // prepare must take the compare-and-swap path
	j, _, err := OpenJournal(filepath.Join(t.TempDir(), "p.journal"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Prepare(ctx, dir, PrepareOptions{Base: l.OU, Journal: j})
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed != 0 || len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Error, "changed since it was read") ||
		!strings.Contains(res.Failures[0].Error, "left alone") {
		t.Errorf("prepare = changed %d, failures %+v; want the group reported as changed since read", res.Changed, res.Failures)
	}
	g, err := dc.GroupByDN(ctx, dn, false)
	if err != nil || g == nil || g.Anchor != theirs {
		t.Errorf("anchor after prepare = %+v (%v), want the concurrent writer's %q", g, err, theirs)
	}
}

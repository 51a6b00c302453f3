package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/writeback/writeback/internal/ad"
)

// fakeDir is an in-memory directory of groups keyed by DN.
type fakeDir struct {
	mu      sync.Mutex
	groups  map[string]*ad.Group
	failOn  map[string]error
	modifes int
}

func (f *fakeDir) Groups(ctx context.Context, base, filter string, q ad.GroupQuery, fn func(ad.Group) error) error {
	f.mu.Lock()
	var out []ad.Group
	for _, g := range f.groups {
		if !strings.HasSuffix(strings.ToLower(g.DN), strings.ToLower(base)) {
			continue
		}
		if filter == ad.FilterConnectSyncGroups && !strings.HasPrefix(g.AdminDescription, "Group_") {
			continue
		}
		c := *g
		out = append(out, c)
	}
	f.mu.Unlock()
	for _, g := range out {
		if err := fn(g); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeDir) Modify(ctx context.Context, dn string, replace map[string][]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failOn[dn]; err != nil {
		return err
	}
	g, ok := f.groups[dn]
	if !ok {
		return fmt.Errorf("modify %s: no such object", dn)
	}
	f.modifes++
	v := replace[ad.AttrExternalDirectoryObjectID]
	if len(v) == 0 {
		g.Anchor = ""
	} else {
		g.Anchor = v[0]
	}
	return nil
}

const testBase = "OU=WB,DC=lab"

func guidN(n int) ad.GUID {
	var g ad.GUID
	g[0], g[15] = byte(n), byte(n>>8)
	return g
}

func objID(n int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n) }

func newFake(groups ...ad.Group) *fakeDir {
	f := &fakeDir{groups: map[string]*ad.Group{}, failOn: map[string]error{}}
	for i := range groups {
		g := groups[i]
		f.groups[g.DN] = &g
	}
	return f
}

func grp(n int, anchor string, gt int32) ad.Group {
	return ad.Group{DN: fmt.Sprintf("CN=Group_%s,%s", objID(n), testBase), GUID: guidN(n), AdminDescription: "Group_" + objID(n), Anchor: anchor, GroupType: gt}
}

func TestPrepareRollback(t *testing.T) {
	ctx := context.Background()
	u := ad.GroupTypeUniversalSecurity
	f := newFake(
		grp(1, "", u),                          // copied
		grp(2, "Group_"+objID(2), u),           // already equal
		grp(3, "Group_something-else", u),      // conflict
		grp(4, "", ad.GroupTypeGlobalSecurity), // out of scope
		grp(5, "", ad.GroupTypeUniversalDistribution),
		grp(6, "", u),
	)
	mail := grp(7, "", u)
	mail.Mail = "x@contoso.com"
	f.groups[mail.DN] = &mail
	dup := grp(8, "", u)
	dup.DN = "CN=copy," + testBase
	dup.AdminDescription = "Group_" + objID(6) // same adminDescription as 6
	f.groups[dup.DN] = &dup
	before := snapshot(f)

	dry, err := Prepare(ctx, f, PrepareOptions{Base: testBase, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Planned) != 1 || f.modifes != 0 {
		t.Fatalf("dry run planned %d (want 1: group 1) and made %d modifies", len(dry.Planned), f.modifes)
	}

	path := filepath.Join(t.TempDir(), "prepare.journal")
	j, _, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Prepare(ctx, f, PrepareOptions{Base: testBase, Journal: j, Batch: 1})
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if res.Changed != 1 || res.AlreadyEqual != 1 || len(res.Conflicts) != 3 || res.InScope != 5 {
		t.Fatalf("result %+v", res)
	}
	if got := f.groups[grp(1, "", u).DN].Anchor; got != "Group_"+objID(1) {
		t.Fatalf("group 1 anchor %q", got)
	}
	if f.groups[grp(3, "", u).DN].Anchor != "Group_something-else" {
		t.Fatal("conflicting anchor was overwritten")
	}

	recs, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	rj, _, _ := OpenJournal(filepath.Join(t.TempDir(), "rollback.journal"))
	rb, err := Rollback(ctx, f, recs, RollbackOptions{Journal: rj})
	rj.Close()
	if err != nil {
		t.Fatal(err)
	}
	if rb.Restored != 1 {
		t.Fatalf("rollback restored %d: %+v", rb.Restored, rb.Items)
	}
	if diff := diffSnap(before, snapshot(f)); diff != "" {
		t.Fatalf("rollback did not restore the pre-state: %s", diff)
	}
}

func TestRollbackLeavesChangedValues(t *testing.T) {
	ctx := context.Background()
	f := newFake(grp(1, "", ad.GroupTypeUniversalSecurity))
	path := filepath.Join(t.TempDir(), "p.journal")
	j, _, _ := OpenJournal(path)
	if _, err := Prepare(ctx, f, PrepareOptions{Base: testBase, Journal: j}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	f.groups[grp(1, "", 0).DN].Anchor = "Group_changed-by-admin"
	recs, _ := ReadJournal(path)
	rb, err := Rollback(ctx, f, recs, RollbackOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if rb.Items[0].Result != "changed-since" || f.groups[grp(1, "", 0).DN].Anchor != "Group_changed-by-admin" {
		t.Fatalf("rollback touched a value changed since prepare: %+v", rb.Items)
	}
}

func TestPrepareFailureJournaled(t *testing.T) {
	ctx := context.Background()
	g := grp(1, "", ad.GroupTypeUniversalSecurity)
	f := newFake(g, grp(2, "", ad.GroupTypeUniversalSecurity))
	f.failOn[g.DN] = errors.New("insufficient access (LDAP 50)")
	path := filepath.Join(t.TempDir(), "p.journal")
	j, _, _ := OpenJournal(path)
	res, err := Prepare(ctx, f, PrepareOptions{Base: testBase, Journal: j})
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed != 1 || len(res.Failures) != 1 {
		t.Fatalf("%+v", res)
	}
	recs, _ := ReadJournal(path)
	outcomes := map[string]int{}
	for _, c := range Changes(recs) {
		outcomes[c.Outcome]++
	}
	if outcomes["done"] != 1 || outcomes["failed"] != 1 {
		t.Fatalf("journal outcomes %v", outcomes)
	}
}

func TestJournalTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	j.Append(&Record{Type: "run", Command: "prepare", Base: testBase})
	j.Append(&Record{Type: "intent", DN: "CN=a", GUID: "g", Attr: ad.AttrExternalDirectoryObjectID, After: strp("Group_x")})
	j.Close()
	fh, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString(`{"type":"done","seq":2,"gu`) // killed mid-write
	fh.Close()

	j, recs, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("read %d records, want 2", len(recs))
	}
	j.Append(&Record{Type: "done", Seq: 2, GUID: "g"})
	j.Close()
	recs, err = ReadJournal(path)
	if err != nil {
		t.Fatalf("journal unreadable after repair: %v", err)
	}
	cs := Changes(recs)
	if len(cs) != 1 || cs[0].Outcome != "done" || cs[0].Before != nil || *cs[0].After != "Group_x" {
		t.Fatalf("changes %+v", cs)
	}

	os.WriteFile(path, []byte("{\"type\":\"run\"}\nnot json\n"), 0o600)
	if _, _, err := OpenJournal(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("corrupt journal: err %v, want line 2", err)
	}
}

func snapshot(f *fakeDir) map[string]ad.Group {
	out := map[string]ad.Group{}
	for k, v := range f.groups {
		out[k] = *v
	}
	return out
}

func diffSnap(a, b map[string]ad.Group) string {
	var d []string
	for k, g := range a {
		h := b[k]
		if fmt.Sprint(g) != fmt.Sprint(h) {
			d = append(d, fmt.Sprintf("%s: %+v -> %+v", k, g, h))
		}
	}
	return strings.Join(d, "\n")
}

// swapDir adds the atomic compare-and-swap write, and a hook that runs just
// before it, to play another writer racing prepare.
type swapDir struct {
	*fakeDir
	race func()
}

func (s *swapDir) SwapValue(ctx context.Context, dn, attr string, old, new *string) error {
	if s.race != nil {
		s.race()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[dn]
	if (old == nil) != (g.Anchor == "") || (old != nil && *old != g.Anchor) {
		return &ad.OpError{Op: "modify", DN: dn, Code: ad.CodeAttributeOrValueExists, Err: errors.New("value exists")}
	}
	g.Anchor = deref(new)
	return nil
}

func TestPrepareNeverOverwritesARacingWriter(t *testing.T) {
	ctx := context.Background()
	g1, g2 := grp(1, "", ad.GroupTypeUniversalSecurity), grp(2, "", ad.GroupTypeUniversalSecurity)
	f := newFake(g1, g2)
	s := &swapDir{fakeDir: f}
	s.race = func() {
		f.mu.Lock()
		f.groups[g1.DN].Anchor = "Group_set-by-someone-else"
		f.mu.Unlock()
		s.race = nil
	}
	j, _, _ := OpenJournal(filepath.Join(t.TempDir(), "j"))
	res, err := Prepare(ctx, s, PrepareOptions{Base: testBase, Journal: j, Workers: 1})
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := f.groups[g1.DN].Anchor; got != "Group_set-by-someone-else" {
		t.Fatalf("racing value overwritten: %q", got)
	}
	if res.Changed != 1 || len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Error, "changed since it was read") {
		t.Fatalf("result %+v", res)
	}
}

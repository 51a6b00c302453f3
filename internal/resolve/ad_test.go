package resolve

import (
	"context"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
)

type fakeGC struct{ byGUID map[ad.GUID]string }

func (f *fakeGC) LookupAnchors(context.Context, []string) (map[string]ad.Object, error) {
	return nil, nil
}
func (f *fakeGC) LookupSIDs(context.Context, []string) (map[string]ad.Object, error) {
	return nil, nil
}
func (f *fakeGC) LookupGUIDs(_ context.Context, guids []ad.GUID) (map[ad.GUID]ad.Object, error) {
	out := map[ad.GUID]ad.Object{}
	for _, g := range guids {
		if dn, ok := f.byGUID[g]; ok {
			out[g] = ad.Object{DN: dn, GUID: g, Classes: []string{"top", "user"}}
		}
	}
	return out, nil
}

// fakeDC holds users by mS-DS-ConsistencyGuid (the GUID is also their
// objectGUID); critical ones answer isCriticalSystemObject=TRUE.
type fakeDC struct {
	byCGUID  map[ad.GUID]string
	critical map[ad.GUID]bool
	filters  []string
}

func (f *fakeDC) Search(_ context.Context, _ string, _ ad.Scope, filter string, _ []string, fn func(*ldap.Entry) error) error {
	f.filters = append(f.filters, filter)
	for g, dn := range f.byCGUID {
		scan := strings.Contains(filter, "isCriticalSystemObject=TRUE") && f.critical[g]
		if strings.Contains(filter, ad.EscapeFilterBytes(g.AD())) || scan {
			e := ldap.NewEntry(dn, nil)
			e.Attributes = []*ldap.EntryAttribute{
				{Name: "mS-DS-ConsistencyGuid", ByteValues: [][]byte{g.AD()}},
				{Name: "objectGUID", ByteValues: [][]byte{g.AD()}},
				{Name: "objectClass", Values: []string{"top", "user"}},
			}
			if f.critical[g] {
				e.Attributes = append(e.Attributes, &ldap.EntryAttribute{Name: "isCriticalSystemObject", Values: []string{"TRUE"}})
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// A synced user is found through the GC by objectGUID, or on the DC by
// mS-DS-ConsistencyGuid; results come back keyed by the canonical GUID.
func TestADDirectory(t *testing.T) {
	g1, _ := ad.ParseGUID("11111111-2222-3333-4444-555555555555")
	g2, _ := ad.ParseGUID("66666666-7777-8888-9999-aaaaaaaaaaaa")
	dc := &fakeDC{byCGUID: map[ad.GUID]string{g2: "CN=bob,DC=test"}}
	d := &ADDirectory{GC: &fakeGC{byGUID: map[ad.GUID]string{g1: "CN=alice,DC=test"}}, DC: dc, Base: "DC=test"}
	ctx := context.Background()
	got, err := d.FindByGUIDs(ctx, []string{g1.String(), g2.String(), "not-a-guid"})
	if err != nil || len(got) != 1 || got[g1.String()].DN != "CN=alice,DC=test" || got[g1.String()].Classes[1] != "user" {
		t.Errorf("FindByGUIDs = %v, %v", got, err)
	}
	many := []string{g2.String()}
	for range 250 {
		many = append(many, g1.String())
	}
	got, err = d.FindByConsistencyGUIDs(ctx, many)
	if err != nil || len(got) != 1 || got[g2.String()].DN != "CN=bob,DC=test" {
		t.Errorf("FindByConsistencyGUIDs = %v, %v", got, err)
	}
	// Read on the DC: what it does not return, the object does not have.
	if o := got[g2.String()]; o.Critical == nil || *o.Critical || o.AdminCount == nil || !o.ConsistencyGUIDKnown {
		t.Errorf("DC object = %+v, want Critical and AdminCount false and the consistency GUID known", o)
	}
	if len(dc.filters) != 2 {
		t.Errorf("%d DC searches for 251 values, want 2 (200 per filter)", len(dc.filters))
	}
}

// TestADDirectoryProtected: isCriticalSystemObject and adminCount are read
// on the DC, by objectGUID for a few objects and by one pass over the
// critical and protected users for many.
func TestADDirectoryProtected(t *testing.T) {
	g1, _ := ad.ParseGUID("11111111-2222-3333-4444-555555555555")
	g2, _ := ad.ParseGUID("66666666-7777-8888-9999-aaaaaaaaaaaa")
	dc := &fakeDC{byCGUID: map[ad.GUID]string{g1: "CN=krbtgt,DC=test", g2: "CN=bob,DC=test"}, critical: map[ad.GUID]bool{g1: true}}
	d := &ADDirectory{DC: dc, Base: "DC=test"}
	ctx := context.Background()
	got, err := d.Protected(ctx, []string{g1.String(), g2.String()})
	if err != nil || len(got) != 1 || got[g1.String()] != "isCriticalSystemObject" {
		t.Errorf("Protected(2) = %v, %v", got, err)
	}
	many := []string{g1.String(), g2.String()}
	for i := range 500 {
		many = append(many, GUIDFromBytes([]byte{byte(i), byte(i >> 8), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}))
	}
	dc.filters = nil
	got, err = d.Protected(ctx, many)
	if err != nil || len(got) != 1 || got[g1.String()] != "isCriticalSystemObject" || len(dc.filters) != 1 {
		t.Errorf("Protected(502) = %v, %v in %d searches, want krbtgt in one pass", got, err, len(dc.filters))
	}
}

// countingGC counts the Global Catalog lookups; it holds nothing.
type countingGC struct{ calls int }

func (g *countingGC) LookupAnchors(context.Context, []string) (map[string]ad.Object, error) {
	g.calls++
	return nil, nil
}
func (g *countingGC) LookupSIDs(context.Context, []string) (map[string]ad.Object, error) {
	g.calls++
	return nil, nil
}
func (g *countingGC) LookupGUIDs(context.Context, []ad.GUID) (map[ad.GUID]ad.Object, error) {
	g.calls++
	return nil, nil
}

// countingDC is a DC whose objects are all plain users: it answers every
// search with nothing, and keeps the filters.
type countingDC struct{ filters []string }

func (d *countingDC) Search(_ context.Context, _ string, _ ad.Scope, filter string, _ []string, _ func(*ldap.Entry) error) error {
	d.filters = append(d.filters, filter)
	return nil
}

// TestADDirectorySearchesOfFullRounds: the LDAP searches two full rounds of
// one process make for 450 SID-only users (onPremisesSecurityIdentifier and
// onPremisesImmutableId, as Graph v1.0 gives them) that the rounds' group
// reads taught the resolver: the first, 3 DC searches (200 objectGUIDs per
// filter) for what is not a plain user and none in the GC; the second, only
// the one pass for critical and adminCount=1 users every full round makes.
// Before, each round of a fresh process looked all of them up in the GC by
// objectSid (at M 50 searches, 2.3 s).
func TestADDirectorySearchesOfFullRounds(t *testing.T) {
	_, src, ms, known := sidOnlyTenant(450)
	gc, dc := &countingGC{}, &countingDC{}
	r := New(&ADDirectory{GC: gc, DC: dc, Base: "DC=x"})
	for round, want := range []struct{ class, prot int }{{3, 0}, {0, 1}} {
		r.Forget()
		r.Learn(known)
		gc.calls, dc.filters = 0, nil
		res, err := r.Resolve(context.Background(), map[string][]Member{"g": ms}, src)
		if err != nil {
			t.Fatal(err)
		}
		if got := res["g"]; len(got.DNs) != 450 {
			t.Fatalf("round %d: %d members resolved, want 450 (%d unresolved; the GC holds none of them)", round, len(got.DNs), len(got.Unresolved))
		}
		class, prot := 0, 0
		for _, f := range dc.filters {
			switch {
			case strings.Contains(f, "(objectClass=inetOrgPerson)"): // ad.FilterNotPlainUsersAmong
				class++
			case strings.Contains(f, "adminCount=1"):
				prot++
			default:
				t.Errorf("round %d: unexpected DC search %.80s", round, f)
			}
		}
		if gc.calls != 0 || class != want.class || prot != want.prot {
			t.Errorf("round %d: %d GC lookups, %d class searches, %d protection searches; want 0, %d, %d",
				round, gc.calls, class, prot, want.class, want.prot)
		}
	}
}

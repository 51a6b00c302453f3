package resolve

import (
	"context"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
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

// dcWith is a domain controller: the in-process LDAP server holding DC=test
// (or base) and the users put(dn, attrs) adds, spoken to through a real
// *ad.Conn, whose search count the tests read.
func dcWith(t *testing.T, base string) (*ldaptest.Server, *ad.Conn) {
	t.Helper()
	srv := ldaptest.Start(t, ldaptest.Options{BaseDN: base})
	c, err := ad.Dial(t.Context(), adconfig.Options(srv.Config()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

// user is a plain user's attributes with objectGUID g (and, when set, the
// mS-DS-ConsistencyGuid cg and objectSid sid).
func user(g ad.GUID, cg *ad.GUID, sid string) map[string][]string {
	a := map[string][]string{"objectClass": {"top", "person", "organizationalPerson", "user"},
		"objectGUID": {string(g.AD())}, "userAccountControl": {"512"}}
	if cg != nil {
		a["mS-DS-ConsistencyGuid"] = []string{string(cg.AD())}
	}
	if sid != "" {
		b, err := ad.SIDToAD(sid)
		if err != nil {
			panic(err)
		}
		a["objectSid"] = []string{string(b)}
	}
	return a
}

// A synced user is found through the GC by objectGUID, or on the DC by
// mS-DS-ConsistencyGuid; results come back keyed by the canonical GUID.
func TestADDirectory(t *testing.T) {
	g1, _ := ad.ParseGUID("11111111-2222-3333-4444-555555555555")
	g2, _ := ad.ParseGUID("66666666-7777-8888-9999-aaaaaaaaaaaa")
	bobGUID, _ := ad.ParseGUID("66666666-0000-8888-9999-aaaaaaaaaaaa")
	srv, dc := dcWith(t, "DC=test")
	srv.Put("CN=bob,DC=test", user(bobGUID, &g2, ""))
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
	s0 := dc.Searches()
	got, err = d.FindByConsistencyGUIDs(ctx, many)
	if err != nil || len(got) != 1 || got[g2.String()].DN != "CN=bob,DC=test" {
		t.Errorf("FindByConsistencyGUIDs = %v, %v", got, err)
	}
	// Read on the DC: what it does not return, the object does not have.
	if o := got[g2.String()]; o.Critical == nil || *o.Critical || o.AdminCount == nil || !o.ConsistencyGUIDKnown {
		t.Errorf("DC object = %+v, want Critical and AdminCount false and the consistency GUID known", o)
	}
	if n := dc.Searches() - s0; n != 2 {
		t.Errorf("%d DC searches for 251 values, want 2 (200 per filter)", n)
	}
}

// TestADDirectoryProtected: isCriticalSystemObject and adminCount are read
// on the DC, by objectGUID for a few objects and by one pass over the
// critical and protected users for many.
func TestADDirectoryProtected(t *testing.T) {
	g1, _ := ad.ParseGUID("11111111-2222-3333-4444-555555555555")
	g2, _ := ad.ParseGUID("66666666-7777-8888-9999-aaaaaaaaaaaa")
	srv, dc := dcWith(t, "DC=test")
	krbtgt := user(g1, nil, "")
	krbtgt["isCriticalSystemObject"] = []string{"TRUE"}
	srv.Put("CN=krbtgt,DC=test", krbtgt)
	srv.Put("CN=bob,DC=test", user(g2, nil, ""))
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
	s0 := dc.Searches()
	got, err = d.Protected(ctx, many)
	if n := dc.Searches() - s0; err != nil || len(got) != 1 || got[g1.String()] != "isCriticalSystemObject" || n != 1 {
		t.Errorf("Protected(502) = %v, %v in %d searches, want krbtgt in one pass", got, err, n)
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
	srv, dc := dcWith(t, "DC=x")
	srv.Put("OU=Staff,DC=x", map[string][]string{"objectClass": {"top", "organizationalUnit"}})
	for _, k := range known {
		g, err := ad.ParseGUID(k.GUID)
		if err != nil {
			t.Fatal(err)
		}
		srv.Put(k.DN, user(g, nil, k.SID))
	}
	gc := &countingGC{}
	r := New(&ADDirectory{GC: gc, DC: dc, Base: "DC=x"})
	for round, want := range []struct{ searches, class int64 }{{3, 450}, {1, 0}} {
		r.Forget()
		r.Learn(known)
		gc.calls = 0
		s0, st0 := dc.Searches(), r.Stats()
		res, err := r.Resolve(context.Background(), map[string][]Member{"g": ms}, src)
		if err != nil {
			t.Fatal(err)
		}
		if got := res["g"]; len(got.DNs) != 450 {
			t.Fatalf("round %d: %d members resolved, want 450 (%d unresolved; the GC holds none of them)", round, len(got.DNs), len(got.Unresolved))
		}
		class := int64(r.Stats().Asked["learnedClass"] - st0.Asked["learnedClass"])
		if n := dc.Searches() - s0; gc.calls != 0 || n != want.searches || class != want.class {
			t.Errorf("round %d: %d GC lookups, %d DC searches, %d objects class-checked; want 0, %d, %d",
				round, gc.calls, n, class, want.searches, want.class)
		}
	}
}

package resolve

import (
	"context"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
)

type fakeGC struct{ byGUID map[ad.GUID]string }

func (f *fakeGC) FindByAnchors(context.Context, []string) (map[string]string, error) { return nil, nil }
func (f *fakeGC) FindBySIDs(context.Context, []string) (map[string]string, error)    { return nil, nil }
func (f *fakeGC) FindByGUIDs(_ context.Context, guids []ad.GUID) (map[ad.GUID]string, error) {
	out := map[ad.GUID]string{}
	for _, g := range guids {
		if dn, ok := f.byGUID[g]; ok {
			out[g] = dn
		}
	}
	return out, nil
}

type fakeDC struct {
	byCGUID map[ad.GUID]string
	filters []string
}

func (f *fakeDC) Search(_ context.Context, _ string, _ ad.Scope, filter string, _ []string, fn func(*ldap.Entry) error) error {
	f.filters = append(f.filters, filter)
	for g, dn := range f.byCGUID {
		if strings.Contains(filter, ad.EscapeFilterBytes(g.AD())) {
			e := ldap.NewEntry(dn, nil)
			e.Attributes = []*ldap.EntryAttribute{{Name: "mS-DS-ConsistencyGuid", ByteValues: [][]byte{g.AD()}}}
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
	if err != nil || len(got) != 1 || got[g1.String()] != "CN=alice,DC=test" {
		t.Errorf("FindByGUIDs = %v, %v", got, err)
	}
	many := []string{g2.String()}
	for range 250 {
		many = append(many, g1.String())
	}
	got, err = d.FindByConsistencyGUIDs(ctx, many)
	if err != nil || len(got) != 1 || got[g2.String()] != "CN=bob,DC=test" {
		t.Errorf("FindByConsistencyGUIDs = %v, %v", got, err)
	}
	if len(dc.filters) != 2 {
		t.Errorf("%d DC searches for 251 values, want 2 (200 per filter)", len(dc.filters))
	}
}

package resolve_test

import (
	"context"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/resolve"
)

// emptyGC is a Global Catalog that has not received anything yet.
type emptyGC struct{}

func (emptyGC) LookupAnchors(context.Context, []string) (map[string]ad.Object, error) {
	return map[string]ad.Object{}, nil
}
func (emptyGC) LookupGUIDs(context.Context, []ad.GUID) (map[ad.GUID]ad.Object, error) {
	return map[ad.GUID]ad.Object{}, nil
}
func (emptyGC) LookupSIDs(context.Context, []string) (map[string]ad.Object, error) {
	return map[string]ad.Object{}, nil
}

// Issue #20 / windows-ad D5: a group writeback just created on its DC is
// found there while the Global Catalog lags.
func TestAnchorsTheGCLacksAreFoundOnTheDC(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{BaseDN: "DC=test"})
	g, _ := ad.ParseGUID("0f0f0f0f-1111-4000-8000-000000000001")
	srv.Put("CN=child,DC=test", map[string][]string{"objectClass": {"top", "group"}, "objectGUID": {string(g.AD())},
		ad.AttrExternalDirectoryObjectID: {"Group_child"}})
	dc, err := ad.Dial(t.Context(), adconfig.Options(srv.Config()))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	d := &resolve.ADDirectory{GC: emptyGC{}, DC: dc, Base: "DC=test"}
	got, err := d.FindByAnchors(t.Context(), []string{"Group_child", "Group_absent"})
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := got["Group_child"]; !ok || !ldapdn.Equal(o.DN, "CN=child,DC=test") || len(got) != 1 {
		t.Fatalf("got %+v, want the child found on the DC only", got)
	}
}

package engine

import (
	"context"
	"strings"
	"testing"
)

// The select stage alone: the first sync compares every cached group; a
// targeted round only the groups asked for, consuming only their marks
// (a snapshot marks nothing: every group is compared anyway).
func TestSelectGroups(t *testing.T) {
	eng, _, _, _ := newLDAPTestEngine(t, "")
	if _, err := eng.Ingest(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	sel, err := eng.selectGroups(PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !sel.full || !strings.HasPrefix(sel.why, "first sync") || !sel.ids[idA] || !sel.ids[idB] {
		t.Fatalf("first sync: %+v", sel)
	}
	sel, err = eng.selectGroups(PlanOptions{Groups: []string{strings.ToUpper(idA)}})
	if err != nil {
		t.Fatal(err)
	}
	if sel.full || len(sel.ids) != 1 || !sel.ids[idA] || len(sel.consumed) != 0 {
		t.Fatalf("targeted: %+v", sel)
	}
}

package engine

import (
	"context"
	"testing"

	"github.com/writeback/writeback/internal/ldapdn"
)

// Provision on demand reports each step for one group, resolving its members
// against the directory; a dry run writes nothing, the real one creates the
// group with its member.
func TestProvisionReportsAndCreates(t *testing.T) {
	eng, dir, _, _ := newLDAPTestEngine(t, "")
	ctx := context.Background()
	r, err := eng.Provision(ctx, idA, true)
	if err != nil {
		t.Fatal(err)
	}
	if !r.InScope || r.MatchedDN != "" || len(r.Members) != 1 || !ldapdn.Equal(r.Members[0].DN, uDN) || r.Applied != nil {
		t.Fatalf("dry run report: %+v", r)
	}
	if n := len(dir.groups(t)); n != 0 {
		t.Fatalf("dry run wrote %d groups", n)
	}
	if r, err = eng.Provision(ctx, idA, false); err != nil || r.Applied == nil || r.Applied.Failed != 0 {
		t.Fatalf("provision: %v %+v", err, r)
	}
	g := dir.get(t, "CN=G a_00000000000a,OU=G,DC=test")
	if g == nil || len(g.Members) != 1 || !ldapdn.Equal(g.Members[0], uDN) {
		t.Fatalf("group in AD after provision: %+v", g)
	}
}

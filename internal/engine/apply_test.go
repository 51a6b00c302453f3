package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/ldapdn"
)

// A child group whose create fails is left out of its parent's member add
// (the add carries the create in Change.Requires): the parent gets its
// other members and is not failed for its child's problem.
func TestParentSkipsAChildWhoseCreateFailed(t *testing.T) {
	src := memTenant(idA, idB)
	b := src.groups[idB]
	b.MembersDelta = append(b.MembersDelta, entra.MemberRef{ID: idA, Type: "group"})
	src.groups[idB] = b
	childDN := "CN=G 000a_00000000000a,OU=G,DC=test"
	fc := &failCreate{dns: map[string]bool{strings.ToLower(childDN): true}}
	eng, dir, db := newLDAPEngineWrapped(t, src, "sync: {workers: 1}", func(d Directory) Directory { fc.Directory = d; return fc })
	res, err := eng.RunOnce(context.Background(), RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var requires []string
	for _, c := range res.Planned.Plan.Changes {
		if c.GroupID == idB && c.Action == "add-members" {
			requires = c.Requires
		}
	}
	if len(requires) != 1 || requires[0] != idA {
		t.Fatalf("parent's member add requires %v; want the child %s", requires, idA)
	}
	if res.Applied.Failed != 1 {
		t.Errorf("failed groups = %d; want 1 (the child only)", res.Applied.Failed)
	}
	stB, _ := db.Status(idB)
	if stB.DN == "" || stB.Failures != 0 {
		t.Fatalf("parent status = %+v; want provisioned, not failed", stB)
	}
	g := dir.get(t, stB.DN)
	if g == nil || len(g.Members) != 1 || !ldapdn.Equal(g.Members[0], uDN) {
		t.Errorf("parent in AD = %+v; want only the user as member", g)
	}
	if stA, _ := db.Status(idA); stA.Failures != 1 {
		t.Errorf("child status = %+v; want one failure", stA)
	}
}

package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/entra"
)

// TestManySameNamesCheckFallbacksInBatches: groups sharing a display name
// need the suffixed sAMAccountName fallbacks; those are checked in batches
// too, not with one search per group, and every group still gets a unique
// name.
func TestManySameNamesCheckFallbacksInBatches(t *testing.T) {
	eng, dir, src, _ := newLDAPTestEngine(t, "")
	dir.put(ad.Group{DN: "CN=foreign,DC=test", SAMAccountName: "Team"})
	for i := range 60 {
		id := fmt.Sprintf("bbbbbbbb-0000-0000-0000-%012d", i)
		name := "Team"
		if i%3 == 0 {
			name = fmt.Sprintf("Crew %d", i%2) // two more names, each shared by many groups
		}
		src.groups[id] = entra.Group{ID: id, DisplayName: name, SecurityEnabled: true}
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
	if len(sams) != len(dir.groups(t)) || !sams["Crew 0"] || !sams["Crew 1"] || !sams["Team_0001"] {
		t.Errorf("names: %v", sams)
	}
	if res.LDAP.Searches > 10 {
		t.Errorf("%d searches for 60 creates sharing 3 names; fallbacks should be checked in batches", res.LDAP.Searches)
	}
}

package ad_test

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/lab/labtest"
)

// The protected-nesting check runs every round that reads groups: its cost
// must not grow with the groups writeback owns or with the protected groups
// of the domain. With 300 anchored groups, two of them nested (one through an
// intermediate group, one directly) in a protected group, one of those also
// in a second protected group, it finds exactly the groups, with the same
// reasons, as the in-chain search per protected group, in one search for the
// protected groups plus one per level of nesting below them.
func TestLabNestedInProtectedSearches(t *testing.T) {
	l := labtest.AD(t)
	ctx := context.Background()
	adm := l.AdminConn(t)
	rootA, rootB, mid := "CN=NP Root A,"+l.OU, "CN=NP Root B,"+l.OU, "CN=NP Mid,"+l.OU
	for _, dn := range []string{rootA, rootB} {
		if err := adm.CreateGroup(ctx, dn, map[string][]string{"adminCount": {"1"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := adm.CreateGroup(ctx, mid, nil); err != nil {
		t.Fatal(err)
	}
	const n = 300
	dn := func(i int) string { return fmt.Sprintf("CN=NP%03d,%s", i, l.OU) }
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := l.AdminConn(t)
			for i := w; i < n; i += 4 {
				if err := c.CreateGroup(ctx, dn(i), map[string][]string{ad.AttrExternalDirectoryObjectID: {fmt.Sprintf("Group_%s-0000-4000-8000-%012d", l.Tag, i)}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for parent, members := range map[string][]string{rootA: {mid, dn(9)}, mid: {dn(7)}, rootB: {dn(7)}} {
		if err := adm.AddMembers(ctx, parent, members); err != nil {
			t.Fatal(err)
		}
	}
	c := l.Conn(t) // svc-writeback, as the engine reads
	ref, err := ad.NestedInProtectedInChain(ctx, c, l.BaseDN, l.OU)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) != 2 {
		t.Fatalf("reference (in-chain per protected group) found %v; want 2 groups", ref)
	}
	for _, base := range []string{l.OU, l.BaseDN} {
		s0, t0 := c.Searches(), time.Now()
		got, err := ad.NestedInProtected(ctx, c, l.BaseDN, base)
		searches, took := c.Searches()-s0, time.Since(t0)
		if err != nil {
			t.Fatal(err)
		}
		if base == l.OU && !maps.Equal(got, ref) {
			t.Errorf("base %s: got %v\nwant %v", base, got, ref)
		}
		for k, v := range ref {
			if got[k] != v {
				t.Errorf("base %s: %s: %q, want %q", base, k, got[k], v)
			}
		}
		// The protected groups; the groups directly in them (mid, NP009,
		// NP007, and the protected groups already known, e.g. Domain Admins
		// in Administrators); those in mid, NP009 and NP007 (NP007 again,
		// nothing new): 3, whatever the number of groups or protected groups.
		if searches != 3 {
			t.Errorf("base %s: %d searches, want 3 (protected groups, then one per nesting level)", base, searches)
		}
		s1, t1 := c.Searches(), time.Now()
		if _, err := ad.NestedInProtectedInChain(ctx, c, l.BaseDN, base); err != nil {
			t.Fatal(err)
		}
		t.Logf("base %s, %d anchored groups: walk %d searches in %s; in-chain per protected group %d searches in %s",
			base, n, searches, took.Round(time.Millisecond), c.Searches()-s1, time.Since(t1).Round(time.Millisecond))
	}
}

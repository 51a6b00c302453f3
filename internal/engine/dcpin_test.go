package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// twoDCs starts two simulated DCs of DC=test (no replication unless the
// test calls Replicate) and a connection listing both in ad.servers.
func twoDCs(t *testing.T) (dc1, dc2 *ldaptest.Server, c *ad.Conn) {
	t.Helper()
	dc1 = ldaptest.Start(t, ldaptest.Options{BaseDN: "DC=test", DSA: "DC1"})
	dc2 = ldaptest.Start(t, ldaptest.Options{BaseDN: "DC=test", DSA: "DC2"})
	for _, s := range []*ldaptest.Server{dc1, dc2} {
		s.Put("OU=G,DC=test", map[string][]string{"objectClass": {"organizationalUnit"}})
	}
	o := adconfig.Options(dc1.Config())
	o.URL, o.GCURL, o.Servers = "", "", []string{dc1.URL(), dc2.URL()}
	c, err := ad.Dial(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return dc1, dc2, c
}

func anchored(s *ldaptest.Server, id string) []string {
	return s.DNs("OU=G,DC=test", ad.AttrExternalDirectoryObjectID, plan.Anchor(id))
}

// Issue #20: DC1 fails mid-round → the round stops without writing on DC2;
// the next round works on DC2 after a full read, creates what is new there,
// and does not re-create the group it wrote on DC1 moments before (DC2 has
// not received it yet); once replication brings it, no duplicate exists.
func TestFailoverToAnotherDCWithoutDuplicates(t *testing.T) {
	dc1, dc2, c := twoDCs(t)
	mem := newMemCatalog()
	mem.users[uGUID] = uDN // alice, the tenant's member, found by the GC
	src := memTenant(idA)
	eng, db := newEngineOn(t, c, mem, src, "sync: {workers: 1}")
	ctx := context.Background()
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := anchored(dc1, idA); len(got) != 1 {
		t.Fatalf("round 1: group A on DC1 = %v", got)
	}
	if v, _ := db.PinnedDC(); !strings.Contains(strings.ToLower(v.DSServiceName), "cn=dc1") {
		t.Fatalf("recorded DC %+v, want DC1", v)
	}

	// DC1 goes down; group B is new in Entra.
	dc1.Stop()
	src.change(entra.Group{ID: idB, DisplayName: "G 000b", SecurityEnabled: true, MembersDelta: []entra.MemberRef{{ID: "u1", Type: "user"}}})
	_, err := eng.RunOnce(ctx, RoundOptions{})
	if !IsDCChanged(err) {
		t.Fatalf("round 2 on a dead DC1: %v, want the round stopped for a DC change", err)
	}
	if got := anchored(dc2, idB); len(got) != 0 {
		t.Fatalf("round 2 wrote B on DC2 after the move: %v", got)
	}

	// Next round: full read on DC2; B created there, A held (DC2 lacks it
	// only because replication has not brought it yet).
	res, err := eng.RunOnce(ctx, RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Planned.Full || res.Planned.Preconditions.DC == nil || res.Planned.Preconditions.DC.Name() != "dc2.contoso.test" {
		t.Fatalf("round 3: full=%v dc=%v, want a full round on DC2", res.Planned.Full, res.Planned.Preconditions.DC)
	}
	if got := anchored(dc2, idB); len(got) != 1 || len(dc2.Values(got[0], "member")) != 1 {
		t.Fatalf("round 3: B on DC2 = %v", got)
	}
	if got := anchored(dc2, idA); len(got) != 0 {
		t.Fatalf("round 3 re-created A on DC2 before replication: %v", got)
	}
	if dc, moved, _ := DCStatus(db); dc != "DC2" || !strings.Contains(moved, "moved to DC2") {
		t.Fatalf("status: dc %q, %q; want DC2 and the move", dc, moved)
	}

	// DC1 back; replication both ways. Rounds stay on DC2 and nothing is
	// duplicated anywhere; members exact.
	dc1.Restart()
	dc1.Replicate(dc2, "OU=G,DC=test")
	dc2.Replicate(dc1, "OU=G,DC=test")
	for range 2 {
		if _, err := eng.RunOnce(ctx, RoundOptions{PlanOptions: PlanOptions{Full: true}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*ldaptest.Server{dc1, dc2} {
		for _, id := range []string{idA, idB} {
			got := anchored(s, id)
			if len(got) != 1 {
				t.Fatalf("%s on %s: %v, want exactly one group", id, s.URL(), got)
			}
			if m := s.Values(got[0], "member"); len(m) != 1 || !ldapdn.Equal(m[0], uDN) {
				t.Fatalf("%s on %s members %v", id, s.URL(), m)
			}
		}
	}
	if c.URL() != dc2.URL() {
		t.Fatalf("moved back to %s after DC1 returned; want to stay on DC2", c.URL())
	}
}

// A plan saved on DC1 is refused on DC2, by name.
func TestSavedPlanRefusedOnAnotherDC(t *testing.T) {
	dc1, dc2, c := twoDCs(t)
	mem := newMemCatalog()
	mem.users[uGUID] = uDN // alice, the tenant's member, found by the GC
	src := memTenant(idA)
	eng, _ := newEngineOn(t, c, mem, src, "sync: {workers: 1}")
	ctx := context.Background()
	p, err := eng.Plan(ctx, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Preconditions.DC == nil || p.Preconditions.DC.Name() != "dc1.contoso.test" {
		t.Fatalf("plan records DC %v", p.Preconditions.DC)
	}
	o := adconfig.Options(dc2.Config())
	c2, err := ad.Dial(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	eng2, _ := newEngineOn(t, c2, mem, src, "sync: {workers: 1}")
	err = eng2.CheckStale(ctx, p)
	if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "dc1.contoso.test") || !strings.Contains(err.Error(), "dc2.contoso.test") {
		t.Fatalf("saved plan on another DC: %v", err)
	}
	_ = dc1
}

// A CNF duplicate (two DCs created the group before replicating) is
// reconciled: the copy with the members is managed, the other reported, and
// the group is no longer "left alone".
func TestConflictCopyKeepsTheOneWithMembers(t *testing.T) {
	dc1, _, c := twoDCs(t)
	mem := newMemCatalog()
	mem.users[uGUID] = uDN // alice, the tenant's member, found by the GC
	src := memTenant(idA)
	eng, db := newEngineOn(t, c, mem, src, "sync: {workers: 1}")
	ctx := context.Background()
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	dn := anchored(dc1, idA)[0]
	rdn, parent, _ := strings.Cut(dn, ",")
	cnf := rdn + `\0ACNF:0f0f0f0f-0000-4000-8000-000000000001,` + parent
	dc1.Put(cnf, map[string][]string{"objectClass": {"top", "group"}, "groupType": {"-2147483640"},
		ad.AttrExternalDirectoryObjectID: {plan.Anchor(idA)}, "objectGUID": {string(make([]byte, 16))}})
	res, err := eng.RunOnce(ctx, RoundOptions{PlanOptions: PlanOptions{Full: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ge := range res.Planned.Errors {
		if strings.Contains(ge.Error, "two AD groups") {
			t.Fatalf("conflict copy not reconciled: %v", ge.Error)
		}
	}
	if m := dc1.Values(dn, "member"); len(m) != 1 {
		t.Fatalf("kept group members %v", m)
	}
	if st, _ := db.Status(idA); !ldapdn.Equal(st.DN, dn) {
		t.Fatalf("status DN %q, want the copy with the members %q", st.DN, dn)
	}
}

// A replication-conflict copy is recognised by its parsed first RDN: an
// escaped comma before the CNF mark does not hide it, and a name that only
// spells the escape (an escaped backslash) or a parent that carries it is
// not one.
func TestIsConflictCopyParsesTheRDN(t *testing.T) {
	for _, tc := range []struct {
		dn   string
		want bool
	}{
		{`CN=Sales\0ACNF:0f0f0f0f-0000-4000-8000-000000000001,OU=G,DC=test`, true},
		{`cn=Sales\0acnf:0f0f0f0f-0000-4000-8000-000000000001,ou=G,dc=test`, true},
		{"CN=Sales\nCNF:0f0f0f0f-0000-4000-8000-000000000001,OU=G,DC=test", true}, // a raw line feed, as some tools print it
		{`CN=Sales\, EMEA\0ACNF:0f0f0f0f-0000-4000-8000-000000000001,OU=G,DC=test`, true},
		{`CN=Sales\2C EMEA\0ACNF:0f0f0f0f-0000-4000-8000-000000000001,OU=G,DC=test`, true},
		{`CN=Sales\0ACNF:0f0f0f0f-0000-4000-8000-000000000001,OU=G"x,DC=test`, true}, // a parent that does not parse
		{`CN=Sales,OU=G,DC=test`, false},
		{`CN=Sales\, EMEA,OU=G,DC=test`, false},
		{`CN=Sales\\0ACNF:0f0f0f0f-0000-4000-8000-000000000001,OU=G,DC=test`, false}, // a backslash, then the text 0ACNF:
		{`CN=Sales,OU=G\0ACNF:0f0f0f0f-0000-4000-8000-000000000001,DC=test`, false},  // the parent's name, not this group's
	} {
		if got := isConflictCopy(tc.dn); got != tc.want {
			t.Errorf("isConflictCopy(%q) = %v, want %v", tc.dn, got, tc.want)
		}
	}
}

// Issue #20, done-when: a round-robin ad.servers list never produces a
// duplicate over 200 creates. The two DCs never replicate while the groups
// are created (the worst lag), and every 20 new groups the DC rounds work
// on goes down and the other comes back, so rounds keep moving between
// them. Each group must be created exactly once across both DCs (a second
// create would be a CNF duplicate once they replicate).
func TestRoundRobinServers200CreatesNoDuplicate(t *testing.T) {
	dc1, dc2, c := twoDCs(t)
	mem := newMemCatalog()
	mem.users[uGUID] = uDN // alice, the tenant's member, found by the GC
	src := memTenant()
	eng, db := newEngineOn(t, c, mem, src, "sync: {workers: 4}")
	ctx := context.Background()
	id := func(i int) string { return fmt.Sprintf("bbbbbbbb-0000-4000-8000-%012d", i) }
	other := map[*ldaptest.Server]*ldaptest.Server{dc1: dc2, dc2: dc1}
	cur := dc1
	down := map[*ldaptest.Server]bool{}
	for batch := range 10 {
		for i := batch * 20; i < (batch+1)*20; i++ {
			src.change(entra.Group{ID: id(i), DisplayName: fmt.Sprintf("RR %03d", i), SecurityEnabled: true, MembersDelta: []entra.MemberRef{{ID: "u1", Type: "user"}}})
		}
		for range 3 {
			if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil && !IsDCChanged(err) {
				t.Fatalf("batch %d: %v", batch, err)
			}
		}
		// The DC in use fails; the other is back.
		if down[other[cur]] {
			other[cur].Restart()
			down[other[cur]] = false
		}
		cur.Stop()
		down[cur] = true
		cur = other[cur]
	}
	other[cur].Restart()
	dc1.Replicate(dc2, "OU=G,DC=test")
	dc2.Replicate(dc1, "OU=G,DC=test")
	for range 2 {
		if _, err := eng.RunOnce(ctx, RoundOptions{PlanOptions: PlanOptions{Full: true}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := dc1.Stats().Adds + dc2.Stats().Adds; n != 200 {
		t.Fatalf("%d creates over both DCs (DC1 %d, DC2 %d), want 200: a group was created twice", n, dc1.Stats().Adds, dc2.Stats().Adds)
	}
	for i := range 200 {
		for _, s := range []*ldaptest.Server{dc1, dc2} {
			got := anchored(s, id(i))
			if len(got) != 1 || len(s.Values(got[0], "member")) != 1 {
				t.Fatalf("group %d on %s: %v", i, s.URL(), got)
			}
		}
	}
	if d, _ := db.Dirty(); len(d) != 0 {
		t.Fatalf("%d groups still pending", len(d))
	}
}

// newEngineOn is an engine on dc (Global Catalog answers from gc), with a
// new state database.
func newEngineOn(t *testing.T, dc Directory, gc Catalog, src *memSource, extraYAML string) (*Engine, *state.DB) {
	t.Helper()
	db, err := state.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return engineOnDB(t, dc, gc, src, db, extraYAML), db
}

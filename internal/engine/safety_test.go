package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/plan"
)

// D2: Domain Admins given a cloud group's anchor is not renamed, retyped or
// emptied, in an incremental and a full round, and the skip says why.
func TestProtectedGroupUntouched(t *testing.T) {
	eng, dir, _, db := newLDAPTestEngine(t, "")
	ctx := context.Background()
	daDN := "CN=Domain Admins,CN=Users,DC=test"
	admin := "CN=Administrator,CN=Users,DC=test"
	dir.put(ad.Group{DN: daDN, CN: "Domain Admins", Anchor: plan.Anchor(idA),
		SID: "S-1-5-21-1-2-3-512", GroupType: -2147483646, Description: "Designated administrators of the domain",
		Members: []string{admin}, USNChanged: 5,
		Attrs: map[string][]string{"isCriticalSystemObject": {"TRUE"}, "adminCount": {"1"}}})
	for _, o := range []RoundOptions{{}, {PlanOptions: PlanOptions{Full: true}}} {
		res, err := eng.RunOnce(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		var skip *plan.Collision
		for i, c := range res.Planned.Plan.Collisions {
			if c.GroupID == idA {
				skip = &res.Planned.Plan.Collisions[i]
			}
		}
		if skip == nil || skip.Kind != plan.SkipProtected || !strings.Contains(skip.Reason, "isCriticalSystemObject, well-known RID 512, adminCount=1") {
			t.Errorf("full=%v: skip = %+v", o.Full, skip)
		}
	}
	g := dir.get(t, daDN)
	if g == nil || g.USNChanged != 5 || g.GroupType != -2147483646 || len(g.Members) != 1 || g.Members[0] != admin || g.DisplayName != "" {
		t.Errorf("Domain Admins changed: %+v", g)
	}
	for _, g := range dir.groups(t) {
		if strings.EqualFold(g.Anchor, plan.Anchor(idA)) && g.DN != daDN {
			t.Errorf("a second group with the anchor was created: %s", g.DN)
		}
	}
	if st, _ := db.Status(idA); st.DN != "" || !st.QuarantinedUntil.IsZero() || !strings.HasPrefix(st.LastError, "skipped (protected): ") {
		t.Errorf("protected group recorded as writeback's, quarantined, or not reported in status: %+v", st)
	}
}

// flakyDir is a directory whose writes fail with a network error once down.
type flakyDir struct {
	Directory
	down   atomic.Bool
	writes atomic.Int64
}

var errNet = ldap.NewError(ldap.ErrorNetwork, errors.New("ldap: connection closed"))

func (d *flakyDir) CreateGroup(ctx context.Context, dn string, a map[string][]string) error {
	if d.writes.Add(1) > 1 {
		d.down.Store(true) // the DC goes away after the first write
	}
	if d.down.Load() {
		return &ad.OpError{Op: "create group", DN: dn, Err: errNet}
	}
	return d.Directory.CreateGroup(ctx, dn, a)
}

func (d *flakyDir) AddMembers(ctx context.Context, dn string, m []string) error {
	if d.down.Load() {
		return &ad.OpError{Op: "add members", DN: dn, Err: errNet}
	}
	return d.Directory.AddMembers(ctx, dn, m)
}

// D9: the DC going away mid-apply fails the round; no group is quarantined
// and every group is still pending, so the round after the DC is back
// converges at once.
func TestDCOutageQuarantinesNobody(t *testing.T) {
	dir := &flakyDir{}
	src := memTenant(idA, idB)
	eng, mem, db := newLDAPEngineWrapped(t, src, "sync: {workers: 1}", func(d Directory) Directory { dir.Directory = d; return dir })
	ctx := context.Background()
	res, err := eng.RunOnce(ctx, RoundOptions{})
	if err == nil || !strings.Contains(err.Error(), "connection to the domain controller failed") {
		t.Fatalf("round with the DC gone: err = %v", err)
	}
	if res.Applied == nil || res.Applied.Failed != 0 {
		t.Errorf("applied = %+v", res.Applied)
	}
	for _, id := range []string{idA, idB} {
		st, _ := db.Status(id)
		if !st.QuarantinedUntil.IsZero() || st.Failures != 0 {
			t.Errorf("group %s quarantined for the DC's outage: %+v", id, st)
		}
	}
	// The first sync is a full round: it stays pending as a whole.
	if pending, _ := db.FullPending(); pending == "" {
		t.Errorf("the full round is no longer pending after the outage")
	}

	// The DC is back: the next round converges.
	dir.down.Store(false)
	dir.writes.Store(-100)
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range mem.groups(t) {
		if len(g.Members) == 1 && g.Members[0] == uDN {
			n++
		}
	}
	if n != 2 || len(mem.groups(t)) != 2 {
		t.Errorf("after the DC is back: %d groups with their member, %d groups", n, len(mem.groups(t)))
	}
}

func TestConnectionLost(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&ad.OpError{Op: "add members", Err: errNet}, true},
		{&ad.OpError{Op: "add members", Code: 52, Err: ldap.NewError(52, errors.New("unavailable"))}, true},
		{&ad.OpError{Op: "add members", Code: 51, Err: ldap.NewError(51, errors.New("busy"))}, true},
		{ldap.NewError(ldap.LDAPResultServerDown, errors.New("down")), true},
		{context.DeadlineExceeded, true},
		{&ad.OpError{Op: "create group", Code: 21, Err: ldap.NewError(21, errors.New("invalid syntax"))}, false},
		{&ad.OpError{Op: "create group", Code: 68, Err: ldap.NewError(68, errors.New("exists"))}, false},
	} {
		if got := connectionLost(c.err); got != c.want {
			t.Errorf("connectionLost(%v) = %v", c.err, got)
		}
	}
}

// memTenant is a tenant whose groups have the user alice as their member.
func memTenant(ids ...string) *memSource {
	src := &memSource{groups: map[string]entra.Group{}}
	// Synced from AD (onPremisesSyncEnabled), or the resolver refuses her.
	src.users = []entra.User{{ID: "u1", UserPrincipalName: "alice@test", OnPremisesObjectIdentifier: uGUID, OnPremisesSyncEnabled: yes()}}
	for _, id := range ids {
		src.groups[id] = entra.Group{ID: id, DisplayName: "G " + id[len(id)-4:], SecurityEnabled: true, MembersDelta: []entra.MemberRef{{ID: "u1", Type: "user"}}}
	}
	return src
}

// The share of the default threshold ("500 or 5%") is of every group
// writeback owns, also in an incremental round that reads only the groups
// it deletes: 2 of 40 (5 %) go, 3 of 40 are blocked.
func TestDeleteShareCountsEveryOwnedGroup(t *testing.T) {
	var ids []string
	for i := range 40 {
		ids = append(ids, fmt.Sprintf("aaaaaaaa-0000-0000-0000-%012d", i))
	}
	src := memTenant(ids...)
	eng, mem, _ := newLDAPEngine(t, src, "")
	ctx := context.Background()
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil || len(mem.groups(t)) != 40 {
		t.Fatalf("first sync: %v, %d groups", err, len(mem.groups(t)))
	}
	for _, id := range ids[:2] {
		src.change(entra.Group{ID: id, Removed: &entra.Removed{Reason: "deleted"}})
	}
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil || len(mem.groups(t)) != 38 {
		t.Fatalf("2 of 40 deleted: %v, %d groups left", err, len(mem.groups(t)))
	}
	for _, id := range ids[2:5] {
		src.change(entra.Group{ID: id, Removed: &entra.Removed{Reason: "deleted"}})
	}
	res, err := eng.RunOnce(ctx, RoundOptions{})
	if !errors.Is(err, ErrBlocked) || len(mem.groups(t)) != 38 || !strings.Contains(res.Planned.Plan.BlockedReason, "3 of the 38 groups writeback owns") {
		t.Fatalf("3 of 38: %v, %d groups left", err, len(mem.groups(t)))
	}
}

// D3 (reliability review P3): a parentDistinguishedName mapping that puts a
// group outside sync.searchBase creates nothing and says why; the other
// groups go on.
func TestParentOutsideSearchBaseIsSkipped(t *testing.T) {
	src := memTenant(idA, idB)
	g := src.groups[idB]
	g.Description = "OU=Domain Controllers,DC=test" // the tenant chooses the OU
	src.groups[idB] = g
	eng, mem, db := newLDAPEngine(t, src, `
sync: {searchBase: "OU=G,DC=test"}
mappings: {attributes: {parentDistinguishedName: {expression: 'IIF(IsNullOrEmpty([description]), "OU=G,DC=test", [description])'}}}
`)
	res, err := eng.RunOnce(context.Background(), RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := skipOf(res.Planned.Plan, idB)
	if s == nil || s.Kind != plan.SkipOutside || !strings.Contains(s.Reason, "outside sync.searchBase OU=G,DC=test") || !strings.HasPrefix(s.DN, "CN=G 000b_") {
		t.Errorf("skip = %+v", s)
	}
	for _, g := range mem.groups(t) {
		if !ldapdn.Within(g.DN, "OU=G,DC=test") {
			t.Errorf("created outside the search base: %s", g.DN)
		}
	}
	if len(mem.groups(t)) != 1 {
		t.Errorf("%d groups created, want A only", len(mem.groups(t)))
	}
	if st, _ := db.Status(idB); !st.QuarantinedUntil.IsZero() || !strings.Contains(st.LastError, "outside sync.searchBase") {
		t.Errorf("status of B: %+v", st)
	}
}

// A parent planned without its child (an incremental round) does not nest
// a protected group that carries the child's anchor, and says why: the full
// round would not nest it either.
func TestProtectedChildIsNotNested(t *testing.T) {
	eng, dir, src, _ := newLDAPTestEngine(t, "")
	ctx := context.Background()
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	// idB's AD group is gone; Domain Admins carries its anchor.
	for _, g := range dir.groups(t) {
		if strings.EqualFold(g.Anchor, plan.Anchor(idB)) {
			if err := dir.dc.Delete(ctx, g.DN); err != nil {
				t.Fatal(err)
			}
		}
	}
	daDN := "CN=Domain Admins,CN=Users,DC=test"
	dir.srv.Put("CN=Users,DC=test", map[string][]string{"objectClass": {"top", "container"}})
	dir.put(ad.Group{DN: daDN, Anchor: plan.Anchor(idB), SID: "S-1-5-21-1-2-3-512", SAMAccountName: "Domain Admins", GroupType: ad.GroupTypeGlobalSecurity})
	// A's members now include B; only A is planned.
	src.change(entra.Group{ID: idA, DisplayName: "G a", SecurityEnabled: true, MembersDelta: []entra.MemberRef{{ID: idB, Type: "group"}}})
	res, err := eng.RunOnce(ctx, RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Planned.Plan.Changes {
		for _, m := range c.Members {
			if strings.EqualFold(m, daDN) {
				t.Errorf("Domain Admins nested into %s", c.GroupID)
			}
		}
	}
	var reasons []string
	for _, u := range res.Planned.Plan.Unresolved {
		for _, x := range u.Unresolved {
			reasons = append(reasons, x.Reason)
		}
	}
	if !strings.Contains(strings.Join(reasons, "|"), "protected (well-known RID 512)") {
		t.Errorf("unresolved = %v; changes %+v", reasons, res.Planned.Plan.Changes)
	}
	for _, g := range dir.groups(t) {
		if strings.EqualFold(g.Anchor, plan.Anchor(idA)) && slices.ContainsFunc(g.Members, func(m string) bool { return strings.EqualFold(m, daDN) }) {
			t.Errorf("AD: Domain Admins is a member of %s", g.DN)
		}
	}
}

func TestProtectedReason(t *testing.T) {
	for _, tt := range []struct {
		g    ad.Group
		want string
	}{
		{ad.Group{DN: "CN=Sales,OU=G,DC=test", SID: "S-1-5-21-1-2-3-1105"}, ""},
		{ad.Group{DN: "CN=Sales,OU=G,DC=test", SID: "S-1-5-21-1-2-3-1105", Attrs: map[string][]string{"adminCount": {"0"}, "isCriticalSystemObject": {"FALSE"}}}, ""},
		{ad.Group{DN: "CN=Domain Admins,CN=Users,DC=test", SID: "S-1-5-21-1-2-3-512", Attrs: map[string][]string{"isCriticalSystemObject": {"TRUE"}, "adminCount": {"1"}}}, "isCriticalSystemObject, well-known RID 512, adminCount=1"},
		{ad.Group{DN: "CN=Tier1,OU=G,DC=test", SID: "S-1-5-21-1-2-3-1200", Attrs: map[string][]string{"admincount": {"1"}}}, "adminCount=1"},
		{ad.Group{DN: "CN=Administrators,CN=Builtin,DC=test", SID: "S-1-5-32-544"}, "well-known RID 544, under CN=Builtin"},
		{ad.Group{DN: "CN=X,cn=BUILTIN,DC=test"}, "under CN=Builtin"},
	} {
		if got := protectedReason(tt.g); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.g.DN, got, tt.want)
		}
	}
}

// D15: when a create finds its DN taken after planning, the error says what
// holds it: an object without an anchor, or one carrying another anchor.
func TestCreateCollisionSaysWhatHoldsTheDN(t *testing.T) {
	for _, tt := range []struct{ holder, want string }{
		{"", "taken by an AD object without writeback's anchor"},
		{"Group_00000000-0000-0000-0000-000000000bad", "carrying another anchor, Group_00000000-0000-0000-0000-000000000bad"},
	} {
		eng, dir, _, _ := newLDAPTestEngine(t, "")
		ctx := context.Background()
		if _, err := eng.Ingest(ctx, false); err != nil {
			t.Fatal(err)
		}
		p, err := eng.Plan(ctx, PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dn := "CN=G a_00000000000a,OU=G,DC=test"
		dir.put(ad.Group{DN: dn, Anchor: tt.holder, USNChanged: 9})
		res, err := eng.Apply(ctx, p, ApplyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for _, e := range res.Errors {
			if e.GroupID == idA {
				got = e.Error
			}
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("holder %q: error %q, want it to contain %q", tt.holder, got, tt.want)
		}
		if g := dir.get(t, dn); g.USNChanged != 9 {
			t.Errorf("the holder was written: %+v", g)
		}
	}
}

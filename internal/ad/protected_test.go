package ad

import (
	"context"
	"encoding/binary"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// fakeDomain answers the searches NestedInProtected makes from a nesting
// graph: the protected-groups filter, memberOf=<dn> ORs, and (the
// fallback) in-chain searches. It counts searches.
type fakeDomain struct {
	groups   []fakeGroup // in the DC's result order
	searches int
	// rangedMemberOf returns memberOf of these groups as a first range only.
	rangedMemberOf map[string]bool
}

type fakeGroup struct {
	dn, anchor string
	adminCount bool
	memberOf   []string
}

func (d *fakeDomain) find(dn string) *fakeGroup {
	for i := range d.groups {
		if strings.EqualFold(d.groups[i].dn, dn) {
			return &d.groups[i]
		}
	}
	return nil
}

func (d *fakeDomain) inChain(g *fakeGroup, root string, seen map[string]bool) bool {
	for _, p := range g.memberOf {
		if strings.EqualFold(p, root) {
			return true
		}
		if !seen[p] {
			seen[p] = true
			if pg := d.find(p); pg != nil && d.inChain(pg, root, seen) {
				return true
			}
		}
	}
	return false
}

var memberOfClause = regexp.MustCompile(`\(memberOf=([^)]*)\)`)

func (d *fakeDomain) Search(ctx context.Context, base string, scope Scope, filter string, attrs []string, fn func(*ldap.Entry) error) error {
	d.searches++
	if m := inChainClause.FindStringSubmatch(filter); m != nil {
		return d.inChainSearch(base, m[1], fn)
	}
	parents := map[string]bool{}
	for _, m := range memberOfClause.FindAllStringSubmatch(filter, -1) {
		parents[strings.ToLower(m[1])] = true
	}
	if filter != protectedRootsFilter && len(parents) == 0 {
		return fmt.Errorf("unexpected filter %s", filter)
	}
	for i := range d.groups {
		g := &d.groups[i]
		ok := filter == protectedRootsFilter && g.adminCount && !strings.HasPrefix(g.anchor, "Group_")
		for _, p := range g.memberOf {
			ok = ok || parents[strings.ToLower(p)]
		}
		if !ok {
			continue
		}
		name := "memberOf"
		vals := g.memberOf
		if d.rangedMemberOf[g.dn] {
			name, vals = "memberOf;range=0-0", vals[:1]
		}
		if err := fn(ldap.NewEntry(g.dn, map[string][]string{AttrExternalDirectoryObjectID: {g.anchor}, name: vals})); err != nil {
			return err
		}
	}
	return nil
}

var inChainClause = regexp.MustCompile(`memberOf:` + InChainOID + `:=([^)]*)\)`)

// inChain answers the in-chain search of the reference: the anchored
// groups under base with root in their chain.
func (d *fakeDomain) inChainSearch(base, root string, fn func(*ldap.Entry) error) error {
	for i := range d.groups {
		g := &d.groups[i]
		if strings.HasPrefix(g.anchor, "Group_") && strings.HasSuffix(strings.ToLower(g.dn), strings.ToLower(base)) && d.inChain(g, root, map[string]bool{}) {
			if err := fn(ldap.NewEntry(g.dn, map[string][]string{AttrExternalDirectoryObjectID: {g.anchor}})); err != nil {
				return err
			}
		}
	}
	return nil
}

// The walk finds what the in-chain search per protected group finds, with
// the same reasons (the first protected group, in the DC's order, whose
// chain holds the group), through nesting cycles, across batches of 200,
// in one search per level, and only under base.
func TestNestedInProtectedWalk(t *testing.T) {
	const dom = "DC=x,DC=test"
	ou := "OU=Groups," + dom
	admins, das, ops := "CN=Administrators,CN=Builtin,"+dom, "CN=Domain Admins,CN=Users,"+dom, "CN=Backup Operators,CN=Builtin,"+dom
	mid, cyc := "CN=Mid,"+dom, "CN=Cycle,"+dom
	d := &fakeDomain{groups: []fakeGroup{
		{dn: admins, adminCount: true},
		{dn: ops, adminCount: true},
		{dn: das, adminCount: true, memberOf: []string{admins}},
		{dn: mid, memberOf: []string{das, cyc}},
		{dn: cyc, memberOf: []string{mid}}, // a nesting cycle
		{dn: "CN=A," + ou, anchor: "Group_a", memberOf: []string{mid}},
		{dn: "CN=B," + ou, anchor: "Group_B", memberOf: []string{ops}},
		{dn: "CN=Outside," + dom, anchor: "Group_out", memberOf: []string{das}},
		{dn: "CN=Owned Admin," + ou, anchor: "Group_own", adminCount: true, memberOf: []string{ops}}, // not a root
		{dn: "CN=Below Owned," + ou, anchor: "Group_below", memberOf: []string{"CN=Owned Admin," + ou}},
	}}
	for i := range 450 { // many anchored groups, none nested, and 450 nested in cyc: three batches
		d.groups = append(d.groups, fakeGroup{dn: fmt.Sprintf("CN=Plain%d,%s", i, ou), anchor: fmt.Sprintf("Group_p%d", i)})
		d.groups = append(d.groups, fakeGroup{dn: fmt.Sprintf("CN=N%d,%s", i, ou), anchor: fmt.Sprintf("Group_n%d", i), memberOf: []string{cyc}})
	}
	for i := range 450 { // and one below each of those
		d.groups = append(d.groups, fakeGroup{dn: fmt.Sprintf("CN=NN%d,%s", i, ou), anchor: fmt.Sprintf("Group_nn%d", i), memberOf: []string{fmt.Sprintf("CN=N%d,%s", i, ou)}})
	}
	ctx := context.Background()
	want, err := nestedInProtectedInChain(ctx, d, []string{admins, ops, das}, ou)
	if err != nil {
		t.Fatal(err)
	}
	d.searches = 0
	got, err := NestedInProtected(ctx, d, dom, ou)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(got) != 4+900 {
		t.Fatalf("got %d groups, in-chain %d; want 904 (A, B, Owned Admin, Below Owned and the 900 under Cycle)", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if !strings.Contains(got["group_a"], "protected group "+admins) || !strings.Contains(got["group_b"], "protected group "+ops) || got["group_out"] != "" {
		t.Errorf("reasons: a %q, b %q, outside %q", got["group_a"], got["group_b"], got["group_out"])
	}
	// The protected groups; in them: B, Owned Admin, Mid, Outside; in
	// those: Below Owned, A, Cycle; in those: N0..N449 (Mid again); in the
	// 450 N groups, 3 batches: NN0..NN449; in those, 3 batches: nothing.
	// 1+1+1+1+3+3 = 10, where in-chain would take one per protected group,
	// each evaluating every anchored group's chain.
	if d.searches != 10 {
		t.Errorf("%d searches, want 10", d.searches)
	}

	// A memberOf cut into ranges: the walk cannot tell every path, so it
	// asks the DC per protected group, with the same answer.
	d.rangedMemberOf = map[string]bool{"CN=A," + ou: true}
	d.groups[5].memberOf = []string{ops, mid} // first range holds ops only
	want, _ = nestedInProtectedInChain(ctx, d, []string{admins, ops, das}, ou)
	got, err = NestedInProtected(ctx, d, dom, ou)
	if err != nil || got["group_a"] != want["group_a"] || !strings.Contains(got["group_a"], admins) {
		t.Errorf("ranged memberOf: %q, want %q (%v)", got["group_a"], want["group_a"], err)
	}
}

// The DACL parser finds the Everyone deny ACE "Protect object from
// accidental deletion" adds, among allow and object ACEs.
func TestDeniedACEs(t *testing.T) {
	sid := func(s []byte) []byte { return s }
	everyone := sid([]byte{1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0})
	authUsers := sid([]byte{1, 1, 0, 0, 0, 0, 0, 5, 11, 0, 0, 0})
	ace := func(typ byte, mask uint32, s []byte, extra int) []byte {
		b := make([]byte, 8+extra, 8+extra+len(s))
		b[0] = typ
		binary.LittleEndian.PutUint32(b[4:8], mask)
		b = append(b, s...)
		binary.LittleEndian.PutUint16(b[2:4], uint16(len(b)))
		return b
	}
	aces := [][]byte{
		ace(0x05, 0x100, authUsers, 36), // an object allow ACE (flags + 2 GUIDs)
		ace(0x00, 0x20094, authUsers, 0),
		ace(0x01, rightDelete|rightDeleteTree, everyone, 0),
	}
	var body []byte
	for _, a := range aces {
		body = append(body, a...)
	}
	sd := make([]byte, 20+8)
	sd[0] = 1
	binary.LittleEndian.PutUint16(sd[2:4], 0x8004)
	binary.LittleEndian.PutUint32(sd[16:20], 20)
	sd[20] = 4
	binary.LittleEndian.PutUint16(sd[22:24], uint16(8+len(body)))
	binary.LittleEndian.PutUint16(sd[24:26], uint16(len(aces)))
	sd = append(sd, body...)
	got, err := deniedACEs(sd)
	if err != nil || len(got) != 1 || got[0].sid != everyoneSID || got[0].mask != rightDelete|rightDeleteTree {
		t.Errorf("deniedACEs = %+v, %v", got, err)
	}
	if _, err := deniedACEs(sd[:30]); err == nil {
		t.Error("a truncated descriptor parsed")
	}
}

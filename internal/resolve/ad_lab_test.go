package resolve

import (
	"context"
	"crypto/rand"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/ldapdn"
)

// TestLabConsistencyGUIDLookups: users are found by mS-DS-ConsistencyGuid
// both through OR filters (few values) and through one pass over the users
// carrying it (many values).
func TestLabConsistencyGUIDLookups(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 2, "cg")
	c := l.AdminConn(t)
	ctx := context.Background()
	var cg [2]ad.GUID
	for i, u := range users {
		_, _ = rand.Read(cg[i][:])
		if err := c.Modify(ctx, u.DN, map[string][]string{"mS-DS-ConsistencyGuid": {string(cg[i].AD())}}); err != nil {
			t.Fatal(err)
		}
	}
	d := &ADDirectory{GC: l.GC(t), DC: c, Base: l.BaseDN}
	for _, n := range []int{3, 450} {
		want := []string{cg[0].String(), cg[1].String()}
		for len(want) < n {
			var g ad.GUID
			_, _ = rand.Read(g[:])
			want = append(want, g.String())
		}
		got, err := d.FindByConsistencyGUIDs(ctx, want)
		if err != nil || len(got) != 2 || !ldapdn.Equal(got[cg[0].String()].DN, users[0].DN) || !ldapdn.Equal(got[cg[1].String()].DN, users[1].DN) {
			t.Errorf("%d values: FindByConsistencyGUIDs = %v, %v", n, got, err)
		}
	}
}

// TestLabNotPlainUsers: the DC answers, of the objects a full round's group
// read teaches, exactly those that are not plain users (computers, groups,
// inetOrgPersons, domain controllers, critical objects, adminCount=1), and a
// resolver that learned them all resolves SID-only users from that one
// answer: the plain user, and none of the others (docs/trust.md).
func TestLabNotPlainUsers(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 3, "np")
	admin := l.AdminConn(t)
	ctx := context.Background()
	if err := admin.Modify(ctx, users[1].DN, map[string][]string{"adminCount": {"1"}}); err != nil {
		t.Fatal(err)
	}
	add := func(rdn string, attrs map[string][]string) {
		dn := "CN=" + rdn + "," + l.OU
		if err := admin.Add(ctx, dn, attrs); err != nil {
			t.Fatalf("create %s: %v", dn, err)
		}
	}
	add("NPPC", map[string][]string{"objectClass": {"top", "person", "organizationalPerson", "user", "computer"},
		"sAMAccountName": {"NPPC-" + l.Tag + "$"}, "userAccountControl": {"4096"}})
	add("NPGroup", map[string][]string{"objectClass": {"top", "group"}, "sAMAccountName": {"NPGroup-" + l.Tag}})
	add("NPInet", map[string][]string{"objectClass": {"top", "person", "organizationalPerson", "user", "inetOrgPerson"},
		"sAMAccountName": {"NPInet-" + l.Tag}})

	// Every object with its identifiers, as a group read's member values give them.
	c := l.Conn(t)
	known := map[string]Known{} // lower-case DN -> identifiers
	read := func(base string, scope ad.Scope, filter string) {
		err := c.Search(ctx, base, scope, filter, ad.ObjectAttrs, func(e *ldap.Entry) error {
			o, err := ad.ObjectFromEntry(e)
			known[strings.ToLower(o.DN)] = Known{GUID: o.GUID.String(), SID: o.SID, DN: o.DN}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	read(l.OU, ad.ScopeOne, "(objectClass=*)")
	read("CN=Users,"+l.BaseDN, ad.ScopeOne, "(|(sAMAccountName=krbtgt)(sAMAccountName=Administrator)(sAMAccountName=Domain Admins))")
	if len(known) != 9 {
		t.Fatalf("read %d objects, want 9 (the test's 6 and 3 built-in ones): %v", len(known), known)
	}
	// The lab's domain controllers: one, or two with 'writeback-lab up --dcs 2'.
	read("OU=Domain Controllers,"+l.BaseDN, ad.ScopeOne, "(objectClass=computer)")
	if len(known) < 10 {
		t.Fatalf("read no domain controller account: %v", known)
	}
	plain := map[string]bool{strings.ToLower(users[0].DN): true, strings.ToLower(users[2].DN): true}

	d := &ADDirectory{GC: l.GC(t), DC: c, Base: l.BaseDN}
	var guids []string
	for _, k := range known {
		guids = append(guids, k.GUID)
	}
	got, err := d.NotPlainUsers(ctx, guids)
	if err != nil {
		t.Fatal(err)
	}
	for dn, k := range known {
		if _, ok := got[k.GUID]; ok == plain[dn] {
			t.Errorf("%s: returned %v, want %v", dn, ok, !plain[dn])
		}
	}

	// The resolver, after a full round's read, checks them in that one call.
	r := New(d)
	r.Forget()
	r.Learn(slices.Collect(maps.Values(known)))
	cloud := map[string]*User{}
	for dn, k := range known {
		if k.SID != "" {
			cloud[dn] = &User{ID: dn, Name: dn, SID: k.SID}
		}
	}
	res := resolveOne(t, r, cloud)
	for dn := range cloud {
		resolved := res["dn:"+known[dn].DN] != ""
		if resolved != plain[dn] {
			t.Errorf("%s: resolved %v (%q), want %v", dn, resolved, res[dn], plain[dn])
		}
	}
	if st := r.Stats(); st.Lookups != 1 || st.Asked["learnedClass"] != len(cloud) {
		t.Errorf("directory calls %d, asked %v: want one class check of %d objects", st.Lookups, st.Asked, len(cloud))
	}
}

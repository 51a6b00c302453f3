package ldaptest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/ldapdn"
)

func dial(t *testing.T, srv *ldaptest.Server) *ad.Conn {
	t.Helper()
	c, err := ad.Dial(context.Background(), adconfig.Options(srv.Config()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A group a client adds gets an objectGUID and an objectSid in the domain,
// as a DC gives them, so it can be found again by either (nested groups are
// resolved by GUID, SOA takeovers by SID); an OU gets a GUID and no SID.
func TestAddAssignsGUIDAndSID(t *testing.T) {
	ctx := context.Background()
	srv := ldaptest.Start(t, ldaptest.Options{})
	c := dial(t, srv)
	ou := "OU=G,DC=contoso,DC=test"
	if err := c.CreateOU(ctx, ou); err != nil {
		t.Fatal(err)
	}
	var sids []string
	var guids []ad.GUID
	for _, cn := range []string{"a", "b"} {
		dn := "CN=" + cn + "," + ou
		if err := c.CreateGroup(ctx, dn, map[string][]string{"sAMAccountName": {cn}}); err != nil {
			t.Fatal(err)
		}
		g, err := c.GroupByDN(ctx, dn, false)
		if err != nil {
			t.Fatal(err)
		}
		if g.GUID.IsZero() || !strings.HasPrefix(g.SID, srv.DomainSID()+"-") {
			t.Fatalf("%s: objectGUID %s objectSid %q, want a GUID and a SID in %s", dn, g.GUID, g.SID, srv.DomainSID())
		}
		sids, guids = append(sids, g.SID), append(guids, g.GUID)
	}
	if sids[0] == sids[1] || guids[0] == guids[1] {
		t.Fatalf("two groups share an identity: %v %v", sids, guids)
	}
	found, err := c.FindByGUIDs(ctx, guids[1:])
	if err != nil || len(found) != 1 || !strings.HasPrefix(found[guids[1]], "CN=b,") {
		t.Fatalf("find b by objectGUID: %v %v", found, err)
	}
	found2, err := c.FindBySIDs(ctx, sids[:1])
	if err != nil || len(found2) != 1 || !strings.HasPrefix(found2[sids[0]], "CN=a,") {
		t.Fatalf("find a by objectSid: %v %v", found2, err)
	}
	if sid := srv.Values(ou, "objectSid"); len(sid) != 0 {
		t.Errorf("an OU got an objectSid: %x", sid)
	}
	if g := srv.Values(ou, "objectGUID"); len(g) != 1 {
		t.Errorf("an OU has objectGUID %x, want one", g)
	}
}

// Binary values match byte for byte: two users whose objectGUIDs differ
// only in bytes over 0x7f (not UTF-8) are told apart.
func TestBinaryValuesMatchExactly(t *testing.T) {
	ctx := context.Background()
	srv := ldaptest.Start(t, ldaptest.Options{})
	base := "CN=Users,DC=contoso,DC=test"
	g1 := ad.GUID{0xa0, 0xb0, 0xc0, 0x80, 0xd0, 0xe0, 0x40, 0xf0, 0x80, 0x90, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0x80}
	g2 := g1
	g2[3], g2[15] = 0x81, 0x81
	for i, g := range []ad.GUID{g1, g2} {
		srv.Put("CN=u"+string(rune('1'+i))+","+base, map[string][]string{"objectClass": {"top", "user"}, "objectGUID": {string(g.AD())}})
	}
	found, err := dial(t, srv).FindByGUIDs(ctx, []ad.GUID{g2})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || !strings.HasPrefix(found[g2], "CN=u2,") {
		t.Fatalf("objectGUID %s found %v, want CN=u2 only", g2, found)
	}
	var dns []string
	err = dial(t, srv).Search(ctx, base, ad.ScopeSubtree, g1.Filter(), []string{"1.1"}, func(e *ldap.Entry) error {
		dns = append(dns, e.DN)
		return nil
	})
	if err != nil || len(dns) != 1 || !strings.HasPrefix(dns[0], "CN=u1,") {
		t.Fatalf("search %s: %v %v, want CN=u1 only", g1.Filter(), dns, err)
	}
}

// allowedAttributesEffective, asked for by name, lists what the account may
// write (the anchor and member on a group); on an object the account may
// not write it is absent, as AD leaves it out, and a modify answers 50.
func TestAllowedAttributesEffective(t *testing.T) {
	ctx := context.Background()
	srv := ldaptest.Start(t, ldaptest.Options{})
	c := dial(t, srv)
	open, closed := "CN=open,CN=Users,DC=contoso,DC=test", "CN=closed,CN=Users,DC=contoso,DC=test"
	for _, dn := range []string{open, closed} {
		if err := c.CreateGroup(ctx, dn, nil); err != nil {
			t.Fatal(err)
		}
	}
	srv.DenyWrites(closed)
	eff := map[string][]string{}
	err := c.Search(ctx, "CN=Users,DC=contoso,DC=test", ad.ScopeOne, "(objectClass=group)", []string{"allowedAttributesEffective"}, func(e *ldap.Entry) error {
		eff[e.DN] = e.GetAttributeValues("allowedAttributesEffective")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	has := func(vs []string, want string) bool {
		for _, v := range vs {
			if strings.EqualFold(v, want) {
				return true
			}
		}
		return false
	}
	if !has(eff[open], ad.AttrExternalDirectoryObjectID) || !has(eff[open], "member") {
		t.Errorf("allowedAttributesEffective of a writable group: %v", eff[open])
	}
	if v, ok := eff[closed]; !ok || len(v) != 0 {
		t.Errorf("allowedAttributesEffective of a read-only group: %v (entry returned: %v), want absent", v, ok)
	}
	// Not asked for by name (here: every attribute): not returned.
	e, err := c.SearchOne(ctx, open, []string{"*"})
	if err != nil || len(e.GetAttributeValues("allowedAttributesEffective")) != 0 {
		t.Errorf("allowedAttributesEffective with *: %v %v", e, err)
	}
	err = c.Modify(ctx, closed, map[string][]string{"description": {"x"}})
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
		t.Errorf("modify of a read-only group: %v, want 50 insufficientAccessRights", err)
	}
	if err := c.Modify(ctx, open, map[string][]string{"description": {"x"}}); err != nil {
		t.Errorf("modify of a writable group: %v", err)
	}
}

// Every object has distinguishedName: a filter on it finds the object (the
// DN compared as a DN, whatever its case and spacing), and it is returned
// when asked for.
func TestDistinguishedName(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{})
	srv.Put("CN=u1,CN=Users,DC=contoso,DC=test", map[string][]string{"objectClass": {"top", "user"}})
	srv.Put("CN=u2,CN=Users,DC=contoso,DC=test", map[string][]string{"objectClass": {"top", "user"}})
	var got []string
	err := dial(t, srv).Search(context.Background(), "", ad.ScopeSubtree, "(|(distinguishedName=cn=U2, cn=users,DC=contoso,DC=test)(distinguishedName=CN=nobody,DC=contoso,DC=test))",
		[]string{"distinguishedName"}, func(e *ldap.Entry) error {
			got = append(got, e.DN+"|"+e.GetAttributeValue("distinguishedName"))
			return nil
		})
	if err != nil || len(got) != 1 || got[0] != "CN=u2,CN=Users,DC=contoso,DC=test|CN=u2,CN=Users,DC=contoso,DC=test" {
		t.Fatalf("search by distinguishedName: %v %v", got, err)
	}
}

// A managedBy naming no object is refused, on add and on modify, as each DC
// answers it (Windows 32 noSuchObject, Samba 19 with its text); naming an
// object that exists it is stored.
func TestManagedByMustNameAnObject(t *testing.T) {
	for _, tc := range []struct {
		mode ldaptest.Mode
		code uint16
		diag string
	}{{ldaptest.ModeWindows, 32, ldaptest.DiagWindowsNoReferent}, {ldaptest.ModeSamba, 19, ldaptest.DiagSambaNoReferent}} {
		ctx := context.Background()
		srv := ldaptest.Start(t, ldaptest.Options{Mode: tc.mode})
		c := dial(t, srv)
		nobody := "CN=Nobody Here,CN=Users,DC=contoso,DC=test"
		err := c.CreateGroup(ctx, "CN=g1,CN=Users,DC=contoso,DC=test", map[string][]string{"managedBy": {nobody}})
		var le *ldap.Error
		if !errors.As(err, &le) || le.ResultCode != tc.code || !strings.Contains(le.Err.Error(), tc.diag) {
			t.Errorf("mode %d: add with managedBy naming no object: %v, want %d %s", tc.mode, err, tc.code, tc.diag)
		}
		if v := srv.Values("CN=g1,CN=Users,DC=contoso,DC=test", "objectClass"); len(v) != 0 {
			t.Errorf("mode %d: the refused group was added", tc.mode)
		}
		g2 := "CN=g2,CN=Users,DC=contoso,DC=test"
		if err := c.CreateGroup(ctx, g2, map[string][]string{"managedBy": {srv.Config().BindDN}}); err != nil {
			t.Fatalf("mode %d: add with managedBy naming the administrator: %v", tc.mode, err)
		}
		err = c.Modify(ctx, g2, map[string][]string{"managedBy": {nobody}})
		if !errors.As(err, &le) || le.ResultCode != tc.code {
			t.Errorf("mode %d: modify to a managedBy naming no object: %v, want %d", tc.mode, err, tc.code)
		}
		if v := srv.Values(g2, "managedBy"); len(v) != 1 || v[0] != srv.Config().BindDN {
			t.Errorf("mode %d: managedBy after the refused modify: %v", tc.mode, v)
		}
	}
}

// AD's bitwise matching rules on a flags attribute: BIT_AND (all bits) and
// BIT_OR (any bit), as writeback finds domain controller and trust accounts
// by userAccountControl.
func TestBitwiseMatchingRules(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{})
	srv.Put("CN=dc1,CN=Users,DC=contoso,DC=test", map[string][]string{"objectClass": {"top", "user", "computer"}, "userAccountControl": {"532480"}}) // SERVER_TRUST | TRUSTED_FOR_DELEGATION
	srv.Put("CN=alice,CN=Users,DC=contoso,DC=test", map[string][]string{"objectClass": {"top", "user"}, "userAccountControl": {"512"}})
	find := func(filter string) []string {
		var got []string
		err := dial(t, srv).Search(context.Background(), "DC=contoso,DC=test", ad.ScopeSubtree, filter, []string{"1.1"}, func(e *ldap.Entry) error {
			got = append(got, ldapdn.RDNValue(e.DN))
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		return got
	}
	for filter, want := range map[string]string{
		"(userAccountControl:1.2.840.113556.1.4.803:=8192)":                         "dc1",
		"(userAccountControl:1.2.840.113556.1.4.803:=8704)":                         "", // 8192|512: dc1 lacks 512
		"(userAccountControl:1.2.840.113556.1.4.804:=8704)":                         "alice,dc1",
		"(userAccountControl:1.2.840.113556.1.4.1941:=8192)":                        "", // not a bitwise rule
		"(&(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=8192)))": "Administrator,alice",
	} {
		got := find(filter)
		slices.Sort(got)
		if strings.Join(got, ",") != want {
			t.Errorf("%s = %v, want %q", filter, got, want)
		}
	}
}

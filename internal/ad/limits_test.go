package ad_test

import (
	"fmt"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
)

// These tests run against ldaptest, which enforces Windows' MaxPageSize=1000
// and MaxValRange=1500 (Samba enforces neither), to prove that paging and
// ranged retrieval really work.

func TestPagingUnderMaxPageSize(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{})
	ou := "OU=Groups,DC=contoso,DC=test"
	srv.Put(ou, map[string][]string{"objectClass": {"organizationalUnit"}})
	for i := 0; i < 2500; i++ {
		srv.Put(fmt.Sprintf("CN=g%04d,%s", i, ou), map[string][]string{"objectClass": {"top", "group"},
			ad.AttrExternalDirectoryObjectID: {fmt.Sprintf("Group_%04d", i)}})
	}
	cfg := srv.Config()
	cfg.PageSize = 5000 // asks for more than Windows gives
	c, err := ad.Dial(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// the server really enforces the limit: an unpaged search stops at 1000
	lc, err := ldap.DialURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	lc.Bind(cfg.BindDN, "secret")
	res, err := lc.Search(ldap.NewSearchRequest(ou, ldap.ScopeSingleLevel, 0, 0, 0, false, "(objectClass=group)", nil, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) || len(res.Entries) != 1000 {
		t.Fatalf("unpaged search: %d entries, err %v; want 1000 and sizeLimitExceeded", len(res.Entries), err)
	}

	seen := map[string]bool{}
	err = c.Groups(t.Context(), ou, "", ad.GroupQuery{}, func(g ad.Group) error {
		seen[g.Anchor] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if len(seen) != 2500 {
		t.Errorf("paged search returned %d distinct groups, want 2500", len(seen))
	}
	if st.MaxPageReturned > 1000 || st.PagedSearches < 3 {
		t.Errorf("server stats %+v: want pages of at most 1000 and at least 3 paged requests", st)
	}
}

func TestRangedMembersUnderMaxValRange(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{})
	ou := "OU=Groups,DC=contoso,DC=test"
	srv.Put(ou, map[string][]string{"objectClass": {"organizationalUnit"}})
	for _, n := range []int{0, 1, 1499, 1500, 1501, 3000, 4001} {
		var m []string
		for i := 0; i < n; i++ {
			m = append(m, fmt.Sprintf("CN=u%05d,OU=Users,DC=contoso,DC=test", i))
		}
		srv.Put(fmt.Sprintf("CN=g%d,%s", n, ou), map[string][]string{"objectClass": {"group"}, "member": m})
	}
	c, err := ad.Dial(t.Context(), srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, n := range []int{0, 1, 1499, 1500, 1501, 3000, 4001} {
		dn := fmt.Sprintf("CN=g%d,%s", n, ou)
		got, err := c.Members(t.Context(), dn)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n || (n > 0 && (got[0] != "CN=u00000,OU=Users,DC=contoso,DC=test" || got[n-1] != fmt.Sprintf("CN=u%05d,OU=Users,DC=contoso,DC=test", n-1))) {
			t.Errorf("Members(%s) = %d values, want %d in order", dn, len(got), n)
		}
	}
	// the same through a paged group search WithMembers
	total := 0
	err = c.Groups(t.Context(), ou, "", ad.GroupQuery{WithMembers: true}, func(g ad.Group) error {
		total += len(g.Members)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := 0 + 1 + 1499 + 1500 + 1501 + 3000 + 4001; total != want {
		t.Errorf("Groups(WithMembers) saw %d member values, want %d", total, want)
	}
	if st := srv.Stats(); st.MaxValsReturned > 1500 || st.RangedRequests < 5 {
		t.Errorf("server stats %+v: want at most 1500 values per response and ranged follow-ups", st)
	}
}

// TestMemberChangesWindowsCodes: Windows says 20 for an existing member and 16
// for an absent one; both mean "already done".
func TestMemberChangesWindowsCodes(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{})
	g := "CN=g,DC=contoso,DC=test"
	srv.Put(g, map[string][]string{"objectClass": {"group"}, "member": {"CN=a,DC=contoso,DC=test"}})
	cfg := srv.Config()
	cfg.MemberBatch = 2
	c, err := ad.Dial(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.AddMembers(t.Context(), g, []string{"CN=b,DC=contoso,DC=test", "CN=a,DC=contoso,DC=test", "CN=c,DC=contoso,DC=test"}); err != nil {
		t.Fatalf("add with one existing: %v", err)
	}
	if err := c.RemoveMembers(t.Context(), g, []string{"CN=x,DC=contoso,DC=test", "CN=a,DC=contoso,DC=test"}); err != nil {
		t.Fatalf("remove with one absent: %v", err)
	}
	got := srv.Values(g, "member")
	if len(got) != 2 || got[0] != "CN=b,DC=contoso,DC=test" || got[1] != "CN=c,DC=contoso,DC=test" {
		t.Errorf("members = %v, want b and c", got)
	}
}

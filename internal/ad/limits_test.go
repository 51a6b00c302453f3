package ad_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
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
	c, err := ad.Dial(t.Context(), adconfig.Options(cfg))
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
	c, err := ad.Dial(t.Context(), adconfig.Options(srv.Config()))
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

// TestMemberChangesAlreadyDone: Windows says 68 (00000562) for an existing
// member and 53 (00000561) for an absent one; Samba 68/53 with its own texts
// and 16 on an empty group. All of them mean "already done", in both modes,
// with and without the permissive-modify control.
func TestMemberChangesAlreadyDone(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mode       ldaptest.Mode
		permissive bool // the client should send the control and the server honour it
	}{
		{"windows", ldaptest.ModeWindows, true},
		{"samba", ldaptest.ModeSamba, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := ldaptest.Start(t, ldaptest.Options{Mode: tc.mode})
			g := "CN=g,DC=contoso,DC=test"
			srv.Put(g, map[string][]string{"objectClass": {"group"}, "member": {"CN=a,DC=contoso,DC=test"}})
			empty := "CN=empty,DC=contoso,DC=test"
			srv.Put(empty, map[string][]string{"objectClass": {"group"}})
			cfg := srv.Config()
			cfg.MemberBatch = 2
			c, err := ad.Dial(t.Context(), adconfig.Options(cfg))
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
			if err := c.RemoveMembers(t.Context(), empty, []string{"CN=x,DC=contoso,DC=test"}); err != nil {
				t.Fatalf("remove from an empty group: %v", err)
			}
			got := srv.Values(g, "member")
			if len(got) != 2 || got[0] != "CN=b,DC=contoso,DC=test" || got[1] != "CN=c,DC=contoso,DC=test" {
				t.Errorf("members = %v, want b and c", got)
			}
			st := srv.Stats()
			if tc.permissive && st.PermissiveModifies != st.Modifies {
				t.Errorf("%d of %d modifies sent permissive modify; want all (the DC lists it)", st.PermissiveModifies, st.Modifies)
			}
			// Windows honours it: no batch needed splitting (3 modifies of 2+1, 2 values, 1 value).
			if tc.permissive && st.Modifies != 4 {
				t.Errorf("%d modifies; want 4 (no batch split under permissive modify)", st.Modifies)
			}
		})
	}
}

// TestMemberRemovalRefusedByPolicy: Windows answers 53 for an absent member
// and also for a refusal by policy. A refusal must be an error naming the
// member, never counted as done, and the member stays in AD.
func TestMemberRemovalRefusedByPolicy(t *testing.T) {
	for _, mode := range []ldaptest.Mode{ldaptest.ModeWindows, ldaptest.ModeSamba} {
		srv := ldaptest.Start(t, ldaptest.Options{Mode: mode})
		g := "CN=g,DC=contoso,DC=test"
		a, b := "CN=a,DC=contoso,DC=test", "CN=b,DC=contoso,DC=test"
		srv.Put(g, map[string][]string{"objectClass": {"group"}, "member": {a, b}})
		srv.RefuseMember(g, a, ldaptest.Result{Code: 53, Msg: ldaptest.DiagPolicy})
		c, err := ad.Dial(t.Context(), adconfig.Options(srv.Config()))
		if err != nil {
			t.Fatal(err)
		}
		err = c.RemoveMembers(t.Context(), g, []string{a, b})
		if ad.Code(err) != ad.CodeUnwillingToPerform || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), "0000054F") {
			t.Errorf("mode %d: remove refused by policy: err = %v; want 53 naming member %s with the DC's diagnostic", mode, err, a)
		}
		if got := srv.Values(g, "member"); len(got) != 1 || got[0] != a {
			t.Errorf("mode %d: members = %v; want only %s left (b removed, a refused)", mode, got, a)
		}
		c.Close()
	}
}

// TestMemberBatchBusyRetried: a busy (51) or unavailable (52) DC is asked
// again after a pause, with the same batch, not split into single values.
func TestMemberBatchBusyRetried(t *testing.T) {
	ad.ShortenBusyBackoff(t)
	srv := ldaptest.Start(t, ldaptest.Options{})
	g := "CN=g,DC=contoso,DC=test"
	srv.Put(g, map[string][]string{"objectClass": {"group"}})
	c, err := ad.Dial(t.Context(), adconfig.Options(srv.Config()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var vals []string
	for i := range 8 {
		vals = append(vals, fmt.Sprintf("CN=u%d,DC=contoso,DC=test", i))
	}
	srv.Inject(ldaptest.Result{Code: 51, Msg: ldaptest.DiagBusy}, ldaptest.Result{Code: 52, Msg: "unavailable"})
	before := srv.Stats().Modifies
	if err := c.AddMembers(t.Context(), g, vals); err != nil {
		t.Fatalf("add after two busy answers: %v", err)
	}
	if n := srv.Stats().Modifies - before; n != 3 {
		t.Errorf("%d modifies; want 3 (two refused, one whole batch), not a split", n)
	}
	if got := srv.Values(g, "member"); len(got) != 8 {
		t.Errorf("%d members in AD, want 8", len(got))
	}
	// A DC that stays busy fails the batch once, not once per member.
	srv.Inject(slices.Repeat([]ldaptest.Result{{Code: 51, Msg: ldaptest.DiagBusy}}, 20)...)
	err = c.RemoveMembers(t.Context(), g, vals)
	if ad.Code(err) != ad.CodeBusy || strings.Count(err.Error(), "busy") < 1 || strings.Contains(err.Error(), "(member ") {
		t.Errorf("remove while busy: %v; want one busy error for the batch", err)
	}
}

// TestMemberBatchCapped: at most 5,000 values per modify, whatever the
// configuration says (the server answers 11 beyond, as Windows may).
func TestMemberBatchCapped(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{})
	g := "CN=g,DC=contoso,DC=test"
	srv.Put(g, map[string][]string{"objectClass": {"group"}})
	cfg := srv.Config()
	cfg.MemberBatch = 100000
	c, err := ad.Dial(t.Context(), adconfig.Options(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	vals := make([]string, 12000)
	for i := range vals {
		vals[i] = fmt.Sprintf("CN=u%05d,DC=contoso,DC=test", i)
	}
	if err := c.AddMembers(t.Context(), g, vals); err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.ModifyValues > ad.MaxMemberBatch || st.Modifies != 3 {
		t.Errorf("server stats %+v: want 3 modifies of at most %d values", st, ad.MaxMemberBatch)
	}
	if got := srv.Values(g, "member"); len(got) != len(vals) {
		t.Errorf("%d members, want %d", len(got), len(vals))
	}
}

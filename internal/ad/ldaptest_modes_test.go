package ad_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/ldapdn"
)

// These tests pin down how ldaptest imitates each DC, so the tests built on
// it keep testing what Windows (or Samba 4.17) really answers.

func rawConn(t *testing.T, srv *ldaptest.Server) *ldap.Conn {
	t.Helper()
	lc, err := ldap.DialURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lc.Close() })
	if err := lc.Bind(srv.Config().BindDN, "secret"); err != nil {
		t.Fatal(err)
	}
	return lc
}

// ldapAnswer is the result code and diagnostic of a go-ldap error (0, "" for nil).
func ldapAnswer(err error) (uint16, string) {
	var le *ldap.Error
	if errors.As(err, &le) {
		return le.ResultCode, le.Err.Error()
	}
	if err != nil {
		return 0, err.Error()
	}
	return 0, ""
}

func TestLdaptestMemberAnswers(t *testing.T) {
	for _, tc := range []struct {
		mode                   ldaptest.Mode
		exists, absent, empty  uint16
		existsDiag, absentDiag string
		permissiveHonoured     bool
	}{
		{ldaptest.ModeWindows, 68, 53, 53, "00000562", "00000561", true},
		{ldaptest.ModeSamba, 68, 53, 16, "already exists for target GUID", "doesn't exist for target GUID", false},
	} {
		srv := ldaptest.Start(t, ldaptest.Options{Mode: tc.mode})
		g, empty := "CN=g,DC=contoso,DC=test", "CN=e,DC=contoso,DC=test"
		a := "CN=a,DC=contoso,DC=test"
		srv.Put(g, map[string][]string{"objectClass": {"group"}, "member": {a}})
		srv.Put(empty, map[string][]string{"objectClass": {"group"}})
		lc := rawConn(t, srv)
		mod := func(dn string, add bool, ctrls ...ldap.Control) (uint16, string) {
			r := ldap.NewModifyRequest(dn, ctrls)
			if add {
				r.Add("member", []string{a})
			} else {
				r.Delete("member", []string{"CN=x,DC=contoso,DC=test"})
			}
			return ldapAnswer(lc.Modify(r))
		}
		if c, d := mod(g, true); c != tc.exists || !strings.Contains(d, tc.existsDiag) {
			t.Errorf("mode %d: add present member: %d %q", tc.mode, c, d)
		}
		if c, d := mod(g, false); c != tc.absent || !strings.Contains(d, tc.absentDiag) {
			t.Errorf("mode %d: delete absent member: %d %q", tc.mode, c, d)
		}
		if c, d := mod(empty, false); c != tc.empty {
			t.Errorf("mode %d: delete from an empty group: %d %q", tc.mode, c, d)
		}
		perm := ldap.NewControlString(ldaptest.PermissiveModifyOID, false, "")
		c1, _ := mod(g, true, perm)
		c2, _ := mod(g, false, perm)
		if honoured := c1 == 0 && c2 == 0; honoured != tc.permissiveHonoured {
			t.Errorf("mode %d: permissive modify answers %d/%d; honoured=%v, want %v", tc.mode, c1, c2, honoured, tc.permissiveHonoured)
		}
		// listed in the RootDSE by both (Samba lists it and ignores it)
		res, err := lc.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", []string{"supportedControl"}, nil))
		if err != nil || !strings.Contains(strings.Join(res.Entries[0].GetAttributeValues("supportedControl"), " "), ldaptest.PermissiveModifyOID) {
			t.Errorf("mode %d: RootDSE supportedControl lacks permissive modify: %v", tc.mode, err)
		}
	}
}

func TestLdaptestValuesPerModify(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{})
	g := "CN=g,DC=contoso,DC=test"
	srv.Put(g, map[string][]string{"objectClass": {"group"}})
	lc := rawConn(t, srv)
	vals := make([]string, 5001)
	for i := range vals {
		vals[i] = fmt.Sprintf("CN=u%d,DC=contoso,DC=test", i)
	}
	r := ldap.NewModifyRequest(g, nil)
	r.Add("member", vals)
	if c, d := ldapAnswer(lc.Modify(r)); c != 11 {
		t.Errorf("5,001 values: %d %q; want 11 adminLimitExceeded", c, d)
	}
	r = ldap.NewModifyRequest(g, nil)
	r.Add("member", vals[:5000])
	if c, d := ldapAnswer(lc.Modify(r)); c != 0 {
		t.Errorf("5,000 values: %d %q; want success", c, d)
	}
}

func TestLdaptestCNRules(t *testing.T) {
	for _, tc := range []struct {
		mode    ldaptest.Mode
		lf, len uint16
	}{
		{ldaptest.ModeWindows, 64, 19},
		{ldaptest.ModeSamba, 0, 19},
	} {
		srv := ldaptest.Start(t, ldaptest.Options{Mode: tc.mode})
		lc := rawConn(t, srv)
		add := func(cn string) uint16 {
			r := ldap.NewAddRequest("CN="+ldapdn.Escape(cn)+",DC=contoso,DC=test", nil)
			r.Attribute("objectClass", []string{"group"})
			c, _ := ldapAnswer(lc.Add(r))
			return c
		}
		if c := add("line\nfeed"); c != tc.lf {
			t.Errorf("mode %d: CN with a line feed: %d, want %d", tc.mode, c, tc.lf)
		}
		if c := add(strings.Repeat("x", 65)); c != tc.len {
			t.Errorf("mode %d: CN of 65 characters: %d, want %d", tc.mode, c, tc.len)
		}
		if c := add(strings.Repeat("x", 64)); c != 0 {
			t.Errorf("mode %d: CN of 64 characters: %d, want success", tc.mode, c)
		}
		// a rename follows the same rules
		r := ldap.NewModifyDNRequest("CN="+strings.Repeat("x", 64)+",DC=contoso,DC=test", "CN="+ldapdn.Escape("a\nb"), true, "")
		if c, _ := ldapAnswer(lc.ModifyDN(r)); c != tc.lf {
			t.Errorf("mode %d: rename to a CN with a line feed: %d, want %d", tc.mode, c, tc.lf)
		}
	}
}

func TestLdaptestInjectedAnswers(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{})
	g := "CN=g,DC=contoso,DC=test"
	srv.Put(g, map[string][]string{"objectClass": {"group"}, "member": {"CN=a,DC=contoso,DC=test"}})
	lc := rawConn(t, srv)
	srv.Inject(ldaptest.Result{Code: 51, Msg: ldaptest.DiagBusy}, ldaptest.Result{Code: 52, Msg: "unavailable"})
	srv.RefuseMember(g, "CN=a,DC=contoso,DC=test", ldaptest.Result{Code: 53, Msg: ldaptest.DiagPolicy})
	del := func() uint16 {
		r := ldap.NewModifyRequest(g, nil)
		r.Delete("member", []string{"CN=a,DC=contoso,DC=test"})
		c, _ := ldapAnswer(lc.Modify(r))
		return c
	}
	for i, want := range []uint16{51, 52, 53, 53} {
		if c := del(); c != want {
			t.Errorf("modify %d: %d, want %d", i, c, want)
		}
	}
	if got := srv.Values(g, "member"); len(got) != 1 {
		t.Errorf("refused removal changed the group: %v", got)
	}
}

// The full round's read (members with their GUIDs and SIDs through the
// extended DN control) under Windows' MaxValRange: every member of a
// 4,000-member group comes with its identifiers, in ranges of at most 1,500.
func TestExtendedDNMembersUnderMaxValRange(t *testing.T) {
	defer ad.SetMemberIDRange(5000)()
	srv := ldaptest.Start(t, ldaptest.Options{})
	ou := "OU=G,DC=contoso,DC=test"
	srv.Put(ou, map[string][]string{"objectClass": {"organizationalUnit"}})
	const n = 4000
	var members []string
	guids := map[string]ad.GUID{}
	for i := range n {
		dn := fmt.Sprintf("CN=u%05d,%s", i, ou)
		g, err := ad.ParseGUID(fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
		if err != nil {
			t.Fatal(err)
		}
		sid, err := ad.SIDToAD(fmt.Sprintf("S-1-5-21-1-2-3-%d", 2000+i))
		if err != nil {
			t.Fatal(err)
		}
		srv.Put(dn, map[string][]string{"objectClass": {"user"}, "objectGUID": {string(g.AD())}, "objectSid": {string(sid)}})
		members = append(members, dn)
		guids[strings.ToLower(dn)] = g
	}
	srv.Put("CN=big,"+ou, map[string][]string{"objectClass": {"group"}, ad.AttrExternalDirectoryObjectID: {"Group_big"}, "member": members})
	c, err := ad.Dial(t.Context(), adconfig.Options(srv.Config()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got ad.Group
	err = c.Groups(t.Context(), ou, "", ad.GroupQuery{WithMembers: true, MemberIDs: true}, func(g ad.Group) error {
		got = g
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.DN != "CN=big,"+ou || len(got.Members) != n || len(got.MemberIDs) != n {
		t.Fatalf("group %q: %d members, %d identifiers; want %d of each and a plain DN", got.DN, len(got.Members), len(got.MemberIDs), n)
	}
	for i, m := range got.Members {
		if strings.HasPrefix(m, "<") || got.MemberIDs[i].GUID != guids[strings.ToLower(m)] || got.MemberIDs[i].SID != fmt.Sprintf("S-1-5-21-1-2-3-%d", 2000+i) {
			t.Fatalf("member %d: %q %+v", i, m, got.MemberIDs[i])
		}
	}
	if st := srv.Stats(); st.MaxValsReturned > 1500 || st.RangedRequests < 3 {
		t.Errorf("server stats %+v: want at most 1500 values per answer and ranged follow-ups", st)
	}
}

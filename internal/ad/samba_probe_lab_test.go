package ad_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/ldapdn"
)

// The lab's Samba answers member changes, permissive modify and a CN with a
// line feed as ldaptest's ModeSamba says it does (reviews/windows-ad.md,
// appendix). A Samba upgrade that changes one of them fails here, so the
// difference between the two modes stays true.
func TestSambaAnswersMatchLdaptestSambaMode(t *testing.T) {
	l := labtest.AD(t)
	ctx := context.Background()
	c := l.Conn(t)
	users := l.CreateUsers(t, 2, "wbq")
	g, empty := "CN=probe,"+l.OU, "CN=probe-empty,"+l.OU
	for _, dn := range []string{g, empty} {
		if err := c.CreateGroup(ctx, dn, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddMembers(ctx, g, []string{users[0].DN}); err != nil {
		t.Fatal(err)
	}
	// A raw connection: ad.Conn would hide the answers (that is its job).
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(l.Config.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	lc, err := ldap.DialURL(l.Config.URL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: l.Env["LAB_TLS_SERVER_NAME"]}))
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	pw, _ := l.Config.Password.Value("ad.password")
	if err := lc.Bind(l.Config.BindDN, pw); err != nil {
		t.Fatal(err)
	}
	answer := func(dn string, add bool, member string, ctrls ...ldap.Control) (uint16, string) {
		r := ldap.NewModifyRequest(dn, ctrls)
		if add {
			r.Add("member", []string{member})
		} else {
			r.Delete("member", []string{member})
		}
		return ldapAnswer(lc.Modify(r))
	}
	perm := ldap.NewControlString(ldaptest.PermissiveModifyOID, false, "")
	for _, tc := range []struct {
		name string
		code uint16
		diag string
		got  func() (uint16, string)
	}{
		{name: "add present", code: 68, diag: "already exists for target GUID", got: func() (uint16, string) { return answer(g, true, users[0].DN) }},
		{name: "delete absent", code: 53, diag: "doesn't exist for target GUID", got: func() (uint16, string) { return answer(g, false, users[1].DN) }},
		{name: "delete from empty group", code: 16, got: func() (uint16, string) { return answer(empty, false, users[1].DN) }},
		{name: "add present, permissive", code: 68, got: func() (uint16, string) { return answer(g, true, users[0].DN, perm) }},
		{name: "delete absent, permissive", code: 53, got: func() (uint16, string) { return answer(g, false, users[1].DN, perm) }},
	} {
		code, diag := tc.got()
		if code != tc.code || !strings.Contains(diag, tc.diag) {
			t.Errorf("%s: Samba answers %d %q; ldaptest's ModeSamba says %d %q", tc.name, code, diag, tc.code, tc.diag)
		}
	}
	// Samba accepts a line feed in a CN (Windows does not; writeback refuses it).
	r := ldap.NewAddRequest("CN="+ldapdn.Escape("line\nfeed")+","+l.OU, nil)
	r.Attribute("objectClass", []string{"group"})
	if code, diag := ldapAnswer(lc.Add(r)); code != 0 {
		t.Errorf("CN with a line feed: Samba answers %d %q; ldaptest's ModeSamba accepts it", code, diag)
	}
}

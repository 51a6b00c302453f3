package labtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// DSACL adds the ACEs in sddl (e.g. "(D;;SDDT;;;WD)") to the security
// descriptor of dn with `samba-tool dsacl set`, as Administrator over LDAP
// (NTLM, the password passed in the environment, never on a command line),
// the way docs/ad.md tells a lab user to delegate. It fails the test when
// samba-tool is missing or refuses.
func (l *Lab) DSACL(t testing.TB, dn, sddl string) {
	t.Helper()
	pw, err := os.ReadFile(l.Env["LAB_PASSWORD_FILE"])
	if err != nil {
		t.Fatalf("labtest: read the lab password: %v", err)
	}
	domain, _, _ := strings.Cut(l.Env["LAB_BIND_NT"], `\`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "samba-tool", "dsacl", "set", "-H", l.Env["LAB_LDAP_URL"],
		"-U", "Administrator", "-W", domain, "--use-kerberos=off", "--objectdn="+dn, "--sddl="+sddl)
	cmd.Env = append(os.Environ(), "PASSWD="+strings.TrimRight(string(pw), "\r\n"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("labtest: samba-tool dsacl set --objectdn=%q --sddl=%q: %v: %s", dn, sddl, err, out)
	}
}

// Unprotect removes the ACCESS_DENIED ACEs for Everyone (S-1-1-0) from the
// DACL of dn, as clearing "Protect object from accidental deletion" does, so
// a test that set them can clean up (samba-tool dsacl can only add). It
// writes the DACL as Administrator with the SD flags control.
func (l *Lab) Unprotect(t testing.TB, dn string) {
	t.Helper()
	if err := l.unprotect(dn); err != nil {
		t.Errorf("labtest: unprotect %s: %v", dn, err)
	}
}

func (l *Lab) unprotect(dn string) error {
	pemCA, err := os.ReadFile(l.Env["LAB_CA_CERT"])
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	conn, err := ldap.DialURL(l.Env["LAB_LDAPS_URL"], ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: l.Env["LAB_TLS_SERVER_NAME"]}))
	if err != nil {
		return err
	}
	defer conn.Close()
	pw, err := os.ReadFile(l.Env["LAB_PASSWORD_FILE"])
	if err != nil {
		return err
	}
	if err := conn.Bind(l.Env["LAB_BIND_DN"], strings.TrimRight(string(pw), "\r\n")); err != nil {
		return err
	}
	sdFlags := &ldap.ControlMicrosoftSDFlags{ControlValue: 4} // DACL only
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"nTSecurityDescriptor"}, []ldap.Control{sdFlags}))
	if err != nil {
		return err
	}
	if len(res.Entries) != 1 {
		return fmt.Errorf("%d entries", len(res.Entries))
	}
	sd := res.Entries[0].GetRawAttributeValue("nTSecurityDescriptor")
	if len(sd) < 20 {
		return fmt.Errorf("security descriptor of %d bytes", len(sd))
	}
	off := int(binary.LittleEndian.Uint32(sd[16:20]))
	if off == 0 || off+8 > len(sd) {
		return fmt.Errorf("no DACL")
	}
	count := int(binary.LittleEndian.Uint16(sd[off+4 : off+6]))
	everyone := []byte{1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0} // S-1-1-0
	var aces []byte
	kept := 0
	for p, i := off+8, 0; i < count; i++ {
		size := int(binary.LittleEndian.Uint16(sd[p+2 : p+4]))
		ace := sd[p : p+size]
		if !(ace[0] == 1 && size >= 8+len(everyone) && bytes.Equal(ace[8:8+len(everyone)], everyone)) {
			aces = append(aces, ace...)
			kept++
		}
		p += size
	}
	// A self-relative descriptor with the DACL only: header, then the ACL.
	out := make([]byte, 20, 20+8+len(aces))
	out[0] = 1
	binary.LittleEndian.PutUint16(out[2:4], binary.LittleEndian.Uint16(sd[2:4])&^0x0011|0x8004) // self-relative, DACL present; no owner/group defaulted bits needed
	binary.LittleEndian.PutUint32(out[16:20], 20)
	acl := make([]byte, 8)
	acl[0] = sd[off]
	binary.LittleEndian.PutUint16(acl[2:4], uint16(8+len(aces)))
	binary.LittleEndian.PutUint16(acl[4:6], uint16(kept))
	out = append(append(out, acl...), aces...)
	mod := ldap.NewModifyRequest(dn, []ldap.Control{sdFlags})
	mod.Replace("nTSecurityDescriptor", []string{string(out)})
	return conn.Modify(mod)
}

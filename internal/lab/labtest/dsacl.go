package labtest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
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

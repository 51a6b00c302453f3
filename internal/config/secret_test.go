package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const secretTestEntra = `
entra: {tenantId: t, clientId: c, credential: {kind: secret, secret: {file: /s}}}
`

// An inline secret is refused with the field's name and the way to fix it,
// and no part of the value appears in the error (it showed 7 characters).
func TestInlineSecretNotEchoed(t *testing.T) {
	for _, tt := range []struct{ yaml, field string }{
		{"ad: {url: ldaps://dc.test, bindDN: x, password: 'Passw0rd!Lab'}", "ad.password"},
		{"ad: {url: ldaps://dc.test, bindDN: x, password: {env: X}}\nentra: {tenantId: t, clientId: c, credential: {kind: secret, secret: 'SuperSecretValue123'}}", "entra.credential.secret"},
		{"ad: {url: ldaps://dc.test, bindDN: x, password: {env: X}}\nentra: {tenantId: t, clientId: c, credential: {kind: certificate, certificateFile: /c, certificatePassword: 'SuperSecretValue123'}}", "entra.credential.certificatePassword"},
	} {
		_, err := Parse([]byte(tt.yaml))
		if err == nil {
			t.Errorf("%s: accepted", tt.yaml)
			continue
		}
		msg := err.Error()
		for _, leak := range []string{"Passw0", "SuperS", "rd!", "Value1"} {
			if strings.Contains(msg, leak) {
				t.Errorf("error echoes part of the secret (%q):\n%s", leak, msg)
			}
		}
		for _, want := range []string{tt.field, "file", "env", "not accepted inline"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q: want it to mention %q", msg, want)
			}
		}
	}
}

// Wrong types in several fields are all reported by one run (it took three).
func TestTypeErrorsReportedAtOnce(t *testing.T) {
	_, err := Parse([]byte(`
ad: {url: ldaps://dc.test, bindDN: x, password: {env: X}, pageSize: lots, timeout: 30 parsecs}
sync: {interval: true}
log: {level: loud}
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"`lots`", `"30 parsecs"`, `"true"`, `log.level "loud"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not report %s:\n%v", want, err)
		}
	}
}

func TestZeroIntervalRefused(t *testing.T) {
	for _, v := range []string{"0s", "0", "-5s"} {
		_, err := Parse([]byte("ad: {url: ldaps://dc.test, bindDN: x, password: {env: X}}\nsync: {interval: " + v + "}"))
		if err == nil || !strings.Contains(err.Error(), "want more than 0") && !strings.Contains(err.Error(), "at least 1s") {
			t.Errorf("interval %s: error %v, want it refused", v, err)
		}
	}
}

func TestSecretMappingUnknownField(t *testing.T) {
	_, err := Parse([]byte("ad: {url: ldaps://dc.test, bindDN: x, password: {fiel: /x}}"))
	if err == nil || !strings.Contains(err.Error(), "field fiel not found") {
		t.Errorf("error %v: want the unknown field named", err)
	}
}

func TestLooseSecretFiles(t *testing.T) {
	dir := t.TempDir()
	private, open := filepath.Join(dir, "private"), filepath.Join(dir, "open")
	os.WriteFile(private, []byte("x"), 0o600)
	os.WriteFile(open, []byte("x"), 0o644)
	os.Chmod(open, 0o644) // umask
	c, err := Parse([]byte("ad: {url: ldaps://dc.test, bindDN: x, password: {file: " + open + "}}" + strings.Replace(secretTestEntra, "/s", private, 1)))
	if err != nil {
		t.Fatal(err)
	}
	w := c.LooseSecretFiles()
	if len(w) != 1 || !strings.Contains(w[0], "ad.password.file "+open) || !strings.Contains(w[0], "0644") || !strings.Contains(w[0], "chmod 600") {
		t.Errorf("warnings %q: want one for %s naming mode 0644 and chmod 600", w, open)
	}
}

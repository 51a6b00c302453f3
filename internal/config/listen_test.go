package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const listenTestAD = "ad: {url: ldaps://dc.test, bindDN: x, password: {env: X}}\n"

// The listener is off unless configured; beyond loopback it needs a token.
func TestListenNeedsTokenBeyondLoopback(t *testing.T) {
	for _, tt := range []struct {
		sync string
		ok   bool
	}{
		{"{}", true},
		{"{listen: '127.0.0.1:9464'}", true},
		{"{listen: 'localhost:9464'}", true},
		{"{listen: '[::1]:9464'}", true},
		{"{listen: ':9464'}", false},
		{"{listen: '0.0.0.0:9464'}", false},
		{"{listen: '0.0.0.0:9464', listenToken: {credential: listen-token}}", true},
		{"{listen: 'nonsense'}", false},
		{"{listen: '127.0.0.1:9464', listenTls: {certFile: /c}}", false},
		{"{listen: '127.0.0.1:9464', listenToken: 'inline'}", false},
	} {
		c, err := Parse([]byte(listenTestAD + "sync: " + tt.sync))
		if (err == nil) != tt.ok {
			t.Errorf("sync: %s: err = %v, want ok=%v", tt.sync, err, tt.ok)
		}
		if err != nil && strings.Contains(tt.sync, "0.0.0.0") && !strings.Contains(err.Error(), "sync.listenToken") {
			t.Errorf("error %q does not say to set sync.listenToken", err)
		}
		if tt.sync == "{}" && c.Sync.Listen != "" {
			t.Errorf("listener on by default: %q", c.Sync.Listen)
		}
	}
}

// A {credential: NAME} secret is the file NAME in $CREDENTIALS_DIRECTORY
// (systemd's LoadCredential=), and says what to do outside systemd.
func TestSecretFromCredentialsDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ad-password"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte("ad: {url: ldaps://dc.test, bindDN: x, password: {credential: ad-password}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	if v, err := c.AD.Password.Value("ad.password"); err != nil || v != "s3cret" {
		t.Errorf("Value = %q, %v; want s3cret", v, err)
	}
	if _, err := (Secret{Credential: "../etc/passwd"}).Value("ad.password"); err == nil {
		t.Error("a credential name with a path was read")
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	_, err = c.AD.Password.Value("ad.password")
	if err == nil || !strings.Contains(err.Error(), "LoadCredential=ad-password:") {
		t.Errorf("outside systemd: err = %v, want it to say how to load the credential", err)
	}
	if _, err := (Secret{Credential: "a", Env: "B"}).Value("x"); err == nil {
		t.Error("credential and env both set: accepted")
	}
}

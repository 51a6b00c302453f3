package entra_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
)

// certFile writes a self-signed certificate and its key, as an app
// registration's certificate credential would be kept.
func certFile(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "writeback"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "app.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	b = append(b, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOtherCredentialKinds(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "federated-token")
	os.WriteFile(tokenFile, []byte("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ3cml0ZWJhY2sifQ."), 0o600)
	cases := []struct {
		name string
		cred config.Credential
	}{
		{"certificate", config.Credential{Kind: "certificate", CertificateFile: certFile(t)}},
		{"workload identity", config.Credential{Kind: "workloadIdentity", TokenFile: tokenFile}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := emulatortest.StartWith(t, sample(), emulator.Options{AcceptAssertions: true})
			cfg := env.Config
			cfg.Credential = tc.cred
			c, err := entra.New(context.Background(), entraconfig.Options(cfg), entra.WithLogger(quietLogger()))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Group(context.Background(), "g-eng"); err != nil {
				t.Fatalf("read a group with a %s credential: %v", tc.name, err)
			}
			// A revoked token is replaced for these kinds too.
			env.Server.RevokeTokens()
			if _, err := c.Group(context.Background(), "g-eng"); err != nil {
				t.Fatalf("read a group with a %s credential after the token was revoked: %v", tc.name, err)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	env := emulatortest.Start(t, nil)
	for _, tc := range []struct {
		name string
		edit func(*config.Entra)
		want string
	}{
		{"http graph URL", func(c *config.Entra) { c.GraphURL = "http://127.0.0.1:1" }, "entra.graphUrl"},
		{"missing CA file", func(c *config.Entra) { c.CAFile = "/nonexistent/ca.pem" }, "entra.caFile"},
		{"missing secret file", func(c *config.Entra) { c.Credential.Secret.File = "/nonexistent/secret" }, "entra.credential.secret"},
		{"bad certificate file", func(c *config.Entra) {
			c.Credential = config.Credential{Kind: "certificate", CertificateFile: env.CAFile}
		}, "entra.credential.certificateFile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := env.Config
			tc.edit(&cfg)
			_, err := entra.New(context.Background(), entraconfig.Options(cfg))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v: want it to name %s", err, tc.want)
			}
		})
	}
}

// Package emulatortest starts the Graph emulator in-process for tests: an
// httptest TLS server with the emulator's own CA, and a config.Entra that
// points writeback's real Graph client at it.
package emulatortest

import (
	"os"
	"path/filepath"
	"testing"

	"net/http/httptest"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
)

// Env is a running emulator.
type Env struct {
	// Config is a complete, validated entra section: tenant, client ID, secret
	// file, authority host and Graph URL on the emulator, and its CA file.
	Config config.Entra
	// URL is the emulator's base URL (https://127.0.0.1:port), both authority
	// host and Graph endpoint.
	URL    string
	CAFile string
	// Server gives access to faults, token revocation and stats.
	Server *emulator.Server
	// Admin mutates the tenant: add/update/delete groups and users, members,
	// soft delete and restore, expire delta tokens.
	Admin *emulator.Tenant
}

// Start runs an emulator serving tenant (nil: an empty tenant) until the test ends.
func Start(t testing.TB, tenant *emulator.TenantFile) *Env {
	t.Helper()
	return StartWith(t, tenant, emulator.Options{})
}

// StartWith is Start with server options (page sizes, token lifetime, faults).
// opts.Tenant is built from tenant.
func StartWith(t testing.TB, tenant *emulator.TenantFile, opts emulator.Options) *Env {
	t.Helper()
	if tenant == nil {
		tenant = &emulator.TenantFile{}
	}
	tn, err := emulator.NewTenant(*tenant)
	if err != nil {
		t.Fatalf("emulator tenant: %v", err)
	}
	opts.Tenant = tn
	srv, err := emulator.New(opts)
	if err != nil {
		t.Fatalf("emulator: %v", err)
	}
	dir := t.TempDir()
	ca, err := emulator.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatalf("emulator CA: %v", err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.TLS = ca.TLSConfig()
	hs.StartTLS()
	t.Cleanup(hs.Close)

	secretFile := filepath.Join(dir, "client-secret")
	if err := os.WriteFile(secretFile, []byte(srv.ClientSecret()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Entra{
		TenantID:      tn.TenantID(),
		ClientID:      srv.ClientID(),
		Cloud:         "public",
		AuthorityHost: hs.URL + "/",
		GraphURL:      hs.URL,
		CAFile:        filepath.Join(dir, "ca.pem"),
		Credential:    config.Credential{Kind: "secret", Secret: config.Secret{File: secretFile}},
		Concurrency:   4,
	}
	return &Env{Config: cfg, URL: hs.URL, CAFile: cfg.CAFile, Server: srv, Admin: tn}
}

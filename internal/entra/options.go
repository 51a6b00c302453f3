package entra

import (
	"context"

	"github.com/writeback/writeback/internal/config"
)

// Options are what the client needs to reach a tenant: its own type, so
// that the client does not depend on the configuration file's layout.
type Options struct {
	TenantID string
	ClientID string
	// Cloud selects endpoints: public (default), usgov, china.
	// AuthorityHost and GraphURL override them (the emulator sets both).
	Cloud         string
	AuthorityHost string
	GraphURL      string
	// CAFile adds a trusted CA for both endpoints.
	CAFile     string
	Credential Credential
	// Concurrency bounds parallel Graph requests (0: the default).
	Concurrency int
}

// Credential says how the client authenticates.
type Credential struct {
	// Kind: secret (default), certificate, managedIdentity, workloadIdentity.
	Kind string
	// Secret is the client secret (kind secret), read at start and again
	// when Graph rejects a token (rotation).
	Secret Secret
	// CertificateFile is PEM or PKCS#12 with the certificate and its key;
	// CertificatePassword, when set, decrypts it (kind certificate).
	CertificateFile     string
	CertificatePassword Secret
	// TokenFile is the federated token file (kind workloadIdentity).
	TokenFile string
}

// Secret is a value read when needed, from a file or the environment
// (config.Secret). field names it in errors, as in "entra.credential.secret".
type Secret interface {
	Value(field string) (string, error)
	Describe(field string) string
	IsSet() bool
}

func isSet(s Secret) bool { return s != nil && s.IsSet() }

// FromConfig converts the configuration file's entra section.
func FromConfig(c config.Entra) Options {
	return Options{
		TenantID: c.TenantID, ClientID: c.ClientID,
		Cloud: c.Cloud, AuthorityHost: c.AuthorityHost, GraphURL: c.GraphURL,
		CAFile: c.CAFile, Concurrency: c.Concurrency,
		Credential: Credential{
			Kind: c.Credential.Kind, Secret: c.Credential.Secret,
			CertificateFile: c.Credential.CertificateFile, CertificatePassword: c.Credential.CertificatePassword,
			TokenFile: c.Credential.TokenFile,
		},
	}
}

// New builds a client from the configuration file's entra section: the
// adapter for callers that hold the YAML type (FromConfig, then NewClient).
func New(ctx context.Context, cfg config.Entra, opts ...Option) (*Client, error) {
	return NewClient(ctx, FromConfig(cfg), opts...)
}

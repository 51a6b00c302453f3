package entra

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
// (config.Secret implements it). field names it in errors, as in "entra.credential.secret".
type Secret interface {
	Value(field string) (string, error)
	Describe(field string) string
	IsSet() bool
}

func isSet(s Secret) bool { return s != nil && s.IsSet() }

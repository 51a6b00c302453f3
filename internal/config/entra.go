package config

import (
	"fmt"
	"strings"
)

// Entra is the Microsoft Entra ID (Graph) source.
type Entra struct {
	TenantID string `yaml:"tenantId"`
	ClientID string `yaml:"clientId"`
	// Cloud selects endpoints: public (default), usgov, china. AuthorityHost and
	// GraphURL override them (the emulator sets both).
	Cloud         string `yaml:"cloud,omitempty"`
	AuthorityHost string `yaml:"authorityHost,omitempty"`
	GraphURL      string `yaml:"graphUrl,omitempty"`
	// CAFile adds a trusted CA for both endpoints (the emulator's; never needed for Microsoft).
	CAFile     string     `yaml:"caFile,omitempty"`
	Credential Credential `yaml:"credential"`
	// Concurrency bounds parallel Graph requests.
	Concurrency int `yaml:"concurrency,omitempty"`
}

// Credential says how writeback authenticates to Entra ID.
type Credential struct {
	// Kind: secret, certificate, managedIdentity, workloadIdentity.
	Kind string `yaml:"kind"`
	// Secret is the client secret (kind secret).
	Secret Secret `yaml:"secret,omitempty"`
	// CertificateFile is a PEM with certificate and private key (kind certificate).
	CertificateFile string `yaml:"certificateFile,omitempty"`
	// CertificatePassword decrypts an encrypted PKCS#12 certificate file (kind certificate).
	CertificatePassword Secret `yaml:"certificatePassword,omitempty"`
	// TokenFile is the federated token file (kind workloadIdentity; default $AZURE_FEDERATED_TOKEN_FILE).
	TokenFile string `yaml:"tokenFile,omitempty"`
}

func (e *Entra) applyDefaults() {
	if e.Cloud == "" {
		e.Cloud = "public"
	}
	if e.Credential.Kind == "" {
		e.Credential.Kind = "secret"
	}
	if e.Concurrency == 0 {
		e.Concurrency = 4
	}
}

func (e *Entra) validate() []error {
	var errs []error
	if e.TenantID == "" {
		errs = append(errs, fmt.Errorf("entra.tenantId is required (the directory (tenant) ID GUID)"))
	}
	if e.ClientID == "" && e.Credential.Kind != "managedIdentity" {
		errs = append(errs, fmt.Errorf("entra.clientId is required (the application (client) ID)"))
	}
	switch strings.ToLower(e.Cloud) {
	case "public", "usgov", "china":
	default:
		errs = append(errs, fmt.Errorf("entra.cloud %q: want public, usgov or china", e.Cloud))
	}
	for _, sc := range []struct {
		what string
		s    Secret
	}{{"entra.credential.secret", e.Credential.Secret}, {"entra.credential.certificatePassword", e.Credential.CertificatePassword}} {
		if err := sc.s.check(sc.what); err != nil {
			errs = append(errs, err)
		}
	}
	switch e.Credential.Kind {
	case "secret":
		if e.Credential.Secret.inlineLine != 0 {
			// reported above
		} else if !e.Credential.Secret.IsSet() {
			errs = append(errs, fmt.Errorf("entra.credential.secret: set file or env for kind secret"))
		}
	case "certificate":
		if e.Credential.CertificateFile == "" {
			errs = append(errs, fmt.Errorf("entra.credential.certificateFile is required for kind certificate"))
		}
	case "managedIdentity", "workloadIdentity":
	default:
		errs = append(errs, fmt.Errorf("entra.credential.kind %q: want secret, certificate, managedIdentity or workloadIdentity", e.Credential.Kind))
	}
	if e.Concurrency < 1 || e.Concurrency > 64 {
		errs = append(errs, fmt.Errorf("entra.concurrency %d: want 1..64", e.Concurrency))
	}
	return errs
}

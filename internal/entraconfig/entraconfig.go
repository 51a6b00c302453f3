// Package entraconfig turns the configuration file's entra section into the
// entra package's Options: the one place where the two meet, so
// internal/entra does not depend on the file format (as adconfig for ad).
package entraconfig

import (
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/entra"
)

// Options is the entra.Options for the entra section c.
func Options(c config.Entra) entra.Options {
	return entra.Options{
		TenantID: c.TenantID, ClientID: c.ClientID,
		Cloud: c.Cloud, AuthorityHost: c.AuthorityHost, GraphURL: c.GraphURL,
		CAFile: c.CAFile, Concurrency: c.Concurrency,
		Credential: entra.Credential{
			Kind: c.Credential.Kind, Secret: c.Credential.Secret,
			CertificateFile: c.Credential.CertificateFile, CertificatePassword: c.Credential.CertificatePassword,
			TokenFile: c.Credential.TokenFile,
		},
	}
}

package entraconfig_test

import (
	"testing"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/entraconfig"
)

// Every setting of the entra section reaches the client's options.
func TestOptionsCarryEverySetting(t *testing.T) {
	c, err := config.Parse([]byte(`
ad: {url: "ldaps://dc.test", bindDN: x, password: {env: X}, targetOU: "OU=G,DC=test"}
entra:
  tenantId: t
  clientId: c
  cloud: usgov
  authorityHost: https://login.example
  graphUrl: https://graph.example
  caFile: /etc/ca.pem
  concurrency: 7
  credential: {kind: certificate, certificateFile: /etc/cert.pem, certificatePassword: {env: P}}
`))
	if err != nil {
		t.Fatal(err)
	}
	o := entraconfig.Options(*c.Entra)
	if o.TenantID != "t" || o.ClientID != "c" || o.Cloud != "usgov" || o.AuthorityHost != "https://login.example" ||
		o.GraphURL != "https://graph.example" || o.CAFile != "/etc/ca.pem" || o.Concurrency != 7 {
		t.Errorf("options = %+v", o)
	}
	if cr := o.Credential; cr.Kind != "certificate" || cr.CertificateFile != "/etc/cert.pem" || cr.CertificatePassword == nil || !cr.CertificatePassword.IsSet() {
		t.Errorf("credential = %+v", cr)
	}
}

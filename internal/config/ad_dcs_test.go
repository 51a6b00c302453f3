package config

import (
	"strings"
	"testing"
)

// Issue #20: one of ad.url, ad.servers, ad.domain; gcUrl defaults from url
// only.
func TestADServersAndDomain(t *testing.T) {
	base := "\nentra: {tenantId: t, clientId: c, credential: {kind: secret, secret: {env: Y}}}\n"
	for _, tc := range []struct {
		ad, err string
	}{
		{`{url: "ldaps://dc1.contoso.com", bindDN: x, password: {env: X}}`, ""},
		{`{servers: ["ldaps://dc1.contoso.com", "ldaps://dc2.contoso.com"], bindDN: x, password: {env: X}}`, ""},
		{`{domain: contoso.com, site: Paris, dnsServer: "10.0.0.53", bindDN: x, password: {env: X}}`, ""},
		{`{url: "ldaps://dc1.contoso.com", domain: contoso.com, bindDN: x, password: {env: X}}`, "set only one"},
		{`{servers: ["dc1.contoso.com"], bindDN: x, password: {env: X}}`, "ad.servers[0]"},
		{`{domain: "ldaps://contoso.com", bindDN: x, password: {env: X}}`, "ad.domain"},
		{`{url: "ldaps://dc1.contoso.com", site: Paris, bindDN: x, password: {env: X}}`, "apply to ad.domain"},
		{`{bindDN: x, password: {env: X}}`, "ad.url is required"},
	} {
		c, err := Parse([]byte("ad: " + tc.ad + base))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.ad, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %v, want an error containing %q", tc.ad, err, tc.err)
		case tc.err == "" && len(c.AD.Servers) > 0 && c.AD.GCURL != "":
			t.Errorf("%s: gcUrl defaulted to %q; want it found like the DCs", tc.ad, c.AD.GCURL)
		case tc.err == "" && c.AD.URL != "" && c.AD.GCURL != "ldaps://dc1.contoso.com:3269":
			t.Errorf("%s: gcUrl %q", tc.ad, c.AD.GCURL)
		}
	}
}

package config

import (
	"fmt"
	"net/url"
	"strings"
)

// AD is the Active Directory target.
type AD struct {
	// URL of a domain controller: ldaps://host:636, or ldap://host:389 (StartTLS
	// unless Insecure).
	URL string `yaml:"url,omitempty"`
	// Servers lists several domain controllers by URL, tried in this order;
	// writeback stays on the one it reached until it stops answering.
	Servers []string `yaml:"servers,omitempty"`
	// Domain is the AD domain's DNS name: its writable DCs are found through
	// the DC locator's DNS SRV records (_ldap._tcp.dc._msdcs.<domain>).
	Domain string `yaml:"domain,omitempty"`
	// Site prefers the DCs of this AD site (_ldap._tcp.<site>._sites.dc._msdcs.<domain>).
	Site string `yaml:"site,omitempty"`
	// Forest is the forest root domain for _gc._tcp.<forest> (default: domain).
	Forest string `yaml:"forest,omitempty"`
	// DNSServer (host[:port]) answers the SRV queries instead of the
	// system resolver.
	DNSServer string `yaml:"dnsServer,omitempty"`
	// GCURL of a Global Catalog: ldaps://host:3269 or ldap://host:3268.
	// Default: the URL's host on the matching GC port; with servers or
	// domain, the DC writeback uses when it is a GC, else another GC found
	// the same way.
	GCURL string `yaml:"gcUrl,omitempty"`
	// CAFile is a PEM bundle to verify the DC's certificate (default: system roots).
	CAFile string `yaml:"caFile,omitempty"`
	// ServerName overrides the TLS server name to verify (default: the URL's host).
	ServerName string `yaml:"serverName,omitempty"`
	// Insecure allows plain unencrypted LDAP on ldap:// URLs (lab use only).
	Insecure bool `yaml:"insecure,omitempty"`
	// BindDN is the account to bind as: a DN, a UPN (user@domain) or DOMAIN\user.
	BindDN   string `yaml:"bindDN"`
	Password Secret `yaml:"password"`
	// BaseDN is the domain's naming context (default: discovered from RootDSE).
	BaseDN string `yaml:"baseDN,omitempty"`
	// TargetOU is where new groups are created (parentDistinguishedName default).
	TargetOU string `yaml:"targetOU,omitempty"`
	// PageSize for paged searches (Windows MaxPageSize is 1000).
	PageSize int `yaml:"pageSize,omitempty"`
	// MemberBatch is how many member values go in one modify.
	MemberBatch int `yaml:"memberBatch,omitempty"`
	// Timeout for one LDAP operation, e.g. "30s".
	Timeout Duration `yaml:"timeout,omitempty"`
}

func (a *AD) applyDefaults() {
	if a.PageSize == 0 {
		a.PageSize = 1000
	}
	if a.MemberBatch == 0 {
		a.MemberBatch = 1000
	}
	if a.Timeout == 0 {
		a.Timeout = Duration(30e9)
	}
	if a.GCURL == "" && a.URL != "" && len(a.Servers) == 0 && a.Domain == "" {
		if u, err := url.Parse(a.URL); err == nil {
			port := "3268"
			if u.Scheme == "ldaps" {
				port = "3269"
			}
			a.GCURL = u.Scheme + "://" + u.Hostname() + ":" + port
		}
	}
}

func (a *AD) validate() []error {
	var errs []error
	urls := []struct{ name, v string }{{"ad.url", a.URL}, {"ad.gcUrl", a.GCURL}}
	set := 0
	for _, b := range []bool{a.URL != "", len(a.Servers) > 0, a.Domain != ""} {
		if b {
			set++
		}
	}
	switch {
	case set > 1:
		errs = append(errs, fmt.Errorf("ad.url, ad.servers and ad.domain: set only one (one DC, a list of DCs, or the domain whose DCs DNS lists)"))
	case len(a.Servers) > 0 || a.Domain != "":
		urls = urls[1:] // gcUrl optional: found like the DCs
		if a.GCURL == "" {
			urls = nil
		}
		for i, s := range a.Servers {
			urls = append(urls, struct{ name, v string }{fmt.Sprintf("ad.servers[%d]", i), s})
		}
		if a.Domain != "" && (strings.ContainsAny(a.Domain, "/:@ ") || !strings.Contains(a.Domain, ".")) {
			errs = append(errs, fmt.Errorf("ad.domain %q: want the domain's DNS name, e.g. contoso.com", a.Domain))
		}
	}
	if (a.Site != "" || a.Forest != "" || a.DNSServer != "") && a.Domain == "" {
		errs = append(errs, fmt.Errorf("ad.site, ad.forest and ad.dnsServer apply to ad.domain (DNS discovery): set ad.domain or remove them"))
	}
	for _, f := range urls {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s is required (e.g. ldaps://dc1.contoso.com:636; or ad.servers: [url, ...], or ad.domain: contoso.com)", f.name))
			continue
		}
		u, err := url.Parse(f.v)
		if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q: want ldap://host[:port] or ldaps://host[:port]", f.name, f.v))
		}
	}
	if a.BindDN == "" {
		errs = append(errs, fmt.Errorf("ad.bindDN is required (a DN, user@domain, or DOMAIN\\user)"))
	}
	if err := a.Password.check("ad.password"); err != nil {
		errs = append(errs, err)
	} else if !a.Password.IsSet() {
		errs = append(errs, fmt.Errorf("ad.password: set ad.password.file or ad.password.env"))
	}
	if a.PageSize < 1 || a.PageSize > 100000 {
		errs = append(errs, fmt.Errorf("ad.pageSize %d: want 1..100000 (Windows caps pages at 1000)", a.PageSize))
	}
	if a.MemberBatch < 1 || a.MemberBatch > 5000 {
		// Not ad.MaxMemberBatch: config must not import the ad layer.
		errs = append(errs, fmt.Errorf("ad.memberBatch %d: want 1..5000 (Microsoft advises at most 5,000 values per LDAP modify; a larger one can be rolled back whole)", a.MemberBatch))
	}
	if a.TargetOU != "" && !strings.Contains(a.TargetOU, "=") {
		errs = append(errs, fmt.Errorf("ad.targetOU %q: want a DN such as OU=Groups,DC=contoso,DC=com", a.TargetOU))
	}
	return errs
}

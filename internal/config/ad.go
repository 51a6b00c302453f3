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
	URL string `yaml:"url"`
	// GCURL of a Global Catalog: ldaps://host:3269 or ldap://host:3268.
	// Default: the URL's host on the matching GC port.
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
	if a.GCURL == "" && a.URL != "" {
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
	for _, f := range []struct{ name, v string }{{"ad.url", a.URL}, {"ad.gcUrl", a.GCURL}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s is required (e.g. ldaps://dc1.contoso.com:636)", f.name))
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

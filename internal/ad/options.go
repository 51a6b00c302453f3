package ad

import (
	"errors"
	"log/slog"
	"time"
)

// Secret is where the bind password comes from. config.Secret implements it;
// the value is read at every bind, so a rotated password needs no restart.
type Secret interface {
	// Value reads the secret; what names it in errors ("ad.password").
	Value(what string) (string, error)
	// Describe says where it comes from, e.g. "ad.password (file /etc/...)".
	Describe(what string) string
}

// Options is what the ad package needs to reach and bind to the directory.
// The configuration's ad section is turned into Options in one place
// (internal/adconfig), so this package does not depend on the file format.
//
// Which domain controllers: URL (one DC, as before), Servers (a list by
// hand) or Domain (the DC locator's DNS SRV records). With more than one,
// Dial tries them in order (SRV priority and weight), skips read-only DCs
// and stays on the one it reached ("pinned") until it stops answering.
type Options struct {
	// URL of one domain controller: ldaps://host:636, or ldap://host:389
	// (StartTLS unless Insecure).
	URL string
	// Servers lists domain controllers by URL, tried in order.
	Servers []string
	// Domain is the DNS name of the AD domain whose writable DCs are found
	// through _ldap._tcp.dc._msdcs.<Domain> (and, with Site, first
	// _ldap._tcp.<Site>._sites.dc._msdcs.<Domain>).
	Domain string
	// Site is the AD site whose DCs are preferred.
	Site string
	// Forest is the forest root's DNS name for _gc._tcp.<Forest> (default Domain).
	Forest string
	// DNSServer (host:port) answers the SRV queries instead of the system
	// resolver (tests, split DNS).
	DNSServer string
	// GCURL of a Global Catalog: ldaps://host:3269 or ldap://host:3268.
	// Default: the pinned DC's host on the matching GC port.
	GCURL string
	// CAFile is a PEM bundle to verify the DC's certificate (default: system roots).
	CAFile string
	// ServerName overrides the TLS server name to verify (default: the URL's host).
	ServerName string
	// Insecure allows plain LDAP on ldap:// URLs (lab use only).
	Insecure bool
	// BindDN is the account to bind as: a DN, a UPN or DOMAIN\user.
	BindDN   string
	Password Secret
	// BaseDN is the domain's naming context (default: read from the RootDSE).
	BaseDN string
	// PageSize for paged searches (default 1000).
	PageSize int
	// MemberBatch is how many member values go in one modify (default 1000).
	MemberBatch int
	// Timeout for one LDAP operation (default 30s).
	Timeout time.Duration
	// Logger receives reconnect and failover messages (default slog.Default()).
	Logger *slog.Logger
}

// password is the bind password source, failing clearly when unset.
func (o Options) password() Secret {
	if o.Password == nil {
		return noSecret{}
	}
	return o.Password
}

type noSecret struct{}

func (noSecret) Value(what string) (string, error) {
	return "", errors.New(what + ": set ad.password.file or ad.password.env")
}
func (noSecret) Describe(what string) string { return what + " (not set)" }

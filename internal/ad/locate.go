package ad

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Candidate is one server writeback may connect to, and where it was learnt.
type Candidate struct {
	URL    string
	Source string // "ad.url", "ad.servers", "DNS _ldap._tcp...", ...
}

// lookupSRV is net.Resolver.LookupSRV; a variable so tests can answer without DNS.
var lookupSRV = func(ctx context.Context, r *net.Resolver, name string) ([]*net.SRV, error) {
	_, srvs, err := r.LookupSRV(ctx, "", "", name)
	return srvs, err
}

// resolver is the system resolver, or one that asks only o.DNSServer.
func (o Options) resolver() *net.Resolver {
	if o.DNSServer == "" {
		return net.DefaultResolver
	}
	server := o.DNSServer
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "53")
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, server)
	}}
}

// SRVNames are the DNS names the DC locator asks, in order: the site's DCs
// first ([MS-ADTS] 6.3.6.1), then every writable DC of the domain.
func SRVNames(domain, site string) []string {
	var names []string
	if site != "" {
		names = append(names, "_ldap._tcp."+site+"._sites.dc._msdcs."+domain)
	}
	return append(names, "_ldap._tcp.dc._msdcs."+domain)
}

// GCSRVNames are the names that list Global Catalogs of the forest.
func GCSRVNames(forest, site string) []string {
	var names []string
	if site != "" {
		names = append(names, "_gc._tcp."+site+"._sites."+forest)
	}
	return append(names, "_gc._tcp."+forest)
}

// Locate lists the domain controllers to try, in order: ad.url alone, the
// ad.servers list, or the DC locator's SRV records for ad.domain (the site's
// first; within one name, net.LookupSRV orders by priority and shuffles by
// weight, RFC 2782).
func Locate(ctx context.Context, o Options) ([]Candidate, error) {
	switch {
	case len(o.Servers) > 0:
		out := make([]Candidate, 0, len(o.Servers))
		for _, s := range o.Servers {
			out = append(out, Candidate{URL: s, Source: "ad.servers"})
		}
		return out, nil
	case o.Domain != "":
		return o.locateSRV(ctx, SRVNames(o.Domain, o.Site), false)
	case o.URL != "":
		return []Candidate{{URL: o.URL, Source: "ad.url"}}, nil
	}
	return nil, errors.New("no domain controller configured: set ad.url, ad.servers or ad.domain")
}

// LocateGC lists the Global Catalogs to try: ad.gcUrl alone; else, with
// ad.domain, the forest's _gc._tcp records; else the GC port of each DC
// candidate. prefer (a DC URL, usually the pinned DC) goes first when it is
// among them, so GC answers come from the DC that writes when it can.
func LocateGC(ctx context.Context, o Options, prefer string) ([]Candidate, error) {
	if o.GCURL != "" {
		return []Candidate{{URL: o.GCURL, Source: "ad.gcUrl"}}, nil
	}
	var out []Candidate
	if o.Domain != "" && len(o.Servers) == 0 {
		forest := o.Forest
		if forest == "" {
			forest = o.Domain
		}
		gcs, err := o.locateSRV(ctx, GCSRVNames(forest, o.Site), true)
		if err != nil {
			return nil, err
		}
		out = gcs
	} else {
		dcs, err := Locate(ctx, o)
		if err != nil {
			return nil, err
		}
		for _, d := range dcs {
			if u := defaultGCURL(d.URL); u != "" {
				out = append(out, Candidate{URL: u, Source: d.Source + " (GC port)"})
			}
		}
	}
	if p := defaultGCURL(prefer); p != "" {
		ph := hostOf(p)
		for i, c := range out {
			if strings.EqualFold(hostOf(c.URL), ph) {
				out = append([]Candidate{c}, append(out[:i:i], out[i+1:]...)...)
				return out, nil
			}
		}
	}
	return out, nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// locateSRV asks each name in turn and lists the targets once each, as
// URLs: ldaps on 636 (3269 for a GC), or with Insecure plain LDAP on the
// advertised port. With a DNS server of its own the targets are resolved
// by it too, and the URL carries the address (the system resolver may not
// know the names).
func (o Options) locateSRV(ctx context.Context, names []string, gc bool) ([]Candidate, error) {
	r := o.resolver()
	seen := map[string]bool{}
	var out []Candidate
	var errs []error
	for _, name := range names {
		srvs, err := lookupSRV(ctx, r, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("DNS SRV %s: %w", name, err))
			continue
		}
		for _, s := range srvs {
			host := strings.TrimSuffix(s.Target, ".")
			if host == "" || seen[strings.ToLower(host)] {
				continue
			}
			seen[strings.ToLower(host)] = true
			if o.DNSServer != "" {
				if addrs, err := r.LookupHost(ctx, host); err == nil && len(addrs) > 0 {
					host = addrs[0]
				}
			}
			out = append(out, Candidate{URL: srvURL(host, s.Port, gc, o.Insecure), Source: "DNS " + name})
		}
	}
	if len(out) == 0 {
		if len(errs) == 0 {
			errs = append(errs, fmt.Errorf("DNS SRV %s: no records", strings.Join(names, ", ")))
		}
		return nil, fmt.Errorf("find domain controllers of %s: %w (check ad.domain, ad.site and ad.dnsServer, or list them in ad.servers)", o.Domain, errors.Join(errs...))
	}
	return out, nil
}

func srvURL(host string, port uint16, gc, insecure bool) string {
	if insecure {
		return "ldap://" + net.JoinHostPort(host, strconv.Itoa(int(port)))
	}
	p := "636"
	switch {
	case gc && port == 3268:
		p = "3269"
	case gc:
		p = strconv.Itoa(int(port))
	case port != 389:
		p = strconv.Itoa(int(port))
	}
	return "ldaps://" + net.JoinHostPort(host, p)
}

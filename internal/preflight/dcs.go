package preflight

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/ldapdn"
)

// CheckDCs reports the domain controllers found (ad.url, ad.servers or the
// DNS SRV records of ad.domain), the one writeback is pinned to, read-only
// DCs skipped, and an ad.url whose name leads to several DCs.
const CheckDCs = "ad.domain-controllers"

// dcsCheck is the check's entry, listed after the bind (issue #20).
var dcsCheck = Check{Name: CheckDCs, Needs: []string{CheckBind}, Run: checkDCs}

func checkDCs(ctx context.Context, e *Env) Result {
	if e.DC == nil {
		return skip("not connected")
	}
	o := adconfig.Options(e.Config.AD, e.Log)
	cands, err := ad.Locate(ctx, o)
	if err != nil {
		return fail(err.Error(), "fix ad.domain / ad.site / ad.dnsServer, or list the DCs in ad.servers")
	}
	id := e.DC.Identity()
	var b strings.Builder
	fmt.Fprintf(&b, "pinned to %s (%s)", id.String(), e.DC.URL())
	var warns, fixes []string
	if len(cands) > 1 {
		fmt.Fprintf(&b, "; %d found:", len(cands))
		for _, c := range cands {
			fmt.Fprintf(&b, " %s [%s]", c.URL, probeDC(ctx, o, c.URL))
		}
		fmt.Fprintf(&b, " (from %s)", cands[0].Source)
	}
	for _, s := range e.DC.Skipped() {
		fmt.Fprintf(&b, "; skipped %s: %s", s.URL, s.Reason)
	}
	if id.RODC {
		warns = append(warns, fmt.Sprintf("%s is a read-only domain controller: every write is referred elsewhere", id.Name()))
		fixes = append(fixes, "point ad.url at a writable DC, or use ad.servers / ad.domain (read-only DCs are skipped)")
	}
	if o.URL != "" && len(o.Servers) == 0 && o.Domain == "" {
		if w := severalDCs(ctx, o.URL, e.DC); w != "" {
			warns = append(warns, w)
			fixes = append(fixes, "name one DC in ad.url (its own DNS name), or list the DCs in ad.servers, or set ad.domain: writeback then stays on one DC per round and fails over between rounds")
		}
	}
	if len(warns) > 0 {
		return warn(b.String()+"; "+strings.Join(warns, "; "), strings.Join(fixes, "; "))
	}
	return ok(b.String())
}

// probeDC says what one candidate is: its DC name, read-only, or unreachable.
func probeDC(ctx context.Context, o ad.Options, u string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	o.URL, o.Servers, o.Domain, o.Site, o.GCURL = u, nil, "", "", ""
	o.Timeout = min(o.Timeout, 10*time.Second)
	c, err := ad.Dial(ctx, o)
	if err != nil {
		return "unreachable: " + err.Error()
	}
	defer c.Close()
	id := c.Identity()
	if id.RODC {
		return id.Name() + ", read-only: skipped"
	}
	return id.Name()
}

// severalDCs warns when ad.url's host is the domain's own name or resolves
// to several addresses: each reconnect may land on another DC.
func severalDCs(ctx context.Context, raw string, dc *ad.Conn) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	if net.ParseIP(host) != nil {
		return ""
	}
	if base, err := dc.BaseDN(ctx); err == nil && strings.EqualFold(host, ldapdn.DNSName(base)) {
		return fmt.Sprintf("ad.url names the domain (%s), which resolves to any of its DCs", host)
	}
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err == nil && len(addrs) > 1 {
		return fmt.Sprintf("ad.url's host %s resolves to %d addresses (%s): each reconnect may land on another DC", host, len(addrs), strings.Join(addrs, ", "))
	}
	return ""
}

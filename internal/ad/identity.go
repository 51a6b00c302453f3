package ad

import (
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// DCIdentity says which domain controller a connection reached. Windows is
// multi-master: objects, uSNChanged values and "not there yet" answers are per
// DC, so a round must plan and write on one DC, and a saved plan must be
// applied where it was computed.
type DCIdentity struct {
	// DSServiceName is the DN of the DC's nTDSDSA object (CN=NTDS Settings,CN=DC1,...).
	DSServiceName string `json:"dsServiceName,omitempty"`
	// DNSHostName is the DC's FQDN (rootDSE dnsHostName).
	DNSHostName string `json:"dnsHostName,omitempty"`
	// InvocationID identifies the DC's database (nTDSDSA invocationId); it
	// changes when the DC is restored from backup, which also invalidates
	// every uSNChanged read from it.
	InvocationID string `json:"invocationId,omitempty"`
	// RODC: a read-only DC (msDS-isRODC), which refers every write elsewhere.
	RODC bool `json:"rodc,omitempty"`
	// GlobalCatalog: the DC serves the Global Catalog (isGlobalCatalogReady).
	GlobalCatalog bool `json:"globalCatalog,omitempty"`
	// URL is the server URL the connection was made to.
	URL string `json:"url,omitempty"`
}

// Known reports whether the DC said who it is (servers without
// dsServiceName, such as simple test servers, leave it unknown).
func (d DCIdentity) Known() bool { return d.DSServiceName != "" }

// Same reports whether d and o are the same DC and database. Unknown
// identities are the same as anything: there is nothing to compare.
func (d DCIdentity) Same(o DCIdentity) bool {
	if !d.Known() || !o.Known() {
		return true
	}
	if !strings.EqualFold(d.DSServiceName, o.DSServiceName) {
		return false
	}
	return d.InvocationID == "" || o.InvocationID == "" || strings.EqualFold(d.InvocationID, o.InvocationID)
}

// Name is a short name for messages: the host name, else the server's RDN
// from dsServiceName, else the URL.
func (d DCIdentity) Name() string {
	switch {
	case d.DNSHostName != "":
		return d.DNSHostName
	case d.DSServiceName != "":
		// CN=NTDS Settings,CN=DC1,CN=Servers,...
		parts := strings.SplitN(d.DSServiceName, ",", 3)
		if len(parts) > 1 {
			return strings.TrimPrefix(strings.TrimPrefix(parts[1], "CN="), "cn=")
		}
		return d.DSServiceName
	}
	return d.URL
}

func (d DCIdentity) String() string {
	s := d.Name()
	if d.InvocationID != "" {
		s += " (invocationId " + d.InvocationID + ")"
	}
	if d.RODC {
		s += " [read-only]"
	}
	return s
}

// Identity is the DC this connection is on now, read at the last (re)connect.
func (c *Conn) Identity() DCIdentity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ident
}

// DCChangedError means the connection was re-established to another domain
// controller than the one the round started on (the pinned DC failed, or the
// URL's name resolved elsewhere). The round stops: what it read is from the
// old DC, and a create on the new one could duplicate a group the new DC has
// not received yet. The next round, after Pin, starts on the new DC with a
// full read.
type DCChangedError struct {
	From, To DCIdentity
}

func (e *DCChangedError) Error() string {
	return fmt.Sprintf("the connection to AD moved from domain controller %s to %s: this round stops; the next one reads everything again from %s", e.From.Name(), e.To.Name(), e.To.Name())
}

// Pin makes the DC the connection is on now the one this round works on, and
// returns the move that happened since the last Pin (nil if none). Until the
// next Pin, operations after a reconnect to another DC fail with
// *DCChangedError instead of running there.
func (c *Conn) Pin() (DCIdentity, *DCChangedError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	moved := c.moved
	c.moved = nil
	c.pinned = c.ident
	return c.ident, moved
}

// pendingMove is the move not acknowledged by Pin yet.
func (c *Conn) pendingMove() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.moved != nil {
		return c.moved
	}
	return nil
}

// readIdentity reads the DC's identity on a freshly bound connection: the
// rootDSE, then its nTDSDSA object (invocationId, msDS-isRODC). These reads
// are not counted as the round's searches. A server that does not say who it
// is gets an unknown identity, not an error.
func readIdentity(l *ldap.Conn, url string) (DCIdentity, error) {
	id := DCIdentity{URL: url}
	req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)",
		[]string{"dsServiceName", "dnsHostName", "isGlobalCatalogReady"}, nil)
	res, err := l.Search(req)
	if err != nil {
		return id, fmt.Errorf("read the RootDSE of %s: %w", url, err)
	}
	if len(res.Entries) != 1 {
		return id, nil
	}
	e := res.Entries[0]
	id.DSServiceName = e.GetEqualFoldAttributeValue("dsServiceName")
	id.DNSHostName = strings.ToLower(e.GetEqualFoldAttributeValue("dnsHostName"))
	id.GlobalCatalog = strings.EqualFold(e.GetEqualFoldAttributeValue("isGlobalCatalogReady"), "TRUE")
	if id.DSServiceName == "" {
		return id, nil
	}
	req = ldap.NewSearchRequest(id.DSServiceName, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)",
		[]string{"invocationId", "msDS-isRODC", "objectClass"}, nil)
	res, err = l.Search(req)
	if err != nil || len(res.Entries) != 1 {
		// The nTDSDSA object is readable by any authenticated user on
		// Windows; a server that hides it still names itself.
		return id, nil
	}
	e = res.Entries[0]
	if b := e.GetEqualFoldRawAttributeValue("invocationId"); len(b) == 16 {
		if g, err := GUIDFromAD(b); err == nil {
			id.InvocationID = g.String()
		}
	} else if v := e.GetEqualFoldAttributeValue("invocationId"); v != "" {
		id.InvocationID = strings.ToLower(v)
	}
	id.RODC = strings.EqualFold(e.GetEqualFoldAttributeValue("msDS-isRODC"), "TRUE")
	for _, oc := range e.GetEqualFoldAttributeValues("objectClass") {
		if strings.EqualFold(oc, "nTDSDSARO") {
			id.RODC = true
		}
	}
	return id, nil
}

package ad

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/go-ldap/ldap/v3"
)

// This file reads what polling for changes with uSNChanged needs
// (https://learn.microsoft.com/en-us/windows/win32/ad/polling-for-changes-using-usnchanged):
// which DC answers (its invocationId: USNs are that database's own, not
// replicated) and the DC's highestCommittedUSN. (Issue 20 item 4; the DC
// identity is identity.go's, read at each connect; DCIdentity reads it here
// only from a server that did not say at connect.)

// ErrNoDCIdentity means the server publishes no dsServiceName in its RootDSE
// (not an Active Directory DC: an in-process test server, another LDAP
// server): there is no USN to poll.
var ErrNoDCIdentity = errors.New("the server publishes no dsServiceName: not an Active Directory domain controller")

// usnCache holds the identity of the DC behind one connection generation
// (or that it has none: err).
type usnCache struct {
	mu  sync.Mutex
	gen uint64
	id  *DCIdentity
	err error
}

// Generation is a number that changes each time the connection is redialled:
// a new connection may have reached another DC (a name that resolves to
// several), so what was read about the DC must be read again.
func (c *Conn) Generation() uint64 {
	_, gen := c.current()
	return gen
}

// DCIdentity returns the identity of the DC this connection is bound to:
// the RootDSE's dsServiceName and the nTDSDSA object's invocationId, two base
// searches made once per connection (again after a redial).
func (c *Conn) DCIdentity(ctx context.Context) (DCIdentity, error) {
	if id := c.Identity(); id.Known() && id.InvocationID != "" {
		return id, nil // read at the (re)connect (identity.go)
	}
	gen := c.Generation()
	c.usn.mu.Lock()
	if (c.usn.id != nil || c.usn.err != nil) && c.usn.gen == gen {
		if c.usn.err != nil {
			defer c.usn.mu.Unlock()
			return DCIdentity{}, c.usn.err
		}
		id := *c.usn.id
		c.usn.mu.Unlock()
		return id, nil
	}
	c.usn.mu.Unlock()
	root, err := c.rootDSE(ctx, "dsServiceName", "dnsHostName")
	if err != nil {
		return DCIdentity{}, fmt.Errorf("read the RootDSE of %s: %w", c.url, err)
	}
	if root == nil || root.GetAttributeValue("dsServiceName") == "" {
		err := &OpError{Op: "read dsServiceName from the RootDSE of", DN: c.url, Err: ErrNoDCIdentity}
		c.usn.mu.Lock()
		c.usn.gen, c.usn.id, c.usn.err = gen, nil, err
		c.usn.mu.Unlock()
		return DCIdentity{}, err
	}
	id := DCIdentity{DSServiceName: root.GetAttributeValue("dsServiceName"), DNSHostName: root.GetAttributeValue("dnsHostName")}
	dsa, err := c.searchOne(ctx, id.DSServiceName, []string{"invocationId"}, nil)
	if err != nil {
		return DCIdentity{}, fmt.Errorf("read the invocationId of %s: %w", id.DSServiceName, err)
	}
	if dsa == nil {
		return DCIdentity{}, &OpError{Op: "read the invocationId of", DN: id.DSServiceName, Err: fmt.Errorf("no such object (can the bind account read the Configuration partition?)")}
	}
	g, err := GUIDFromAD(dsa.GetRawAttributeValue("invocationId"))
	if err != nil || g.IsZero() {
		return DCIdentity{}, &OpError{Op: "read the invocationId of", DN: id.DSServiceName, Err: fmt.Errorf("missing or not a GUID (%v)", err)}
	}
	id.InvocationID = g.String()
	c.usn.mu.Lock()
	c.usn.gen, c.usn.id, c.usn.err = gen, &id, nil
	c.usn.mu.Unlock()
	return id, nil
}

// HighestCommittedUSN reads the RootDSE's highestCommittedUSN: every change
// the DC committed so far has a uSNChanged at most this, so after a search
// made once this was read, the next poll can start above it.
func (c *Conn) HighestCommittedUSN(ctx context.Context) (int64, error) {
	root, err := c.rootDSE(ctx, "highestCommittedUSN")
	if err != nil {
		return 0, fmt.Errorf("read highestCommittedUSN from the RootDSE of %s: %w", c.url, err)
	}
	if root == nil {
		return 0, &OpError{Op: "read highestCommittedUSN from the RootDSE of", DN: c.url, Err: fmt.Errorf("no RootDSE")}
	}
	return ParseUSN(root, "highestCommittedUSN")
}

// rootDSE reads attrs of the RootDSE in one unpaged base search (as RootDSE
// does: paging is for result sets), counted in Searches.
func (c *Conn) rootDSE(ctx context.Context, attrs ...string) (*ldap.Entry, error) {
	c.searches.Add(1)
	req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", attrs, nil)
	var res *ldap.SearchResult
	if err := c.retry(ctx, func(l *ldap.Conn) (err error) { res, err = l.Search(req); return err }); err != nil {
		return nil, opErr("read RootDSE of", c.url, err)
	}
	if len(res.Entries) != 1 {
		return nil, nil
	}
	return res.Entries[0], nil
}

// ParseUSN reads a USN attribute (uSNChanged, highestCommittedUSN) of e.
func ParseUSN(e *ldap.Entry, attr string) (int64, error) {
	v := e.GetEqualFoldAttributeValue(attr)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, &OpError{Op: "read " + attr + " of", DN: e.DN, Err: fmt.Errorf("%q is not a USN", v)}
	}
	return n, nil
}

// ChangedSinceFilter is the filter of objects carrying a Group_ anchor whose
// uSNChanged is above usn: one indexed search on the DC that answered usn.
func ChangedSinceFilter(usn int64) string {
	return "(&(" + AttrExternalDirectoryObjectID + "=Group_*)(uSNChanged>=" + strconv.FormatInt(usn+1, 10) + "))"
}

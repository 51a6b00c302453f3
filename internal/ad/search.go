package ad

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

// Scope is an LDAP search scope.
type Scope int

// Search scopes.
const (
	ScopeBase     Scope = ldap.ScopeBaseObject
	ScopeOne      Scope = ldap.ScopeSingleLevel
	ScopeSubtree  Scope = ldap.ScopeWholeSubtree
	pagingControl       = ldap.ControlTypePaging
)

// Search runs a paged search (always: Windows stops unpaged searches at
// MaxPageSize=1000 entries) and calls fn for each entry as pages arrive.
// An error from fn stops the search and is returned.
func (c *Conn) Search(ctx context.Context, base string, scope Scope, filter string, attrs []string, fn func(*ldap.Entry) error) error {
	return c.search(ctx, base, scope, filter, attrs, nil, fn)
}

// Searches is how many searches this connection has made (a paged search
// counts once, whatever its pages).
func (c *Conn) Searches() int64 { return c.searches.Load() }

// search is Search with more request controls besides paging.
func (c *Conn) search(ctx context.Context, base string, scope Scope, filter string, attrs []string, ctls []ldap.Control, fn func(*ldap.Entry) error) error {
	c.searches.Add(1)
	paging := ldap.NewControlPaging(uint32(c.pageSize))
	what := fmt.Sprintf("search %s under", shortFilter(filter))
	for {
		req := ldap.NewSearchRequest(base, int(scope), ldap.NeverDerefAliases, 0, 0, false, filter, attrs, append([]ldap.Control{paging}, ctls...))
		var res *ldap.SearchResult
		run := c.retry
		if len(paging.Cookie) > 0 {
			// The cookie belongs to the broken connection: repeating the
			// page on a new one cannot work, and restarting would give fn
			// entries twice.
			run = c.do
		}
		err := run(ctx, func(l *ldap.Conn) (err error) {
			res, err = l.Search(req)
			return err
		})
		if err != nil {
			return opErr(what, base, err)
		}
		for _, e := range res.Entries {
			if err := fn(e); err != nil {
				// abandon the server-side paged result set
				if cookie := pagingCookie(res); len(cookie) > 0 {
					c.abandonPaging(ctx, base, scope, filter, cookie)
				}
				return err
			}
		}
		cookie := pagingCookie(res)
		if len(cookie) == 0 {
			return nil
		}
		paging.SetCookie(cookie)
	}
}

func pagingCookie(res *ldap.SearchResult) []byte {
	ctrl := ldap.FindControl(res.Controls, pagingControl)
	if p, ok := ctrl.(*ldap.ControlPaging); ok {
		return p.Cookie
	}
	return nil
}

// abandonPaging tells the server to drop a paged search (size 0, RFC 2696).
func (c *Conn) abandonPaging(ctx context.Context, base string, scope Scope, filter string, cookie []byte) {
	p := ldap.NewControlPaging(0)
	p.SetCookie(cookie)
	req := ldap.NewSearchRequest(base, int(scope), ldap.NeverDerefAliases, 0, 0, false, filter, []string{"1.1"}, []ldap.Control{p})
	l, _ := c.current()
	_ = runOn(ctx, l, func(l *ldap.Conn) error { _, err := l.Search(req); return err })
}

// SearchOne returns the entry at dn with attrs, or nil when it does not exist.
func (c *Conn) SearchOne(ctx context.Context, dn string, attrs []string) (*ldap.Entry, error) {
	return c.searchOne(ctx, dn, attrs, nil)
}

func (c *Conn) searchOne(ctx context.Context, dn string, attrs []string, ctls []ldap.Control) (*ldap.Entry, error) {
	var out *ldap.Entry
	err := c.search(ctx, dn, ScopeBase, "(objectClass=*)", attrs, ctls, func(e *ldap.Entry) error { out = e; return nil })
	if IsNoSuchObject(err) {
		return nil, nil
	}
	return out, err
}

// RootDSE is what the DC says about itself, plus the schema check writeback needs.
type RootDSE struct {
	DefaultNamingContext       string
	SchemaNamingContext        string
	ConfigurationNamingContext string
	RootDomainNamingContext    string
	DNSHostName                string
	DomainFunctionality        int
	ForestFunctionality        int
	DCFunctionality            int
	GlobalCatalogReady         bool
	SupportedControls          []string
	// HasExternalDirectoryObjectID: msDS-ExternalDirectoryObjectId is in the
	// schema (Windows Server 2016 schema or later, or extended by hand).
	HasExternalDirectoryObjectID bool
	// ExternalDirectoryObjectIDInGC: that attribute is in the partial attribute
	// set, so Global Catalog lookups by anchor work.
	ExternalDirectoryObjectIDInGC bool
}

// AttrExternalDirectoryObjectID is the anchor attribute.
const AttrExternalDirectoryObjectID = "msDS-ExternalDirectoryObjectId"

// RootDSE reads the RootDSE and looks msDS-ExternalDirectoryObjectId up in the schema.
func (c *Conn) RootDSE(ctx context.Context) (RootDSE, error) {
	var r RootDSE
	attrs := []string{"defaultNamingContext", "schemaNamingContext", "configurationNamingContext",
		"rootDomainNamingContext", "dnsHostName", "domainFunctionality", "forestFunctionality",
		"domainControllerFunctionality", "isGlobalCatalogReady", "supportedControl"}
	req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", attrs, nil)
	var res *ldap.SearchResult
	err := c.retry(ctx, func(l *ldap.Conn) (err error) { res, err = l.Search(req); return err })
	if err != nil {
		return r, opErr("read RootDSE of", c.URL(), err)
	}
	if len(res.Entries) != 1 {
		return r, &OpError{Op: "read RootDSE of", DN: c.URL(), Err: fmt.Errorf("got %d entries", len(res.Entries))}
	}
	e := res.Entries[0]
	r.DefaultNamingContext = e.GetAttributeValue("defaultNamingContext")
	r.SchemaNamingContext = e.GetAttributeValue("schemaNamingContext")
	r.ConfigurationNamingContext = e.GetAttributeValue("configurationNamingContext")
	r.RootDomainNamingContext = e.GetAttributeValue("rootDomainNamingContext")
	r.DNSHostName = e.GetAttributeValue("dnsHostName")
	r.DomainFunctionality, _ = strconv.Atoi(e.GetAttributeValue("domainFunctionality"))
	r.ForestFunctionality, _ = strconv.Atoi(e.GetAttributeValue("forestFunctionality"))
	r.DCFunctionality, _ = strconv.Atoi(e.GetAttributeValue("domainControllerFunctionality"))
	r.GlobalCatalogReady = strings.EqualFold(e.GetAttributeValue("isGlobalCatalogReady"), "TRUE")
	r.SupportedControls = e.GetAttributeValues("supportedControl")
	if r.SchemaNamingContext == "" {
		return r, nil
	}
	filter := "(&(objectClass=attributeSchema)(lDAPDisplayName=" + AttrExternalDirectoryObjectID + "))"
	err = c.Search(ctx, r.SchemaNamingContext, ScopeOne, filter, []string{"isMemberOfPartialAttributeSet"}, func(e *ldap.Entry) error {
		r.HasExternalDirectoryObjectID = true
		r.ExternalDirectoryObjectIDInGC = strings.EqualFold(e.GetAttributeValue("isMemberOfPartialAttributeSet"), "TRUE")
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("look up %s in the schema: %w", AttrExternalDirectoryObjectID, err)
	}
	return r, nil
}

// Members returns every value of dn's member attribute, using ranged retrieval
// (member;range=low-high) when the server splits it, as Windows does past
// MaxValRange=1500 values.
func (c *Conn) Members(ctx context.Context, dn string) ([]string, error) {
	// Asking for a range up front works the same on Windows (which caps it at
	// MaxValRange) and on servers without a cap (which return everything).
	e, err := c.SearchOne(ctx, dn, []string{"member;range=0-*"})
	if err != nil {
		return nil, fmt.Errorf("read members of %s: %w", dn, err)
	}
	if e == nil {
		return nil, &OpError{Op: "read members of", DN: dn, Code: CodeNoSuchObject}
	}
	return c.completeRange(ctx, dn, "member", e)
}

// memberIDRange is how many member values one request asks for when they
// come as extended DNs (see Conn.Groups); a variable for tests. On Samba 4.17
// each ranged request of a 225,000-member group costs about 1 s whatever its
// size up to 100,000 values, while one request for the whole attribute ran
// past any timeout: 50,000 takes 5 requests and bounds the response held in
// memory to tens of MB.
var memberIDRange = 50000

// completeRange returns all values of attr in e, fetching the remaining ranges
// when e carries "attr;range=low-high" instead of the whole attribute.
func (c *Conn) completeRange(ctx context.Context, dn, attr string, e *ldap.Entry) ([]string, error) {
	vals := rangeValues(e, attr)
	if err := c.moreRanges(ctx, dn, attr, nextRange(e, attr), nil, 0, func(v []string) { vals = append(vals, v...) }); err != nil {
		return nil, err
	}
	return vals, nil
}

// rangeValues returns the values of attr in e, whole or a range of them.
func rangeValues(e *ldap.Entry, attr string) []string {
	for _, a := range e.Attributes {
		if name, _, _, _ := parseRange(a.Name); strings.EqualFold(name, attr) {
			return a.Values
		}
	}
	return nil
}

// nextRange is where the values of attr that e lacks start, or -1 when e
// holds the whole attribute or its last range.
func nextRange(e *ldap.Entry, attr string) int {
	for _, a := range e.Attributes {
		if name, _, high, ok := parseRange(a.Name); ok && high >= 0 && strings.EqualFold(name, attr) {
			return high + 1
		}
	}
	return -1
}

// moreRanges reads attr of dn from value next on (nothing when next < 0), a
// range at a time, handing each range's values to add before asking for the
// next: a caller that keeps them in a smaller form never holds the whole
// attribute as the server spelled it (a 250,000-member group's extended DNs
// are 40 MB as strings, several times that as decoded responses).
func (c *Conn) moreRanges(ctx context.Context, dn, attr string, next int, ctls []ldap.Control, step int, add func([]string)) error {
	for next >= 0 {
		ranged := fmt.Sprintf("%s;range=%d-*", attr, next)
		if step > 0 {
			ranged = fmt.Sprintf("%s;range=%d-%d", attr, next, next+step-1)
		}
		e, err := c.searchOne(ctx, dn, []string{ranged}, ctls)
		if err != nil {
			return fmt.Errorf("read %s of %s: %w", ranged, dn, err)
		}
		if e == nil {
			return &OpError{Op: "read " + ranged + " of", DN: dn, Code: CodeNoSuchObject}
		}
		add(rangeValues(e, attr))
		next = nextRange(e, attr)
	}
	return nil
}

// parseRange splits "member;range=0-1499" into ("member", 0, 1499, true);
// high is -1 for "*". A name without a range returns ok=false.
func parseRange(name string) (attr string, low, high int, ok bool) {
	attr, opts, has := strings.Cut(name, ";")
	if !has {
		return name, 0, 0, false
	}
	for _, o := range strings.Split(opts, ";") {
		r, found := strings.CutPrefix(strings.ToLower(o), "range=")
		if !found {
			continue
		}
		lo, hi, found := strings.Cut(r, "-")
		if !found {
			return attr, 0, 0, false
		}
		l, err := strconv.Atoi(lo)
		if err != nil {
			return attr, 0, 0, false
		}
		if hi == "*" {
			return attr, l, -1, true
		}
		h, err := strconv.Atoi(hi)
		if err != nil {
			return attr, 0, 0, false
		}
		return attr, l, h, true
	}
	return attr, 0, 0, false
}

// maxFilterInError is how much of a filter an error message shows. A lookup
// of 100 anchors or SIDs builds a filter of several thousand characters,
// which made each failed round one 7,844-character log line.
const maxFilterInError = 200

// shortFilter is filter for error messages: cut to maxFilterInError
// characters, saying how long it was.
func shortFilter(filter string) string {
	if len(filter) <= maxFilterInError {
		return filter
	}
	cut := maxFilterInError
	for cut > 0 && !utf8.RuneStart(filter[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d characters)", filter[:cut], len(filter))
}

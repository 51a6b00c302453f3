package ad_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
)

// dcs starts n simulated DCs of one domain (DC1..DCn) and Options listing
// them in ad.servers.
func dcs(t *testing.T, n int, mod func(i int, o *ldaptest.Options)) ([]*ldaptest.Server, ad.Options) {
	t.Helper()
	var srvs []*ldaptest.Server
	var urls []string
	for i := range n {
		o := ldaptest.Options{DSA: "DC" + strconv.Itoa(i+1)}
		if mod != nil {
			mod(i, &o)
		}
		s := ldaptest.Start(t, o)
		srvs = append(srvs, s)
		urls = append(urls, s.URL())
	}
	o := adconfig.Options(srvs[0].Config())
	o.URL, o.GCURL, o.Servers = "", "", urls
	return srvs, o
}

func TestDialReadsTheDCIdentity(t *testing.T) {
	srvs, _ := dcs(t, 1, nil)
	c, err := ad.Dial(t.Context(), adconfig.Options(srvs[0].Config()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := c.Identity()
	if id.DSServiceName != srvs[0].DSServiceName() || id.DNSHostName != "dc1.contoso.test" || id.InvocationID == "" || id.RODC {
		t.Fatalf("identity %+v", id)
	}
}

func TestServersListSkipsDeadAndReadOnlyDCs(t *testing.T) {
	srvs, o := dcs(t, 3, func(i int, so *ldaptest.Options) { so.RODC = i == 1 })
	srvs[0].Stop() // DC1 down, DC2 read-only: DC3 is the one
	c, err := ad.Dial(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Identity().Name(); got != "dc3.contoso.test" {
		t.Fatalf("pinned %s, want dc3 (DC1 down, DC2 an RODC)", got)
	}
	sk := c.Skipped()
	if len(sk) != 1 || sk[0].URL != srvs[1].URL() {
		t.Fatalf("skipped %+v, want DC2 as an RODC", sk)
	}
}

func TestFailoverStopsTheRoundThenPinsTheNewDC(t *testing.T) {
	srvs, o := dcs(t, 2, nil)
	c, err := ad.Dial(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if id, mv := c.Pin(); id.Name() != "dc1.contoso.test" || mv != nil {
		t.Fatalf("pinned %v (move %v), want dc1", id, mv)
	}
	search := func() error {
		return c.Search(t.Context(), "DC=contoso,DC=test", ad.ScopeBase, "(objectClass=*)", []string{"dn"}, func(*ldap.Entry) error { return nil })
	}
	if err := search(); err != nil {
		t.Fatal(err)
	}
	srvs[0].Stop() // DC1 fails mid-round
	var moved *ad.DCChangedError
	if err := search(); !errors.As(err, &moved) {
		t.Fatalf("search after DC1 stopped: %v, want *DCChangedError", err)
	}
	if moved.From.Name() != "dc1.contoso.test" || moved.To.Name() != "dc2.contoso.test" {
		t.Fatalf("move %v", moved)
	}
	// Nothing more runs on DC2 in this round...
	before := srvs[1].Stats().Searches
	if err := search(); !errors.As(err, &moved) {
		t.Fatalf("second search in the same round: %v, want *DCChangedError", err)
	}
	if n := srvs[1].Stats().Searches - before; n != 0 {
		t.Fatalf("%d searches ran on DC2 after the move in the same round", n)
	}
	// ...the next round pins DC2 and works there; DC1 coming back does not
	// move it again.
	id, mv := c.Pin()
	if id.Name() != "dc2.contoso.test" || mv == nil {
		t.Fatalf("next round pinned %v (move %v)", id, mv)
	}
	srvs[0].Restart()
	if err := search(); err != nil {
		t.Fatal(err)
	}
	if c.URL() != srvs[1].URL() {
		t.Fatalf("on %s, want DC2 %s", c.URL(), srvs[1].URL())
	}
}

// A single URL behaves as before: a restart of the same DC redials and
// repeats the search, with no move.
func TestSingleURLRedialIsNoMove(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{DSA: "DC1"})
	c, err := ad.Dial(t.Context(), adconfig.Options(srv.Config()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Pin()
	srv.DropConnections()
	err = c.Search(t.Context(), "DC=contoso,DC=test", ad.ScopeBase, "(objectClass=*)", []string{"dn"}, func(*ldap.Entry) error { return nil })
	if err != nil {
		t.Fatalf("search after a dropped connection: %v", err)
	}
	if _, mv := c.Pin(); mv != nil {
		t.Fatalf("move %v after reconnecting to the same DC", mv)
	}
}

func TestDomainDiscoveryBySRV(t *testing.T) {
	srvs, base := dcs(t, 3, nil)
	port := func(s *ldaptest.Server) uint16 {
		u, _ := url.Parse(s.URL())
		p, _ := strconv.Atoi(u.Port())
		return uint16(p)
	}
	var asked []string
	restore := ad.SetLookupSRV(func(name string) ([]*net.SRV, error) {
		asked = append(asked, name)
		switch name {
		case "_ldap._tcp.Branch._sites.dc._msdcs.contoso.test":
			return []*net.SRV{{Target: "127.0.0.1.", Port: port(srvs[2]), Priority: 0, Weight: 100}}, nil
		case "_ldap._tcp.dc._msdcs.contoso.test":
			return []*net.SRV{{Target: "127.0.0.1.", Port: port(srvs[0])}, {Target: "localhost.", Port: port(srvs[1])}}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	})
	defer restore()
	o := base
	o.Servers, o.Domain, o.Site = nil, "contoso.test", "Branch"
	cands, err := ad.Locate(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	// The site's DC first; a target already listed is listed once.
	if len(cands) != 2 || cands[0].URL != srvs[2].URL() || cands[1].URL != "ldap://localhost:"+strconv.Itoa(int(port(srvs[1]))) {
		t.Fatalf("candidates %+v", cands)
	}
	c, err := ad.Dial(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Identity().Name() != "dc3.contoso.test" {
		t.Fatalf("pinned %v, want the site's DC3", c.Identity())
	}
	if len(asked) < 2 {
		t.Fatalf("asked %v", asked)
	}
	// No records at all: an error that says what to check.
	o.Domain = "fabrikam.test"
	if _, err := ad.Locate(t.Context(), o); err == nil {
		t.Fatal("no error for a domain without SRV records")
	}
}

func TestGCPrefersThePinnedDC(t *testing.T) {
	o := ad.Options{Servers: []string{"ldaps://dc1.contoso.test", "ldaps://dc2.contoso.test:636"}}
	cands, err := ad.LocateGC(context.Background(), o, "ldaps://dc2.contoso.test:636")
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 2 || cands[0].URL != "ldaps://dc2.contoso.test:3269" || cands[1].URL != "ldaps://dc1.contoso.test:3269" {
		t.Fatalf("gc candidates %+v, want the pinned DC's GC first", cands)
	}
	o.GCURL = "ldaps://gc.contoso.test:3269"
	if cands, _ := ad.LocateGC(context.Background(), o, "ldaps://dc2.contoso.test"); len(cands) != 1 || cands[0].URL != o.GCURL {
		t.Fatalf("ad.gcUrl set: %+v", cands)
	}
}

package ad

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// Conn is one bound LDAP connection to a domain controller or Global Catalog.
// It is safe for concurrent use; operations are serialised per request by go-ldap.
//
// With several candidate servers (ad.servers, ad.domain) a connection that
// breaks is re-established to the same server when it answers, else to the
// next candidate; a move to another DC is reported by the operations that
// follow it (*DCChangedError) until Pin.
type Conn struct {
	mu     sync.Mutex // guards l, gen, closed, url, ident, pinned, moved
	l      *ldap.Conn
	gen    uint64 // incremented by each redial
	closed bool
	// connect dials and binds a fresh connection, trying the candidates
	// from the current one on; it returns the URL and identity it reached.
	connect func(ctx context.Context) (*ldap.Conn, string, DCIdentity, error)

	// searches counts search operations (a paged search counts once), for
	// the engine's per-round figures.
	searches atomic.Int64

	url      string
	gc       bool
	pageSize int
	batch    int
	timeout  time.Duration
	log      *slog.Logger
	tls      bool

	ident  DCIdentity      // the server the connection is on now
	pinned DCIdentity      // the DC the round works on (Pin)
	moved  *DCChangedError // a redial landed on another DC than pinned

	// skipped lists candidates passed over at the last connect (RODCs,
	// non-GC servers), for check.
	skipped []Skipped

	baseOnce sync.Once
	base     string
	baseErr  error

	// permissive: the DC lists the permissive-modify control (read once).
	permOnce   sync.Once
	permissive bool

	// bind spaces out binds after the DC rejected the password.
	bind bindGuard

	// usn caches the DC's identity per connection generation (usn.go).
	usn usnCache
}

// Skipped is a candidate server a connect passed over, and why.
type Skipped struct {
	URL    string
	Reason string
}

// Dial connects to a domain controller: o.URL, or the first of o.Servers or
// of the DC locator's answer for o.Domain that answers and is writable. It
// verifies the certificate (unless o.Insecure on an ldap:// URL), binds as
// o.BindDN, reads the DC's identity and pins it.
func Dial(ctx context.Context, o Options) (*Conn, error) {
	cands, err := Locate(ctx, o)
	if err != nil {
		return nil, err
	}
	return dial(ctx, o, cands, false)
}

// DialGC connects to a Global Catalog: o.GCURL (default: the DC's host on
// 3269 for ldaps, 3268 for ldap; with ad.domain the forest's _gc._tcp
// records) and binds. See DialGCNear to prefer the pinned DC's own GC.
func DialGC(ctx context.Context, o Options) (*Conn, error) {
	return DialGCNear(ctx, o, nil)
}

// DialGCNear is DialGC trying dc's server first when it is a Global Catalog:
// answers about groups the DC just wrote then come from the same database.
func DialGCNear(ctx context.Context, o Options, dc *Conn) (*Conn, error) {
	prefer := ""
	if dc != nil {
		prefer = dc.URL()
	}
	cands, err := LocateGC(ctx, o, prefer)
	if err != nil {
		return nil, err
	}
	return dial(ctx, o, cands, true)
}

func defaultGCURL(dcURL string) string {
	u, err := url.Parse(dcURL)
	if err != nil || u.Host == "" {
		return ""
	}
	port := "3268"
	if u.Scheme == "ldaps" {
		port = "3269"
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port)
}

// ConnectError means no TCP connection could be made.
type ConnectError struct {
	URL string
	Err error
}

func (e *ConnectError) Error() string { return fmt.Sprintf("connect %s: %v", e.URL, e.Err) }
func (e *ConnectError) Unwrap() error { return e.Err }

// TLSError means the TLS handshake failed, typically because the server's
// certificate is not trusted or does not name the host.
type TLSError struct {
	URL string
	Err error
}

func (e *TLSError) Error() string { return fmt.Sprintf("TLS with %s: %v", e.URL, e.Err) }
func (e *TLSError) Unwrap() error { return e.Err }

// TLSConfig builds the client TLS configuration for o and the given server URL.
func TLSConfig(o Options, serverURL string) (*tls.Config, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, fmt.Errorf("ad url %q: %w", serverURL, err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
	if tc.ServerName == "" {
		tc.ServerName = u.Hostname()
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ad.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ad.caFile %s: no PEM certificates found", o.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// target is one candidate, parsed.
type target struct {
	url   string
	host  string // host:port
	ldaps bool
	tc    *tls.Config
}

func parseTarget(o Options, rawURL string, gc bool) (target, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return target{}, fmt.Errorf("ad url %q: want ldap://host[:port] or ldaps://host[:port]", rawURL)
	}
	host := u.Host
	if u.Port() == "" {
		port := map[[2]bool]string{{false, false}: "389", {false, true}: "636", {true, false}: "3268", {true, true}: "3269"}[[2]bool{gc, u.Scheme == "ldaps"}]
		host = net.JoinHostPort(u.Hostname(), port)
	}
	tc, err := TLSConfig(o, rawURL)
	if err != nil {
		return target{}, err
	}
	return target{url: rawURL, host: host, ldaps: u.Scheme == "ldaps", tc: tc}, nil
}

func dial(ctx context.Context, o Options, cands []Candidate, gc bool) (*Conn, error) {
	if len(cands) == 0 {
		return nil, errors.New("connect to AD: no server to connect to; set ad.url, ad.servers or ad.domain (docs/ad.md)")
	}
	d := &dialer{o: o, gc: gc, pw: o.password(), timeout: o.Timeout}
	for _, cand := range cands {
		t, err := parseTarget(o, cand.URL, gc)
		if err != nil {
			return nil, err
		}
		d.targets = append(d.targets, t)
	}
	// Read now so a missing secret fails at once; each bind reads it again,
	// so a password rotated in its file or variable needs no restart.
	if _, err := d.pw.Value("ad.password"); err != nil {
		return nil, err
	}
	if d.timeout <= 0 {
		d.timeout = 30 * time.Second
	}
	c := newConn(o, d.targets[0].url, gc, d.timeout)
	d.c = c
	c.connect = d.connect
	l, u, id, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.l, c.url, c.ident, c.pinned = l, u, id, id
	c.tls = d.targets[0].ldaps || !o.Insecure
	return c, nil
}

// newConn is a connection not yet dialled, with o's settings and defaults.
func newConn(o Options, url string, gc bool, timeout time.Duration) *Conn {
	c := &Conn{url: url, gc: gc, pageSize: o.PageSize, batch: o.MemberBatch, timeout: timeout, log: o.Logger}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.pageSize <= 0 {
		c.pageSize = 1000
	}
	if o.BaseDN != "" {
		c.baseOnce.Do(func() { c.base = o.BaseDN })
	}
	if c.batch <= 0 {
		c.batch = 1000
	}
	c.batch = min(c.batch, MaxMemberBatch)
	return c
}

// dialer (re)connects a Conn to the first of its servers that answers,
// starting with the one in use.
type dialer struct {
	o       Options
	gc      bool
	pw      Secret
	timeout time.Duration
	targets []target
	c       *Conn
	next    int // the index of the target to try first: the one in use
}

// bindOne dials and binds one server.
func (d *dialer) bindOne(ctx context.Context, t target) (*ldap.Conn, error) {
	password, err := d.pw.Value("ad.password")
	if err != nil {
		return nil, err
	}
	l, err := connect(ctx, d.o.Insecure, t.url, t.host, t.ldaps, t.tc, d.timeout)
	if err != nil {
		return nil, err
	}
	err = runOn(ctx, l, func(l *ldap.Conn) error {
		_, err := l.SimpleBind(&ldap.SimpleBindRequest{Username: d.o.BindDN, Password: password})
		return err
	})
	if err != nil {
		l.Close()
		return nil, opErr("bind as", d.o.BindDN, err)
	}
	return l, nil
}

// connect binds the first server that answers and may serve (see usable),
// from the one in use on.
func (d *dialer) connect(ctx context.Context) (*ldap.Conn, string, DCIdentity, error) {
	c := d.c
	// During a backoff the DC is not asked: each rejected bind counts
	// towards the account's lockout threshold.
	if err := c.bind.wait(); err != nil {
		return nil, "", DCIdentity{}, err
	}
	var first error
	var skipped []Skipped
	for i := range d.targets {
		t := d.targets[(d.next+i)%len(d.targets)]
		l, err := d.bindOne(ctx, t)
		if err != nil {
			if IsInvalidCredentials(err) {
				return nil, "", DCIdentity{}, d.rejected(t, err)
			}
			if first == nil {
				first = err
			}
			if len(d.targets) > 1 {
				c.log.Warn("AD server does not answer; trying the next one", "url", t.url, "err", err)
			}
			if ctx.Err() != nil {
				break
			}
			continue
		}
		c.bind.succeeded()
		id, err := readIdentity(l, t.url)
		if err != nil {
			c.log.Debug("could not read the DC's identity", "url", t.url, "err", err)
		}
		if why := d.unusable(id); why != "" {
			l.Close()
			skipped = append(skipped, Skipped{URL: t.url, Reason: why})
			c.log.Info("skipping a server", "url", t.url, "dc", id.Name(), "reason", why)
			continue
		}
		d.next = (d.next + i) % len(d.targets)
		c.skipped = skipped
		return l, t.url, id, nil
	}
	c.skipped = skipped
	if first == nil {
		first = fmt.Errorf("every server was skipped: %s", describeSkipped(skipped))
	} else if len(d.targets) > 1 {
		first = fmt.Errorf("none of %d servers answered (first: %w)", len(d.targets), first)
	}
	return nil, "", DCIdentity{}, first
}

// rejected handles a bind refused for its credentials. Dial (c.l not set
// yet) returns the error to its caller, and the connection is never used:
// no backoff. A redial (c.l set; redial holds c.mu) fails inside some
// operation of a running connection: back off, and say so once. The same
// account binds on every DC: another DC would only count another failure
// towards the lockout.
func (d *dialer) rejected(t target, err error) error {
	c := d.c
	if c.l == nil {
		return err
	}
	be := c.bind.rejected(d.o.BindDN, d.pw.Describe("ad.password"), err)
	c.log.Warn("AD rejected the bind password; waiting before the next bind so the account is not locked out",
		"url", t.url, "bindDN", d.o.BindDN, "secret", be.Secret, "retryAt", be.RetryAt.Format(time.TimeOnly))
	return be
}

// unusable says why a server of several is not used ("" when it is): a
// read-only DC for writes, or a GC candidate that is not a Global Catalog.
// With one server there is no choice to make: a read-only DC then fails at
// the first write with a referral, and check says why.
func (d *dialer) unusable(id DCIdentity) string {
	switch {
	case len(d.targets) < 2:
		return ""
	case !d.gc && id.RODC:
		return "read-only domain controller (RODC): never used for writes"
	case d.gc && id.Known() && !id.GlobalCatalog:
		return "not a Global Catalog (isGlobalCatalogReady is not TRUE)"
	}
	return ""
}

func describeSkipped(s []Skipped) string {
	var parts []string
	for _, x := range s {
		parts = append(parts, x.URL+": "+x.Reason)
	}
	return strings.Join(parts, "; ")
}

// connect opens the TCP connection and secures it (LDAPS or StartTLS).
func connect(ctx context.Context, insecure bool, rawURL, host string, ldaps bool, tc *tls.Config, timeout time.Duration) (*ldap.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nc, err := (&net.Dialer{}).DialContext(dctx, "tcp", host)
	if err != nil {
		return nil, &ConnectError{URL: rawURL, Err: err}
	}
	switch {
	case ldaps:
		tlsConn := tls.Client(nc, tc)
		if err := tlsConn.HandshakeContext(dctx); err != nil {
			nc.Close()
			return nil, &TLSError{URL: rawURL, Err: err}
		}
		nc = tlsConn
	case !insecure:
		tlsConn, err := startTLS(dctx, nc, tc)
		if err != nil {
			nc.Close()
			return nil, &TLSError{URL: rawURL, Err: err}
		}
		nc = tlsConn
	}
	l := ldap.NewConn(nc, ldaps || !insecure)
	l.Start()
	l.SetTimeout(timeout)
	return l, nil
}

// startTLS sends the StartTLS extended operation on a fresh connection and
// completes the handshake itself, so certificate errors keep their type.
func startTLS(ctx context.Context, nc net.Conn, tc *tls.Config) (*tls.Conn, error) {
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
		defer nc.SetDeadline(time.Time{})
	}
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(0x7fffffff), "MessageID"))
	req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedRequest, nil, "Start TLS")
	req.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "1.3.6.1.4.1.1466.20037", "TLS Extended Command"))
	p.AppendChild(req)
	if _, err := nc.Write(p.Bytes()); err != nil {
		return nil, fmt.Errorf("StartTLS request: %w", err)
	}
	resp, err := ber.ReadPacket(nc)
	if err != nil {
		return nil, fmt.Errorf("StartTLS response: %w", err)
	}
	if err := ldap.GetLDAPError(resp); err != nil {
		return nil, fmt.Errorf("server refused StartTLS (use an ldaps:// URL?): %w", err)
	}
	tlsConn := tls.Client(nc, tc)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tlsConn, nil
}

// Close unbinds and closes the connection; it is not redialled afterwards.
func (c *Conn) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.l == nil {
		return nil
	}
	return c.l.Close()
}

// URL is the server URL this connection is on now.
func (c *Conn) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.url
}

// Skipped lists the candidate servers the last connect passed over (RODCs,
// servers that are not Global Catalogs).
func (c *Conn) Skipped() []Skipped {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.skipped)
}

// Encrypted reports whether the connection uses TLS (ldaps or StartTLS).
func (c *Conn) Encrypted() bool { return c.tls }

// PageSize is the page size used for searches.
func (c *Conn) PageSize() int { return c.pageSize }

// SetLogger replaces the logger (default slog.Default()).
func (c *Conn) SetLogger(l *slog.Logger) { c.log = l }

// current returns the live go-ldap connection and its generation.
func (c *Conn) current() (*ldap.Conn, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.l, c.gen
}

// do runs a blocking go-ldap call once, aborting it when ctx ends. go-ldap has
// no context support outside SearchAsync, so a cancelled call closes the
// connection: the operation's outcome on the server is then unknown, which
// callers already handle because every write here is safe to repeat after a
// fresh read. A network failure (the DC restarted, the connection was reset
// or timed out) redials, so the next call works, but the call itself is not
// repeated: its outcome is unknown. Use retry for idempotent operations.
func (c *Conn) do(ctx context.Context, f func(l *ldap.Conn) error) error {
	if err := c.pendingMove(); err != nil {
		return err
	}
	gen, broken, err := c.once(ctx, f)
	if broken {
		var be *BindRejectedError
		// A bind backoff was already logged when it started.
		rerr := c.redial(ctx, gen)
		if rerr != nil && !(errors.As(rerr, &be) && be.Waiting) {
			c.log.Warn("reconnect to AD failed", "url", c.URL(), "err", rerr)
		}
		if be != nil {
			return errors.Join(rerr, err) // the rejected password is why it keeps failing
		}
		if mv := c.pendingMove(); mv != nil {
			return errors.Join(mv, err)
		}
	}
	return err
}

// retry is do for idempotent operations (searches, replaces, member changes
// whose "already done" answers count as success): after a network failure it
// redials with the same bind and runs f once more.
func (c *Conn) retry(ctx context.Context, f func(l *ldap.Conn) error) error {
	if err := c.pendingMove(); err != nil {
		return err
	}
	gen, broken, err := c.once(ctx, f)
	if !broken {
		return err
	}
	if rerr := c.redial(ctx, gen); rerr != nil {
		return errors.Join(rerr, err) // cause first: why no new connection
	}
	if mv := c.pendingMove(); mv != nil {
		return mv // not repeated on another DC: the round stops
	}
	c.log.Info("reconnected to AD; repeating the operation", "url", c.URL(), "after", err)
	_, _, err = c.once(ctx, f)
	return err
}

// once runs f on the current connection. broken reports that the connection
// itself failed (not the server's answer, not ctx): gen is the one to replace.
func (c *Conn) once(ctx context.Context, f func(l *ldap.Conn) error) (gen uint64, broken bool, err error) {
	l, gen := c.current()
	err = runOn(ctx, l, f)
	broken = err != nil && ctx.Err() == nil && (IsNetworkError(err) || Code(err) == 0 && l.IsClosing())
	return gen, broken, err
}

// runOn runs f on l, closing l if ctx ends first.
func runOn(ctx context.Context, l *ldap.Conn, f func(l *ldap.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { l.Close() })
	err := f(l)
	if !stop() {
		return errors.Join(ctx.Err(), err)
	}
	return err
}

// redial replaces the connection of generation gen with a new one, bound as
// before. Callers that saw the same failure concurrently share one redial.
func (c *Conn) redial(ctx context.Context, gen uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return nil // another caller already reconnected
	}
	if c.closed || c.connect == nil {
		return errors.New("connection closed")
	}
	l, u, id, err := c.connect(ctx)
	if err != nil {
		return fmt.Errorf("reconnect %s: %w", c.url, err)
	}
	c.l.Close()
	c.l = l
	c.gen++
	if u != c.url {
		c.log.Warn("AD connection moved to another server", "from", c.url, "to", u, "dc", id.Name())
	}
	c.url, c.ident = u, id
	if !c.gc && !id.Same(c.pinned) && c.moved == nil {
		c.moved = &DCChangedError{From: c.pinned, To: id}
	}
	return nil
}

// IsNetworkError reports whether err means the connection itself failed (closed,
// reset, timed out: LDAP client error 200) rather than the server answering.
func IsNetworkError(err error) bool {
	var le *ldap.Error
	if errors.As(err, &le) && le.ResultCode == ldap.ErrorNetwork {
		return true
	}
	// go-ldap reports a lost connection as plain errors with these texts (no
	// type, no wrapped cause).
	if err != nil && (strings.Contains(err.Error(), "unable to read LDAP response packet") || strings.Contains(err.Error(), "unable to send request")) {
		return true
	}
	var ne net.Error
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.As(err, &ne)
}

// Bind backoff after the DC rejected the password (LDAP 49). Retrying once
// per operation would send a wrong password many times a minute and lock the
// account (Windows: after the domain's lockout threshold, often 5 to 10).
// Variables so tests can shorten them.
var (
	bindBackoffMin = 30 * time.Second
	bindBackoffMax = 15 * time.Minute
)

// BindRejectedError means the DC rejected the bind password: now, or (Waiting)
// recently enough that writeback does not try again before RetryAt.
type BindRejectedError struct {
	BindDN  string
	Secret  string // where the password comes from, e.g. "ad.password (file /etc/writeback/ad-password)"
	RetryAt time.Time
	Waiting bool  // no bind was attempted: the backoff from an earlier rejection is running
	Err     error // the bind's *OpError (LDAP 49)
}

func (e *BindRejectedError) Error() string {
	when := fmt.Sprintf("%s (in %s)", e.RetryAt.Format(time.TimeOnly), time.Until(e.RetryAt).Round(time.Second))
	// Not the password itself (expired, locked out, disabled, ...): say
	// what is wrong with the account; e.Err carries the fix.
	if f, ok := DecodeBindFailure(e.Err); ok && f.SubCode != "52e" {
		if e.Waiting {
			return fmt.Sprintf("AD rejected the bind of %s at the last bind because %s; not binding again before %s (%v)", e.BindDN, f.Reason, when, e.Err)
		}
		return fmt.Sprintf("AD rejected the bind of %s because %s; writeback binds next at %s, waiting longer after each rejection (%v)", e.BindDN, f.Reason, when, e.Err)
	}
	if e.Waiting {
		return fmt.Sprintf("AD rejected the password of %s at the last bind; not binding again before %s so the account is not locked out: correct %s, it is read again then (%v)",
			e.BindDN, when, e.Secret, e.Err)
	}
	return fmt.Sprintf("AD rejected the password of %s: correct %s; writeback reads it again and binds next at %s, waiting longer after each rejection so the account is not locked out (%v)",
		e.BindDN, e.Secret, when, e.Err)
}

func (e *BindRejectedError) Unwrap() error { return e.Err }

// bindGuard is the backoff state of one connection's binds: exponential from
// bindBackoffMin, doubling to bindBackoffMax, reset by a successful bind.
type bindGuard struct {
	mu    sync.Mutex
	delay time.Duration // 0: the last bind succeeded (or none was made)
	last  *BindRejectedError
}

// wait returns the last rejection, marked Waiting, while its backoff runs.
func (g *bindGuard) wait() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last == nil || !time.Now().Before(g.last.RetryAt) {
		return nil
	}
	e := *g.last
	e.Waiting = true
	return &e
}

func (g *bindGuard) rejected(bindDN, secret string, err error) *BindRejectedError {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.delay = nextBindBackoff(g.delay)
	g.last = &BindRejectedError{BindDN: bindDN, Secret: secret, RetryAt: time.Now().Add(g.delay), Err: err}
	e := *g.last
	return &e
}

func (g *bindGuard) succeeded() {
	g.mu.Lock()
	g.delay, g.last = 0, nil
	g.mu.Unlock()
}

// nextBindBackoff is the wait after another rejection, given the last wait.
func nextBindBackoff(prev time.Duration) time.Duration {
	if prev <= 0 {
		return bindBackoffMin
	}
	return min(2*prev, bindBackoffMax)
}

package entra

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Endpoints of one cloud.
type Endpoints struct {
	AuthorityHost string // e.g. https://login.microsoftonline.com/
	GraphURL      string // e.g. https://graph.microsoft.com (no version)
}

// Clouds are Microsoft's national clouds by the names entra.cloud accepts.
var Clouds = map[string]Endpoints{
	"public": {"https://login.microsoftonline.com/", "https://graph.microsoft.com"},
	"usgov":  {"https://login.microsoftonline.us/", "https://graph.microsoft.us"},
	"china":  {"https://login.chinacloudapi.cn/", "https://microsoftgraph.chinacloudapi.cn"},
}

// microsoftAuthorityHosts are the hosts MSAL's instance discovery knows.
var microsoftAuthorityHosts = map[string]bool{
	"login.microsoftonline.com": true, "login.microsoftonline.us": true,
	"login.chinacloudapi.cn": true, "login.microsoft.com": true,
	"login.windows.net": true, "sts.windows.net": true, "login.microsoftonline.de": true,
}

// Client reads Microsoft Graph. It is safe for concurrent use.
type Client struct {
	pl       runtime.Pipeline
	rot      *rotatingCredential // nil for a credential given with WithCredential or without a secret
	tr       *classifyingTransport
	base     string // https://graph.microsoft.com/v1.0
	log      *slog.Logger
	sem      chan struct{}
	pageSize int
	groupSel []string
	userSel  []string
	// noOI is set once Graph refused onPremisesObjectIdentifier in $select
	// (it is not declared on user in v1.0); users are then read without it
	// and resolved by their SID or immutable ID.
	noOI atomic.Bool

	requests, attempts, throttled, resyncs, pages atomic.Int64
}

type options struct {
	log         *slog.Logger
	cred        azcore.TokenCredential
	retry       policy.RetryOptions
	pageSize    int
	groupExtra  []string
	httpTimeout time.Duration
}

// Option adjusts New.
type Option func(*options)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithCredential replaces the credential built from the config.
func WithCredential(c azcore.TokenCredential) Option { return func(o *options) { o.cred = c } }

// WithRetry overrides retry tuning; tests shorten the delays.
func WithRetry(r policy.RetryOptions) Option { return func(o *options) { o.retry = r } }

// WithPageSize asks Graph for n objects a page (Prefer: odata.maxpagesize).
func WithPageSize(n int) Option { return func(o *options) { o.pageSize = n } }

// WithGroupProperties adds group properties to $select (for scoping filters
// and attribute mappings).
func WithGroupProperties(p ...string) Option {
	return func(o *options) { o.groupExtra = append(o.groupExtra, p...) }
}

// GroupProperties are the group properties always selected.
var GroupProperties = []string{"id", "displayName", "description", "mailNickname", "mail",
	"securityEnabled", "mailEnabled", "groupTypes", "onPremisesSyncEnabled",
	// A group's on-premises identity (SOAProperties): an SOA-converted
	// group is matched by it to the AD group it came from (docs/engine.md).
	"onPremisesSecurityIdentifier", "onPremisesSamAccountName", "onPremisesDomainName"}

// UserProperties are the user properties always selected. All are declared
// on user in Graph v1.0.
var UserProperties = []string{"id", "displayName", "userPrincipalName",
	"onPremisesSecurityIdentifier", "onPremisesImmutableId",
	"onPremisesSyncEnabled", "onPremisesDistinguishedName", "onPremisesDomainName",
	"onPremisesSamAccountName"}

// ObjectIdentifierProperty is the user's AD objectGUID as Cloud Sync's
// documentation and Graph beta name it. Graph v1.0 does not declare it: the
// service may return it, leave it out, or refuse the $select with 400. The
// client asks for it and, when refused, reads users without it (see
// Client.ObjectIdentifierRefused).
const ObjectIdentifierProperty = "onPremisesObjectIdentifier"

// New builds a client: the credential, the trusted roots and the
// pipeline. It does not contact Graph; the first request does.
func New(ctx context.Context, cfg Options, opts ...Option) (*Client, error) {
	o := options{
		log: slog.Default(),
		retry: policy.RetryOptions{
			MaxRetries:    6,
			RetryDelay:    time.Second,
			MaxRetryDelay: 2 * time.Minute,
			TryTimeout:    2 * time.Minute,
		},
		httpTimeout: 5 * time.Minute,
	}
	for _, f := range opts {
		f(&o)
	}
	ep, err := endpoints(cfg)
	if err != nil {
		return nil, err
	}
	hc, err := newHTTPClient(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	transport := &classifyingTransport{hc: hc, log: o.log}
	copts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: ep.AuthorityHost, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}},
		Transport: transport,
		Retry:     o.retry,
	}
	cred := o.cred
	if cred == nil {
		cred, err = newCredential(cfg, ep, copts, o.log)
		if err != nil {
			return nil, err
		}
	}
	rot, _ := cred.(*rotatingCredential)
	conc := cfg.Concurrency
	if conc < 1 {
		conc = 4
	}
	c := &Client{
		rot:      rot,
		tr:       transport,
		base:     strings.TrimRight(ep.GraphURL, "/") + "/v1.0",
		log:      o.log,
		sem:      make(chan struct{}, conc),
		pageSize: o.pageSize,
		groupSel: dedupe(append(append([]string{}, GroupProperties...), o.groupExtra...), ""),
		userSel:  dedupe(UserProperties, ObjectIdentifierProperty),
	}
	scope := strings.TrimRight(ep.GraphURL, "/") + "/.default"
	c.pl = runtime.NewPipeline("writeback", "v1", runtime.PipelineOptions{
		PerCall:  []policy.Policy{countPolicy{&c.requests}},
		PerRetry: []policy.Policy{runtime.NewBearerTokenPolicy(cred, []string{scope}, nil), attemptPolicy{c}, fractionalRetryAfter{}},
	}, &policy.ClientOptions{Transport: transport, Retry: o.retry})
	return c, nil
}

// dedupe returns list without duplicates (first kept, case-insensitive) and without drop.
func dedupe(list []string, drop string) []string {
	out := make([]string, 0, len(list))
	seen := map[string]bool{strings.ToLower(drop): true}
	for _, p := range list {
		if k := strings.ToLower(p); !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out
}

// userSelect is the user $select of a request: the user properties, and
// onPremisesObjectIdentifier until Graph refused it.
func (c *Client) userSelect() string {
	sel := strings.Join(c.userSel, ",")
	if !c.noOI.Load() {
		sel += "," + ObjectIdentifierProperty
	}
	return sel
}

// ObjectIdentifierRefused reports whether Graph refused
// onPremisesObjectIdentifier in $select, so users are read without it.
func (c *Client) ObjectIdentifierRefused() bool { return c.noOI.Load() }

// refusedObjectIdentifier reports whether err is Graph's 400 for an
// undeclared onPremisesObjectIdentifier in $select ("Could not find a
// property named 'onPremisesObjectIdentifier' on type 'microsoft.graph.user'").
func refusedObjectIdentifier(err error) bool {
	var ge *Error
	return errors.As(err, &ge) && ge.Status == http.StatusBadRequest &&
		strings.Contains(ge.Message, "'"+ObjectIdentifierProperty+"'")
}

// dropObjectIdentifier handles refusedObjectIdentifier for a request made
// with $select sel: it stops selecting the property, says so once in the log
// and reports whether the request should be made again without it (false
// when sel did not hold it: the 400 has another cause).
func (c *Client) dropObjectIdentifier(err error, what, sel string) bool {
	if !refusedObjectIdentifier(err) || !strings.Contains(sel, ObjectIdentifierProperty) {
		return false
	}
	if !c.noOI.CompareAndSwap(false, true) {
		return true // another request dropped it already
	}
	c.log.Warn("Graph refused onPremisesObjectIdentifier in $select (Graph v1.0 does not declare it); reading users without it: synced members are resolved by onPremisesSecurityIdentifier or onPremisesImmutableId",
		"request", what)
	return true
}

// endpoints resolves the cloud and its overrides, checking that both are https URLs.
func endpoints(cfg Options) (Endpoints, error) {
	cl := strings.ToLower(cfg.Cloud)
	if cl == "" {
		cl = "public"
	}
	ep, ok := Clouds[cl]
	if !ok {
		return Endpoints{}, fmt.Errorf("entra.cloud %q: want public, usgov or china", cfg.Cloud)
	}
	if cfg.AuthorityHost != "" {
		ep.AuthorityHost = cfg.AuthorityHost
	}
	if cfg.GraphURL != "" {
		ep.GraphURL = cfg.GraphURL
	}
	for _, f := range []struct{ name, v string }{{"entra.authorityHost", ep.AuthorityHost}, {"entra.graphUrl", ep.GraphURL}} {
		u, err := url.Parse(f.v)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return Endpoints{}, fmt.Errorf("%s %q: want an https:// URL", f.name, f.v)
		}
	}
	if !strings.HasSuffix(ep.AuthorityHost, "/") {
		ep.AuthorityHost += "/"
	}
	return ep, nil
}

// newHTTPClient is the one HTTP client for both the token endpoint and Graph,
// trusting the system roots plus caFile.
func newHTTPClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("entra.caFile: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("entra.caFile %s: no PEM certificate found", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}, nil
}

func newCredential(cfg Options, ep Endpoints, copts azcore.ClientOptions, log *slog.Logger) (azcore.TokenCredential, error) {
	host := ""
	if u, err := url.Parse(ep.AuthorityHost); err == nil {
		host = strings.ToLower(u.Hostname())
	}
	// MSAL validates an authority it does not know by asking
	// login.microsoftonline.com for instance metadata. An authority outside
	// Microsoft's list (the emulator, a private cloud) cannot be described
	// there, and the request would leave the network, so for such hosts we skip
	// instance discovery; MSAL then reads <authority>/<tenant>/v2.0/.well-known/
	// openid-configuration directly. Microsoft's hosts keep the default.
	noDiscovery := !microsoftAuthorityHosts[host]
	cr := cfg.Credential
	switch cr.Kind {
	case "", "secret":
		if cr.Secret == nil {
			return nil, fmt.Errorf("entra.credential.secret: not set")
		}
		// Read once now so a missing or empty secret fails at start, not at
		// the first token request.
		if _, err := cr.Secret.Value("entra.credential.secret"); err != nil {
			return nil, err
		}
		return &rotatingCredential{what: cr.Secret.Describe("entra.credential.secret"), log: log,
			read: func() ([]byte, error) {
				v, err := cr.Secret.Value("entra.credential.secret")
				return []byte(v), err
			},
			build: func(secret []byte) (azcore.TokenCredential, error) {
				c, err := azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, string(secret),
					&azidentity.ClientSecretCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: noDiscovery})
				if err != nil {
					return nil, fmt.Errorf("entra client secret credential: %w", err)
				}
				return c, nil
			}}, nil
	case "certificate":
		read := func() ([]byte, error) {
			data, err := os.ReadFile(cr.CertificateFile)
			if err != nil {
				return nil, fmt.Errorf("entra.credential.certificateFile: %w", err)
			}
			if isSet(cr.CertificatePassword) {
				p, err := cr.CertificatePassword.Value("entra.credential.certificatePassword")
				if err != nil {
					return nil, err
				}
				// The password follows the file after a NUL; build splits
				// at the last NUL (a password read from a file or variable
				// holds none), so the digest covers both.
				data = append(append(data, 0), p...)
			}
			return data, nil
		}
		build := func(m []byte) (azcore.TokenCredential, error) {
			data, pw := m, []byte(nil)
			if isSet(cr.CertificatePassword) {
				i := bytes.LastIndexByte(m, 0)
				data, pw = m[:i], m[i+1:]
			}
			certs, key, err := azidentity.ParseCertificates(data, pw)
			if err != nil {
				return nil, fmt.Errorf("entra.credential.certificateFile %s: %w (want PEM or PKCS#12 with the certificate and its private key)", cr.CertificateFile, err)
			}
			c, err := azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, certs, key,
				&azidentity.ClientCertificateCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: noDiscovery, SendCertificateChain: true})
			if err != nil {
				return nil, fmt.Errorf("entra certificate credential: %w", err)
			}
			return c, nil
		}
		// Build once now so a bad certificate file fails at start.
		m, err := read()
		if err != nil {
			return nil, err
		}
		if _, err := build(m); err != nil {
			return nil, err
		}
		return &rotatingCredential{what: "entra.credential.certificateFile " + cr.CertificateFile, log: log, read: read, build: build}, nil
	case "managedIdentity", "workloadIdentity":
		// No secret of ours to re-read (the workload identity credential
		// reads its token file itself), but wrapped all the same so that a
		// token Graph rejected is replaced by a fresh one.
		build := func([]byte) (azcore.TokenCredential, error) {
			if cr.Kind == "managedIdentity" {
				o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: copts}
				if cfg.ClientID != "" {
					o.ID = azidentity.ClientID(cfg.ClientID)
				}
				c, err := azidentity.NewManagedIdentityCredential(o)
				if err != nil {
					return nil, fmt.Errorf("entra managed identity credential: %w", err)
				}
				return c, nil
			}
			c, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
				ClientOptions: copts, ClientID: cfg.ClientID, TenantID: cfg.TenantID,
				TokenFilePath: cr.TokenFile, DisableInstanceDiscovery: noDiscovery,
			})
			if err != nil {
				return nil, fmt.Errorf("entra workload identity credential: %w (set entra.credential.tokenFile or AZURE_FEDERATED_TOKEN_FILE)", err)
			}
			return c, nil
		}
		if _, err := build(nil); err != nil {
			return nil, err
		}
		return &rotatingCredential{what: "entra.credential (" + cr.Kind + ")", log: log, build: build,
			read: func() ([]byte, error) { return nil, nil }}, nil
	}
	return nil, fmt.Errorf("entra.credential.kind %q: want secret, certificate, managedIdentity or workloadIdentity", cr.Kind)
}

// Stats returns the traffic counters.
func (c *Client) Stats() Stats {
	req, att := c.requests.Load(), c.attempts.Load()
	return Stats{Requests: req, Attempts: att, Retries: max(att-req, 0), Throttled: c.throttled.Load(),
		Resyncs: c.resyncs.Load(), Pages: c.pages.Load()}
}

type countPolicy struct{ n *atomic.Int64 }

func (p countPolicy) Do(req *policy.Request) (*http.Response, error) {
	p.n.Add(1)
	return req.Next()
}

type attemptPolicy struct{ c *Client }

func (p attemptPolicy) Do(req *policy.Request) (*http.Response, error) {
	p.c.attempts.Add(1)
	resp, err := req.Next()
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		p.c.throttled.Add(1)
		p.c.log.Debug("graph throttled", "url", req.Raw().URL.Path, "retryAfter", resp.Header.Get("Retry-After"))
	}
	return resp, err
}

// get performs one logical GET (retries inside the pipeline) and decodes JSON into v.
func (c *Client) get(ctx context.Context, rawURL string, header http.Header, v any) error {
	return c.do(ctx, http.MethodGet, rawURL, header, nil, v)
}

func (c *Client) do(ctx context.Context, method, rawURL string, header http.Header, body any, v any) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.sem }()
	before := c.attempts.Load()
	var resp *http.Response
	// One extra round trip for a 401. The bearer policy has then dropped its
	// token, but the credential's cache (MSAL) would hand the same token out
	// again until its last 5 minutes, so the credential is rebuilt first: the
	// retry carries a token fresh from the token endpoint. This covers a
	// revoked token, one from before an emulator restart and one that expired
	// in flight. (A CAE claims challenge is answered inside the bearer policy
	// with a token requested with the claims, which also bypasses the cache.)
	for try := 0; ; try++ {
		req, err := runtime.NewRequest(ctx, method, rawURL)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, shortURL(rawURL), err)
		}
		req.Raw().Header.Set("Accept", "application/json")
		for k, vs := range header {
			for _, s := range vs {
				req.Raw().Header.Add(k, s)
			}
		}
		if body != nil {
			if err := runtime.MarshalAsJSON(req, body); err != nil {
				return fmt.Errorf("%s %s: encode body: %w", method, shortURL(rawURL), err)
			}
		}
		resp, err = c.pl.Do(req)
		if err != nil {
			return c.requestError(method, rawURL, err)
		}
		if resp.StatusCode == http.StatusUnauthorized && try == 0 {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if c.rot != nil {
				c.rot.forget()
			}
			c.log.Info("Graph rejected the access token; retrying with a new one", "url", shortURL(rawURL))
			continue
		}
		break
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return c.graphError(resp, method, rawURL, int(c.attempts.Load()-before))
	}
	if v == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, shortURL(rawURL), err)
	}
	return nil
}

func (c *Client) graphError(resp *http.Response, method, rawURL string, attempts int) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Method: method, URL: shortURL(rawURL), Status: resp.StatusCode,
		RequestID: resp.Header.Get("request-id"), Attempts: attempts}
	var body struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				RequestID string `json:"request-id"`
			} `json:"innerError"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
		if e.RequestID == "" {
			e.RequestID = body.Error.InnerError.RequestID
		}
	} else {
		e.Message = strings.TrimSpace(string(b))
		if len(e.Message) > 300 {
			e.Message = e.Message[:300] + "..."
		}
	}
	return e
}

// shortURL drops scheme and host so errors stay readable and skip tokens short.
func shortURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	s := u.EscapedPath()
	if q := u.Query(); len(q) > 0 {
		for _, k := range []string{"$skiptoken", "$deltatoken"} {
			if v := q.Get(k); len(v) > 16 {
				q.Set(k, v[:16]+"...")
			}
		}
		if dq, err := url.QueryUnescape(q.Encode()); err == nil {
			s += "?" + dq
		}
	}
	return s
}

// requestError wraps a failed request. A permanent network error (an
// untrusted certificate, an unknown host) is named first: it is the root
// cause, and the layers azidentity and MSAL add around it would bury it.
func (c *Client) requestError(method, rawURL string, err error) error {
	var te *TransportError
	// azidentity flattens token endpoint errors to text, so a permanent
	// error from that side is recognised by the transport's record of it.
	if errors.As(err, &te) || c.tr.recent(err, &te) {
		return &causeFirst{cause: te, op: method + " " + shortURL(rawURL), err: err}
	}
	if authError(err) {
		return fmt.Errorf("%s %s: acquire an access token (check entra.tenantId, entra.clientId and entra.credential): %w", method, shortURL(rawURL), err)
	}
	return fmt.Errorf("%s %s: %w", method, shortURL(rawURL), err)
}

// causeFirst prints the root cause, then the request it failed; it unwraps
// to the cause and the whole chain, so errors.As finds both the
// *TransportError and azidentity's error types.
type causeFirst struct {
	cause *TransportError
	op    string
	err   error
}

func (e *causeFirst) Error() string {
	return "cannot reach Entra: " + e.cause.Error() + " [" + e.op + "]"
}
func (e *causeFirst) Unwrap() []error { return []error{e.cause, e.err} }

// authError reports whether err came from acquiring a token, for callers that
// want to tell a credential problem from a Graph one.
func authError(err error) bool {
	var ae *azidentity.AuthenticationFailedError
	return errors.As(err, &ae)
}

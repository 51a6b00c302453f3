package entra

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
)

// refusedLimit is how many connection refusals in a row (on any request, with
// no success between them) are retried before a refusal counts as permanent:
// a restarting endpoint comes back within a few seconds, a wrong port or a
// stopped service does not.
const refusedLimit = 3

// TransportError is a failure to reach the token endpoint or Graph that
// retrying will not fix: the server's certificate is not trusted, the host
// name does not resolve, or connections keep being refused. azcore's retry
// policy stops at once for it (NonRetriable), so the cause surfaces in
// seconds instead of after the retry budget of about two minutes.
type TransportError struct {
	Host string
	Fix  string // what the user can do
	Err  error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("%s: %v (%s)", e.Host, e.Err, e.Fix)
}
func (e *TransportError) Unwrap() error { return e.Err }

// NonRetriable marks the error for azcore's retry policy (errorinfo.NonRetriable).
func (e *TransportError) NonRetriable() {}

// classifyingTransport is the HTTP transport under both MSAL and the Graph
// pipeline. It marks permanent network errors as such and reports every
// other failed attempt (which the retry policy repeats while its budget
// lasts) at WARN with its cause, so an outage is visible while it lasts and
// not only when the retries run out.
type classifyingTransport struct {
	hc      *http.Client
	log     *slog.Logger
	refused atomic.Int32 // consecutive connection refusals
	last    atomic.Pointer[TransportError]
}

// recent sets *te to the last permanent error when err's text contains it.
func (t *classifyingTransport) recent(err error, te **TransportError) bool {
	last := t.last.Load()
	if last == nil || !strings.Contains(err.Error(), last.Err.Error()) {
		return false
	}
	*te = last
	return true
}

func (t *classifyingTransport) Do(req *http.Request) (*http.Response, error) {
	resp, err := t.hc.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return nil, err // cancelled or timed out by the caller: not the network's fault
		}
		if perm := t.permanent(req.URL.Host, err); perm != nil {
			t.last.Store(perm)
			return nil, perm
		}
		t.log.Warn("request to Entra failed", "host", req.URL.Host, "path", shortPath(req), "cause", rootCause(err))
		return nil, err
	}
	t.refused.Store(0)
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout {
		t.log.Warn("Entra answered with a server error", "host", req.URL.Host, "path", shortPath(req),
			"status", resp.StatusCode, "cause", peekCause(resp))
	}
	return resp, nil
}

// permanent returns a *TransportError when retrying err cannot help, else nil.
func (t *classifyingTransport) permanent(host string, err error) *TransportError {
	var (
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		dns *net.DNSError
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci):
		return &TransportError{Host: host, Err: rootCause(err),
			Fix: "the server's TLS certificate is not trusted: set entra.caFile to the CA that signed it (the emulator's ca.pem), or check entra.authorityHost and entra.graphUrl"}
	case errors.As(err, &dns) && dns.IsNotFound:
		return &TransportError{Host: host, Err: rootCause(err),
			Fix: "the host name does not resolve: check entra.cloud, entra.authorityHost and entra.graphUrl, and DNS"}
	case errors.Is(err, syscall.ECONNREFUSED):
		if t.refused.Add(1) >= refusedLimit {
			t.refused.Store(0)
			return &TransportError{Host: host, Err: rootCause(err),
				Fix: fmt.Sprintf("connection refused %d times in a row: check that the endpoint is up and entra.authorityHost and entra.graphUrl name the right port", refusedLimit)}
		}
	}
	return nil
}

// rootCause strips the url.Error layer, which repeats the method and the
// whole URL, leaving the error that says what went wrong.
func rootCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// aadCode finds "AADSTSnnnn: message" in a token endpoint error body.
var aadCode = regexp.MustCompile(`AADSTS\d+: [^.]*`)

// peekCause reads the start of an error body (putting it back for the
// caller) and returns its AADSTS code and message, or Graph's error code.
func peekCause(resp *http.Response) string {
	if resp.Body == nil {
		return http.StatusText(resp.StatusCode)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
	if m := aadCode.Find(b); m != nil {
		return string(m)
	}
	if i := bytes.Index(b, []byte(`"code"`)); i >= 0 {
		s := string(b[i:min(len(b), i+80)])
		return strings.SplitN(s, ",", 2)[0]
	}
	return http.StatusText(resp.StatusCode)
}

func shortPath(req *http.Request) string { return req.URL.Path }

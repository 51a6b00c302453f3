package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Server.
type Options struct {
	Tenant       *Tenant
	ClientID     string // default: a generated GUID
	ClientSecret string // default: a generated secret
	// TokenLifetime of access tokens (default 1h). MSAL and azcore renew a
	// token in its last 5 minutes, so anything shorter makes the client
	// fetch a new token before most requests, which tests use to exercise renewal.
	TokenLifetime time.Duration
	// PageSize is the delta and list page size when the client asks for none (default 100).
	PageSize int
	// MembersPerPage bounds members@delta entries on one delta page (default
	// 1000); a larger group is split across pages and repeated on each, as Graph does.
	MembersPerPage int
	// AcceptAssertions makes the token endpoint accept any client assertion
	// (certificate and workload identity credentials) for ClientID without
	// verifying its signature.
	AcceptAssertions bool
	// ServeObjectIdentifier makes users serve onPremisesObjectIdentifier.
	// Graph v1.0 does not declare that property (it is in beta and in Cloud
	// Sync's documentation), so by default the emulator refuses it in $select
	// with 400, as Graph does for any undeclared property.
	ServeObjectIdentifier bool
	// PartialUserUpdates makes an incremental users delta carry, for a user
	// changed since the token, only its id and the properties that changed:
	// Graph documents "at least the properties that have been updated".
	PartialUserUpdates bool
	// Roles are the application permissions in the access tokens the token
	// endpoint issues (default Group.Read.All and User.Read.All, what
	// docs/entra.md asks for). Graph endpoints answer 403
	// Authorization_RequestDenied without a role that grants them.
	Roles  []string
	Faults Faults
	Logger *slog.Logger
}

// Faults are injected failures; change them at run time with SetFaults or PUT /_emulator/faults.
type Faults struct {
	ThrottleRate float64 `json:"throttleRate,omitempty"` // fraction of Graph requests answered 429
	ErrorRate    float64 `json:"errorRate,omitempty"`    // fraction answered ErrorStatus
	ErrorStatus  int     `json:"errorStatus,omitempty"`  // 500, 502, 503 (default) or 504
	// RetryAfterSeconds on 429 and 503/504 (default 1.128): fractional, like
	// Microsoft's throttling sample ("Retry-After: 2.128").
	RetryAfterSeconds float64 `json:"retryAfterSeconds,omitempty"`
	LatencyMillis     int     `json:"latencyMillis,omitempty"`     // added to every Graph response
	ThrottleNext      int     `json:"throttleNext,omitempty"`      // the next N Graph requests get 429
	FailNext          int     `json:"failNext,omitempty"`          // the next N Graph requests get ErrorStatus
	TokenEndpointDown bool    `json:"tokenEndpointDown,omitempty"` // token endpoint answers 503
}

// Server is the emulator. Serve its Handler over TLS (see CA).
type Server struct {
	opts   Options
	t      *Tenant
	log    *slog.Logger
	mux    *http.ServeMux
	mu     sync.Mutex
	faults Faults
	tokens map[string]issued // access token signature -> expiry and roles

	stats serverStats
}

type serverStats struct {
	GraphRequests atomic.Int64
	DeltaPages    atomic.Int64
	Tokens        atomic.Int64
	Throttled     atomic.Int64
	Failed        atomic.Int64
	Unauthorized  atomic.Int64
	Forbidden     atomic.Int64
}

// Stats are the emulator's counters, served at GET /_emulator/stats.
type Stats struct {
	GraphRequests int64 `json:"graphRequests"`
	DeltaPages    int64 `json:"deltaPages"`
	TokensIssued  int64 `json:"tokensIssued"`
	Throttled     int64 `json:"throttled"`
	Failed        int64 `json:"failedInjected"`
	Unauthorized  int64 `json:"unauthorized"`
	Forbidden     int64 `json:"forbidden"`
}

// New builds a server around opts.Tenant.
func New(opts Options) (*Server, error) {
	if opts.Tenant == nil {
		return nil, fmt.Errorf("emulator: Options.Tenant is required")
	}
	if opts.ClientID == "" {
		opts.ClientID = newID()
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = randomSecret()
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 100
	}
	if opts.MembersPerPage <= 0 {
		opts.MembersPerPage = 1000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Roles == nil {
		opts.Roles = DefaultRoles
	}
	s := &Server{opts: opts, t: opts.Tenant, log: opts.Logger, faults: opts.Faults, tokens: map[string]issued{}}
	s.routes()
	return s, nil
}

// DefaultRoles are the application permissions the emulator's tokens carry
// unless Options.Roles says otherwise; Device.Read.All lets device members
// resolve (docs/trust.md), Group-OnPremisesSyncBehavior.ReadWrite.All lets
// writeback confirm that a group was converted to the cloud (the only
// permission Microsoft lists for reading onPremisesSyncBehavior).
var DefaultRoles = []string{"Group.Read.All", "User.Read.All", "Device.Read.All", syncBehaviorRole}

func randomSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "emu~" + base64.RawURLEncoding.EncodeToString(b[:])
}

// Tenant is the emulated directory, for tests to mutate.
func (s *Server) Tenant() *Tenant { return s.t }

// ClientID is the one application the token endpoint knows.
func (s *Server) ClientID() string { return s.opts.ClientID }

// ClientSecret is that application's secret.
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// Handler serves the token endpoint, Graph and the admin API.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := s.mux.Handler(r); pattern == "" && strings.HasPrefix(r.URL.Path, "/v1.0/") {
			// Graph's answer for a path it does not serve.
			graphError(w, r, 400, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", strings.TrimPrefix(r.URL.Path, "/v1.0/")))
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Faults returns the injected faults now in force.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// RevokeTokens invalidates every access token issued so far; Graph then
// answers 401 InvalidAuthenticationToken until the client gets a new one.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	clear(s.tokens)
	s.mu.Unlock()
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{GraphRequests: s.stats.GraphRequests.Load(), DeltaPages: s.stats.DeltaPages.Load(),
		TokensIssued: s.stats.Tokens.Load(), Throttled: s.stats.Throttled.Load(),
		Failed: s.stats.Failed.Load(), Unauthorized: s.stats.Unauthorized.Load(),
		Forbidden: s.stats.Forbidden.Load()}
}

func (s *Server) routes() {
	m := http.NewServeMux()
	// Identity platform.
	m.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	m.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.openIDConfig)
	m.HandleFunc("GET /common/discovery/instance", s.instanceDiscovery)
	m.HandleFunc("GET /{tenant}/discovery/v2.0/keys", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"keys": []any{}})
	})
	// Graph v1.0.
	// Each endpoint with the least privileged application permissions its
	// v1.0 page lists; any one of them grants it.
	g := func(pattern string, h http.HandlerFunc, roles ...string) { m.Handle(pattern, s.graph(h, roles)) }
	groupRead := []string{"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"}
	userRead := []string{"User.Read.All", "Directory.Read.All"}
	g("GET /v1.0/groups/delta", s.groupsDelta, groupRead...)
	g("GET /v1.0/users/delta", s.usersDelta, userRead...)
	g("GET /v1.0/groups", s.listGroups, groupRead...)
	g("GET /v1.0/users", s.listUsers, userRead...)
	g("GET /v1.0/groups/{id}", s.getGroup, groupRead...)
	g("GET /v1.0/users/{id}", s.getUser, userRead...)
	g("GET /v1.0/groups/{id}/members", s.listMembers, groupRead...)
	g("GET /v1.0/groups/{id}/owners", s.listOwners, groupRead...)
	// Source of authority (SOA) conversion, served on v1.0 and beta.
	for _, v := range []string{"v1.0", "beta"} {
		g("GET /"+v+"/groups/{id}/onPremisesSyncBehavior", s.getSyncBehavior, syncBehaviorRole)
		g("PATCH /"+v+"/groups/{id}/onPremisesSyncBehavior", s.patchSyncBehavior, syncBehaviorRole)
	}
	// Devices: Device.Read.All is the least privileged application permission.
	g("GET /v1.0/devices/{id}", s.getDevice, "Device.Read.All", "Directory.Read.All")
	g("POST /v1.0/directoryObjects/getByIds", s.getByIDs, "Directory.Read.All")
	s.adminRoutes(m)
	s.mux = m
}

// graph wraps a Graph endpoint: request IDs, authentication, latency and faults.
func (s *Server) graph(h http.HandlerFunc, roles []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.stats.GraphRequests.Add(1)
		w.Header().Set("request-id", newID())
		if c := r.Header.Get("client-request-id"); c != "" {
			w.Header().Set("client-request-id", c)
		}
		f := s.Faults()
		if f.LatencyMillis > 0 {
			select {
			case <-time.After(time.Duration(f.LatencyMillis) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		granted, ok := s.authorized(w, r)
		if !ok {
			return
		}
		if !slices.ContainsFunc(roles, func(r string) bool { return slices.Contains(granted, r) }) {
			s.stats.Forbidden.Add(1)
			graphError(w, r, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
			return
		}
		if s.injectFault(w, r) {
			return
		}
		h(w, r)
	})
}

func (s *Server) injectFault(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	f := &s.faults
	throttle := f.ThrottleNext > 0 || (f.ThrottleRate > 0 && mrand.Float64() < f.ThrottleRate)
	fail := !throttle && (f.FailNext > 0 || (f.ErrorRate > 0 && mrand.Float64() < f.ErrorRate))
	if throttle && f.ThrottleNext > 0 {
		f.ThrottleNext--
	}
	if fail && f.FailNext > 0 {
		f.FailNext--
	}
	retryAfter, status := f.RetryAfterSeconds, f.ErrorStatus
	s.mu.Unlock()
	if retryAfter <= 0 {
		retryAfter = defaultRetryAfter
	}
	if status == 0 {
		status = 503
	}
	switch {
	case throttle:
		s.stats.Throttled.Add(1)
		w.Header().Set("Retry-After", formatRetryAfter(retryAfter))
		graphError(w, r, 429, "TooManyRequests", "Too many requests.")
		return true
	case fail:
		s.stats.Failed.Add(1)
		if status == 503 || status == 504 {
			w.Header().Set("Retry-After", formatRetryAfter(retryAfter))
		}
		code := map[int]string{500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}[status]
		if code == "" {
			code = "UnknownError"
		}
		graphError(w, r, status, code, "The service is temporarily unavailable (injected by the emulator).")
		return true
	}
	return false
}

// defaultRetryAfter is fractional on purpose: a client that reads whole
// seconds only retries early and is throttled again.
const defaultRetryAfter = 1.128

func formatRetryAfter(secs float64) string { return strconv.FormatFloat(secs, 'f', -1, 64) }

// graphError writes Graph's error body.
func graphError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	inner := map[string]any{
		"date":              time.Now().UTC().Format("2006-01-02T15:04:05"),
		"request-id":        w.Header().Get("request-id"),
		"client-request-id": r.Header.Get("client-request-id"),
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg, "innerError": inner}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// baseURL is how the client reached us, for nextLink and deltaLink.
func baseURL(r *http.Request) string { return "https://" + r.Host }

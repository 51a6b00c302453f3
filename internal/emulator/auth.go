package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// token is the OAuth2 client-credentials grant of the Microsoft identity
// platform (v2.0 endpoint), with its error bodies and AADSTS codes.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if s.Faults().TokenEndpointDown {
		aadError(w, 503, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again. (token endpoint down, injected by the emulator)")
		return
	}
	tenant := r.PathValue("tenant")
	if !strings.EqualFold(tenant, s.t.TenantID()) {
		aadError(w, 400, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	if err := r.ParseForm(); err != nil {
		aadError(w, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		aadError(w, 400, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt))
		return
	}
	clientID := r.PostForm.Get("client_id")
	if !strings.EqualFold(clientID, s.opts.ClientID) {
		aadError(w, 400, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", clientID, s.t.TenantID()))
		return
	}
	// MSAL adds the OIDC scopes (openid profile offline_access) to every request.
	scope := ""
scopes:
	for _, sc := range strings.Fields(r.PostForm.Get("scope")) {
		switch sc {
		case "openid", "profile", "offline_access":
		default:
			if scope == "" {
				scope = sc
			} else {
				scope = "" // more than one resource: invalid below
				break scopes
			}
		}
	}
	if !strings.HasSuffix(scope, "/.default") {
		aadError(w, 400, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", r.PostForm.Get("scope")))
		return
	}
	switch {
	case r.PostForm.Get("client_assertion") != "":
		if !s.opts.AcceptAssertions {
			aadError(w, 401, "invalid_client", 700027, "Client assertion failed signature validation. (start the emulator with assertions accepted to test certificate or workload identity credentials)")
			return
		}
	case r.PostForm.Get("client_secret") == "":
		aadError(w, 401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	case r.PostForm.Get("client_secret") != s.opts.ClientSecret:
		aadError(w, 401, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", s.opts.ClientID))
		return
	}
	tok, exp := s.issue(strings.TrimSuffix(scope, "/.default"))
	secs := int(time.Until(exp).Round(time.Second).Seconds())
	writeJSON(w, 200, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
}

// issue makes a JWT-shaped access token. Only the signature part is checked
// (against the server's table), so tokens do not survive an emulator restart,
// as a client with a cached token from a previous run will notice.
func (s *Server) issue(aud string) (string, time.Time) {
	exp := time.Now().Add(s.opts.TokenLifetime)
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"none","x-emulator":"writeback"}`))
	claims, _ := json.Marshal(map[string]any{"aud": aud, "tid": s.t.TenantID(), "appid": s.opts.ClientID,
		"roles": s.opts.Roles, "iat": time.Now().Unix(), "exp": exp.Unix(),
		"iss": "https://sts.windows.net/" + s.t.TenantID() + "/"})
	var sig [24]byte
	_, _ = rand.Read(sig[:])
	sigS := base64.RawURLEncoding.EncodeToString(sig[:])
	s.mu.Lock()
	now := time.Now()
	for k, e := range s.tokens {
		if now.After(e.exp) {
			delete(s.tokens, k)
		}
	}
	s.tokens[sigS] = issued{exp: exp, roles: s.opts.Roles}
	s.mu.Unlock()
	s.stats.Tokens.Add(1)
	return hdr + "." + base64.RawURLEncoding.EncodeToString(claims) + "." + sigS, exp
}

// issued is an access token the emulator handed out.
type issued struct {
	exp   time.Time
	roles []string // the token's "roles" claim
}

// authorized checks the bearer token the way Graph reports failures and
// returns the token's roles.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) ([]string, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		s.stats.Unauthorized.Add(1)
		graphError(w, r, 401, "InvalidAuthenticationToken", "Access token is empty.")
		return nil, false
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		s.stats.Unauthorized.Add(1)
		graphError(w, r, 401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed, there are no dots (.).")
		return nil, false
	}
	s.mu.Lock()
	tok2, known := s.tokens[parts[2]]
	s.mu.Unlock()
	switch {
	case !known:
		s.stats.Unauthorized.Add(1)
		graphError(w, r, 401, "InvalidAuthenticationToken", "Access token validation failure. Invalid signature.")
		return nil, false
	case time.Now().After(tok2.exp):
		s.stats.Unauthorized.Add(1)
		graphError(w, r, 401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
		return nil, false
	}
	return tok2.roles, true
}

func aadError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	trace, corr := newID(), newID()
	ts := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, desc, trace, corr, ts),
		"error_codes":       []int{aadsts},
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts),
	})
}

// openIDConfig is the tenant discovery document MSAL reads before its first
// token request; MSAL takes token_endpoint from it and checks issuer against
// the authority.
func (s *Server) openIDConfig(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if !strings.EqualFold(tenant, s.t.TenantID()) && tenant != "organizations" && tenant != "common" {
		aadError(w, 400, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
		return
	}
	b := baseURL(r) + "/" + tenant
	writeJSON(w, 200, map[string]any{
		"token_endpoint":                        b + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              b + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                b + "/v2.0",
		"authorization_endpoint":                b + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         b + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  b + "/oauth2/v2.0/logout",
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "writeback-emulator",
	})
}

// instanceDiscovery answers MSAL's instance metadata request for clients that
// point instance discovery at the emulator's host.
func (s *Server) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	writeJSON(w, 200, map[string]any{
		"tenant_discovery_endpoint": baseURL(r) + "/" + s.t.TenantID() + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []any{map[string]any{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
	})
}

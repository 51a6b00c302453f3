package emulator_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
)

// httpsClient trusts only the emulator's CA file, as curl --cacert does.
func httpsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in CA file")
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
}

func getToken(t *testing.T, hc *http.Client, tokenURL, clientID, secret, scope string) (int, map[string]any) {
	t.Helper()
	resp, err := hc.PostForm(tokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID},
		"client_secret": {secret}, "scope": {scope}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func getJSON(t *testing.T, hc *http.Client, u, token string) (int, map[string]any) {
	t.Helper()
	return getJSONWith(t, hc, u, token, nil)
}

func getJSONWith(t *testing.T, hc *http.Client, u, token string, hdr http.Header) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// freeAddr returns a loopback address to run an emulator on twice.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestREADMEWalkthrough does what the README shows with curl: start the
// emulator, get a token with a plain client-credentials POST, and read a
// /v1.0/groups/delta page trusting only the printed CA.
func TestREADMEWalkthrough(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := emulator.Run(ctx, emulator.RunConfig{Addr: "127.0.0.1:0", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(filepath.Join(dir, "emulator.env"))
	if err != nil || !bytes.Contains(env, []byte("WRITEBACK_EMULATOR_TOKEN_URL="+r.TokenURL())) {
		t.Fatalf("emulator.env: %v\n%s", err, env)
	}
	secret, _ := os.ReadFile(r.ClientSecretFile)
	hc := httpsClient(t, r.CAFile)

	status, tok := getToken(t, hc, r.TokenURL(), r.ClientID, string(secret), r.URL+"/.default")
	if status != 200 || tok["token_type"] != "Bearer" || tok["access_token"] == "" {
		t.Fatalf("token: %d %v", status, tok)
	}
	status, page := getJSONWith(t, hc, r.URL+"/v1.0/groups/delta?$select=displayName,members", tok["access_token"].(string),
		http.Header{"Prefer": {"odata.maxpagesize=5"}})
	if status != 200 {
		t.Fatalf("groups/delta: %d %v", status, page)
	}
	if v, _ := page["value"].([]any); len(v) != 5 || page["@odata.nextLink"] == nil {
		t.Errorf("first page: %d groups, nextLink %v; want 5 and a nextLink", len(v), page["@odata.nextLink"])
	}

	// Wrong secret: Entra's 401 invalid_client with AADSTS7000215.
	status, body := getToken(t, hc, r.TokenURL(), r.ClientID, "wrong", r.URL+"/.default")
	if status != 401 || body["error"] != "invalid_client" || !strings.HasPrefix(body["error_description"].(string), "AADSTS7000215:") {
		t.Errorf("wrong secret: %d %v", status, body)
	}
	// No token: Graph's 401 InvalidAuthenticationToken.
	status, body = getJSON(t, hc, r.URL+"/v1.0/groups/delta", "")
	if e, _ := body["error"].(map[string]any); status != 401 || e["code"] != "InvalidAuthenticationToken" || e["innerError"] == nil {
		t.Errorf("no token: %d %v", status, body)
	}
	cancel()
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestExpiredAccessToken(t *testing.T) {
	env := emulatortest.StartWith(t, nil, emulator.Options{TokenLifetime: time.Second})
	hc := httpsClient(t, env.CAFile)
	_, tok := getToken(t, hc, env.URL+"/"+env.Config.TenantID+"/oauth2/v2.0/token", env.Config.ClientID, env.Server.ClientSecret(), env.URL+"/.default")
	time.Sleep(1100 * time.Millisecond)
	status, body := getJSON(t, hc, env.URL+"/v1.0/groups/delta", tok["access_token"].(string))
	e, _ := body["error"].(map[string]any)
	if status != 401 || e["code"] != "InvalidAuthenticationToken" || !strings.Contains(e["message"].(string), "expired") {
		t.Errorf("expired token: %d %v", status, body)
	}
}

func TestTokenEndpointDown(t *testing.T) {
	env := emulatortest.StartWith(t, nil, emulator.Options{Faults: emulator.Faults{TokenEndpointDown: true}})
	hc := httpsClient(t, env.CAFile)
	status, body := getToken(t, hc, env.URL+"/"+env.Config.TenantID+"/oauth2/v2.0/token", env.Config.ClientID, env.Server.ClientSecret(), env.URL+"/.default")
	if status != 503 || body["error"] != "temporarily_unavailable" {
		t.Errorf("token endpoint down: %d %v", status, body)
	}
}

// TestTokenRefusesSeveralResources: a client-credentials request names one
// resource; two or three ".default" scopes are invalid_scope, as Entra answers
// (a third scope used to be taken as the only one).
func TestTokenRefusesSeveralResources(t *testing.T) {
	env := emulatortest.StartWith(t, nil, emulator.Options{})
	hc := httpsClient(t, env.CAFile)
	tokenURL := env.URL + "/" + env.Config.TenantID + "/oauth2/v2.0/token"
	for _, scope := range []string{
		env.URL + "/.default other/.default",
		env.URL + "/.default other/.default third/.default",
		"openid " + env.URL + "/.default profile other/.default offline_access third/.default",
	} {
		status, body := getToken(t, hc, tokenURL, env.Config.ClientID, env.Server.ClientSecret(), scope)
		if status != 400 || body["error"] != "invalid_scope" {
			t.Errorf("scope %q: %d %v, want 400 invalid_scope", scope, status, body)
		}
	}
	if status, body := getToken(t, hc, tokenURL, env.Config.ClientID, env.Server.ClientSecret(), "openid "+env.URL+"/.default profile"); status != 200 {
		t.Errorf("one resource with the OIDC scopes: %d %v", status, body)
	}
}

// TestDeltaTokensSurviveRestart: a client's stored deltaLink keeps working
// after the emulator restarts on the same directory.
func TestDeltaTokensSurviveRestart(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	start := func() (*emulator.Running, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		r, err := emulator.Run(ctx, emulator.RunConfig{Addr: addr, Dir: dir})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		return r, cancel
	}
	r, stop := start()
	cfg := config.Entra{TenantID: r.TenantID, ClientID: r.ClientID, Cloud: "public", AuthorityHost: r.URL, GraphURL: r.URL,
		CAFile: r.CAFile, Credential: config.Credential{Kind: "secret", Secret: config.Secret{File: r.ClientSecretFile}}, Concurrency: 2}
	ctx := context.Background()
	c, err := entra.New(ctx, entraconfig.Options(cfg))
	if err != nil {
		t.Fatal(err)
	}
	var first string
	link, _, err := c.GroupsDelta(ctx, "", func(g entra.Group) error {
		if first == "" {
			first = g.ID
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Change through the admin API, as a demo would.
	hc := httpsClient(t, r.CAFile)
	req, _ := http.NewRequest("PATCH", r.URL+"/_emulator/groups/"+first, strings.NewReader(`{"displayName":"Renamed before restart"}`))
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin PATCH: %v %v", err, resp)
	}
	resp.Body.Close()
	stop()
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}

	r, stop = start()
	defer func() { stop(); _ = r.Wait() }()
	c2, err := entra.New(ctx, entraconfig.Options(cfg))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	_, full, err := c2.GroupsDelta(ctx, link, func(g entra.Group) error { names = append(names, g.DisplayName); return nil })
	if err != nil || full || len(names) != 1 || names[0] != "Renamed before restart" {
		t.Errorf("after restart: full=%v names=%q err=%v", full, names, err)
	}
}

func TestAdminAPI(t *testing.T) {
	env := emulatortest.Start(t, &emulator.TenantFile{Users: []emulator.User{{ID: "u1", DisplayName: "U", UserPrincipalName: "u@x"}}})
	hc := httpsClient(t, env.CAFile)
	call := func(method, path, body string, want int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, env.URL+path, strings.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	// A security group is deleted permanently at once: no restore.
	sg := call("POST", "/_emulator/groups", `{"displayName":"Sec","securityEnabled":true}`, 201)
	call("DELETE", "/_emulator/groups/"+sg["id"].(string), "", 204)
	call("POST", "/_emulator/groups/"+sg["id"].(string)+"/restore", "", 409)
	// A Microsoft 365 group goes to the recycle bin.
	g := call("POST", "/_emulator/groups", `{"displayName":"Ops","groupTypes":["Unified"],"mailEnabled":true,"members":["u1"]}`, 201)
	id := g["id"].(string)
	call("POST", "/_emulator/groups/"+id+"/members", `{"ids":["u1"]}`, 204)
	call("POST", "/_emulator/groups/"+id+"/members/remove", `{"ids":["u1"]}`, 204)
	call("POST", "/_emulator/groups/"+id+"/members", `{"ids":["nope"]}`, 404)
	call("DELETE", "/_emulator/groups/"+id, "", 204)
	call("DELETE", "/_emulator/groups/"+id, "", 409)
	call("POST", "/_emulator/groups/"+id+"/restore", "", 204)
	call("PUT", "/_emulator/faults", `{"throttleNext":1}`, 200)
	call("POST", "/_emulator/expire-delta-tokens", "", 204)
	call("POST", "/_emulator/users", `{"displayName":"New","userPrincipalName":"n@x","bogus":1}`, 400)
	if got, _ := env.Admin.Group(id); len(got.Members) != 0 || got.DisplayName != "Ops" {
		t.Errorf("group after admin calls: %+v", got)
	}
	if env.Server.Faults().ThrottleNext != 1 {
		t.Error("faults not set through the admin API")
	}
}

func TestGenerate(t *testing.T) {
	anchors := []emulator.Anchor{{GUID: "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0", SID: "S-1-5-21-1-2-3-1104", SAM: "labuser1", DN: "CN=labuser1,CN=Users,DC=lab,DC=test"}}
	o := emulator.GenOptions{Groups: 300, Users: 1000, Memberships: 6000, Nested: 40, Largest: 700, CloudOnlyRatio: 0.3, Seed: 7, Anchors: anchors}
	f, err := emulator.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	f2, _ := emulator.Generate(o)
	a, _ := json.Marshal(f)
	b, _ := json.Marshal(f2)
	if !bytes.Equal(a, b) {
		t.Error("same options and seed gave different tenants")
	}
	tn, err := emulator.NewTenant(f)
	if err != nil {
		t.Fatalf("generated tenant does not load: %v", err)
	}
	c := tn.Counts()
	if c.Groups != 300 || c.Users != 1000 || c.Memberships < 5900 || c.Memberships > 6000 {
		t.Errorf("counts %+v", c)
	}
	if n := len(f.Groups[0].Members); n != 700 {
		t.Errorf("largest group has %d members, want 700", n)
	}
	u := f.Users[0]
	if u.OnPremisesObjectIdentifier != "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" || u.OnPremisesSamAccountName != "labuser1" || u.OnPremisesImmutableId != "PC0eD1pLeGmHlqW0w9Lh8A==" {
		t.Errorf("anchored user: %+v", u)
	}
	var cloud, long, special, nonASCII int
	names := map[string]int{}
	for _, u := range f.Users {
		if u.OnPremisesSyncEnabled == nil {
			cloud++
		}
	}
	for _, g := range f.Groups {
		names[g.DisplayName]++
		if utf8.RuneCountInString(g.DisplayName) > 64 {
			long++
		}
		if strings.ContainsAny(g.DisplayName, `,+"\<>;=#`) {
			special++
		}
		if strings.ContainsFunc(g.DisplayName, func(r rune) bool { return r > 127 }) {
			nonASCII++
		}
	}
	dups := 0
	for _, n := range names {
		if n > 1 {
			dups++
		}
	}
	if cloud < 200 || cloud > 400 || long == 0 || special == 0 || nonASCII == 0 || dups == 0 {
		t.Errorf("cloud-only %d, long names %d, DN-special %d, non-ASCII %d, duplicate names %d: want all > 0 and ~300 cloud-only", cloud, long, special, nonASCII, dups)
	}
}

func TestLoadYAMLTenant(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.yaml")
	os.WriteFile(p, []byte(`tenantId: 11111111-1111-1111-1111-111111111111
users:
  - id: u1
    displayName: Ada
    userPrincipalName: ada@contoso.com
    onPremisesSyncEnabled: true
    onPremisesObjectIdentifier: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
groups:
  - id: g1
    displayName: "Zürich, R&D"
    securityEnabled: true
    members: [u1]
`), 0o600)
	tn, err := emulator.NewTenantFromFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := tn.Group("g1"); !ok || g.Members[0] != "u1" {
		t.Errorf("group g1: %+v", g)
	}
	os.WriteFile(p, []byte("groups:\n  - id: g1\n    displayNme: typo\n"), 0o600)
	if _, err := emulator.NewTenantFromFile(p); err == nil || !strings.Contains(err.Error(), "displayNme") {
		t.Errorf("typo in tenant file: err = %v, want it named", err)
	}
	_ = fmt.Sprint
}

// TestConcurrentReaders runs delta rounds in parallel with changes (for -race).
func TestConcurrentReaders(t *testing.T) {
	f, err := emulator.Generate(emulator.GenOptions{Groups: 50, Users: 200, Memberships: 1000, Nested: 5, Largest: 150, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	env := emulatortest.StartWith(t, &f, emulator.Options{PageSize: 7, MembersPerPage: 40})
	ctx := context.Background()
	done := make(chan error, 3)
	for range 3 {
		go func() {
			c, err := entra.New(ctx, entraconfig.Options(env.Config))
			if err != nil {
				done <- err
				return
			}
			_, _, err = c.GroupsDelta(ctx, "", func(entra.Group) error { return nil })
			done <- err
		}()
	}
	for i := range 30 {
		if err := env.Admin.AddMembers(f.Groups[i%50].ID, f.Users[(i*7)%200].ID); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

package emulator_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
)

// graphCall is one raw Graph request with a token of env's client: the
// emulator's answers are checked against the shapes Graph v1.0 documents.
type graphCall struct {
	t     *testing.T
	env   *emulatortest.Env
	hc    *http.Client
	token string
}

func newGraphCall(t *testing.T, env *emulatortest.Env) *graphCall {
	t.Helper()
	hc := httpsClient(t, env.CAFile)
	status, tok := getToken(t, hc, env.URL+"/"+env.Config.TenantID+"/oauth2/v2.0/token", env.Server.ClientID(), env.Server.ClientSecret(), env.URL+"/.default")
	if status != 200 {
		t.Fatalf("token: %d %v", status, tok)
	}
	return &graphCall{t: t, env: env, hc: hc, token: tok["access_token"].(string)}
}

func (g *graphCall) do(method, path, body string, hdr http.Header) (*http.Response, map[string]any) {
	g.t.Helper()
	u := path
	if !strings.HasPrefix(u, "https://") {
		u = g.env.URL + path
	}
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+g.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp, m
}

func errCode(m map[string]any) (code, msg string) {
	e, _ := m["error"].(map[string]any)
	code, _ = e["code"].(string)
	msg, _ = e["message"].(string)
	return code, msg
}

func sampleTenant() *emulator.TenantFile {
	on := true
	return &emulator.TenantFile{
		Users: []emulator.User{{ID: "11111111-1111-4111-8111-111111111111", DisplayName: "Ann", UserPrincipalName: "ann@x",
			OnPremisesSyncEnabled: &on, OnPremisesObjectIdentifier: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
			OnPremisesSecurityIdentifier: "S-1-5-21-1-2-3-1104", OnPremisesImmutableId: "PC0eD1pLeGmHlqW0w9Lh8A=="}},
		Objects: []emulator.Object{{ID: "22222222-2222-4222-8222-222222222222", Type: "servicePrincipal", DisplayName: "App"}},
		Groups: []emulator.Group{
			{ID: "33333333-3333-4333-8333-333333333333", DisplayName: "Ops", SecurityEnabled: true,
				Members: []string{"11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"},
				Extra:   map[string]any{"classification": "HBI", "extension_abc_costCenter": "42"}},
			{ID: "44444444-4444-4444-8444-444444444444", DisplayName: "Empty", SecurityEnabled: true},
		},
	}
}

// An undeclared property is refused in $select, as Graph v1.0 refuses
// onPremisesObjectIdentifier; the option serves it.
func TestUndeclaredPropertyRefused(t *testing.T) {
	g := newGraphCall(t, emulatortest.Start(t, sampleTenant()))
	for _, path := range []string{"/v1.0/users/delta?$select=id,onPremisesObjectIdentifier", "/v1.0/users?$select=id,onPremisesObjectIdentifier"} {
		resp, body := g.do("GET", path, "", nil)
		code, msg := errCode(body)
		if resp.StatusCode != 400 || code != "Request_BadRequest" || msg != "Could not find a property named 'onPremisesObjectIdentifier' on type 'microsoft.graph.user'." {
			t.Errorf("%s: %d %s %q; want 400 Request_BadRequest Could not find a property...", path, resp.StatusCode, code, msg)
		}
	}
	g2 := newGraphCall(t, emulatortest.StartWith(t, sampleTenant(), emulator.Options{ServeObjectIdentifier: true}))
	resp, body := g2.do("GET", "/v1.0/users?$select=id,onPremisesObjectIdentifier", "", nil)
	if v, _ := body["value"].([]any); resp.StatusCode != 200 || len(v) != 1 || v[0].(map[string]any)["onPremisesObjectIdentifier"] != "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" {
		t.Errorf("served: %d %v", resp.StatusCode, body)
	}
}

// Only the selected properties come back, extensions included.
func TestOnlySelectedProperties(t *testing.T) {
	g := newGraphCall(t, emulatortest.Start(t, sampleTenant()))
	resp, body := g.do("GET", "/v1.0/groups/33333333-3333-4333-8333-333333333333?$select=id,classification,extension_abc_costCenter", "", nil)
	delete(body, "@odata.context")
	if resp.StatusCode != 200 || len(body) != 3 || body["classification"] != "HBI" || body["extension_abc_costCenter"] != "42" {
		t.Errorf("GET group: %d %v; want id, classification and the extension only", resp.StatusCode, body)
	}
}

// $top is refused on delta; a memberless group has no members@delta.
func TestDeltaShapes(t *testing.T) {
	g := newGraphCall(t, emulatortest.Start(t, sampleTenant()))
	resp, body := g.do("GET", "/v1.0/groups/delta?$select=id&$top=1", "", nil)
	if code, _ := errCode(body); resp.StatusCode != 400 || code != "Request_UnsupportedQuery" {
		t.Errorf("$top on delta: %d %v", resp.StatusCode, body)
	}
	resp, body = g.do("GET", "/v1.0/groups/delta?$select=id,displayName,members", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("delta: %d %v", resp.StatusCode, body)
	}
	for _, it := range body["value"].([]any) {
		m := it.(map[string]any)
		_, has := m["members@delta"]
		if m["displayName"] == "Empty" && has {
			t.Errorf("memberless group carries members@delta: %v", m)
		}
		if m["displayName"] == "Ops" && !has {
			t.Errorf("group with members lacks members@delta: %v", m)
		}
	}
}

// A security group is deleted permanently at once: the delta says
// "deleted", and it cannot be restored.
func TestSecurityGroupDeletedPermanently(t *testing.T) {
	env := emulatortest.Start(t, sampleTenant())
	g := newGraphCall(t, env)
	_, body := g.do("GET", "/v1.0/groups/delta?$select=id", "", nil)
	link := body["@odata.deltaLink"].(string)
	if err := env.Admin.DeleteGroup("33333333-3333-4333-8333-333333333333", false); err != nil {
		t.Fatal(err)
	}
	if err := env.Admin.RestoreGroup("33333333-3333-4333-8333-333333333333"); err == nil {
		t.Error("a deleted security group was restored")
	}
	_, body = g.do("GET", link, "", nil)
	v := body["value"].([]any)
	if len(v) != 1 || v[0].(map[string]any)["@removed"].(map[string]any)["reason"] != "deleted" {
		t.Errorf("delta after delete: %v; want @removed reason deleted", v)
	}
}

// Retry-After is fractional, like Microsoft's throttling sample.
func TestRetryAfterFractional(t *testing.T) {
	env := emulatortest.StartWith(t, sampleTenant(), emulator.Options{Faults: emulator.Faults{ThrottleNext: 1}})
	g := newGraphCall(t, env)
	resp, body := g.do("GET", "/v1.0/groups?$select=id", "", nil)
	ra, err := strconv.ParseFloat(resp.Header.Get("Retry-After"), 64)
	if code, _ := errCode(body); resp.StatusCode != 429 || code != "TooManyRequests" || err != nil || ra != 1.128 {
		t.Errorf("throttled: %d %q Retry-After %q", resp.StatusCode, code, resp.Header.Get("Retry-After"))
	}
}

// An expired token is 400 syncStateNotFound; a token from another change
// history (a reset tenant) is 410 with the restart request in Location.
func TestDeltaTokenExpiredAndReset(t *testing.T) {
	env := emulatortest.Start(t, sampleTenant())
	g := newGraphCall(t, env)
	_, body := g.do("GET", "/v1.0/groups/delta?$select=id,displayName", "", nil)
	link := body["@odata.deltaLink"].(string)
	env.Admin.ExpireDeltaTokens()
	resp, body := g.do("GET", link, "", nil)
	if code, _ := errCode(body); resp.StatusCode != 400 || code != "syncStateNotFound" {
		t.Errorf("expired token: %d %v; want 400 syncStateNotFound", resp.StatusCode, body)
	}
	// Another emulator's token: same shape, other history.
	other := emulatortest.Start(t, sampleTenant())
	_, body = newGraphCall(t, other).do("GET", "/v1.0/groups/delta?$select=id,displayName", "", nil)
	foreign := strings.Replace(body["@odata.deltaLink"].(string), other.URL, env.URL, 1)
	resp, body = g.do("GET", foreign, "", nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 410 || loc != env.URL+"/v1.0/groups/delta?$select=id,displayName" {
		t.Errorf("reset token: %d Location %q %v; want 410 with the full request in Location", resp.StatusCode, loc, body)
	}
}

// v1.0 does not list service principals among a group's members.
func TestMembersWithoutServicePrincipals(t *testing.T) {
	g := newGraphCall(t, emulatortest.Start(t, sampleTenant()))
	_, body := g.do("GET", "/v1.0/groups/33333333-3333-4333-8333-333333333333/members?$select=id", "", nil)
	v := body["value"].([]any)
	if len(v) != 1 || v[0].(map[string]any)["id"] != "11111111-1111-4111-8111-111111111111" {
		t.Errorf("members: %v; want the user only", v)
	}
}

// Tokens carry roles; without the one an endpoint needs, Graph answers
// 403 Authorization_RequestDenied. getByIds needs Directory.Read.All.
func TestRolesAndForbidden(t *testing.T) {
	env := emulatortest.StartWith(t, sampleTenant(), emulator.Options{Roles: []string{"Group.Read.All"}})
	g := newGraphCall(t, env)
	parts := strings.Split(g.token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", g.token)
	}
	if resp, _ := g.do("GET", "/v1.0/groups?$select=id", "", nil); resp.StatusCode != 200 {
		t.Errorf("groups with Group.Read.All: %d", resp.StatusCode)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1.0/users?$select=id", ""},
		{"GET", "/v1.0/users/delta?$select=id", ""},
		{"POST", "/v1.0/directoryObjects/getByIds", `{"ids":["11111111-1111-4111-8111-111111111111"]}`},
	} {
		resp, body := g.do(c.method, c.path, c.body, nil)
		if code, msg := errCode(body); resp.StatusCode != 403 || code != "Authorization_RequestDenied" || msg != "Insufficient privileges to complete the operation." {
			t.Errorf("%s %s: %d %v; want 403 Authorization_RequestDenied", c.method, c.path, resp.StatusCode, body)
		}
	}
}

// With partial user updates, an incremental users delta carries only what
// changed.
func TestPartialUserUpdates(t *testing.T) {
	env := emulatortest.StartWith(t, sampleTenant(), emulator.Options{PartialUserUpdates: true})
	g := newGraphCall(t, env)
	_, body := g.do("GET", "/v1.0/users/delta?$select=id,displayName,onPremisesSecurityIdentifier", "", nil)
	link := body["@odata.deltaLink"].(string)
	if _, err := env.Admin.UpdateUser("11111111-1111-4111-8111-111111111111", func(u *emulator.User) { u.DisplayName = "Ann B" }); err != nil {
		t.Fatal(err)
	}
	_, body = g.do("GET", link, "", nil)
	v := body["value"].([]any)
	if len(v) != 1 {
		t.Fatalf("delta: %v", body)
	}
	m := v[0].(map[string]any)
	if _, has := m["onPremisesSecurityIdentifier"]; has || m["displayName"] != "Ann B" || len(m) != 2 {
		t.Errorf("partial update: %v; want id and displayName only", m)
	}
}

// The certificate covers the address the emulator listens on, not only 127.0.0.1.
func TestCertificateCoversListenAddress(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	r, err := emulator.Run(ctx, emulator.RunConfig{Addr: "127.0.0.26:0", Dir: dir})
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.26: %v", err)
	}
	hc := httpsClient(t, r.CAFile)
	resp, err := hc.Get(r.URL + "/common/discovery/instance")
	if err != nil {
		t.Fatalf("TLS to %s: %v", r.URL, err)
	}
	resp.Body.Close()
	cancel()
	_ = r.Wait()
}

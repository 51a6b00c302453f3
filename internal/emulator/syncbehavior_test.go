package emulator_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
)

// SOA conversion: GET/PATCH /groups/{id}/onPremisesSyncBehavior with the one
// permission Microsoft documents; converting clears onPremisesSyncEnabled
// and keeps the group's on-premises identity, rolling back sets it again.
func TestOnPremisesSyncBehavior(t *testing.T) {
	on := true
	tf := &emulator.TenantFile{Groups: []emulator.Group{{ID: "g-ad", DisplayName: "From AD", SecurityEnabled: true, OnPremisesSyncEnabled: &on,
		Extra: map[string]any{"onPremisesSecurityIdentifier": "S-1-5-21-1-2-3-1400", "onPremisesSamAccountName": "FromAD", "onPremisesDomainName": "contoso.test"}}}}
	env := emulatortest.StartWith(t, tf, emulator.Options{Roles: []string{"Group.Read.All", "Group-OnPremisesSyncBehavior.ReadWrite.All"}})
	hc := httpsClient(t, env.CAFile)
	token := func(hc *http.Client, env *emulatortest.Env) string {
		secret, err := os.ReadFile(env.Config.Credential.Secret.File)
		if err != nil {
			t.Fatal(err)
		}
		status, tok := getToken(t, hc, env.URL+"/"+env.Config.TenantID+"/oauth2/v2.0/token", env.Config.ClientID, strings.TrimSpace(string(secret)), env.URL+"/.default")
		if status != 200 {
			t.Fatalf("token: %d %v", status, tok)
		}
		return tok["access_token"].(string)
	}
	tok := token(hc, env)
	patch := func(env *emulatortest.Env, tok, body string) int {
		req, _ := http.NewRequest("PATCH", env.URL+"/beta/groups/g-ad/onPremisesSyncBehavior", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st, b := getJSON(t, hc, env.URL+"/v1.0/groups/g-ad/onPremisesSyncBehavior", tok); st != 200 || b["isCloudManaged"] != false {
		t.Errorf("before: %d %v", st, b)
	}
	if st := patch(env, tok, `{"isCloudManaged": true}`); st != 204 {
		t.Fatalf("convert: %d", st)
	}
	if st, b := getJSON(t, hc, env.URL+"/v1.0/groups/g-ad/onPremisesSyncBehavior", tok); st != 200 || b["isCloudManaged"] != true {
		t.Errorf("after convert: %d %v", st, b)
	}
	st, g := getJSON(t, hc, env.URL+"/v1.0/groups/g-ad?$select=onPremisesSyncEnabled,onPremisesSecurityIdentifier,onPremisesSamAccountName,onPremisesDomainName", tok)
	if st != 200 || g["onPremisesSyncEnabled"] != nil || g["onPremisesSecurityIdentifier"] != "S-1-5-21-1-2-3-1400" || g["onPremisesSamAccountName"] != "FromAD" {
		t.Errorf("converted group: %d %v; want onPremisesSyncEnabled null and the on-premises identity kept", st, g)
	}
	if st := patch(env, tok, `{"isCloudManaged": false}`); st != 204 {
		t.Fatalf("roll back: %d", st)
	}
	if g, _ := env.Admin.Group("g-ad"); g.IsCloudManaged || g.OnPremisesSyncEnabled == nil || !*g.OnPremisesSyncEnabled {
		t.Errorf("rolled back: %+v", g)
	}
	if st := patch(env, tok, `{}`); st != 400 {
		t.Errorf("empty body: %d, want 400", st)
	}

	// Without Group-OnPremisesSyncBehavior.ReadWrite.All: 403, for GET and PATCH.
	env2 := emulatortest.StartWith(t, tf, emulator.Options{Roles: []string{"Group.Read.All", "Directory.Read.All"}})
	hc2 := httpsClient(t, env2.CAFile)
	tok2 := token(hc2, env2)
	if st, _ := getJSON(t, hc2, env2.URL+"/v1.0/groups/g-ad/onPremisesSyncBehavior", tok2); st != 403 {
		t.Errorf("GET without the permission: %d, want 403", st)
	}
}

package entra_test

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
)

// claimsCredential hands out "tok-N" and records the claims it was asked for.
type claimsCredential struct {
	mu     sync.Mutex
	n      int
	claims []string
}

func (c *claimsCredential) GetToken(_ context.Context, tro policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	c.claims = append(c.claims, tro.Claims)
	return azcore.AccessToken{Token: "tok-" + string(rune('0'+c.n)), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// A Continuous Access Evaluation challenge (401 with WWW-Authenticate
// claims=...) gets a token requested with those claims, which bypasses the
// credential's cache, and the request is repeated once.
func TestCAEClaimsChallenge(t *testing.T) {
	const claims = `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
	var calls atomic.Int32
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="`+base64.StdEncoding.EncodeToString([]byte(claims))+`"`)
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"code":"InvalidAuthenticationToken","message":"Continuous access evaluation resulted in challenge"}}`))
			return
		}
		if r.Header.Get("Authorization") != "Bearer tok-2" {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"g-1","displayName":"G"}`))
	}))
	defer hs.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw}), 0o600)
	cred := &claimsCredential{}
	cfg := config.Entra{TenantID: "t", ClientID: "c", AuthorityHost: hs.URL, GraphURL: hs.URL, CAFile: ca, Concurrency: 1}
	c, err := entra.New(context.Background(), entraconfig.Options(cfg), entra.WithCredential(cred), entra.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Group(context.Background(), "g-1"); err != nil {
		t.Fatalf("read after a claims challenge: %v", err)
	}
	if cred.n != 2 || cred.claims[1] != claims {
		t.Errorf("token requests %d with claims %q: want the second one with the challenge's claims", cred.n, cred.claims)
	}
}

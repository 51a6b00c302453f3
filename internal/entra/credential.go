package entra

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// rotatingCredential is a credential built from a secret (client secret or
// certificate) that is read again each time a token is needed.
//
// It solves two problems of a credential built once at start:
//   - a secret rotated in its file (or environment variable) needs no restart:
//     the next token request uses the new value;
//   - a token Graph rejected (revoked, the tenant restarted, CAE without a
//     claims challenge) is not served again from MSAL's cache, which keeps a
//     token until its last five minutes: forget() drops the credential and
//     with it MSAL's cache, so the next token comes from the token endpoint.
//
// azidentity offers no option that bypasses its cache without claims (claims
// are for CAE challenges, which the bearer policy already handles), so
// rebuilding the credential is the supported way to get a fresh token.
type rotatingCredential struct {
	what  string                                                // the config field, for the log
	read  func() ([]byte, error)                                // current secret material
	build func(material []byte) (azcore.TokenCredential, error) // credential from that material
	log   *slog.Logger

	mu     sync.Mutex
	cur    azcore.TokenCredential
	digest [32]byte // of the material cur was built from
	stale  bool     // forget() was called: rebuild even if the material is the same
}

// GetToken re-reads the secret and rebuilds the credential when the secret
// changed or a token was rejected, then asks it for a token. The bearer
// policy calls it only when it needs a new token, so the secret is read once
// per token, not once per request.
func (r *rotatingCredential) GetToken(ctx context.Context, tro policy.TokenRequestOptions) (azcore.AccessToken, error) {
	cred, err := r.current()
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return cred.GetToken(ctx, tro)
}

func (r *rotatingCredential) current() (azcore.TokenCredential, error) {
	m, err := r.read()
	if err != nil {
		return nil, err
	}
	d := sha256.Sum256(m)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil && !r.stale && d == r.digest {
		return r.cur, nil
	}
	c, err := r.build(m)
	if err != nil {
		return nil, err
	}
	switch {
	case r.cur == nil:
	case d != r.digest:
		r.log.Info("Entra credential changed; using the new one", "secret", r.what)
	default:
		r.log.Info("requesting a new Entra access token", "reason", "Graph rejected the cached one")
	}
	r.cur, r.digest, r.stale = c, d, false
	return c, nil
}

// forget makes the next GetToken build a new credential, so the token comes
// from the token endpoint and not from the old credential's cache.
func (r *rotatingCredential) forget() {
	r.mu.Lock()
	r.stale = true
	r.mu.Unlock()
}

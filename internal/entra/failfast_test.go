package entra_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
)

// logBuffer collects a client's log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// A token Graph rejects (revoked, or issued before an emulator restart) is
// replaced by one fresh from the token endpoint, not served again from the
// credential's cache (D4: the daemon was stuck for up to 55 minutes).
func TestRevokedTokenReplaced(t *testing.T) {
	env := emulatortest.Start(t, sample())
	c := newClient(t, env)
	ctx := context.Background()
	if _, err := c.Group(ctx, "g-eng"); err != nil {
		t.Fatal(err)
	}
	env.Server.RevokeTokens()
	if _, err := c.Group(ctx, "g-eng"); err != nil {
		t.Fatalf("read after the token was revoked: %v", err)
	}
	if st := env.Server.Stats(); st.TokensIssued != 2 || st.Unauthorized != 1 {
		t.Errorf("emulator stats %+v: want 2 tokens issued and 1 request refused", st)
	}
	// The new token is cached again: no token request per Graph request.
	if _, err := c.Group(ctx, "g-sub"); err != nil {
		t.Fatal(err)
	}
	if st := env.Server.Stats(); st.TokensIssued != 2 {
		t.Errorf("tokens issued %d after a third read: want 2", st.TokensIssued)
	}
}

// The client secret is read from its file when a new token is needed, so a
// rotated secret takes effect without a restart.
func TestSecretFileReadForEachNewToken(t *testing.T) {
	env := emulatortest.Start(t, sample())
	c := newClient(t, env)
	ctx := context.Background()
	if _, err := c.Group(ctx, "g-eng"); err != nil {
		t.Fatal(err)
	}
	file := env.Config.Credential.Secret.File
	right, _ := os.ReadFile(file)
	if err := os.WriteFile(file, []byte("rotated-to-a-wrong-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env.Server.RevokeTokens() // the next request needs a new token
	_, err := c.Group(ctx, "g-eng")
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("read with the secret file changed to a wrong value: err %v, want AADSTS7000215 (file not re-read?)", err)
	}
	if err := os.WriteFile(file, right, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Group(ctx, "g-eng"); err != nil {
		t.Fatalf("read after the right secret was written back: %v", err)
	}
}

// otherCA writes a CA that did not sign the emulator's certificate.
func otherCA(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := emulator.LoadOrCreateCA(dir); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "ca.pem")
}

// A wrong entra.caFile is permanent: the request fails in seconds (it took
// 103-120 s), and the error leads with the certificate problem and the fix.
func TestUntrustedCertificateFailsFast(t *testing.T) {
	env := emulatortest.Start(t, sample())
	cfg := env.Config
	cfg.CAFile = otherCA(t)
	var logs logBuffer
	// Default retry settings: the production budget is what made it slow.
	c, err := entra.New(context.Background(), entraconfig.Options(cfg), entra.WithLogger(logs.logger()))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Group(context.Background(), "g-eng")
	took := time.Since(start)
	if err == nil {
		t.Fatal("request succeeded with an untrusted certificate")
	}
	t.Logf("failed in %s: %v", took, err)
	if took > 5*time.Second {
		t.Errorf("failed after %s, want < 5s", took)
	}
	msg := err.Error()
	cause, req := strings.Index(msg, "cannot reach Entra"), strings.Index(msg, "GET ")
	if cause < 0 || req < cause || !strings.Contains(msg, "x509") || !strings.Contains(msg, "entra.caFile") {
		t.Errorf("error %q: want the cause (cannot reach Entra ... x509 ...) before the request, naming entra.caFile", msg)
	}
	if i, j := strings.Index(msg, "x509"), strings.Index(msg, "context deadline"); j >= 0 && j < i {
		t.Errorf("error leads with %q before the x509 cause", "context deadline")
	}
}

// A host that refuses connections is retried a few times, each failure
// logged at WARN with its cause, then reported as permanent.
func TestConnectionRefusedReportedThenPermanent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	env := emulatortest.Start(t, sample())
	cfg := env.Config
	cfg.AuthorityHost = "https://" + addr + "/"
	var logs logBuffer
	c, err := entra.New(context.Background(), entraconfig.Options(cfg), entra.WithLogger(logs.logger()),
		entra.WithRetry(policy.RetryOptions{MaxRetries: 6, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 2 * time.Minute}))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Group(context.Background(), "g-eng")
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error %v: want connection refused", err)
	}
	t.Logf("failed in %s: %v", took, err)
	if took > 5*time.Second {
		t.Errorf("failed after %s, want < 5s (six retries would take about 25s)", took)
	}
	if n := strings.Count(logs.String(), "level=WARN msg=\"request to Entra failed\""); n < 1 {
		t.Errorf("%d WARN lines for the retried refusals; log:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("WARN lines do not give the cause:\n%s", logs.String())
	}
}

// A token endpoint answering 503 is reported at WARN on each retry, with its
// AADSTS code, instead of two silent minutes.
func TestTokenEndpointDownLogged(t *testing.T) {
	env := emulatortest.StartWith(t, sample(), emulator.Options{Faults: emulator.Faults{TokenEndpointDown: true}})
	var logs logBuffer
	c := newClient(t, env, entra.WithLogger(logs.logger()),
		entra.WithRetry(policy.RetryOptions{MaxRetries: 2, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond}))
	if _, err := c.Group(context.Background(), "g-eng"); err == nil {
		t.Fatal("token endpoint down, yet the request succeeded")
	}
	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n < 2 || !strings.Contains(out, "AADSTS90033") {
		t.Errorf("want a WARN with AADSTS90033 for each failed attempt, got %d WARN lines:\n%s", n, out)
	}
}

package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// RunConfig starts a standalone emulator (the `writeback-lab emulator` command
// and `writeback-lab up`).
type RunConfig struct {
	Addr string // loopback host:port; port 0 picks a free one
	// Dir keeps the CA, the client credentials, the tenant state (delta tokens
	// stay valid across restarts) and emulator.env.
	Dir        string
	TenantFile string // used when Dir holds no state yet (or Reset); "" = a generated sample tenant
	Reset      bool   // discard Dir's saved state and start from TenantFile
	ClientID   string // default: kept in Dir/client-id, generated once
	// ClientSecretFile holds the secret; default Dir/client-secret, generated once.
	ClientSecretFile string
	Options          Options // Tenant, ClientID and ClientSecret are filled in here
	Logger           *slog.Logger
}

// Running is a started emulator.
type Running struct {
	URL              string // https://127.0.0.1:port: authority host and Graph endpoint
	CAFile           string
	TenantID         string
	ClientID         string
	ClientSecretFile string
	EnvFile          string
	ConfigFile       string // an entra: config section pointing at this emulator
	Server           *Server

	srv   *http.Server
	done  chan error
	saver func()
}

// TokenURL is the OAuth2 token endpoint.
func (r *Running) TokenURL() string { return r.URL + "/" + r.TenantID + "/oauth2/v2.0/token" }

// Wait blocks until the server stops and returns its error.
func (r *Running) Wait() error { return <-r.done }

// IsLoopback reports whether host (a name or IP) is a loopback address.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Run starts the emulator in the background; it stops when ctx ends (the
// state is saved first).
func Run(ctx context.Context, c RunConfig) (*Running, error) {
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	host, err := c.checkAddr()
	if err != nil {
		return nil, err
	}
	if c.Dir == "" {
		return nil, errors.New("emulator: a directory is required (--dir)")
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("emulator dir: %w", err)
	}
	ca, err := LoadOrCreateCA(c.Dir, host)
	if err != nil {
		return nil, err
	}
	clientID, secretFile, secret, err := c.credentials()
	if err != nil {
		return nil, err
	}
	statePath := filepath.Join(c.Dir, "state.json")
	t, fresh, err := c.loadTenant(statePath, log)
	if err != nil {
		return nil, err
	}
	// Loading a large tenant leaves hundreds of MB of decoded JSON behind.
	debug.FreeOSMemory()

	opts := c.Options
	opts.Tenant, opts.ClientID, opts.ClientSecret = t, clientID, secret
	if opts.Logger == nil {
		opts.Logger = log
	}
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return nil, fmt.Errorf("emulator listen: %w", err)
	}
	r := &Running{
		URL:      "https://" + ln.Addr().String(),
		CAFile:   filepath.Join(c.Dir, "ca.pem"),
		TenantID: t.TenantID(), ClientID: clientID, ClientSecretFile: secretFile,
		EnvFile: filepath.Join(c.Dir, "emulator.env"), ConfigFile: filepath.Join(c.Dir, "entra.yaml"),
		Server: s, done: make(chan error, 1),
	}
	if err := r.writeFiles(); err != nil {
		ln.Close()
		return nil, err
	}
	stopSaver := r.startSaver(t, statePath, fresh, log)
	r.serve(ctx, ln, ca, log, stopSaver)
	return r, nil
}

// checkAddr returns the host of c.Addr, which must be a loopback address.
func (c RunConfig) checkAddr() (string, error) {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return "", fmt.Errorf("--addr %q: %w (want 127.0.0.1:8443)", c.Addr, err)
	}
	if !IsLoopback(host) {
		return "", fmt.Errorf("--addr %q: the emulator listens on loopback only (127.0.0.1, ::1 or localhost)", c.Addr)
	}
	return host, nil
}

// credentials returns the client ID and secret, made once and kept in
// c.Dir unless given.
func (c RunConfig) credentials() (clientID, secretFile, secret string, err error) {
	clientID = c.ClientID
	if clientID == "" {
		if clientID, err = keepFile(filepath.Join(c.Dir, "client-id"), newID); err != nil {
			return "", "", "", err
		}
	}
	secretFile = c.ClientSecretFile
	if secretFile == "" {
		secretFile = filepath.Join(c.Dir, "client-secret")
	}
	secret, err = keepFile(secretFile, randomSecret)
	return clientID, secretFile, secret, err
}

// loadTenant loads the saved state, or (the first time, or with Reset) the
// tenant file or the sample tenant; fresh: not yet saved to statePath.
func (c RunConfig) loadTenant(statePath string, log *slog.Logger) (t *Tenant, fresh bool, err error) {
	if _, serr := os.Stat(statePath); serr == nil && !c.Reset {
		if t, err = LoadState(statePath); err != nil {
			return nil, false, err
		}
		if c.TenantFile != "" {
			log.Warn("emulator: using the saved tenant state; --tenant is ignored (use --reset to reload it)", "state", statePath)
		}
		return t, false, nil
	}
	if c.TenantFile != "" {
		t, err = NewTenantFromFile(c.TenantFile)
	} else {
		var f TenantFile
		f, err = Generate(SampleOptions())
		if err == nil {
			t, err = NewTenant(f)
		}
	}
	if err != nil {
		return nil, false, err
	}
	return t, true, nil
}

// startSaver saves the state after changes (at most every saveEvery: a large
// tenant's state is tens of MB), never inside the tenant's lock, and at
// shutdown. A crash loses at most saveEvery of changes; tokens issued after
// the last save then get 410 and the client resyncs, which is safe. Closing
// the returned channel stops it.
func (r *Running) startSaver(t *Tenant, statePath string, fresh bool, log *slog.Logger) chan struct{} {
	dirty := make(chan struct{}, 1)
	t.OnChange(func() {
		select {
		case dirty <- struct{}{}:
		default:
		}
	})
	var saveMu sync.Mutex
	save := func() {
		saveMu.Lock()
		defer saveMu.Unlock()
		if err := t.SaveState(statePath); err != nil {
			log.Error("emulator: save state", "err", err)
		}
	}
	r.saver = save
	if fresh {
		dirty <- struct{}{} // first save in the background: startup stays quick
	}
	stopSaver := make(chan struct{})
	go func() {
		for {
			select {
			case <-dirty:
				select {
				case <-time.After(saveEvery):
				case <-stopSaver:
				}
				save()
			case <-stopSaver:
				return
			}
		}
	}()
	return stopSaver
}

// serve serves HTTPS on ln until ctx ends, then stops the saver and saves
// a last time.
func (r *Running) serve(ctx context.Context, ln net.Listener, ca *CA, log *slog.Logger, stopSaver chan struct{}) {
	r.srv = &http.Server{Handler: r.Server.Handler(), TLSConfig: ca.TLSConfig(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() {
		err := r.srv.ServeTLS(ln, "", "")
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		close(stopSaver)
		r.saver()
		r.done <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.srv.Shutdown(sctx)
	}()
}

const saveEvery = 2 * time.Second

// keepFile returns the trimmed content of path, creating it with gen() first.
func keepFile(path string, gen func() string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if v := strings.TrimSpace(string(b)); v != "" {
			return v, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("emulator: %w", err)
	}
	v := gen()
	// No trailing newline, so `curl --data-urlencode client_secret@file` works too.
	if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
		return "", fmt.Errorf("emulator: %w", err)
	}
	return v, nil
}

func (r *Running) writeFiles() error {
	env := fmt.Sprintf(`# Written by 'writeback-lab emulator'. Source it: . %s
WRITEBACK_EMULATOR_URL=%s
WRITEBACK_EMULATOR_CA=%s
WRITEBACK_EMULATOR_TOKEN_URL=%s
WRITEBACK_EMULATOR_GRAPH_URL=%s/v1.0
WRITEBACK_EMULATOR_ADMIN_URL=%s/_emulator/
WRITEBACK_EMULATOR_CONFIG=%s
AZURE_TENANT_ID=%s
AZURE_CLIENT_ID=%s
AZURE_CLIENT_SECRET_FILE=%s
`, r.EnvFile, r.URL, r.CAFile, r.TokenURL(), r.URL, r.URL, r.ConfigFile, r.TenantID, r.ClientID, r.ClientSecretFile)
	if err := os.WriteFile(r.EnvFile, []byte(env), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", r.EnvFile, err)
	}
	cfg := fmt.Sprintf(`# entra: section for writeback's Graph emulator (a test instrument).
entra:
  tenantId: %s
  clientId: %s
  authorityHost: %s/
  graphUrl: %s
  caFile: %s
  credential:
    kind: secret
    secret:
      file: %s
`, r.TenantID, r.ClientID, r.URL, r.URL, r.CAFile, r.ClientSecretFile)
	if err := os.WriteFile(r.ConfigFile, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", r.ConfigFile, err)
	}
	return nil
}

// SampleOptions describe the small tenant the emulator serves when started
// without a tenant file.
func SampleOptions() GenOptions {
	return GenOptions{Groups: 25, Users: 60, Memberships: 200, Nested: 5, Largest: 40, CloudOnlyRatio: 0.2, Seed: 1}
}

package opsserver

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Source is what the daemon tells the listener, asked at each request.
type Source interface {
	// Page gathers the status page (also served as JSON).
	Page(ctx context.Context) (*Page, error)
	// Ready returns why the daemon is not ready; none means ready.
	Ready(ctx context.Context) []string
}

// Options configure the listener.
type Options struct {
	// Addr is host:port; port 0 picks a free port (see Server.Addr).
	Addr string
	// CertFile and KeyFile, when set, serve HTTPS.
	CertFile, KeyFile string
	// Token, when set, is required as "Authorization: Bearer <token>" by
	// everything but /healthz and /readyz (probes carry no secrets).
	Token string
	Log   *slog.Logger
}

// Server is a running listener.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	log  *slog.Logger
	done chan error
}

// Start listens on o.Addr and serves in the background until Shutdown.
func Start(o Options, src Source, m *Metrics) (*Server, error) {
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("operations listener on %s: %w (change sync.listen or --listen, or stop what uses the port)", o.Addr, err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{ln: ln, log: log, done: make(chan error, 1)}
	s.srv = &http.Server{
		Handler:           Handler(o.Token, src, m),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		var err error
		if o.CertFile != "" {
			err = s.srv.ServeTLS(ln, o.CertFile, o.KeyFile)
		} else {
			err = s.srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		if err != nil {
			log.Error("operations listener stopped", "addr", ln.Addr().String(), "err", err)
		}
		s.done <- err
	}()
	return s, nil
}

// Addr is the address listened on (with the port picked for port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops accepting requests and waits for those in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if e := <-s.done; err == nil {
		err = e
	}
	return err
}

// Handler serves the operations endpoints.
func Handler(token string, src Source, m *Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		// Alive: this process answers. Whether it syncs is /readyz's question.
		reply(w, r, http.StatusOK, probe{Status: "ok"}, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		reasons := src.Ready(ctx)
		// With a shared state (docs/ha.md) the instance says its role: a
		// follower is ready as a standby.
		var role string
		if rs, ok := src.(interface{ Role() string }); ok {
			role = rs.Role()
		}
		if len(reasons) == 0 {
			text := "ready\n"
			if role != "" {
				text = "ready (" + role + ")\n"
			}
			reply(w, r, http.StatusOK, probe{Status: "ready", Role: role, Reasons: []string{}}, text)
			return
		}
		reply(w, r, http.StatusServiceUnavailable, probe{Status: "not ready", Role: role, Reasons: reasons},
			"not ready:\n- "+strings.Join(reasons, "\n- ")+"\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry(), promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		p, err := src.Page(r.Context())
		if err != nil {
			http.Error(w, "status unavailable: "+err.Error(), http.StatusInternalServerError)
			return
		}
		if wantsJSON(r) {
			writeJSON(w, http.StatusOK, p)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The page stands alone: no script, style sheet, font or image
		// from anywhere, so it renders the same offline and in a terminal
		// browser, and a strict CSP costs nothing.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		if err := pageTemplate.Execute(w, p); err != nil {
			// Headers are gone; the truncated page shows where it failed.
			fmt.Fprintf(w, "<p>error rendering the page: %s</p>", err)
		}
	})
	if token == "" {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && !bearer(r, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="writeback"`)
			http.Error(w, "a bearer token is required (sync.listenToken): send Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func bearer(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

type probe struct {
	Status  string   `json:"status"`
	Role    string   `json:"role,omitempty"` // leader or follower (shared state)
	Reasons []string `json:"reasons,omitempty"`
}

// wantsJSON: a client that asks for JSON and not for HTML (browsers ask
// for text/html first; curl asks for */*, which gets the page).
func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

func reply(w http.ResponseWriter, r *http.Request, code int, v any, text string) {
	if wantsJSON(r) {
		writeJSON(w, code, v)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprint(w, text)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

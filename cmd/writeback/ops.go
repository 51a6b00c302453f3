package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/engine"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/opsserver"
	"github.com/writeback/writeback/internal/state"
)

// ops is what the daemon's operations listener reads: the state (through
// the functions behind 'writeback status'), the outcome of the rounds, and
// the endpoints to probe. The listener's goroutines never touch the session,
// which the rounds own: the round loop hands over what they need.
type ops struct {
	db      *state.DB
	cfgPath string
	since   time.Time
	metrics *opsserver.Metrics
	// lastOK is the end of the last successful round (Unix nanoseconds).
	lastOK atomic.Int64
	mu     sync.Mutex
	cfg    opsConfig
	// role is leader or follower with a shared state (ha.go).
	role role
}

// opsConfig is the part of the configuration the listener reads, replaced
// on reload.
type opsConfig struct {
	interval time.Duration
	dc       string // ad.url
	graph    string // the Graph endpoint
}

func newOps(db *state.DB, cfgPath string, cfg *config.Config) *ops {
	o := &ops{db: db, cfgPath: cfgPath, since: time.Now()}
	o.setConfig(cfg)
	b := buildInfo()
	o.metrics = opsserver.NewMetrics(opsserver.Build{Version: b.Version, Commit: b.Commit, Date: b.Date, GoVersion: b.GoVersion}, o.gauges)
	if db.Shared() {
		o.role.set("follower")
		o.registerRoleMetrics()
	}
	return o
}

func (o *ops) setConfig(cfg *config.Config) {
	c := opsConfig{interval: time.Duration(cfg.Sync.Interval), dc: cfg.AD.URL}
	if cfg.Entra != nil {
		c.graph = cfg.Entra.GraphURL
		if c.graph == "" {
			c.graph = entra.Clouds[cfg.Entra.Cloud].GraphURL
		}
	}
	o.mu.Lock()
	o.cfg = c
	o.mu.Unlock()
}

func (o *ops) config() opsConfig {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cfg
}

// observe reports a round to the metrics and to readiness. res is nil when
// the round did not start (no connection).
func (o *ops) observe(start time.Time, full bool, res *engine.Result, err error, connectErr bool) {
	r := opsserver.Round{Full: full, Start: start, Duration: time.Since(start), Outcome: "ok"}
	switch {
	case errors.Is(err, engine.ErrBlocked):
		r.Outcome = "blocked"
	case err != nil:
		r.Outcome = "error"
	}
	if connectErr {
		r.LDAPErrors = map[string]int{"connection": 1}
	}
	if res != nil {
		r.Duration = res.Duration
		r.LDAPSearches, r.LDAPWrites = res.LDAP.Searches, res.LDAP.Writes
		r.GraphRequests, r.GraphRetries, r.GraphThrottled = res.Graph.Requests, res.Graph.Retries, res.Graph.Throttled
		if res.Planned != nil && res.Planned.Plan != nil && r.Outcome != "blocked" {
			r.Changes = map[string]int{}
			for _, c := range res.Planned.Plan.Changes {
				r.Changes[string(c.Action)]++
			}
		}
		if a := res.Applied; a != nil {
			r.Applied = a.Applied
			if a.Failed > 0 {
				r.LDAPErrors = map[string]int{"group": a.Failed}
			}
		}
	}
	o.metrics.ObserveRound(r)
	if r.Outcome == "ok" {
		o.lastOK.Store(time.Now().UnixNano())
	}
}

// gauges are read at each scrape, from the state as status reads it.
func (o *ops) gauges() (opsserver.Gauges, bool) {
	r, err := buildStatus(o.db, stateQuery{N: 1, Interval: o.config().interval})
	if err != nil {
		return opsserver.Gauges{}, false
	}
	g := opsserver.Gauges{Owned: r.Groups, Pending: r.Pending, Quarantined: len(r.Quarantined)}
	for _, f := range r.Findings {
		g.UnresolvedMembers += len(f.Unresolved)
		if f.Collision != "" {
			g.Collisions++
		}
	}
	if r.BlockedDeletes != nil {
		g.BlockedDeletes = len(r.BlockedDeletes.Groups)
	}
	return g, true
}

// Page is the status page: what 'writeback status' shows.
func (o *ops) Page(ctx context.Context) (*opsserver.Page, error) {
	c := o.config()
	r, err := buildStatus(o.db, stateQuery{N: 20, Interval: c.interval})
	if err != nil {
		return nil, fmt.Errorf("read the state %s: %w", o.db.Path(), err)
	}
	p := &opsserver.Page{
		Version: r.Version.String(), Now: time.Now(), DC: c.dc, Graph: c.graph, State: r.State,
		Running: fmt.Sprintf("writeback run, pid %d, since %s%s", os.Getpid(), o.since.Local().Format(time.DateTime), roleSuffix(o.role.get())),
		Groups:  r.Groups, Pending: r.Pending, FullPending: r.FullPending, LastFull: lastFullLine(r.LastFullRun, r.LastFull),
		LastSuccess: r.LastSuccess, Rounds: r.Rounds, Findings: r.Findings, BlockedDeletes: r.BlockedDeletes,
		NeedsOperator: r.NeedsOperator, Quarantined: []opsserver.Group{}, Failing: []opsserver.Group{},
	}
	if p.Findings == nil {
		p.Findings = []state.Finding{}
	}
	if p.NeedsOperator == nil {
		p.NeedsOperator = []string{}
	}
	if r.BlockedDeletes != nil {
		p.ReleaseCommand = "writeback apply --allow-deletes --config " + o.cfgPath
	}
	var ids []string
	for _, s := range slices.Concat(r.Quarantined, r.Failing) {
		ids = append(ids, s.ID)
	}
	names := groupNames(o.db, ids)
	for _, s := range r.Quarantined {
		p.Quarantined = append(p.Quarantined, opsserver.Group{ID: s.ID, Name: names[s.ID], DN: s.DN, Failures: s.Failures, RetryAfter: s.QuarantinedUntil, Reason: s.LastError})
	}
	for _, s := range r.Failing {
		p.Failing = append(p.Failing, opsserver.Group{ID: s.ID, Name: names[s.ID], DN: s.DN, Failures: s.Failures, Reason: s.LastError})
	}
	return p, nil
}

// Ready: a round succeeded within 3 sync intervals, and the DC and Graph
// answer a TCP connection now (a stopped DC makes the daemon unready at
// once, not 3 intervals later).
func (o *ops) Ready(ctx context.Context) []string {
	if o.role.get() == "follower" {
		return o.standbyReady(ctx) // HA (ha.go): a standby runs no rounds
	}
	c := o.config()
	var reasons []string
	if last := o.lastOK.Load(); last == 0 {
		reasons = append(reasons, "no round has succeeded since writeback started")
	} else if ago := time.Since(time.Unix(0, last)); ago > 3*c.interval {
		reasons = append(reasons, fmt.Sprintf("no successful round for %s (more than 3 × sync.interval %s)", ago.Round(time.Second), c.interval))
	}
	type probe struct{ what, url, port string }
	var probes []probe
	// With ad.servers / ad.domain (no ad.url) one DC down is not a fault:
	// rounds fail over, and a failing round shows above.
	if c.dc != "" {
		probes = append(probes, probe{"AD (ad.url)", c.dc, "636"})
	}
	if c.graph != "" {
		g := probe{"Microsoft Graph", c.graph, "443"}
		// Behind a proxy, Graph is reached through it: probe the proxy.
		if req, err := http.NewRequest(http.MethodGet, c.graph, nil); err == nil {
			if pu, err := http.ProxyFromEnvironment(req); err == nil && pu != nil {
				g = probe{"the proxy to Microsoft Graph", pu.String(), "3128"}
			}
		}
		probes = append(probes, g)
	}
	errs := make([]string, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Go(func() {
			if err := reach(ctx, p.url, p.port); err != nil {
				errs[i] = fmt.Sprintf("%s unreachable: %v", p.what, err)
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			reasons = append(reasons, e)
		}
	}
	return reasons
}

// reach opens and closes a TCP connection to the URL's host.
func reach(ctx context.Context, raw, defaultPort string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "ldap":
			port = "389"
		case "http":
			port = "80"
		default:
			port = defaultPort
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return err
	}
	return conn.Close()
}

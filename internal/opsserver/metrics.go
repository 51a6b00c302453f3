package opsserver

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Build is the binary's identity, exported as writeback_build_info.
type Build struct {
	Version, Commit, Date, GoVersion string
}

// Round is what one round of the daemon reports to the metrics.
type Round struct {
	Full bool
	// Outcome: "ok", "error" (the round failed) or "blocked" (the deletion
	// threshold held it back).
	Outcome  string
	Start    time.Time
	Duration time.Duration
	// Changes counts the planned changes by action (create, update, delete...).
	Changes map[string]int
	// Applied is how many changes were written to AD.
	Applied int
	// LDAP operations of the round, and failures by kind ("group" for a
	// group's change that failed, "connection" for a round that could not
	// reach or lost the DC).
	LDAPSearches, LDAPWrites int64
	LDAPErrors               map[string]int
	// Graph traffic of the round.
	GraphRequests, GraphRetries, GraphThrottled int64
}

// Gauges is the state of the groups, read at each scrape (not each round,
// so that rounds pay nothing for it).
type Gauges struct {
	Owned, Pending, Quarantined                   int
	UnresolvedMembers, Collisions, BlockedDeletes int
}

// Metrics holds writeback's metrics on a registry of its own (no global
// state: tests make as many as they like).
type Metrics struct {
	reg           *prometheus.Registry
	rounds        *prometheus.CounterVec
	roundDuration *prometheus.HistogramVec
	lastSuccess   prometheus.Gauge
	lastRound     prometheus.Gauge
	changes       *prometheus.CounterVec
	ldapOps       *prometheus.CounterVec
	ldapErrors    *prometheus.CounterVec
	graphRequests prometheus.Counter
	graphRetries  prometheus.Counter
	graphThrottle prometheus.Counter
	latency       prometheus.Histogram
}

// NewMetrics registers every metric, the Go runtime's and the process's.
// gauges is called at each scrape; it returns false when the state cannot
// be read (the gauges are then left out of that scrape).
func NewMetrics(b Build, gauges func() (Gauges, bool)) *Metrics {
	const ns = "writeback"
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rounds_total",
			Help: "Rounds run, by kind (full, incremental) and outcome (ok, error, blocked)."}, []string{"kind", "outcome"}),
		roundDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "round_duration_seconds",
			Help:    "Duration of rounds, by kind.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}}, []string{"kind"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "last_success_timestamp_seconds",
			Help: "End of the last round that succeeded, in Unix seconds (0: none since start)."}),
		lastRound: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "last_round_timestamp_seconds",
			Help: "End of the last round, whatever its outcome, in Unix seconds."}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "changes_total",
			Help: "Changes planned by rounds that applied, by action."}, []string{"action"}),
		ldapOps: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "ldap_operations_total",
			Help: "LDAP operations, by kind (search, write)."}, []string{"kind"}),
		ldapErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "ldap_errors_total",
			Help: "LDAP failures, by kind (group: a group's change failed; connection: a round could not reach or lost the DC)."}, []string{"kind"}),
		graphRequests: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "graph_requests_total",
			Help: "Microsoft Graph requests."}),
		graphRetries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "graph_retries_total",
			Help: "Microsoft Graph requests retried."}),
		graphThrottle: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "graph_throttled_total",
			Help: "Microsoft Graph answers 429 Too Many Requests."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "change_latency_seconds",
			Help:    "From the round that saw a change in Graph to its write in AD, per change applied.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600}}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
		Help: "The running binary: version, commit, build date and Go version (always 1)."},
		[]string{"version", "commit", "date", "goversion"})
	build.WithLabelValues(b.Version, b.Commit, b.Date, b.GoVersion).Set(1)
	m.reg.MustRegister(m.rounds, m.roundDuration, m.lastSuccess, m.lastRound, m.changes, m.ldapOps, m.ldapErrors,
		m.graphRequests, m.graphRetries, m.graphThrottle, m.latency, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if gauges != nil {
		m.reg.MustRegister(stateCollector{gauges})
	}
	// Series with known labels exist from the start at 0, so that rate()
	// and absent() work before the first round of each kind.
	for _, k := range []string{"full", "incremental"} {
		for _, o := range []string{"ok", "error", "blocked"} {
			m.rounds.WithLabelValues(k, o)
		}
	}
	for _, k := range []string{"search", "write"} {
		m.ldapOps.WithLabelValues(k)
	}
	for _, k := range []string{"group", "connection"} {
		m.ldapErrors.WithLabelValues(k)
	}
	return m
}

// Registry is where the metrics are registered (for tests and /metrics).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRound counts one round. It costs a few atomic additions: nothing
// next to a round's LDAP and Graph traffic.
func (m *Metrics) ObserveRound(r Round) {
	kind := "incremental"
	if r.Full {
		kind = "full"
	}
	m.rounds.WithLabelValues(kind, r.Outcome).Inc()
	m.roundDuration.WithLabelValues(kind).Observe(r.Duration.Seconds())
	end := r.Start.Add(r.Duration)
	m.lastRound.Set(float64(end.UnixNano()) / 1e9)
	if r.Outcome == "ok" {
		m.lastSuccess.Set(float64(end.UnixNano()) / 1e9)
	}
	for a, n := range r.Changes {
		m.changes.WithLabelValues(a).Add(float64(n))
	}
	m.ldapOps.WithLabelValues("search").Add(float64(r.LDAPSearches))
	m.ldapOps.WithLabelValues("write").Add(float64(r.LDAPWrites))
	for k, n := range r.LDAPErrors {
		m.ldapErrors.WithLabelValues(k).Add(float64(n))
	}
	m.graphRequests.Add(float64(r.GraphRequests))
	m.graphRetries.Add(float64(r.GraphRetries))
	m.graphThrottle.Add(float64(r.GraphThrottled))
	// A change is seen when the round reads Graph (its start) and written
	// before the round ends: the round's duration bounds the latency of
	// each change it applied. Time spent in Graph before the round's read
	// (at most sync.interval) is not counted: writeback cannot see it.
	for range r.Applied {
		m.latency.Observe(r.Duration.Seconds())
	}
}

// stateCollector exports Gauges, read at scrape time.
type stateCollector struct{ read func() (Gauges, bool) }

var (
	descGroups = prometheus.NewDesc("writeback_groups", "Groups by state: owned (provisioned in AD), pending (waiting for the next round), quarantined.",
		[]string{"state"}, nil)
	descUnresolved = prometheus.NewDesc("writeback_unresolved_members", "Cloud members left out of their AD group because they could not be resolved.", nil, nil)
	descCollisions = prometheus.NewDesc("writeback_collisions", "Groups not written because their DN or name is taken by another object.", nil, nil)
	descBlocked    = prometheus.NewDesc("writeback_blocked_deletes", "Deletes held back by safety.deleteThreshold (release: writeback apply --allow-deletes).", nil, nil)
)

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descGroups
	ch <- descUnresolved
	ch <- descCollisions
	ch <- descBlocked
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	g, ok := c.read()
	if !ok {
		return
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	gauge(descGroups, g.Owned, "owned")
	gauge(descGroups, g.Pending, "pending")
	gauge(descGroups, g.Quarantined, "quarantined")
	gauge(descUnresolved, g.UnresolvedMembers)
	gauge(descCollisions, g.Collisions)
	gauge(descBlocked, g.BlockedDeletes)
}

package opsserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/writeback/writeback/internal/state"
)

type fakeSource struct {
	page    Page
	reasons []string
}

func (f *fakeSource) Page(context.Context) (*Page, error) { p := f.page; return &p, nil }
func (f *fakeSource) Ready(context.Context) []string      { return f.reasons }

func start(t *testing.T, token string, src Source, m *Metrics) string {
	t.Helper()
	s, err := Start(Options{Addr: "127.0.0.1:0", Token: token}, src, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return "http://" + s.Addr()
}

func get(t *testing.T, url, accept, token string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func samplePage() Page {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	return Page{
		Version: "writeback v1.2.3", DC: "ldaps://dc1.contoso.test:636", State: "/var/lib/writeback/state.db",
		Rounds:      []state.Round{{Seq: 7, Start: now, Duration: 1500 * time.Millisecond, Full: true, Groups: 3, Changes: 2, Applied: 2}},
		Quarantined: []Group{{ID: "q-1", Name: "Finance <Payroll>", Failures: 3, RetryAfter: now.Add(time.Hour), Reason: "constraint violation: sAMAccountName taken"}},
		Findings: []state.Finding{{GroupID: "g-2", Name: "Sales", Since: now,
			Unresolved: []state.SkippedMember{{ID: "u-9", Name: "Ada Lovelace", Reason: "not synchronized to AD (no onPremisesSecurityIdentifier)"}}}},
		BlockedDeletes: &state.BlockedDeletes{Since: now, Reason: "600 deletes > 500", Groups: []state.BlockedGroup{{ID: "d-1", Name: "Old", DN: "CN=Old,OU=G,DC=contoso,DC=test"}}},
		ReleaseCommand: "writeback apply --allow-deletes --config /etc/writeback/writeback.yaml",
		NeedsOperator:  []string{"1 group(s) quarantined"},
	}
}

// The page shows what an operator acts on, escaped, with no external resource.
func TestStatusPage(t *testing.T) {
	base := start(t, "", &fakeSource{page: samplePage()}, NewMetrics(Build{}, nil))
	code, body, h := get(t, base+"/", "text/html", "")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", code, h.Get("Content-Type"))
	}
	for _, want := range []string{"writeback v1.2.3", "ldaps://dc1.contoso.test:636", "Finance &lt;Payroll&gt;", "constraint violation",
		"Ada Lovelace", "not synchronized to AD", "Sales", "writeback apply --allow-deletes --config /etc/writeback/writeback.yaml",
		"CN=Old,OU=G,DC=contoso,DC=test", "Needs an operator", "1 group(s) quarantined"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, ext := range []string{"http://", "https://", "<script", "src="} {
		if strings.Contains(body, ext) {
			t.Errorf("page refers to an external resource or script (%q)", ext)
		}
	}
	code, body, h = get(t, base+"/", "application/json", "")
	var p Page
	if code != 200 || h.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &p) != nil {
		t.Fatalf("GET / JSON = %d %s %s", code, h.Get("Content-Type"), body)
	}
	if len(p.Quarantined) != 1 || p.Quarantined[0].Name != "Finance <Payroll>" || p.Findings[0].Unresolved[0].Name != "Ada Lovelace" {
		t.Errorf("JSON page = %+v", p)
	}
	if code, _, _ := get(t, base+"/nothing", "", ""); code != 404 {
		t.Errorf("GET /nothing = %d, want 404", code)
	}
}

// /readyz says why it is not ready, in text and JSON; /healthz is alive.
func TestProbes(t *testing.T) {
	src := &fakeSource{reasons: []string{"AD unreachable: dial tcp 127.0.0.28:636: connection refused"}}
	base := start(t, "", src, NewMetrics(Build{}, nil))
	if code, body, _ := get(t, base+"/healthz", "", ""); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	code, body, _ := get(t, base+"/readyz", "", "")
	if code != 503 || !strings.Contains(body, "AD unreachable") {
		t.Errorf("/readyz = %d %q, want 503 with the reason", code, body)
	}
	_, body, _ = get(t, base+"/readyz", "application/json", "")
	var p probe
	if json.Unmarshal([]byte(body), &p) != nil || p.Status != "not ready" || len(p.Reasons) != 1 {
		t.Errorf("/readyz JSON = %s", body)
	}
	src.reasons = nil
	if code, body, _ := get(t, base+"/readyz", "", ""); code != 200 || body != "ready\n" {
		t.Errorf("/readyz = %d %q, want 200 ready", code, body)
	}
}

// With a token, everything but the probes needs it.
func TestBearerToken(t *testing.T) {
	base := start(t, "tok3n", &fakeSource{page: samplePage()}, NewMetrics(Build{}, nil))
	for _, path := range []string{"/", "/metrics"} {
		if code, _, h := get(t, base+path, "", ""); code != 401 || h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s without token = %d, want 401", path, code)
		}
		if code, _, _ := get(t, base+path, "", "wrong"); code != 401 {
			t.Errorf("%s with a wrong token = %d, want 401", path, code)
		}
		if code, _, _ := get(t, base+path, "", "tok3n"); code != 200 {
			t.Errorf("%s with the token = %d, want 200", path, code)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _, _ := get(t, base+path, "", ""); code != 200 {
			t.Errorf("%s without token = %d, want 200 (probes carry no secret)", path, code)
		}
	}
}

// scrapeMetrics parses a /metrics answer with Prometheus's own text parser.
func scrapeMetrics(t *testing.T, url, token string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body, _ := get(t, url, "", token)
	if code != 200 {
		t.Fatalf("GET %s = %d", url, code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value is the sum of a family's samples whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var sum float64
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// A round moves the counters a dashboard and the alerts use.
func TestMetricsCountRounds(t *testing.T) {
	g := Gauges{Owned: 10, Pending: 2, Quarantined: 1, UnresolvedMembers: 4, Collisions: 1, BlockedDeletes: 600}
	m := NewMetrics(Build{Version: "v1.2.3", GoVersion: "go1.26"}, func() (Gauges, bool) { return g, true })
	base := start(t, "", &fakeSource{}, m)
	before := scrapeMetrics(t, base+"/metrics", "")
	if v := value(before, "writeback_rounds_total", map[string]string{"kind": "incremental", "outcome": "ok"}); v != 0 {
		t.Errorf("rounds before any = %v, want a 0 series", v)
	}
	start := time.Now()
	m.ObserveRound(Round{Outcome: "ok", Start: start, Duration: 2 * time.Second, Changes: map[string]int{"create": 2, "update": 1},
		Applied: 3, LDAPSearches: 5, LDAPWrites: 3, GraphRequests: 4, GraphRetries: 1, GraphThrottled: 1})
	m.ObserveRound(Round{Full: true, Outcome: "error", Start: start, Duration: time.Second, LDAPErrors: map[string]int{"connection": 1}})
	f := scrapeMetrics(t, base+"/metrics", "")
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"writeback_rounds_total", map[string]string{"kind": "incremental", "outcome": "ok"}, 1},
		{"writeback_rounds_total", map[string]string{"kind": "full", "outcome": "error"}, 1},
		{"writeback_round_duration_seconds", map[string]string{"kind": "incremental"}, 1},
		{"writeback_changes_total", map[string]string{"action": "create"}, 2},
		{"writeback_ldap_operations_total", map[string]string{"kind": "write"}, 3},
		{"writeback_ldap_errors_total", map[string]string{"kind": "connection"}, 1},
		{"writeback_graph_requests_total", nil, 4},
		{"writeback_graph_throttled_total", nil, 1},
		{"writeback_graph_retries_total", nil, 1},
		{"writeback_change_latency_seconds", nil, 3},
		{"writeback_groups", map[string]string{"state": "quarantined"}, 1},
		{"writeback_unresolved_members", nil, 4},
		{"writeback_blocked_deletes", nil, 600},
		{"writeback_build_info", map[string]string{"version": "v1.2.3"}, 1},
	} {
		if v := value(f, c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	if v := value(f, "writeback_last_success_timestamp_seconds", nil); v < float64(start.Unix()) {
		t.Errorf("last success = %v, want about %v", v, start.Unix())
	}
	if value(f, "go_goroutines", nil) <= 0 || value(f, "process_resident_memory_bytes", nil) <= 0 {
		t.Error("Go runtime or process metrics missing")
	}
}

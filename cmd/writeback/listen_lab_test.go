package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/lab/labcli"
	"github.com/writeback/writeback/internal/opsserver"
)

// listenDaemon is 'writeback run --listen 127.0.0.1:0' against a directory
// (ldaptest or the lab AD) and an emulator, with the listener's base URL
// read from its log.
type listenDaemon struct {
	base string
	logs *lockedBuffer
	env  *emulatortest.Env
	dir  *cliDir
}

const (
	listenGroup      = "aaaaaaaa-2121-4000-8000-000000000001"
	listenSynced     = "bbbbbbbb-2121-4000-8000-000000000001"
	listenCloudOnly  = "bbbbbbbb-2121-4000-8000-000000000002"
	listenCloudName  = "carol@lab.test" // the name status shows for a user: its UPN
	listenGroupName  = "Ops listener group"
	listenBadGroup   = "aaaaaaaa-2121-4000-8000-000000000002"
	listenBadName    = "Ops quarantined group"
	listenRoundEvery = 2 * time.Second
)

func startListenDaemon(t *testing.T, d directory) *listenDaemon {
	t.Helper()
	l := newDir(t, d, 1, "wblisten")
	users := l.Users
	tf := &emulator.TenantFile{
		Users: []emulator.User{
			syncedUser(listenSynced, "Synced Sam", "sam@lab.test", users[0]),
			{ID: listenCloudOnly, DisplayName: listenCloudName, UserPrincipalName: "carol@lab.test"},
		},
		Groups: []emulator.Group{
			{ID: listenGroup, DisplayName: listenGroupName, SecurityEnabled: true, Members: []string{listenSynced, listenCloudOnly}},
			// Its managedBy (mapped below) names no object: AD refuses the
			// create, the group is quarantined and the other goes on.
			{ID: listenBadGroup, DisplayName: listenBadName, SecurityEnabled: true},
		},
	}
	cl := newCLIEnv(t, l, tf, func(c *config.Config) {
		c.Sync.Interval = config.Duration(listenRoundEvery)
		c.Mappings.Attributes = map[string]config.Mapping{"managedBy": {Expression: `Switch([displayName], "", "` + listenBadName + `", "CN=Nobody Here,` + l.OU + `")`}}
	})
	env, cfgFile := cl.env, cl.cfgFile
	ctx, cancel := context.WithCancel(context.Background())
	logs := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- runRun(ctx, []string{"--config", cfgFile, "--listen", "127.0.0.1:0"}, logs, logs) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	ld := &listenDaemon{logs: logs, env: env, dir: l}
	re := regexp.MustCompile(`operations listener"? url=(http://127\.0\.0\.1:[0-9]+)/`)
	eventually(t, "the listener's address in the log", 30*time.Second, func() bool {
		m := re.FindStringSubmatch(logs.String())
		if m != nil {
			ld.base = m[1]
		}
		return m != nil
	}, logs)
	return ld
}

func (d *listenDaemon) get(t *testing.T, path, accept string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", d.base+path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric sums the samples of a family whose labels include want, parsed
// with Prometheus's text parser as a scrape would.
func (d *listenDaemon) metric(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	code, body := d.get(t, "/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return sumFamily(fams[name], want)
}

func sumFamily(f *dto.MetricFamily, want map[string]string) float64 {
	var sum float64
	for _, m := range f.GetMetric() {
		ok := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == k && l.GetValue() == v)
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return sum
}

// 'writeback run --listen' serves metrics that move with a change made in
// Graph, readiness, and a status page naming the unresolved member and the
// quarantined group.
func TestRunListener(t *testing.T) { eachDirectory(t, testRunListener) }

func testRunListener(t *testing.T, dir directory) {
	d := startListenDaemon(t, dir)
	eventually(t, "/readyz ready after the first round", 60*time.Second, func() bool {
		code, _ := d.get(t, "/readyz", "")
		return code == 200
	}, d.logs)
	if code, body := d.get(t, "/healthz", ""); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if v := d.metric(t, "writeback_groups", map[string]string{"state": "owned"}); v != 1 {
		t.Errorf("writeback_groups{state=owned} = %v, want 1", v)
	}
	if v := d.metric(t, "writeback_groups", map[string]string{"state": "quarantined"}); v != 1 {
		t.Errorf("writeback_groups{state=quarantined} = %v, want 1", v)
	}
	if v := d.metric(t, "writeback_ldap_errors_total", map[string]string{"kind": "group"}); v < 1 {
		t.Errorf("writeback_ldap_errors_total{kind=group} = %v, want ≥ 1 (the quarantined group's create)", v)
	}
	if v := d.metric(t, "writeback_unresolved_members", nil); v != 1 {
		t.Errorf("writeback_unresolved_members = %v, want 1 (the cloud-only member)", v)
	}
	changes := d.metric(t, "writeback_changes_total", nil)
	writes := d.metric(t, "writeback_ldap_operations_total", map[string]string{"kind": "write"})
	graph := d.metric(t, "writeback_graph_requests_total", nil)
	if changes < 1 || writes < 1 || graph < 1 {
		t.Errorf("after the first round: changes %v, LDAP writes %v, Graph requests %v; want each ≥ 1", changes, writes, graph)
	}

	// A change in Graph moves the counters once the daemon wrote it.
	if _, err := d.env.Admin.UpdateGroup(listenGroup, func(g *emulator.Group) { g.Description = "changed for the metrics" }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the change counted", 30*time.Second, func() bool {
		return d.metric(t, "writeback_changes_total", map[string]string{"action": "update"}) >= 1 &&
			d.metric(t, "writeback_ldap_operations_total", map[string]string{"kind": "write"}) > writes
	}, d.logs)
	if v := d.metric(t, "writeback_graph_requests_total", nil); v <= graph {
		t.Errorf("Graph requests did not move: %v then %v", graph, v)
	}
	if v := d.metric(t, "writeback_change_latency_seconds", nil); v < 2 {
		t.Errorf("change latency observations = %v, want one per applied change (≥ 2)", v)
	}
	if v := d.metric(t, "writeback_last_success_timestamp_seconds", nil); time.Since(time.Unix(int64(v), 0)) > time.Minute {
		t.Errorf("last success %v is not recent", v)
	}

	// The status page names the group and the member left out, and why.
	code, body := d.get(t, "/", "text/html")
	if code != 200 {
		t.Fatalf("GET / = %d", code)
	}
	for _, want := range []string{listenGroupName, listenCloudName, listenBadName, "Needs an operator", "1 group(s) quarantined", buildInfo().Version} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	_, body = d.get(t, "/", "application/json")
	var p opsserver.Page
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, body)
	}
	if len(p.Findings) != 1 || len(p.Findings[0].Unresolved) != 1 || p.Findings[0].Unresolved[0].Name != listenCloudName || p.Groups != 1 || len(p.Rounds) == 0 {
		t.Errorf("status JSON: %+v", p)
	}
	if len(p.Quarantined) != 1 || p.Quarantined[0].Name != listenBadName || p.Quarantined[0].Reason == "" || p.Quarantined[0].RetryAfter.IsZero() {
		t.Errorf("quarantined in the status JSON: %+v, want %q with its reason and retry time", p.Quarantined, listenBadName)
	}
}

// /readyz goes non-ready, with the reason, while the lab DC is stopped
// ('writeback lab down') and ready again after 'writeback lab up'. It stops
// the shared lab, so it runs only when asked (WRITEBACK_LAB_RESTART=1, set
// by scripts/test.sh in a step of its own): tests of other packages running
// at the same time would fail for it.
func TestLabReadyzFollowsTheDC(t *testing.T) {
	if os.Getenv("WRITEBACK_LAB_RESTART") == "" {
		t.Skip("stops and starts the lab DC: set WRITEBACK_LAB_RESTART=1 (no other lab test may run meanwhile)")
	}
	d := startListenDaemon(t, onLab)
	eventually(t, "/readyz ready", 60*time.Second, func() bool { code, _ := d.get(t, "/readyz", ""); return code == 200 }, d.logs)
	lab := func(cmd string) {
		var out lockedBuffer
		if err := labcli.Lab(context.Background(), []string{cmd}, &out, &out); err != nil {
			t.Fatalf("writeback lab %s: %v\n%s", cmd, err, out.String())
		}
	}
	lab("down")
	t.Cleanup(func() { lab("up") }) // the other tests need it, whatever happens here
	var reason string
	eventually(t, "/readyz not ready with the DC stopped", 30*time.Second, func() bool {
		code, body := d.get(t, "/readyz", "")
		reason = body
		return code == 503
	}, d.logs)
	if !strings.Contains(reason, "AD (ad.url) unreachable") {
		t.Errorf("/readyz body %q does not say AD is unreachable", reason)
	}
	lab("up")
	eventually(t, "/readyz ready again with the DC back", 120*time.Second, func() bool {
		code, _ := d.get(t, "/readyz", "")
		return code == 200
	}, d.logs)
}

// /readyz goes non-ready, with the reason, while the DC is down and ready
// again when it is back: TestLabReadyzFollowsTheDC without a lab, the DC
// being ldaptest stopped and restarted on the same address.
func TestReadyzFollowsTheDC(t *testing.T) {
	d := startListenDaemon(t, onLDAPTest)
	eventually(t, "/readyz ready", 60*time.Second, func() bool { code, _ := d.get(t, "/readyz", ""); return code == 200 }, d.logs)
	d.dir.LDAP.Stop()
	var reason string
	eventually(t, "/readyz not ready with the DC stopped", 30*time.Second, func() bool {
		code, body := d.get(t, "/readyz", "")
		reason = body
		return code == 503
	}, d.logs)
	if !strings.Contains(reason, "AD (ad.url) unreachable") {
		t.Errorf("/readyz body %q does not say AD is unreachable", reason)
	}
	d.dir.LDAP.Restart()
	eventually(t, "/readyz ready again with the DC back", 60*time.Second, func() bool {
		code, _ := d.get(t, "/readyz", "")
		return code == 200
	}, d.logs)
}

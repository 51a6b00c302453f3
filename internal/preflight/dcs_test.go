package preflight_test

import (
	"context"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/preflight"
)

func runOne(t *testing.T, a config.AD, name string) preflight.Result {
	t.Helper()
	env := &preflight.Env{Config: &config.Config{AD: a}, NoWrite: true}
	defer env.Close()
	for _, r := range preflight.Run(context.Background(), env, preflight.ADChecks(), nil) {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no result for %s", name)
	return preflight.Result{}
}

// Issue #20: check lists the DCs of ad.servers, says which one is pinned
// and which read-only DC was skipped.
func TestCheckReportsDCs(t *testing.T) {
	ro := ldaptest.Start(t, ldaptest.Options{DSA: "RODC1", RODC: true})
	dc2 := ldaptest.Start(t, ldaptest.Options{DSA: "DC2"})
	a := dc2.Config()
	a.URL, a.GCURL, a.Servers = "", "", []string{ro.URL(), dc2.URL()}
	r := runOne(t, a, preflight.CheckDCs)
	t.Logf("%s %s", r.Status, r.Detail)
	if r.Status != preflight.OK || !strings.Contains(r.Detail, "pinned to dc2.contoso.test") ||
		!strings.Contains(r.Detail, "2 found") || !strings.Contains(r.Detail, "rodc1.contoso.test, read-only: skipped") ||
		!strings.Contains(r.Detail, "skipped "+ro.URL()) {
		t.Fatalf("%s %q", r.Status, r.Detail)
	}

	// One URL on a read-only DC: a warning that says so.
	a = ro.Config()
	r = runOne(t, a, preflight.CheckDCs)
	if r.Status != preflight.Warn || !strings.Contains(r.Detail, "read-only") {
		t.Fatalf("single RODC: %s %q", r.Status, r.Detail)
	}
}

// A URL that names the domain itself (the domain's DNS name resolves to
// every DC) is warned about: each reconnect may land on another DC. The
// domain here is "localhost" so that the name connects.
func TestCheckWarnsAboutAURLNamingTheDomain(t *testing.T) {
	dc := ldaptest.Start(t, ldaptest.Options{DSA: "DC1", BaseDN: "DC=localhost"})
	a := dc.Config()
	a.URL = strings.Replace(a.URL, "127.0.0.1", "localhost", 1)
	a.GCURL = a.URL
	r := runOne(t, a, preflight.CheckDCs)
	if r.Status != preflight.Warn || !strings.Contains(r.Detail, "names the domain") || !strings.Contains(r.Fix, "ad.servers") {
		t.Fatalf("%s %q (fix %q)", r.Status, r.Detail, r.Fix)
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/lab"
	"github.com/writeback/writeback/internal/lab/labcli"
	"github.com/writeback/writeback/internal/lab/sample"
)

// Issue 18.7: 'writeback lab up --connect-sync' writes a Connect-Sync-shaped
// OU and its cloud groups, and the migration runs on it end to end as the
// demo does: assess (names who would lose access), the conflict fixed by
// hand, prepare, verify, handover, apply with 0 renames, then a membership
// change in Entra reaches AD.
func TestLabConnectSyncSeedMigratesEndToEnd(t *testing.T) {
	l := labWithEmulator(t)
	ctx := context.Background()
	var out, errb bytes.Buffer
	if err := labcli.Lab(ctx, []string{"-q", "--connect-sync", "up"}, &out, &errb); err != nil {
		t.Fatalf("lab --connect-sync up: %v\n%s", err, errb.String())
	}
	base := lab.ConnectSyncOUName + "," + l.Env["LAB_BASE_DN"]
	if !strings.Contains(errb.String(), base) {
		t.Errorf("lab up --connect-sync does not say where it wrote: %s", errb.String())
	}
	dc, err := ad.Dial(ctx, adconfig.Options(l.ADConfig()))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	dir := t.TempDir()
	c, err := config.Parse([]byte(l.ConfigYAML()))
	if err != nil {
		t.Fatal(err)
	}
	c.State.Path = filepath.Join(dir, "state.db") // not the lab's own
	cfg := writeTestConfig(t, dir, c)

	code, o, e := exitCode(t, runMigrate, "assess", "--config", cfg, "--base", base)
	if code != exitAttention {
		t.Fatalf("assess: exit %d, want %d\n%s\n%s", code, exitAttention, o, e)
	}
	for _, want := range []string{"Groups written by Connect Sync: 5, in scope: 3", "Members who would lose access (2)",
		"External Auditor [contact]", "Fatima Öztürk [user]", "not in the cloud group", "anchor-conflict", "1 Connect Sync default (Group_<id>), 2 display name"} {
		if !strings.Contains(o, want) {
			t.Errorf("assess output lacks %q:\n%s", want, o)
		}
	}
	// The runbook's fix for the conflict: clear the stale anchor by hand.
	atlas, err := ad.JoinDN("CN", lab.ConnectSyncCN(lab.ConnectSyncGroups[2]), base)
	if err != nil {
		t.Fatal(err)
	}
	if err := dc.Modify(ctx, atlas, map[string][]string{ad.AttrExternalDirectoryObjectID: {}}); err != nil {
		t.Fatal(err)
	}
	if code, o, e = exitCode(t, runMigrate, "prepare", "--config", cfg, "--base", base, "--journal", filepath.Join(dir, "j")); code != 0 || !strings.Contains(o, "Copied on 3 groups") {
		t.Fatalf("prepare: exit %d\n%s\n%s", code, o, e)
	}
	if code, o, e = exitCode(t, runMigrate, "verify", "--config", cfg, "--base", base, "--accept-removals", "Payroll"); code != 0 || !strings.Contains(o, "verify: OK") {
		t.Fatalf("verify: exit %d\n%s\n%s", code, o, e)
	}
	before := groupCNs(t, dc, base)
	migrated := filepath.Join(dir, "migrated.yaml")
	if code, o, e = exitCode(t, runMigrate, "handover", "--config", cfg, "--base", base, "--accept-removals", "Payroll", "--out", migrated); code != 0 || !strings.Contains(o, "Takeover check passed") {
		t.Fatalf("handover: exit %d\n%s\n%s", code, o, e)
	}
	if code, o, e = exitCode(t, runApply, "--config", migrated, "--yes"); code != 0 || !strings.Contains(o, "0 to create") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, o, e)
	}
	if after := groupCNs(t, dc, base); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("groups renamed or replaced by apply:\nbefore %v\nafter  %v", before, after)
	}

	// A membership change in Entra flows.
	adminPost(t, l, "groups/"+lab.ConnectSyncID("helpdesk")+"/members", `{"ids":["`+sample.ID("yuki.nakamura")+`"]}`)
	if code, o, e = exitCode(t, runApply, "--config", migrated, "--yes"); code != 0 || !strings.Contains(o, "1 member adds") {
		t.Fatalf("apply after the change: exit %d\n%s\n%s", code, o, e)
	}
	hdn, _ := ad.JoinDN("CN", lab.ConnectSyncCN(lab.ConnectSyncGroups[1]), base)
	g, err := dc.GroupByDN(ctx, hdn, true)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range g.Members {
		found = found || strings.Contains(m, "Yuki Nakamura")
	}
	if !found {
		t.Errorf("Yuki Nakamura not a member of %s in AD: %v", hdn, g.Members)
	}
}

// adminPost calls the lab emulator's admin API.
func adminPost(t *testing.T, l *lab.Lab, path, body string) {
	t.Helper()
	pem, err := os.ReadFile(l.Env["LAB_EMULATOR_CA"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Post(l.Env["LAB_EMULATOR_ADMIN_URL"]+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s: %s", path, resp.Status)
	}
}

func writeTestConfig(t *testing.T, dir string, c *config.Config) string {
	t.Helper()
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "writeback.yaml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// groupCNs: "objectGUID DN" of every group under base, sorted.
func groupCNs(t *testing.T, dc *ad.Conn, base string) []string {
	t.Helper()
	var out []string
	err := dc.Groups(context.Background(), base, "", ad.GroupQuery{}, func(g ad.Group) error {
		out = append(out, g.GUID.String()+" "+g.DN)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/migrate"
)

// TestMigrateCLI runs the migration commands as an administrator would,
// on a small Connect-Sync-shaped OU: assess, prepare, verify, handover (with
// its takeover check), rollback --dry-run, connect-sync-script; on ldaptest
// and on the lab.
func TestMigrateCLI(t *testing.T) { eachDirectory(t, testMigrateCLI) }

func testMigrateCLI(t *testing.T, d directory) {
	ctx := context.Background()
	l := newDir(t, d, 1, "wbmig")
	dc := l.Admin
	users := l.Users
	ids := []string{"cccccccc-2222-4000-8000-000000000001", "cccccccc-2222-4000-8000-000000000002", "cccccccc-2222-4000-8000-000000000003"}
	groups := []struct {
		cn, display, mail string
	}{
		{"Group_" + ids[0], "Payroll", ""},
		{"Helpdesk_" + ids[1][24:], "Helpdesk", ""},
		{"Group_" + ids[2], "Newsletter", "news@lab.example"},
	}
	for i, g := range groups {
		attrs := map[string][]string{"adminDescription": {"Group_" + ids[i]}, "displayName": {g.display}, "member": {users[0].DN}}
		if g.mail != "" {
			attrs["mail"] = []string{g.mail}
		}
		if err := dc.CreateGroup(ctx, "CN="+g.cn+","+l.OU, attrs); err != nil {
			t.Fatal(err)
		}
	}
	tf := &emulator.TenantFile{
		Users: []emulator.User{syncedUser("dddddddd-2222-4000-8000-000000000001", "m", "m@lab.test", users[0])},
		Groups: []emulator.Group{
			{ID: ids[0], DisplayName: "Payroll", SecurityEnabled: true, Members: []string{"dddddddd-2222-4000-8000-000000000001"}},
			{ID: ids[1], DisplayName: "Helpdesk", SecurityEnabled: true, Members: []string{"dddddddd-2222-4000-8000-000000000001"}},
			{ID: ids[2], DisplayName: "Newsletter", SecurityEnabled: true, MailEnabled: true, Mail: "news@lab.example", Members: []string{"dddddddd-2222-4000-8000-000000000001"}},
		},
	}
	// The lab is shared: sync.searchBase is the test's OU, and no target OU.
	cl := newCLIEnv(t, l, tf, func(c *config.Config) { c.AD.TargetOU = "" })
	dir, cfg := cl.dir, cl.cfgFile
	journal := filepath.Join(dir, "prepare.journal")

	code, out, errs := exitCode(t, runMigrate, "assess", "--config", cfg, "--json", "--html", filepath.Join(dir, "a.html"))
	if code != 0 {
		t.Fatalf("assess: exit %d\n%s\n%s", code, out, errs)
	}
	var r migrate.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("assess --json: %v\n%s", err, out)
	}
	if r.Summary.InScope != 2 || r.Summary.ByClass[migrate.ClassMailEnabledSecurity] != 1 || !r.Verdict.Ready {
		t.Fatalf("assess: %+v %+v", r.Summary, r.Verdict)
	}
	if r.Recommended.Name != "cloud-sync-default" && r.Recommended.Name != "connect-sync-default" || !r.Recommended.OnCreate {
		t.Fatalf("recommended %+v: mixed naming needs on-create", r.Recommended)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.html")); err != nil {
		t.Fatal(err)
	}

	if code, out, errs = exitCode(t, runMigrate, "prepare", "--config", cfg, "--dry-run"); code != 0 || !strings.Contains(out, "Would copy adminDescription -> msDS-ExternalDirectoryObjectId on 2 groups") {
		t.Fatalf("prepare --dry-run: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs = exitCode(t, runMigrate, "verify", "--config", cfg); code != exitAttention {
		t.Fatalf("verify before prepare: exit %d, want %d\n%s\n%s", code, exitAttention, out, errs)
	}
	if code, out, errs = exitCode(t, runMigrate, "prepare", "--config", cfg, "--journal", journal); code != 0 || !strings.Contains(out, "Copied on 2 groups") {
		t.Fatalf("prepare: exit %d\n%s\n%s", code, out, errs)
	}
	// The anchors as AD has them: copied on the two security groups, not
	// on the mail-enabled one (out of scope).
	anchors := func() map[string]string {
		got := map[string]string{}
		for _, g := range groups {
			ag, err := dc.GroupByDN(ctx, "CN="+g.cn+","+l.OU, false)
			if err != nil {
				t.Fatal(err)
			}
			got[g.display] = ag.Anchor
		}
		return got
	}
	if got := anchors(); got["Payroll"] != "Group_"+ids[0] || got["Helpdesk"] != "Group_"+ids[1] || got["Newsletter"] != "" {
		t.Fatalf("anchors in AD after prepare: %v", got)
	}
	if code, out, errs = exitCode(t, runMigrate, "verify", "--config", cfg); code != 0 || !strings.Contains(out, "verify: OK") {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, errs)
	}
	handover := filepath.Join(dir, "writeback.migrated.yaml")
	if code, out, errs = exitCode(t, runMigrate, "handover", "--config", cfg, "--out", handover); code != 0 || !strings.Contains(out, "Takeover check passed") {
		t.Fatalf("handover: exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("handover:\n%s", out)
	hc, err := config.Load(handover)
	if err != nil {
		t.Fatal(err)
	}
	if hc.Scope.Mode != "selected" || len(hc.Scope.Groups) != 2 || !ldapdn.Equal(hc.AD.TargetOU, l.OU) {
		t.Fatalf("handover config: %+v %s", hc.Scope, hc.AD.TargetOU)
	}
	if code, out, errs = exitCode(t, runMigrate, "rollback", "--config", cfg, "--journal", journal, "--dry-run"); code != 0 || !strings.Contains(out, "2 would restore") {
		t.Fatalf("rollback --dry-run: exit %d\n%s\n%s", code, out, errs)
	}
	if got := anchors(); got["Payroll"] != "Group_"+ids[0] || got["Helpdesk"] != "Group_"+ids[1] {
		t.Fatalf("anchors in AD after rollback --dry-run: %v", got)
	}
	if code, out, errs = exitCode(t, runMigrate, "rollback", "--config", cfg, "--journal", journal); code != 0 || !strings.Contains(out, "2 restored") {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, out, errs)
	}
	if got := anchors(); got["Payroll"] != "" || got["Helpdesk"] != "" || got["Newsletter"] != "" {
		t.Fatalf("anchors in AD after rollback: %v, want none", got)
	}
	if code, out, errs = exitCode(t, runMigrate, "verify", "--config", cfg); code != exitAttention {
		t.Fatalf("verify after rollback: exit %d, want %d\n%s\n%s", code, exitAttention, out, errs)
	}
	if code, out, _ = exitCode(t, runMigrate, "connect-sync-script", "--ad-connector", "lab.example"); code != 0 || !strings.Contains(out, "b891884f-051e-4a83-95af-2544101c9083") {
		t.Fatalf("connect-sync-script: exit %d", code)
	}
	if code, _, errs = exitCode(t, runMigrate, "connect-sync-script", "--ad-connector", "x", "--inbound-precedence", "100"); code != 1 || !strings.Contains(errs, "0 to 99") {
		t.Fatalf("bad precedence: exit %d %s", code, errs)
	}
}

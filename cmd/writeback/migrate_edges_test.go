package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/lab/labtest"
)

// migrateEdgeLab: two Connect Sync groups in OU=CS under the test OU; the
// cloud group of "Payroll" has one member, its AD copy two (one would be
// removed); "Helpdesk" matches. The configuration's sync.searchBase is the
// test OU.
func migrateEdgeLab(t *testing.T) (l *labtest.Lab, dc *ad.Conn, cfg, cs string, dns []string, users []labtest.User) {
	t.Helper()
	ctx := context.Background()
	l = labtest.AD(t)
	dc = l.AdminConn(t)
	cs = "OU=CS," + l.OU
	if err := dc.CreateOU(ctx, cs); err != nil {
		t.Fatal(err)
	}
	users = l.CreateUsers(t, 2, "wbedge")
	ids := []string{"cccccccc-3333-4000-8000-000000000001", "cccccccc-3333-4000-8000-000000000002"}
	dns = []string{"CN=Group_" + ids[0] + "," + cs, "CN=Helpdesk_" + ids[1][24:] + "," + cs}
	members := [][]string{{users[0].DN, users[1].DN}, {users[0].DN}}
	for i, display := range []string{"Payroll", "Helpdesk"} {
		if err := dc.CreateGroup(ctx, dns[i], map[string][]string{"adminDescription": {"Group_" + ids[i]}, "displayName": {display}, "member": members[i]}); err != nil {
			t.Fatal(err)
		}
	}
	yes := true
	tf := &emulator.TenantFile{
		Users: []emulator.User{{ID: "dddddddd-3333-4000-8000-000000000001", DisplayName: "m", UserPrincipalName: "m@lab.test", OnPremisesSyncEnabled: &yes, OnPremisesObjectIdentifier: users[0].GUID.String(), OnPremisesSecurityIdentifier: users[0].SID}},
		Groups: []emulator.Group{
			{ID: ids[0], DisplayName: "Payroll", SecurityEnabled: true, Members: []string{"dddddddd-3333-4000-8000-000000000001"}},
			{ID: ids[1], DisplayName: "Helpdesk", SecurityEnabled: true, Members: []string{"dddddddd-3333-4000-8000-000000000001"}},
		},
	}
	env := emulatortest.Start(t, tf)
	dir := t.TempDir()
	ec := env.Config
	c := config.Config{AD: l.Config, Entra: &ec}
	c.AD.TargetOU = ""
	c.Sync.SearchBase = l.OU // the lab is shared
	c.State.Path = filepath.Join(dir, "state.db")
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "writeback.yaml")
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return l, dc, cfg, cs, dns, users
}

// Issue 18.3: rollback without --base finds a group moved since prepare
// (by objectGUID, under sync.searchBase), and restores it.
func TestLabMigrateRollbackFindsMovedGroup(t *testing.T) {
	ctx := context.Background()
	l, dc, cfg, cs, dns, _ := migrateEdgeLab(t)
	journal := filepath.Join(t.TempDir(), "prepare.journal")
	if code, out, errs := exitCode(t, runMigrate, "prepare", "--config", cfg, "--base", cs, "--journal", journal); code != 0 {
		t.Fatalf("prepare: exit %d\n%s\n%s", code, out, errs)
	}
	moved := "OU=Moved," + l.OU
	if err := dc.CreateOU(ctx, moved); err != nil {
		t.Fatal(err)
	}
	newDN, err := dc.Move(ctx, dns[1], "", moved)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := exitCode(t, runMigrate, "rollback", "--config", cfg, "--journal", journal)
	if code != 0 || !strings.Contains(out, "2 restored") {
		t.Fatalf("rollback: exit %d, want 0 and 2 restored\n%s\n%s", code, out, errs)
	}
	for _, dn := range []string{dns[0], newDN} {
		g, err := dc.GroupByDN(ctx, dn, false)
		if err != nil {
			t.Fatal(err)
		}
		if g.Anchor != "" {
			t.Errorf("%s: msDS-ExternalDirectoryObjectId %q after rollback, want absent", dn, g.Anchor)
		}
	}
}

// Issue 18.4 and 18.5: a group blocked by a member removal is left out by
// handover --force; --accept-removals makes verify pass and handover take it
// over; assess names the member who loses access.
func TestLabMigrateAcceptRemovals(t *testing.T) {
	_, _, cfg, _, _, _ := migrateEdgeLab(t)
	dir := t.TempDir()
	code, out, errs := exitCode(t, runMigrate, "assess", "--config", cfg)
	if code != exitAttention || !strings.Contains(out, "Members who would lose access (1)") || !strings.Contains(out, "wbedge1") ||
		!strings.Contains(out, "not in the cloud group") || !strings.Contains(out, "--accept-removals") {
		t.Fatalf("assess: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs = exitCode(t, runMigrate, "prepare", "--config", cfg, "--journal", filepath.Join(dir, "j")); code != 0 {
		t.Fatalf("prepare: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, _ = exitCode(t, runMigrate, "verify", "--config", cfg); code != exitAttention {
		t.Fatalf("verify without acceptance: exit %d, want %d\n%s", code, exitAttention, out)
	}
	forced := filepath.Join(dir, "forced.yaml")
	code, out, errs = exitCode(t, runMigrate, "handover", "--config", cfg, "--out", forced, "--force", "--no-plan")
	if code != 0 || !strings.Contains(out, "1 groups taken over") {
		t.Fatalf("handover --force: exit %d\n%s\n%s", code, out, errs)
	}
	hc, err := config.Load(forced)
	if err != nil {
		t.Fatal(err)
	}
	if len(hc.Scope.Groups) != 1 || hc.Scope.Groups[0] != "cccccccc-3333-4000-8000-000000000002" {
		t.Errorf("handover --force scope %v: want Helpdesk only (Payroll is blocked by a member removal)", hc.Scope.Groups)
	}

	accept := "cccccccc-3333-4000-8000-000000000001"
	if code, out, errs = exitCode(t, runMigrate, "verify", "--config", cfg, "--accept-removals", accept); code != 0 || !strings.Contains(out, "verify: OK") {
		t.Fatalf("verify --accept-removals: exit %d\n%s\n%s", code, out, errs)
	}
	accepted := filepath.Join(dir, "accepted.yaml")
	code, out, errs = exitCode(t, runMigrate, "handover", "--config", cfg, "--out", accepted, "--accept-removals", accept)
	if code != 0 || !strings.Contains(out, "2 groups taken over") || !strings.Contains(out, "Takeover check passed") || !strings.Contains(out, "1 to remove (wbedge1)") {
		t.Fatalf("handover --accept-removals: exit %d\n%s\n%s", code, out, errs)
	}
}

// Issue 18.6: usage errors of connect-sync-script exit 2, as documented.
func TestMigrateScriptUsageExit2(t *testing.T) {
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), []string{"migrate", "connect-sync-script", "--ad-connector", "x", "--inbound-precedence", "100"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "0 to 99") {
		t.Fatalf("exit %d, want 2\n%s", code, errb.String())
	}
	code = dispatch(context.Background(), []string{"migrate", "connect-sync-script"}, &out, &errb)
	if code != 2 {
		t.Fatalf("without --ad-connector: exit %d, want 2\n%s", code, errb.String())
	}
}

package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab/labtest"
)

// migrateEdgeDir: two Connect Sync groups in OU=CS under the test OU of a
// directory of kind d; the cloud group of "Payroll" has one member, its AD
// copy two (one would be removed); "Helpdesk" matches. The configuration's
// sync.searchBase is the test OU.
func migrateEdgeDir(t *testing.T, d directory) (l *cliDir, dc *ad.Conn, cfg, cs string, dns []string, users []labtest.User) {
	t.Helper()
	ctx := context.Background()
	l = newDir(t, d, 2, "wbedge")
	dc = l.Admin
	cs = "OU=CS," + l.OU
	if err := dc.CreateOU(ctx, cs); err != nil {
		t.Fatal(err)
	}
	users = l.Users
	ids := []string{"cccccccc-3333-4000-8000-000000000001", "cccccccc-3333-4000-8000-000000000002"}
	dns = []string{"CN=Group_" + ids[0] + "," + cs, "CN=Helpdesk_" + ids[1][24:] + "," + cs}
	members := [][]string{{users[0].DN, users[1].DN}, {users[0].DN}}
	for i, display := range []string{"Payroll", "Helpdesk"} {
		if err := dc.CreateGroup(ctx, dns[i], map[string][]string{"adminDescription": {"Group_" + ids[i]}, "displayName": {display}, "member": members[i]}); err != nil {
			t.Fatal(err)
		}
	}
	tf := &emulator.TenantFile{
		Users: []emulator.User{syncedUser("dddddddd-3333-4000-8000-000000000001", "m", "m@lab.test", users[0])},
		Groups: []emulator.Group{
			{ID: ids[0], DisplayName: "Payroll", SecurityEnabled: true, Members: []string{"dddddddd-3333-4000-8000-000000000001"}},
			{ID: ids[1], DisplayName: "Helpdesk", SecurityEnabled: true, Members: []string{"dddddddd-3333-4000-8000-000000000001"}},
		},
	}
	// The lab is shared: sync.searchBase is the test's OU, and no target OU.
	cl := newCLIEnv(t, l, tf, func(c *config.Config) { c.AD.TargetOU = "" })
	return l, dc, cl.cfgFile, cs, dns, users
}

// Issue 18.3: rollback without --base finds a group moved since prepare
// (by objectGUID, under sync.searchBase), and restores it.
func TestMigrateRollbackFindsMovedGroup(t *testing.T) {
	eachDirectory(t, testMigrateRollbackFindsMovedGroup)
}

func testMigrateRollbackFindsMovedGroup(t *testing.T, d directory) {
	ctx := context.Background()
	l, dc, cfg, cs, dns, _ := migrateEdgeDir(t, d)
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
func TestMigrateAcceptRemovals(t *testing.T) { eachDirectory(t, testMigrateAcceptRemovals) }

func testMigrateAcceptRemovals(t *testing.T, d directory) {
	_, _, cfg, _, _, _ := migrateEdgeDir(t, d)
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

// assess reads the bind account's rights from the DC: a group it may not
// write is a blocker naming the fix, exit 3, and prepare cannot copy its
// anchor (read back from AD). ldaptest only: the lab's account is
// delegated on the whole test OU (internal/migrate's lab tests cover a
// Samba ACL).
func TestMigrateAssessPermissionBlocker(t *testing.T) {
	ctx := context.Background()
	l, dc, cfg, _, dns, _ := migrateEdgeDir(t, onLDAPTest)
	l.LDAP.DenyWrites(dns[1])
	code, out, errs := exitCode(t, runMigrate, "assess", "--config", cfg, "--accept-removals", "cccccccc-3333-4000-8000-000000000001")
	if code != exitAttention || !strings.Contains(out, "BLOCKER preflight-permissions") || !strings.Contains(out, "may not write msDS-ExternalDirectoryObjectId or member on 1 of 2 groups (first: "+dns[1]) ||
		!strings.Contains(out, "dsacls") {
		t.Fatalf("assess with a read-only group: exit %d, want %d and the permissions blocker\n%s\n%s", code, exitAttention, out, errs)
	}
	code, out, errs = exitCode(t, runMigrate, "prepare", "--config", cfg, "--journal", filepath.Join(t.TempDir(), "j"))
	if code != 1 || !strings.Contains(out, "FAILED "+dns[1]) || !strings.Contains(out, "insufficient access rights (LDAP 50)") {
		t.Errorf("prepare with a read-only group: exit %d, want 1 naming the group\n%s\n%s", code, out, errs)
	}
	for i, want := range []string{"Group_cccccccc-3333-4000-8000-000000000001", ""} {
		g, err := dc.GroupByDN(ctx, dns[i], false)
		if err != nil {
			t.Fatal(err)
		}
		if g.Anchor != want {
			t.Errorf("%s: anchor %q after prepare, want %q", dns[i], g.Anchor, want)
		}
	}
}

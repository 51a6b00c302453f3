package main

import (
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ldapdn"
)

// TestProvisionCLI: provision by display name, as typed; --dry-run writes
// nothing; a name or ID Entra does not have exits non-zero, naming it.
func TestProvisionCLI(t *testing.T) { eachDirectory(t, testProvisionCLI) }

func testProvisionCLI(t *testing.T, d directory) {
	cl := newCLI(t, d)
	cfgFile := cl.cfgFile

	code, out, stderr := exitCode(t, runProvision, "--config", cfgFile, "--dry-run", "finance")
	if code != 0 || !strings.Contains(out, `1. Import: "Finance" (aaaaaaaa-1111-4000-8000-000000000001)`) ||
		!strings.Contains(out, "3. Match: no AD group carries Group_aaaaaaaa-1111-4000-8000-000000000001") ||
		!strings.Contains(out, "+ group CN=Finance_000000000001,") || !strings.Contains(out, "Dry run: nothing written.") {
		t.Fatalf("provision --dry-run finance: exit %d\n%s\n%s", code, out, stderr)
	}
	if gs := cl.groups(t); len(gs) != 0 {
		t.Fatalf("provision --dry-run wrote %d groups to AD", len(gs))
	}

	code, out, stderr = exitCode(t, runProvision, "--config", cfgFile, "Finance")
	if code != 0 || !strings.Contains(out, "Apply complete:") {
		t.Fatalf("provision Finance: exit %d\n%s\n%s", code, out, stderr)
	}
	gs := cl.groups(t)
	fin, ok := gs["Group_aaaaaaaa-1111-4000-8000-000000000001"]
	if !ok || len(gs) != 1 {
		t.Fatalf("AD after provision Finance: %v, want Finance only", gs)
	}
	if len(fin.Members) != 1 || !ldapdn.Equal(fin.Members[0], cl.Users[0].DN) {
		t.Errorf("Finance members in AD: %v, want %s", fin.Members, cl.Users[0].DN)
	}

	// Provisioned again: matched, nothing to do.
	code, out, stderr = exitCode(t, runProvision, "--config", cfgFile, "aaaaaaaa-1111-4000-8000-000000000001")
	if code != 0 || !strings.Contains(out, "3. Match: AD group with anchor Group_aaaaaaaa-1111-4000-8000-000000000001: CN=Finance_000000000001,") {
		t.Errorf("provision Finance again: exit %d\n%s\n%s", code, out, stderr)
	}

	for _, unknown := range []string{"No Such Group", "aaaaaaaa-1111-4000-8000-0000000000ff"} {
		code, out, stderr = exitCode(t, runProvision, "--config", cfgFile, unknown)
		if code == 0 || !strings.Contains(out+stderr, strings.ToLower(unknown)) && !strings.Contains(out+stderr, unknown) {
			t.Errorf("provision %q: exit %d, want non-zero naming it\n%s\n%s", unknown, code, out, stderr)
		}
		if strings.Contains(out, "Apply complete") {
			t.Errorf("provision %q reports an apply for a group that does not exist:\n%s", unknown, out)
		}
	}
	if gs := cl.groups(t); len(gs) != 1 {
		t.Errorf("AD after provisioning unknown groups: %d groups, want Finance only", len(gs))
	}
}

// TestDeletesNeedAllowDeletesCLI: both groups deleted in Entra is more than
// the default threshold (5 % of 2, rounded up: 1): plan shows the block and
// exits 1, apply --yes and a saved plan write nothing, apply --yes
// --allow-deletes deletes them (read back from AD).
func TestDeletesNeedAllowDeletesCLI(t *testing.T) { eachDirectory(t, testDeletesNeedAllowDeletesCLI) }

func testDeletesNeedAllowDeletesCLI(t *testing.T, d directory) {
	cl := newCLI(t, d)
	cfgFile := cl.cfgFile
	if code, out, stderr := exitCode(t, runApply, "--config", cfgFile, "--yes"); code != 0 {
		t.Fatalf("apply --yes: exit %d\n%s\n%s", code, out, stderr)
	}
	if gs := cl.groups(t); len(gs) != 2 {
		t.Fatalf("AD after apply: %d groups, want 2", len(gs))
	}
	for _, id := range []string{"aaaaaaaa-1111-4000-8000-000000000001", "aaaaaaaa-1111-4000-8000-000000000002"} {
		if err := cl.env.Admin.DeleteGroup(id, true); err != nil {
			t.Fatal(err)
		}
	}

	code, out, stderr := exitCode(t, runPlan, "--config", cfgFile, "--out", cl.dir+"/blocked.plan")
	if code != 1 || !strings.Contains(out+stderr, "threshold") {
		t.Fatalf("plan of 2 deletes: exit %d, want 1 naming the threshold\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = exitCode(t, runApply, "--config", cfgFile, "--yes")
	if code != 1 || !strings.Contains(stderr, "nothing applied") || !strings.Contains(out, "--allow-deletes") && !strings.Contains(stderr, "--allow-deletes") {
		t.Fatalf("apply --yes of 2 deletes: exit %d, want 1, nothing applied, naming --allow-deletes\n%s\n%s", code, out, stderr)
	}
	if gs := cl.groups(t); len(gs) != 2 {
		t.Fatalf("blocked apply deleted groups: %d left in AD, want 2", len(gs))
	}
	code, out, stderr = exitCode(t, runApply, "--config", cfgFile, cl.dir+"/blocked.plan")
	if code != 1 || !strings.Contains(stderr, "is blocked") {
		t.Errorf("apply of a saved blocked plan: exit %d, want 1, refused as blocked\n%s\n%s", code, out, stderr)
	}
	if gs := cl.groups(t); len(gs) != 2 {
		t.Fatalf("blocked saved plan deleted groups: %d left in AD, want 2", len(gs))
	}

	code, out, stderr = exitCode(t, runApply, "--config", cfgFile, "--yes", "--allow-deletes")
	if code != 0 || !strings.Contains(out, "Apply complete:") {
		t.Fatalf("apply --yes --allow-deletes: exit %d\n%s\n%s", code, out, stderr)
	}
	if gs := cl.groups(t); len(gs) != 0 {
		t.Errorf("AD after apply --allow-deletes: %d groups left, want none", len(gs))
	}
}

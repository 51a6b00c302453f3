package engine

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlanFileCheckTarget(t *testing.T) {
	made := PlanTarget{Version: "1.2.0 (abc)", ADServer: "ldaps://dc1.contoso.com", BaseDN: "DC=contoso,DC=com", TenantID: "T1"}
	f := &PlanFile{Target: &made}
	same := made
	same.ADServer, same.BaseDN, same.TenantID = "LDAPS://DC1.contoso.com", "dc=contoso, dc=com", "t1"
	if err := f.CheckTarget("p.plan", same); err != nil {
		t.Errorf("same target: %v", err)
	}
	for name, change := range map[string]func(*PlanTarget){
		"writeback version": func(t *PlanTarget) { t.Version = "1.3.0" },
		"AD server":         func(t *PlanTarget) { t.ADServer = "ldaps://dc9.fabrikam.com" },
		"AD domain":         func(t *PlanTarget) { t.BaseDN = "DC=fabrikam,DC=com" },
		"tenant":            func(t *PlanTarget) { t.TenantID = "T2" },
	} {
		cur := made
		change(&cur)
		err := f.CheckTarget("p.plan", cur)
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "run writeback plan -out again") {
			t.Errorf("%s differs: %v", name, err)
		}
	}
	if err := (&PlanFile{}).CheckTarget("old.plan", made); err == nil {
		t.Error("a plan without a target: want it refused")
	}
}

// A failed write leaves the previous file whole and no temporary file.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.plan")
	if err := writeFileAtomic(path, 0o600, func(w io.Writer) error { _, err := io.WriteString(w, "one"); return err }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	err := writeFileAtomic(path, 0o600, func(w io.Writer) error { io.WriteString(w, "tw"); return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("failed write: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Errorf("after a failed write the file holds %q, want the previous %q", b, "one")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left %d files, want only the plan", len(ents))
	}
}

package engine

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/writeback/writeback/internal/ldapdn"
)

// PlanTarget is what a saved plan was made for: the writeback build that
// made it, the AD domain and server it read, and the tenant. Apply refuses a
// plan whose target is not the one it is configured for, as Terraform
// refuses a plan from another version or backend.
type PlanTarget struct {
	// Version is the writeback release (and commit) that made the plan.
	Version string `json:"writebackVersion"`
	// ADServer is the domain controllers as configured: ad.url, the
	// ad.servers list or "domain <ad.domain>" (which DC answered is in the
	// preconditions).
	ADServer string `json:"adServer"`
	// BaseDN is the domain's naming context (ad.baseDN, or the DC's default).
	BaseDN string `json:"baseDN"`
	// TenantID is the Entra tenant (entra.tenantId).
	TenantID string `json:"tenantId"`
}

// CheckTarget refuses the plan f (read from path) when it was made for
// another target than cur. The AD server may differ in case only; the base
// DN in case and spacing.
func (f *PlanFile) CheckTarget(path string, cur PlanTarget) error {
	t := f.Target
	if t == nil {
		return fmt.Errorf("plan %s does not say what it was made for; run writeback plan -out again", path)
	}
	var diffs []string
	add := func(what, was, now string) {
		diffs = append(diffs, fmt.Sprintf("%s %q (now %q)", what, was, now))
	}
	if t.Version != cur.Version {
		add("writeback version", t.Version, cur.Version)
	}
	if !strings.EqualFold(t.ADServer, cur.ADServer) {
		add("AD server", t.ADServer, cur.ADServer)
	}
	if !ldapdn.Equal(t.BaseDN, cur.BaseDN) {
		add("AD domain", t.BaseDN, cur.BaseDN)
	}
	if !strings.EqualFold(t.TenantID, cur.TenantID) {
		add("tenant", t.TenantID, cur.TenantID)
	}
	if len(diffs) > 0 {
		return fmt.Errorf("plan %s was made for another target: %s; run writeback plan -out again with this binary and configuration",
			path, strings.Join(diffs, ", "))
	}
	return nil
}

// writeFileAtomic writes path through write: into a temporary file beside
// it, synced to disk, then renamed over path (and the directory synced), so
// that a crash leaves the old file or the new one, never a part.
func writeFileAtomic(path string, perm os.FileMode, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := write(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		// The rename is durable once the directory is.
		d.Sync()
		d.Close()
	}
	return nil
}

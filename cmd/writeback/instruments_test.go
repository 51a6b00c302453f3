package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The production binary carries no test instrument: neither the lab (its
// embedded Samba script and seeder) nor the Graph emulator. They live in
// writeback-lab.
func TestProductionBinaryHasNoTestInstruments(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the binary's packages")
	}
	out, err := exec.Command(gobin, "list", "-buildvcs=false", "-deps", "github.com/writeback/writeback/cmd/writeback").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"/internal/lab", "/internal/emulator"} {
			if strings.Contains(pkg, banned) {
				t.Errorf("cmd/writeback imports %s (a test instrument: it belongs in cmd/writeback-lab)", pkg)
			}
		}
	}
}

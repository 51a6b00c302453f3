package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/emulator"
)

// roundJSON is what apply -o json and run --once -o json print.
type roundJSON struct {
	Ingested struct{ Groups, Users int } `json:"ingested"`
	Planned  *struct {
		Plan struct {
			Changes []json.RawMessage `json:"changes"`
		} `json:"plan"`
	} `json:"planned"`
	Applied *struct {
		Applied int `json:"applied"`
		Failed  int `json:"failed"`
	} `json:"applied"`
	LDAP            struct{ Writes int64 } `json:"ldap"`
	DurationSeconds *float64               `json:"durationSeconds"`
}

// decodeOnly decodes out as one JSON value with nothing else on stdout.
func decodeOnly(t *testing.T, what, out string) roundJSON {
	t.Helper()
	var r roundJSON
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("%s: stdout is not JSON: %v\n%s", what, err, out)
	}
	if strings.TrimSpace(out[dec.InputOffset():]) != "" {
		t.Fatalf("%s: stdout has more than the JSON result:\n%s", what, out)
	}
	return r
}

// apply -o json and run --once -o json print the round's result as JSON on
// stdout and nothing else; what they did is read back from AD.
func TestApplyAndRunOnceJSON(t *testing.T) { eachDirectory(t, testApplyAndRunOnceJSON) }

func testApplyAndRunOnceJSON(t *testing.T, d directory) {
	cl := newCLI(t, d)
	code, out, stderr := exitCode(t, runApply, "--config", cl.cfgFile, "--yes", "-o", "json")
	if code != 0 {
		t.Fatalf("apply --yes -o json: exit %d\n%s\n%s", code, out, stderr)
	}
	r := decodeOnly(t, "apply -o json", out)
	if r.Applied == nil || r.Applied.Applied != 4 || r.Applied.Failed != 0 || r.Planned == nil || len(r.Planned.Plan.Changes) == 0 ||
		r.Ingested.Groups != 2 || r.LDAP.Writes == 0 || r.DurationSeconds == nil {
		t.Errorf("apply -o json: %+v\n%s", r, out)
	}
	// The plan went to stderr, for the person at the terminal.
	if !strings.Contains(stderr, "+ group CN=Finance_000000000001") {
		t.Errorf("apply -o json: the plan is not on stderr:\n%s", stderr)
	}
	checkAppliedCLI(t, cl.cliDir, "money")

	// A saved plan: its result too.
	if _, err := cl.env.Admin.UpdateGroup("aaaaaaaa-1111-4000-8000-000000000001", func(g *emulator.Group) { g.Description = "saved" }); err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join(cl.dir, "p.plan")
	if code, out, stderr := exitCode(t, runPlan, "--config", cl.cfgFile, "-out", planFile); code != 2 {
		t.Fatalf("plan -out: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = exitCode(t, runApply, "--config", cl.cfgFile, planFile, "--json")
	if code != 0 {
		t.Fatalf("apply FILE --json: exit %d\n%s\n%s", code, out, stderr)
	}
	if r := decodeOnly(t, "apply FILE --json", out); r.Applied == nil || r.Applied.Applied != 1 {
		t.Errorf("apply FILE --json: %+v\n%s", r, out)
	}
	checkAppliedCLI(t, cl.cliDir, "saved")

	// run --once -o json: one round, its result.
	if _, err := cl.env.Admin.UpdateGroup("aaaaaaaa-1111-4000-8000-000000000001", func(g *emulator.Group) { g.Description = "daemon" }); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = exitCode(t, runRun, "--config", cl.cfgFile, "--once", "-o", "json")
	if code != 0 {
		t.Fatalf("run --once -o json: exit %d\n%s\n%s", code, out, stderr)
	}
	if r := decodeOnly(t, "run --once -o json", out); r.Applied == nil || r.Applied.Applied != 1 || r.Ingested.Groups != 1 {
		t.Errorf("run --once -o json: %+v\n%s", r, out)
	}
	checkAppliedCLI(t, cl.cliDir, "daemon")
}

// The daemon's rounds are not JSON on stdout: -o json needs --once.
func TestRunJSONNeedsOnce(t *testing.T) {
	if _, err := parseRunArgs([]string{"-o", "json"}, &bytes.Buffer{}); err == nil {
		t.Error("run -o json without --once was accepted")
	}
	a, err := parseRunArgs([]string{"--once", "--json"}, &bytes.Buffer{})
	if err != nil || !a.json || !a.once {
		t.Errorf("run --once --json: %+v, %v", a, err)
	}
	if a, err := parseApplyArgs([]string{"-o", "json", "--yes"}, &bytes.Buffer{}); err != nil || !a.json {
		t.Errorf("apply -o json: %+v, %v", a, err)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/lab"
	"github.com/writeback/writeback/internal/lab/labcli"
	"github.com/writeback/writeback/internal/lab/labtest"
)

// TestCheckAgainstLab: `writeback check --config <(writeback lab config)` prints
// only ok lines and exits 0; with a wrong password it names the failure and
// the fix and exits 1.
func TestCheckAgainstLab(t *testing.T) {
	l := labtest.Get(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(l.ConfigYAML()), 0o600)

	var out, errb bytes.Buffer
	if err := runCheck(context.Background(), []string{"--config", good}, &out, &errb); err != nil {
		t.Fatalf("check: %v\n%s%s", err, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 9 {
		t.Fatalf("want a line per check, got:\n%s", out.String())
	}
	for _, line := range lines {
		if !strings.HasPrefix(line, "ok ") {
			t.Errorf("not ok: %s", line)
		}
	}
	// The lab's emulator is Graph v1.0 as documented: it refuses
	// onPremisesObjectIdentifier, and check says what it fell back to. Every
	// call writeback makes is checked with its permission.
	for _, want := range []string{"entra.users", "resolved by onPremisesSecurityIdentifier (SID)", "entra.members", "entra.usersdelta"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}

	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("wrong\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(l.ConfigYAML(), l.ServiceADConfig().Password.File, pw, 1)), 0o600)
	out.Reset()
	err := runCheck(context.Background(), []string{"--config", bad}, &out, &errb)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("wrong password: err = %v, want exit code 1", err)
	}
	if !strings.Contains(out.String(), "FAIL  ad.bind") || !strings.Contains(out.String(), "invalid credentials (LDAP 49)") || !strings.Contains(out.String(), "-> fix: wrong account or password") {
		t.Errorf("output:\n%s", out.String())
	}

	out.Reset()
	err = runCheck(context.Background(), []string{"--json", "--no-write", "--config", bad}, &out, &errb)
	var res struct {
		OK     bool
		Checks []struct{ Name, Status, Detail, Fix string }
	}
	if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil || res.OK || err == nil {
		t.Fatalf("--json: %v %v\n%s", jerr, err, out.String())
	}
	for _, c := range res.Checks {
		if c.Name == "ad.bind" && (c.Status != "fail" || c.Fix == "") {
			t.Errorf("json ad.bind = %+v", c)
		}
	}
}

func TestCheckUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if err := runCheck(context.Background(), nil, &out, &errb); !errors.Is(err, errUsage) {
		t.Errorf("no --config: %v", err)
	}
	if !strings.Contains(errb.String(), "writeback check --config") {
		t.Errorf("usage:\n%s", errb.String())
	}
	// a broken config file is a failed check with the field named, exit 1
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("ad:\n  url: http://x\n"), 0o600)
	errb.Reset()
	err := runCheck(context.Background(), []string{"--config", p}, &out, &errb)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out.String(), "ad.url") {
		t.Errorf("bad config: %v\n%s", err, out.String())
	}
}

func TestLabCommand(t *testing.T) {
	labtest.Get(t)
	var out, errb bytes.Buffer
	if err := labcli.Lab(context.Background(), []string{"config"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	l, err := lab.Running(lab.Default())
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != l.ConfigYAML() {
		t.Errorf("lab config printed:\n%s", out.String())
	}
	out.Reset()
	if err := labcli.Lab(context.Background(), []string{"-q", "up"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "export LAB_BASE_DN=") {
		t.Errorf("lab up printed:\n%s", out.String())
	}
	if err := labcli.Lab(context.Background(), []string{"bogus"}, &out, &errb); !errors.Is(err, labcli.ErrUsage) {
		t.Errorf("bogus action: %v", err)
	}
}

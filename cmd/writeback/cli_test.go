package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/state"
)

// Every command answers -h (and 'writeback help CMD') with its help and exit 0.
func TestEveryCommandHelpExitsZero(t *testing.T) {
	for _, c := range commands {
		if c.hidden {
			continue
		}
		for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {"help", c.name}} {
			var out, errb bytes.Buffer
			if code := dispatch(context.Background(), args, &out, &errb); code != 0 {
				t.Errorf("%v: exit %d, want 0\n%s", args, code, errb.String())
			}
			if !strings.Contains(out.String()+errb.String(), "writeback "+c.name) {
				t.Errorf("%v printed no help for %s:\n%s%s", args, c.name, out.String(), errb.String())
			}
		}
	}
	for _, args := range [][]string{nil, {"-h"}, {"--help"}, {"help"}} {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), args, &out, &errb); code != 0 || !strings.Contains(out.String(), "Commands:") {
			t.Errorf("%v: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
	}
}

func TestVersionFlagAndCompletion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"--version"}, &out, &errb); code != 0 || out.String() != buildInfo().String()+"\n" {
		t.Errorf("--version: exit %d, printed %q", code, out.String())
	}
	out.Reset()
	if code := dispatch(context.Background(), []string{"completion", "bash"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "bash completion") {
		t.Errorf("completion bash: exit %d\n%.200s", code, out.String())
	}
	for _, args := range [][]string{{"completion", "-h"}, {"completion", "bash", "-h"}, {"help", "completion"}} {
		out.Reset()
		if code := dispatch(context.Background(), args, &out, &errb); code != 0 || !strings.Contains(out.String(), "autocompletion script") {
			t.Errorf("%v: exit %d\n%.200s", args, code, out.String())
		}
	}
	out.Reset()
	if code := dispatch(context.Background(), []string{"__complete", "plan", "--o"}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "--out\n") || !strings.Contains(out.String(), "--output\n") {
		t.Errorf("completing plan's flags: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := dispatch(context.Background(), []string{"__complete", "migrate", "as"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "assess\n") {
		t.Errorf("completing migrate's steps: exit %d\n%s", code, out.String())
	}
}

func TestUnknownCommandAndStrayArguments(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"status", "extra"}, {"log", "extra"}, {"run", "extra"}, {"init", "a", "b"}, {"plan", "--nope"}, {"help", "bogus"}} {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, errb.String())
		}
	}
}

// Flags may follow arguments; "--" ends them.
func TestParseFlagsInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := fs.String("config", "", "")
	yes := fs.Bool("yes", false, "")
	if err := parseFlags(fs, []string{"p.plan", "--config", "c.yaml", "--yes", "--", "-weird"}); err != nil {
		t.Fatal(err)
	}
	if *cfg != "c.yaml" || !*yes || !slices.Equal(fs.Args(), []string{"p.plan", "-weird"}) {
		t.Errorf("config %q yes %v args %q", *cfg, *yes, fs.Args())
	}
	if err := parseFlags(fs, []string{"-h"}); !isHelp(err) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestParseProvisionArgs(t *testing.T) {
	a, err := parseProvisionArgs([]string{"Engineering", "--dry-run", "-o", "json", "--config", "c.yaml"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if a != (provisionArgs{config: "c.yaml", dryRun: true, json: true, group: "Engineering"}) {
		t.Errorf("parsed %+v", a)
	}
	if _, err := parseProvisionArgs([]string{"--dry-run"}, io.Discard); err == nil {
		t.Error("no group: want a usage error")
	}
	if _, err := parseProvisionArgs([]string{"x", "-o", "yaml"}, io.Discard); err == nil {
		t.Error("-o yaml: want a usage error")
	}
	for s, want := range map[string]bool{"3f2a1b4c-0000-0000-0000-00000000000A": true, "Engineering": false, "3f2a1b4c00000000000000000000000000000": false} {
		if _, ok := objectID(s); ok != want {
			t.Errorf("objectID(%q) = %v", s, !want)
		}
	}
	// An ID as Graph writes it, whatever case or braces it was typed in.
	if id, _ := objectID("{3F2A1B4C-0000-0000-0000-00000000000A}"); id != "3f2a1b4c-0000-0000-0000-00000000000a" {
		t.Errorf("objectID of a braced upper-case ID = %q", id)
	}
}

// provision accepts a display name: the one group with that name, any case;
// none or two are errors.
func TestGroupsNamed(t *testing.T) {
	db, err := state.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *state.Tx) error {
		for _, g := range []state.Group{{ID: "b", DisplayName: "Twin"}, {ID: "a", DisplayName: "twin"}, {ID: "c", DisplayName: "Engineering"}} {
			if _, err := tx.PutGroup(g); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{"engineering": {"c"}, "TWIN": {"a", "b"}, "Sales": nil} {
		if got, err := groupsNamed(db, name); err != nil || !slices.Equal(got, want) {
			t.Errorf("groupsNamed(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}

// The README's `writeback init > writeback.yaml`: the shell creates the file
// as init's stdout; init writes the template into it.
func TestInitRedirectedToItsTarget(t *testing.T) {
	t.Chdir(t.TempDir())
	f, err := os.Create("writeback.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"init"}, f, &errb); code != 0 {
		t.Fatalf("init > writeback.yaml: exit %d: %s", code, errb.String())
	}
	if b, _ := os.ReadFile("writeback.yaml"); string(b) != configTemplate {
		t.Errorf("writeback.yaml holds %d bytes, want the template (%d)", len(b), len(configTemplate))
	}
	// An existing file is still refused.
	var out bytes.Buffer
	if code := dispatch(context.Background(), []string{"init", "writeback.yaml"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "already exists") {
		t.Errorf("init over an existing file: exit %d: %s", code, errb.String())
	}
	if code := dispatch(context.Background(), []string{"init", "-"}, &out, &errb); code != 0 || out.String() != configTemplate {
		t.Errorf("init -: exit %d", code)
	}
}

func TestParsePlanAndApplyArgs(t *testing.T) {
	t.Setenv("WRITEBACK_CONFIG", "")
	p, err := parsePlanArgs([]string{"-out", "p.plan", "--group", "a,b", "--group", "c", "-o", "json", "--full"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if p.config != "writeback.yaml" || p.out != "p.plan" || !p.json || !p.full || !slices.Equal(p.groups, []string{"a", "b", "c"}) {
		t.Errorf("plan: %+v", p)
	}
	if _, err := parsePlanArgs([]string{"stray"}, io.Discard); err == nil {
		t.Error("plan with an argument: want a usage error")
	}
	a, err := parseApplyArgs([]string{"p.plan", "--config", "c.yaml", "--allow-deletes"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if a.planFile != "p.plan" || a.config != "c.yaml" || !a.allowDeletes || a.yes {
		t.Errorf("apply: %+v", a)
	}
	if _, err := parseApplyArgs([]string{"a.plan", "b.plan"}, io.Discard); err == nil {
		t.Error("apply with two plans: want a usage error")
	}
	t.Setenv("WRITEBACK_CONFIG", "/etc/wb.yaml")
	if a, _ := parseApplyArgs(nil, io.Discard); a.config != "/etc/wb.yaml" || a.planFile != "" {
		t.Errorf("apply defaults: %+v", a)
	}
}

func TestParseStatusAndLogArgs(t *testing.T) {
	s, err := parseStatusArgs([]string{"-n", "50", "--exit-code", "-o", "json", "--group", "G"}, io.Discard)
	if err != nil || s.n != 50 || !s.exitCode || !s.json || s.group != "G" {
		t.Errorf("status: %+v, %v", s, err)
	}
	if s, _ := parseStatusArgs(nil, io.Discard); s.n != 10 || s.json {
		t.Errorf("status defaults: %+v", s)
	}
	l, err := parseLogArgs([]string{"--json", "-n", "0", "--group", "ABC"}, io.Discard)
	if err != nil || l.n != 0 || !l.json || l.group != "ABC" {
		t.Errorf("log: %+v, %v", l, err)
	}
	if l, _ := parseLogArgs(nil, io.Discard); l.n != 50 {
		t.Errorf("log defaults: %+v", l)
	}
}

func TestParseRunArgs(t *testing.T) {
	r, err := parseRunArgs([]string{"--once", "--listen", "127.0.0.1:9464", "--config", "c.yaml", "--allow-deletes"}, io.Discard)
	if err != nil || r != (runArgs{config: "c.yaml", once: true, allowDeletes: true, listen: "127.0.0.1:9464"}) {
		t.Errorf("run: %+v, %v", r, err)
	}
	if _, err := parseRunArgs([]string{"now"}, io.Discard); err == nil {
		t.Error("run with an argument: want a usage error")
	}
}

func TestParseCheckArgs(t *testing.T) {
	c, err := parseCheckArgs([]string{"--no-write", "-o", "json", "--config", "-"}, io.Discard)
	if err != nil || c != (checkArgs{config: "-", noWrite: true, json: true}) {
		t.Errorf("check: %+v, %v", c, err)
	}
	if _, err := parseCheckArgs([]string{"--no-write"}, io.Discard); err == nil {
		t.Error("check without --config: want a usage error")
	}
}

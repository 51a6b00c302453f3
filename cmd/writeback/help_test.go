package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// commandPaths is every command and step a user can type: plan, migrate
// assess, expr eval, state migrate, ...
func commandPaths() [][]string {
	var paths [][]string
	for _, c := range commands {
		if c.hidden {
			continue
		}
		paths = append(paths, []string{c.name})
		for _, s := range c.steps {
			paths = append(paths, []string{c.name, s})
		}
	}
	return paths
}

// Help asked for goes to stdout with exit 0 ('writeback plan -h | less');
// a usage error goes to stderr with exit 2 and nothing on stdout.
func TestHelpOnStdoutUsageErrorsOnStderr(t *testing.T) {
	for _, path := range commandPaths() {
		name := "writeback " + strings.Join(path, " ")
		for _, args := range [][]string{
			append(append([]string{}, path...), "-h"),
			append(append([]string{}, path...), "--help"),
			append([]string{"help"}, path...),
		} {
			var out, errb bytes.Buffer
			code := dispatch(context.Background(), args, &out, &errb)
			if code != 0 {
				t.Errorf("%q: exit %d, want 0\n%s", args, code, errb.String())
			}
			if !strings.Contains(out.String(), "Usage") || !strings.Contains(out.String(), name) {
				t.Errorf("%q: stdout has no help for %s:\n%s", args, name, out.String())
			}
			if errb.Len() != 0 {
				t.Errorf("%q: help asked for wrote to stderr:\n%s", args, errb.String())
			}
		}
		args := append(append([]string{}, path...), "--no-such-flag")
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage error)", args, code)
		}
		if out.Len() != 0 {
			t.Errorf("%q: a usage error wrote to stdout:\n%s", args, out.String())
		}
		if !strings.Contains(errb.String(), "writeback "+path[0]) {
			t.Errorf("%q: stderr does not say what was wrong:\n%s", args, errb.String())
		}
	}
}

// An error of a step names the full command: "writeback migrate assess: ...".
func TestErrorsNameTheFullCommandPath(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "assess", "--config", "/nonexistent/writeback.yaml"}, "writeback migrate assess: "},
		{[]string{"migrate", "prepare", "--workers", "0"}, "writeback migrate prepare: --workers 0"},
		{[]string{"migrate", "verify", "--base", "not a dn"}, "writeback migrate verify: --base"},
		{[]string{"state", "migrate", "--config", "/nonexistent/writeback.yaml"}, "writeback state migrate: "},
		{[]string{"expr", "check", "Left([a])"}, "writeback expr check: position 1"},
		{[]string{"plan", "--config", "/nonexistent/writeback.yaml"}, "writeback plan: "},
	} {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), tt.args, &out, &errb); code != 1 {
			t.Errorf("%q: exit %d, want 1\n%s", tt.args, code, errb.String())
		}
		if !strings.HasPrefix(errb.String(), tt.want) {
			t.Errorf("%q: stderr %q, want it to start with %q", tt.args, errb.String(), tt.want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// The version, commit and date stamped by the release build reach
// `writeback version`, `--version` and its JSON.
func TestVersionFromLdflags(t *testing.T) {
	defer func(v, c, d string) { version, commit, date = v, c, d }(version, commit, date)
	version, commit, date = "v1.2.3", "0123456789abcdef", "2026-12-04T10:00:00Z"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), args, &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		for _, want := range []string{"writeback v1.2.3", "commit 0123456789abcdef", "built 2026-12-04T10:00:00Z"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v printed %q, want it to contain %q", args, out.String(), want)
			}
		}
	}
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"version", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("version --json: exit %d: %s", code, errb.String())
	}
	var b buildVersion
	if err := json.Unmarshal(out.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	if b.Version != "v1.2.3" || b.Commit != "0123456789abcdef" || b.Date != "2026-12-04T10:00:00Z" {
		t.Errorf("version --json = %+v", b)
	}
}

// A plain `go build` still says something: "dev", never an empty version.
func TestVersionDefault(t *testing.T) {
	defer func(v, c, d string) { version, commit, date = v, c, d }(version, commit, date)
	version, commit, date = "", "", ""
	if b := buildInfo(); b.Version == "" || b.GoVersion == "" || b.Platform == "" {
		t.Errorf("buildInfo() = %+v", b)
	}
}

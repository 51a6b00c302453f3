package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
	"github.com/google/go-cmp/cmp"
)

// exprDocExample mirrors internal/expr/testdata/examples.json: every example in
// Microsoft's two expression references, with its documented output. Where
// Microsoft's output is wrong, "note" says why and "want" holds what the
// documented semantics give.
type exprDocExample struct {
	Ref         string              `json:"ref"`
	Name        string              `json:"name"`
	Expr        string              `json:"expr"`
	Attrs       map[string][]string `json:"attrs"`
	Now         string              `json:"now"`
	Taken       []string            `json:"taken"`
	Want        json.RawMessage     `json:"want"`
	WantPattern string              `json:"wantPattern"`
	WantErr     string              `json:"wantErr"`
	Flow        *bool               `json:"flow"`
	Note        string              `json:"note"`
}

func runExprArgs(args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	err = runExpr(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

// TestExprEvalDocumentedExamples is the "done when" of the expression issue:
// each documented example evaluates to its documented output through
// `writeback expr eval --json`.
func TestExprEvalDocumentedExamples(t *testing.T) {
	b, err := os.ReadFile("../../internal/expr/testdata/examples.json")
	if err != nil {
		t.Fatal(err)
	}
	var examples []exprDocExample
	if err := json.Unmarshal(b, &examples); err != nil {
		t.Fatal(err)
	}
	if len(examples) < 100 {
		t.Fatalf("only %d examples loaded", len(examples))
	}
	for _, d := range examples {
		title := d.Ref + "/" + d.Name
		if d.Name == "" {
			title = d.Ref + "/" + d.Expr
		}
		t.Run(title, func(t *testing.T) {
			args := []string{"eval", "--json"}
			names := make([]string, 0, len(d.Attrs))
			for n := range d.Attrs {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				for _, v := range d.Attrs[n] {
					args = append(args, "--attr", n+"="+v)
				}
			}
			if d.Now != "" {
				args = append(args, "--now", d.Now)
			}
			for _, v := range d.Taken {
				args = append(args, "--taken", v)
			}
			args = append(args, d.Expr)
			stdout, stderr, err := runExprArgs(args...)
			if d.WantErr != "" {
				if err == nil || !strings.Contains(err.Error(), d.WantErr) {
					t.Fatalf("error = %v, want one containing %q", err, d.WantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("writeback expr %q: %v\n%s", args, err, stderr)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("output %q is not JSON: %v", stdout, err)
			}
			if d.WantPattern != "" {
				s, _ := got["result"].(string)
				ok, err := regexp2.MustCompile(d.WantPattern, regexp2.None).MatchString(s)
				if err != nil || !ok {
					t.Fatalf("result %q does not match %s", s, d.WantPattern)
				}
				return
			}
			want := map[string]any{"result": nil}
			if len(d.Want) > 0 {
				var w any
				if err := json.Unmarshal(d.Want, &w); err != nil {
					t.Fatal(err)
				}
				want["result"] = w
			}
			if d.Flow != nil && !*d.Flow {
				want["flow"] = false
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s\n(-documented +got):\n%s", d.Expr, diff)
			}
		})
	}
}

func TestExprEval(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantOut    string
		wantErr    string
		wantStderr string
	}{
		{"single", []string{"eval", "--attr", "a=x", `Append([a], "y")`}, "xy\n", "", ""},
		{"multi plain", []string{"eval", "--attr", "a=1", "--attr", "a=2", `[a]`}, "1\n2\n", "", ""},
		{"multi json", []string{"eval", "--json", "--attr", "a=1", "--attr", "a=2", `[a]`}, `{"result": ["1","2"]}` + "\n", "", ""},
		{"names are case-insensitive", []string{"eval", "--json", "--attr", "mail=1", "--attr", "Mail=2", `Count([MAIL])`}, `{"result": "2"}` + "\n", "", ""},
		{"empty string", []string{"eval", "--json", "--attr", "a=", `[a]`}, `{"result": ""}` + "\n", "", ""},
		{"absent is null", []string{"eval", "--json", `[a]`}, `{"result": null}` + "\n", "", ""},
		{"null plain prints nothing", []string{"eval", `[a]`}, "", "", ""},
		{"numbers are strings", []string{"eval", "--json", `InStr("The quick brown fox","quick")`}, `{"result": "5"}` + "\n", "", ""},
		{"flow dropped", []string{"eval", "--json", `IgnoreFlowIfNullOrEmpty([a])`}, `{"result": null, "flow": false}` + "\n", "", ""},
		{"flow dropped plain", []string{"eval", `IgnoreFlowIfNullOrEmpty([a])`}, "", "", "left out of the flow"},
		{"no HTML escaping", []string{"eval", "--json", `"<a&b>"`}, `{"result": "<a&b>"}` + "\n", "", ""},
		{"flags after the expression", []string{"eval", `Left([a], 2)`, "--attr", "a=xyz"}, "xy\n", "", ""},
		{"value with =", []string{"eval", "--attr", "dn=CN=x,DC=y", `DNComponent([dn], 2)`}, "y\n", "", ""},
		{"now pinned", []string{"eval", "--now", "2021-07-02T15:33:38Z", `Now()`}, "7/2/2021 3:33:38 PM\n", "", ""},
		{"now with offset", []string{"eval", "--now", "2021-07-02T17:33:38+02:00", `Now()`}, "7/2/2021 3:33:38 PM\n", "", ""},
		{"parse error points at the position", []string{"eval", `Append([a] "x")`}, "", "position 12: expected ',' or ')', found '\"'\n  Append([a] \"x\")\n             ^", ""},
		{"parse error on a later line", []string{"eval", "Switch([a],\n  \"x\" \"y\")"}, "", "position 19: expected ',' or ')', found '\"'\n    \"x\" \"y\")\n        ^", ""},
		{"eval error", []string{"eval", "--attr", "a=1", `Item([a], 2)`}, "", "position 1: Item: index 2 is out of range", ""},
		{"unknown function", []string{"eval", `Frobnicate([a])`}, "", `position 1: unknown function "Frobnicate"`, ""},
		{"bad --now", []string{"eval", "--now", "yesterday", `Now()`}, "", `--now "yesterday": expected an RFC3339 time`, ""},
		{"check canonical", []string{"check", `iif([c]="USA",[c],[d])`}, `IIF([c] = "USA", [c], [d])` + "\n", "", ""},
		{"check error", []string{"check", `Left([a])`}, "", "position 1: Left takes 2 arguments, got 1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runExprArgs(tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				if errors.Is(err, errUsage) {
					t.Errorf("an expression error must exit 1, not as a usage error")
				}
			} else if err != nil {
				t.Fatalf("unexpected error: %v\n%s", err, stderr)
			}
			if stdout != tt.wantOut {
				t.Errorf("stdout = %q, want %q", stdout, tt.wantOut)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
}

func TestExprUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"frob"},
		{"eval"},
		{"eval", "a", "b"},
		{"eval", "--attr", "noequals", "[a]"},
		{"eval", "--bogus", "[a]"},
		{"check"},
	} {
		_, stderr, err := runExprArgs(args...)
		if !errors.Is(err, errUsage) {
			t.Errorf("%q: err = %v, want errUsage", args, err)
		}
		if !strings.Contains(stderr, "Usage:") {
			t.Errorf("%q: no usage on stderr: %q", args, stderr)
		}
	}
	stdout, _, err := runExprArgs("-h")
	if err != nil || !strings.Contains(stdout, "writeback expr eval") {
		t.Errorf("-h: %v, %q", err, stdout)
	}
}

// Exit codes through the real dispatcher: an expression error is exit 1 with
// the message on stderr.
func TestExprExitCodes(t *testing.T) {
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"expr", "eval", `Error("nope")`}, &out, &errb); code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "writeback expr eval: position 1: Error: nope") {
		t.Errorf("stderr = %q", errb.String())
	}
	out.Reset()
	if code := dispatch(context.Background(), []string{"expr", "eval", "--json", `Left("John Doe", 3)`}, &out, &errb); code != 0 || out.String() != `{"result": "Joh"}`+"\n" {
		t.Errorf("exit %d, stdout %q", code, out.String())
	}
}

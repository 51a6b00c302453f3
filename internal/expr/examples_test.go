package expr

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dlclark/regexp2"
	"github.com/google/go-cmp/cmp"
)

// docExample is one example from Microsoft's two expression references
// (testdata/examples.json, shared with the CLI test). "note" records where
// Microsoft's documented output is itself wrong and what writeback does instead.
type docExample struct {
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

func loadExamples(t testing.TB) []docExample {
	t.Helper()
	b, err := os.ReadFile("testdata/examples.json")
	if err != nil {
		t.Fatal(err)
	}
	var ex []docExample
	if err := json.Unmarshal(b, &ex); err != nil {
		t.Fatalf("testdata/examples.json: %v", err)
	}
	return ex
}

func (d docExample) title() string {
	if d.Name != "" {
		return d.Ref + "/" + d.Name
	}
	return d.Ref + "/" + d.Expr
}

func (d docExample) context(t testing.TB) Context {
	ctx := Context{Attrs: d.Attrs}
	if d.Now != "" {
		now, err := time.Parse(time.RFC3339, d.Now)
		if err != nil {
			t.Fatal(err)
		}
		ctx.Now = now
	}
	if d.Taken != nil {
		ctx.Unique = func(c string) (bool, error) { return !slices.Contains(d.Taken, c), nil }
	}
	return ctx
}

// valueJSON is the CLI's JSON rendering of a result, without the flow key.
func valueJSON(v Value) any {
	switch v.Kind() {
	case KindSingle:
		return v.Text()
	case KindMulti:
		return v.Values()
	}
	return nil
}

func TestDocumentedExamples(t *testing.T) {
	for _, d := range loadExamples(t) {
		t.Run(d.title(), func(t *testing.T) {
			e, err := Parse(d.Expr)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			v, err := e.Eval(d.context(t))
			if d.WantErr != "" {
				if err == nil || !strings.Contains(err.Error(), d.WantErr) {
					t.Fatalf("Eval error = %v, want one containing %q", err, d.WantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if d.WantPattern != "" {
				ok, err := regexp2.MustCompile(d.WantPattern, regexp2.None).MatchString(v.Text())
				if v.Kind() != KindSingle || err != nil || !ok {
					t.Fatalf("got %#v, want a match for %s", valueJSON(v), d.WantPattern)
				}
				return
			}
			var want any
			if err := json.Unmarshal(d.Want, &want); err != nil && len(d.Want) > 0 {
				t.Fatal(err)
			}
			got := valueJSON(v)
			if g, ok := got.([]string); ok {
				anyS := make([]any, len(g))
				for i, s := range g {
					anyS[i] = s
				}
				got = anyS
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s\n(-documented +got):\n%s", d.Expr, diff)
			}
			wantFlow := d.Flow == nil || *d.Flow
			if v.IgnoreFlow == wantFlow {
				t.Errorf("IgnoreFlow = %v, want flow %v", v.IgnoreFlow, wantFlow)
			}
			// The canonical form must parse back to the same canonical form.
			again, err := Parse(e.String())
			if err != nil {
				t.Fatalf("canonical form %q does not parse: %v", e.String(), err)
			}
			if again.String() != e.String() {
				t.Errorf("canonical form not stable: %q then %q", e.String(), again.String())
			}
		})
	}
}

package engine

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/writeback/writeback/internal/plan"
)

// The streamed plan JSON is the document json.Encoder writes: the same bytes
// for a plan with changes, without, and with a nil change list.
func TestWritePlannedJSONMatchesEncoder(t *testing.T) {
	changes := []plan.Change{
		{GroupID: "g1", DN: `CN=A "q" \, b,OU=X`, Action: plan.Create, Members: []string{"CN=u1", "CN=u2"}, Attrs: []plan.AttrChange{{Name: "description", After: []string{"<b> & c"}}}},
		{GroupID: "g2", DN: "CN=changes: null", Action: plan.Update},
	}
	for name, p := range map[string]*Planned{
		"changes": {Plan: &plan.Plan{Changes: changes, Summary: plan.Summary{Create: 1}}, Full: true, Planned: []string{"g1", "g2"}, Dirty: map[string]string{"g1": "changed"}},
		"empty":   {Plan: &plan.Plan{Changes: []plan.Change{}}},
		"nil":     {Plan: &plan.Plan{}},
	} {
		var want, got bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(p); err != nil {
			t.Fatal(err)
		}
		if err := WritePlannedJSON(&got, p); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s:\ngot  %s\nwant %s", name, got.String(), want.String())
		}
		var back Planned
		if err := json.Unmarshal(got.Bytes(), &back); err != nil || !reflect.DeepEqual(back.Plan.Changes, p.Plan.Changes) && len(p.Plan.Changes) > 0 {
			t.Errorf("%s: round trip: %v", name, err)
		}
	}
}

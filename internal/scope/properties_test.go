package scope

import (
	"slices"
	"testing"

	"github.com/writeback/writeback/internal/config"
)

func TestPropertiesFiltersRead(t *testing.T) {
	s, err := New(config.Scope{Filters: []config.Filter{
		{Clauses: []config.Clause{{Attribute: "classification", Operator: "EQUALS", Value: "HBI"}, {Attribute: "objectId", Operator: "IS NOT NULL"}}},
		{Clauses: []config.Clause{{Attribute: "extension_0a1b_region", Operator: "EQUALS", Value: "EU"}, {Attribute: "Classification", Operator: "IS NOT NULL"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Properties(); !slices.Equal(got, []string{"classification", "extension_0a1b_region"}) {
		t.Errorf("Properties() = %v", got)
	}
}

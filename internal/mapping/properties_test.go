package mapping

import (
	"slices"
	"testing"

	"github.com/writeback/writeback/internal/config"
)

// The properties mappings read are what the Graph client must select:
// extensions included, objectId (the id) left out, each once.
func TestPropertiesMappingsRead(t *testing.T) {
	m, err := Compile(config.Mappings{Attributes: map[string]config.Mapping{
		"description": {Expression: `Append([classification], [extension_0a1b_costCenter])`},
		"info":        {Expression: `Join(",", [Classification], [objectId])`},
	}}, "OU=G,DC=test")
	if err != nil {
		t.Fatal(err)
	}
	got := m.Properties()
	for _, want := range []string{"classification", "extension_0a1b_costCenter", "displayName"} {
		if !slices.Contains(got, want) {
			t.Errorf("Properties() = %v, lacks %s", got, want)
		}
	}
	if slices.Contains(got, "objectId") || slices.Contains(got, "Classification") {
		t.Errorf("Properties() = %v: objectId or a duplicate included", got)
	}
}

package entra

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeGroup feeds arbitrary JSON objects to the delta decoder: it must
// return a group or an error, never panic.
func FuzzDecodeGroup(f *testing.F) {
	f.Add(`{"id":"g","displayName":"x","members@delta":[{"@odata.type":"#microsoft.graph.user","id":"u","@removed":{"reason":"deleted"}}]}`)
	f.Add(`{"id":"g","@removed":{"reason":"changed"}}`)
	f.Add(`{"id":1,"groupTypes":"Unified","members@delta":[1,null,{}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		g, err := decodeGroup(json.RawMessage(s))
		if err == nil && g.ID == "" {
			t.Errorf("decoded a group without an ID from %q", s)
		}
		_, _ = decodeUser(json.RawMessage(s))
	})
}

package mapping

import (
	"errors"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/config"
)

// Names AD would refuse, or that disguise themselves, are refused with the
// reason; U+FFFD is an ordinary character (ad.EscapeFilter makes it
// searchable) and is provisioned.
func TestRefusedNames(t *testing.T) {
	m, err := Compile(config.Mappings{}, "OU=G,DC=test")
	if err != nil {
		t.Fatal(err)
	}
	free := func(string) (bool, error) { return true, nil }
	const id = "0123abcd-0000-0000-0000-00000000beef"
	for _, tt := range []struct {
		name, displayName, want string
	}{
		{"10,000 characters", strings.Repeat("x", 10000), "displayname is 10000 characters long; AD allows 256"},
		{"right-to-left override", "\u202Etxt.exe Finance", "contains U+202E, a bidirectional control"},
		{"isolate", "Sales \u2067x\u2069", "contains U+2067"},
	} {
		_, err := m.Map(Group{ID: id, Raw: map[string]any{"displayName": tt.displayName}}, false, free)
		var re *RefusedError
		if !errors.As(err, &re) || !strings.Contains(re.Reason, tt.want) {
			t.Errorf("%s: err = %v, want a refusal containing %q", tt.name, err, tt.want)
		}
	}
	r, err := m.Map(Group{ID: id, Raw: map[string]any{"displayName": "bad\uFFFDx"}}, false, free)
	if err != nil || r.CN != "bad\uFFFDx_00000000beef" || r.Attrs["sAMAccountName"][0] != "bad\uFFFDx" {
		t.Errorf("U+FFFD: %v, cn %q, attrs %v", err, r.CN, r.Attrs)
	}
	// 256 characters is AD's limit, not past it.
	if _, err := m.Map(Group{ID: id, Raw: map[string]any{"displayName": strings.Repeat("é", 256)}}, false, free); err != nil {
		t.Errorf("256 characters: %v", err)
	}
}

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

// Windows refuses a CN with a line feed or another control character
// (Samba accepts it): the group is refused with the reason, at create and
// at a rename; its default sAMAccountName simply drops the character.
func TestControlCharacterInCNRefused(t *testing.T) {
	m, err := Compile(config.Mappings{}, "OU=G,DC=test")
	if err != nil {
		t.Fatal(err)
	}
	free := func(string) (bool, error) { return true, nil }
	const id = "0123abcd-0000-0000-0000-00000000beef"
	for _, tt := range []struct{ displayName, want string }{
		{"Sales\nEMEA", "contains a line feed (U+000A), a control character"},
		{"Sales\rEMEA", "a carriage return (U+000D)"},
		{"Sales\u0085EMEA", "U+0085"},
		{"Sales\x7f", "U+007F"},
	} {
		for _, exists := range []bool{false, true} {
			_, err := m.Map(Group{ID: id, Raw: map[string]any{"displayName": tt.displayName}}, exists, free)
			var re *RefusedError
			if !errors.As(err, &re) || re.Attr != "cn" || !strings.Contains(re.Reason, tt.want) {
				t.Errorf("%q (exists %v): err = %v, want a cn refusal containing %q", tt.displayName, exists, err, tt.want)
			}
		}
	}
}

// A mapped sAMAccountName follows the rules the default follows: no
// forbidden or control character, no period at the end, at most 256
// characters, unique in the domain (users, groups and computers) at create.
func TestMappedSAMAccountNameValidated(t *testing.T) {
	m, err := Compile(config.Mappings{Attributes: map[string]config.Mapping{
		"sAMAccountName": {Expression: "[displayName]"}}}, "OU=G,DC=test")
	if err != nil {
		t.Fatal(err)
	}
	taken := func(c string) (bool, error) { return c != "Taken", nil }
	const id = "0123abcd-0000-0000-0000-00000000beef"
	for _, tt := range []struct{ displayName, want string }{
		{"a/b", `contains '/'`},
		{"Sales@EMEA", `contains '@'`},
		{"Sales.", "ends in a period"},
		{"...", "only spaces and periods"},
		{"Taken", "already has; AD requires it to be unique"},
	} {
		_, err := m.Map(Group{ID: id, Raw: map[string]any{"displayName": tt.displayName}}, false, taken)
		var re *RefusedError
		if !errors.As(err, &re) || !strings.Contains(re.Reason, tt.want) {
			t.Errorf("%q: err = %v, want a refusal containing %q", tt.displayName, err, tt.want)
		}
	}
	long, err := Compile(config.Mappings{Attributes: map[string]config.Mapping{
		"sAMAccountName": {Expression: "Append([displayName], [displayName])"}}}, "OU=G,DC=test")
	if err != nil {
		t.Fatal(err)
	}
	_, err = long.Map(Group{ID: id, Raw: map[string]any{"displayName": strings.Repeat("s", 130)}}, false, taken)
	if re := (*RefusedError)(nil); !errors.As(err, &re) || !strings.Contains(re.Reason, "samaccountname is 260 characters long; AD allows 256") {
		t.Errorf("260 characters: err = %v", err)
	}
	r, err := m.Map(Group{ID: id, Raw: map[string]any{"displayName": "Sales EMEA"}}, false, taken)
	if err != nil || r.Attrs["sAMAccountName"][0] != "Sales EMEA" {
		t.Errorf("valid mapped name: %v %v", err, r.Attrs)
	}
	// An existing group keeps its own name: not "taken" by itself.
	if _, err := m.Map(Group{ID: id, Raw: map[string]any{"displayName": "Taken"}}, true, taken); err != nil {
		t.Errorf("existing group with its own name: %v", err)
	}
}

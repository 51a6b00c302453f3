package ad

import (
	"slices"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// TestRangeValuesAndNext: the values an entry holds of a ranged attribute and
// where the missing ones start, for the replies Windows and Samba give.
func TestRangeValuesAndNext(t *testing.T) {
	tests := []struct {
		name  string
		attrs map[string][]string
		vals  []string
		next  int
	}{
		{"whole attribute", map[string][]string{"member": {"a", "b"}}, []string{"a", "b"}, -1},
		{"first range of many", map[string][]string{"member;range=0-1499": {"a"}}, []string{"a"}, 1500},
		{"last range", map[string][]string{"member;range=3000-*": {"c"}}, []string{"c"}, -1},
		{"attribute name in another case", map[string][]string{"Member;Range=0-4": {"a"}}, []string{"a"}, 5},
		{"no member attribute in the reply", map[string][]string{"cn": {"g"}}, nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ldap.NewEntry("CN=g,DC=x", tt.attrs)
			if got := rangeValues(e, "member"); !slices.Equal(got, tt.vals) {
				t.Errorf("rangeValues = %v, want %v", got, tt.vals)
			}
			if got := nextRange(e, "member"); got != tt.next {
				t.Errorf("nextRange = %d, want %d", got, tt.next)
			}
		})
	}
}

package mapping

import (
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"

	"github.com/writeback/writeback/internal/config"
)

const (
	ou = "OU=Groups,DC=lab,DC=test"
	id = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
)

func TestDefaults(t *testing.T) {
	m, err := Compile(config.Mappings{}, ou)
	if err != nil {
		t.Fatal(err)
	}
	g := Group{ID: id, Raw: map[string]any{"displayName": "  Sales Team EMEA  ", "description": "  Sales people  "}}
	r, err := m.Map(g, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Sales Team EMEA_a4b5c6d7e8f9"; r.CN != want {
		t.Errorf("cn = %q, want %q", r.CN, want)
	}
	if r.Parent != ou {
		t.Errorf("parent = %q", r.Parent)
	}
	want := map[string][]string{
		"adminDescription":               {"Group_" + id},
		"msDS-ExternalDirectoryObjectId": {"Group_" + id},
		"groupType":                      {"-2147483640"},
		"description":                    {"Sales people"},
		"displayName":                    {"  Sales Team EMEA  "},
		"sAMAccountName":                 {"Sales Team EMEA"},
	}
	if diff := cmp.Diff(want, r.Attrs); diff != "" {
		t.Errorf("attrs (-want +got):\n%s", diff)
	}
	if !r.OnCreate["samaccountname"] {
		t.Error("sAMAccountName is not on-create")
	}

	// Existing group: container and sAMAccountName are not re-evaluated.
	r, err = m.Map(g, true, func(string) (bool, error) { t.Fatal("uniqueness checked for an existing group"); return false, nil })
	if err != nil {
		t.Fatal(err)
	}
	if !r.KeepParent || r.KeepCN {
		t.Errorf("KeepParent=%v KeepCN=%v", r.KeepParent, r.KeepCN)
	}
	if _, ok := r.Attrs["sAMAccountName"]; ok {
		t.Error("sAMAccountName mapped for an existing group")
	}
}

func TestEmptyDescriptionIsAbsent(t *testing.T) {
	m, _ := Compile(config.Mappings{}, ou)
	r, err := m.Map(Group{ID: id, Raw: map[string]any{"displayName": "x", "description": nil}}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := r.Attrs["description"]; !ok || len(v) != 0 {
		t.Errorf("description = %v, %v; want present and empty (clear)", v, ok)
	}
}

func TestOverrides(t *testing.T) {
	m, err := Compile(config.Mappings{GroupType: "globalSecurity", Attributes: map[string]config.Mapping{
		"cn":             {Expression: ConnectSyncCN},
		"info":           {Expression: `Append("from ", [mailNickname])`, Apply: "onCreate"},
		"sAMAccountName": {Expression: `Join("_", [displayName], "X")`},
	}}, ou)
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Map(Group{ID: id, Raw: map[string]any{"displayName": "A", "mailNickname": "a"}}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.CN != "Group_"+id {
		t.Errorf("cn = %q", r.CN)
	}
	if got := r.Attrs["info"]; len(got) != 1 || got[0] != "from a" {
		t.Errorf("info = %v", got)
	}
	if got := r.Attrs["sAMAccountName"]; len(got) != 1 || got[0] != "A_X" {
		t.Errorf("sAMAccountName = %v", got)
	}
	if r.Attrs["groupType"][0] != "-2147483646" {
		t.Errorf("groupType = %v", r.Attrs["groupType"])
	}
	if !r.OnCreate["info"] {
		t.Error("info not on-create")
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tt := range []struct {
		attrs map[string]config.Mapping
		want  string
	}{
		{map[string]config.Mapping{"cn": {Expression: `Append([displayName]`}}, "mappings.attributes.cn: position"},
		{map[string]config.Mapping{"msDS-ExternalDirectoryObjectId": {Expression: `"x"`}}, "cannot be mapped"},
		{map[string]config.Mapping{"member": {Expression: `"x"`}}, "membership is computed"},
		{map[string]config.Mapping{"info": {}}, "expression is required"},
		{map[string]config.Mapping{"info": {Expression: `"x"`, Apply: "sometimes"}}, "want always or onCreate"},
	} {
		_, err := Compile(config.Mappings{Attributes: tt.attrs}, ou)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%v) = %v, want error containing %q", tt.attrs, err, tt.want)
		}
	}
}

func TestDefaultSAM(t *testing.T) {
	taken := map[string]bool{}
	free := func(c string) (bool, error) { return !taken[c], nil }
	tests := []struct {
		name, display string
		taken         []string
		want          string
	}{
		{"plain", "Sales", nil, "Sales"},
		{"forbidden characters dropped", `R&D: "Lab" [EU]/x`, nil, "R&D Lab EUx"},
		{"cut to 20", "A very long group display name", nil, "A very long group di"},
		{"taken: 4 hex", "Sales", []string{"Sales"}, "Sales_e8f9"},
		{"taken twice: 8 hex", "Sales", []string{"Sales", "Sales_e8f9"}, "Sales_c6d7e8f9"},
		{"taken thrice: 12 hex", "Sales", []string{"Sales", "Sales_e8f9", "Sales_c6d7e8f9"}, "Sales_a4b5c6d7e8f9"},
		{"empty name", "???", nil, "group"},
		{"no trailing space after cut", "Sales Team EMEA North", []string{"Sales Team EMEA Nort"}, "Sales Team EMEA_e8f9"},
		{"dropped character between words", "Sales + Marketing", nil, "Sales Marketing"},
		{"runs of white space", "  Sales \t\u00a0 Team  ", nil, "Sales Team"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clear(taken)
			for _, x := range tt.taken {
				taken[x] = true
			}
			got, err := DefaultSAM(tt.display, id, free)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("DefaultSAM(%q) = %q, want %q", tt.display, got, tt.want)
			}
			if n := len([]rune(got)); n > 20 {
				t.Errorf("%q is %d characters", got, n)
			}
		})
	}
}

func TestSanitizeSAM(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Sales + Marketing", "Sales Marketing"},
		{"Sales  Marketing", "Sales Marketing"},
		{"R&D / EU", "R&D EU"},
		{"a\tb", "a b"},
		{"a\nb\r\n", "a b"},
		{"Team\u00a0\u3000EMEA", "Team EMEA"},
		{" + Sales + ", "Sales"},
		{". Sales .", "Sales"},
		{"[]", ""},
		{"a\x00b", "ab"},
	}
	for _, tt := range tests {
		if got := SanitizeSAM(tt.in); got != tt.want {
			t.Errorf("SanitizeSAM(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzDefaultSAM(f *testing.F) {
	f.Add("Sales Team")
	f.Add("😀😀😀😀😀😀😀😀😀😀😀")
	f.Fuzz(func(t *testing.T, name string) {
		taken := 0
		got, err := DefaultSAM(name, id, func(string) (bool, error) { taken++; return taken > 2, nil })
		if err != nil {
			t.Fatal(err)
		}
		if SanitizeSAM(got) != got {
			t.Fatalf("DefaultSAM(%q) = %q contains forbidden characters", name, got)
		}
		if strings.Contains(got, "  ") {
			t.Fatalf("DefaultSAM(%q) = %q has a run of spaces", name, got)
		}
		if n := len(utf16.Encode([]rune(got))); n > 20 {
			t.Fatalf("DefaultSAM(%q) = %q is %d UTF-16 units", name, got, n)
		}
	})
}

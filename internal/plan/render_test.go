package plan

import (
	"strings"
	"testing"
)

func TestWriteText(t *testing.T) {
	u1 := "CN=alice,CN=Users,DC=lab,DC=test"
	in := Input{
		Desired: []Desired{
			func() Desired {
				d := desired("a", "New", u1)
				d.Attrs["description"] = []string{"after"}
				d.Unresolved = []Unresolved{{ID: "c1", Type: "user", Name: "cloud@x", Reason: "cloud-only user"}}
				return d
			}(),
			desired("b", "Created", u1),
		},
		Actual: map[string]Actual{Anchor("a"): func() Actual {
			a := actual("a", "Old", "CN=bob,CN=Users,DC=lab,DC=test")
			a.Attrs["description"] = []string{"before"}
			return a
		}(), Anchor("d"): actual("d", "Gone")},
		Gone:   map[string]GoneReason{"d": Deleted},
		Policy: Policy{OnDelete: "delete", DeleteThreshold: 10},
	}
	var b strings.Builder
	if err := WriteText(&b, Calculate(in)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`# group "New" (a) will be updated in place`,
		`~ dn = CN=Old,OU=Groups,DC=lab,DC=test -> CN=New,OU=Groups,DC=lab,DC=test`,
		`~ description = "before" -> "after"`,
		`+ members: 1 to add (alice)`,
		`- members: 1 to remove (bob)`,
		`! unresolved: 1 member(s) skipped`,
		`user cloud@x (c1): cloud-only user`,
		`# group "Created" (b) will be created`,
		`# group "Gone" (d) will be deleted (deleted in Entra)`,
		`Plan: 1 to create, 1 to update, 1 to delete, 2 member adds, 1 member removes.`,
		`Warnings: 1 unresolved members, 0 groups not written (collisions and skips).`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	WriteText(&b, Calculate(Input{}))
	if !strings.Contains(b.String(), "No changes.") {
		t.Errorf("empty plan: %q", b.String())
	}
}

func TestDisplayQuote(t *testing.T) {
	for in, want := range map[string]string{
		`Zürich\, R&D`: `"Zürich\, R&D"`,
		`say "hi"`:     `"say \"hi\""`,
		"two\nlines":   `"two\nlines"`,
		"bell\a":       `"bell\x07"`,
	} {
		if got := displayQuote(in); got != want {
			t.Errorf("displayQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestWriteTextSkipsAndSwap(t *testing.T) {
	a, b := actual("a", "Red"), actual("b", "Blue")
	da := actual("p", "Domain Admins")
	da.Protected = "well-known RID 512"
	in := Input{
		Desired: []Desired{desired("a", "Blue"), desired("b", "Red"), desired("p", "Tier0"), desired("o", "Moved")},
		Actual:  map[string]Actual{a.Anchor: a, b.Anchor: b, da.Anchor: da},
		Outside: map[string]string{"o": "CN=Moved,CN=Users,DC=lab,DC=test"},
		Skips:   []Collision{{GroupID: "r", Name: "\u202Etxt.exe", Kind: SkipRefused, Reason: "displayname contains U+202E"}},
	}
	var sb strings.Builder
	if err := WriteText(&sb, Calculate(in)); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	for _, want := range []string{
		"~ dn = CN=Red," + ou + " -> CN=Group_a," + ou + " (temporary name: groups swap names)",
		"~ dn = CN=Group_a," + ou + " -> CN=Blue," + ou + "\n",
		`! group "Tier0" (p) is skipped, protected CN=Domain Admins,` + ou + ": the AD group carrying this group's anchor is protected (well-known RID 512)",
		`! group "Moved" (o) is skipped, outside sync.searchBase CN=Moved,CN=Users,DC=lab,DC=test:`,
		`! group "\u202etxt.exe" (r) is skipped, refused: displayname contains U+202E`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

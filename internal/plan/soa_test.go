package plan

import (
	"bytes"
	"strings"
	"testing"
)

// A takeover reads as one, with the DN and SID; a release and an SOA skip
// say what they are; the summary counts them.
func TestWriteTextTakeoverAndRelease(t *testing.T) {
	dn := "CN=File Share Readers,OU=On-Premises Groups,DC=contoso,DC=com"
	p := &Plan{
		Changes: []Change{
			{Action: Update, GroupID: "g1", Name: "File Share Readers", DN: dn,
				Attrs: []AttrChange{{Name: "msDS-ExternalDirectoryObjectId", After: []string{"Group_g1"}}}},
			{Action: AddMembers, GroupID: "g1", Name: "File Share Readers", DN: dn, Members: []string{"CN=Ada,DC=contoso,DC=com"}},
			{Action: Release, GroupID: "g2", Name: "Old", DN: "CN=Old,DC=contoso,DC=com", Reason: "its source of authority is back in AD",
				Attrs: []AttrChange{{Name: "msDS-ExternalDirectoryObjectId", Before: []string{"Group_g2"}}}},
		},
		Takeovers:  []Takeover{{GroupID: "g1", DN: dn, SID: "S-1-5-21-1-2-3-1124"}},
		Collisions: []Collision{{GroupID: "g3", Name: "Gone", Kind: SkipSOANotFound, Reason: "no AD group has its SID"}},
	}
	p.Summary = Summarize(p)
	if p.Summary.Takeovers != 1 || p.Summary.Releases != 1 || p.Summary.Update != 2 {
		t.Errorf("summary = %+v", p.Summary)
	}
	var b bytes.Buffer
	if err := WriteText(&b, p); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`group "File Share Readers" (g1) will be taken over in place: take over ` + dn + ` (SID S-1-5-21-1-2-3-1124)`,
		`+ msDS-ExternalDirectoryObjectId = "Group_g1"`,
		`group "Old" (g2) will be released (its source of authority is back in AD)`,
		`- msDS-ExternalDirectoryObjectId = "Group_g2" -> null`,
		`group "Gone" (g3) is skipped (soa-not-found)`,
		"Of the updates: 1 taken over in place (converted to the cloud), 1 released (given back to AD).",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan text lacks %q:\n%s", want, out)
		}
	}
	if Release.Phase() != Move.Phase() {
		t.Errorf("release phase %d, want with move/convert (%d)", Release.Phase(), Move.Phase())
	}
}

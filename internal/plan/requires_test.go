package plan

import (
	"slices"
	"testing"
)

// A member add naming a group the same plan creates carries that group in
// Requires, so apply can leave it out when the create fails; members that
// exist already require nothing.
func TestMemberAddRequiresTheCreatesItNames(t *testing.T) {
	u1 := "CN=u1,CN=Users,DC=lab,DC=test"
	pol := Policy{OnDelete: "delete", OnOutOfScope: "leave", DeleteThreshold: 10}
	p := Calculate(Input{Desired: []Desired{
		func() Desired { d := desired("b", "Parent", u1); d.MemberGroups = []string{"a"}; return d }(),
		desired("a", "Child", u1),
		func() Desired { d := desired("c", "Existing", u1); d.MemberGroups = []string{"a"}; return d }(),
	}, Actual: map[string]Actual{Anchor("c"): actual("c", "Existing", u1)}, Policy: pol})
	got := map[string][]string{}
	for _, c := range p.Changes {
		if c.Action == AddMembers {
			got[c.GroupID] = c.Requires
		} else if len(c.Requires) > 0 {
			t.Errorf("%s %s requires %v; only member adds depend on creates", c.Action, c.GroupID, c.Requires)
		}
	}
	if !slices.Equal(got["b"], []string{"a"}) || !slices.Equal(got["c"], []string{"a"}) {
		t.Errorf("requires = %v; want b and c to require a", got)
	}
	if r, ok := got["a"]; !ok || len(r) != 0 {
		t.Errorf("a's member add requires %v (present %v); want nothing: its member is a user", r, ok)
	}
}

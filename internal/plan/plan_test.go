package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const ou = "OU=Groups,DC=lab,DC=test"

func desired(id, cn string, members ...string) Desired {
	return Desired{
		ID: id, Name: cn, Anchor: Anchor(id), DN: "CN=" + cn + "," + ou,
		Attrs: map[string][]string{
			"displayName":                    {cn},
			"description":                    nil,
			"adminDescription":               {Anchor(id)},
			"msDS-ExternalDirectoryObjectId": {Anchor(id)},
			"groupType":                      {"-2147483640"},
		},
		Members: members,
	}
}

func actual(id, cn string, members ...string) Actual {
	return Actual{
		DN: "CN=" + cn + "," + ou, Anchor: Anchor(id),
		Attrs: map[string][]string{
			"displayname":                    {cn},
			"admindescription":               {Anchor(id)},
			"msds-externaldirectoryobjectid": {Anchor(id)},
			"grouptype":                      {"-2147483640"},
		},
		Members:    members,
		USNChanged: 100,
	}
}

// brief renders changes as short strings so the tables stay readable.
func brief(p *Plan) []string {
	var out []string
	for _, c := range p.Changes {
		s := string(c.Action) + " " + c.GroupID
		switch c.Action {
		case Rename, Move:
			s += " -> " + c.NewDN
		case Update, Convert:
			for _, a := range c.Attrs {
				s += " " + a.Name
			}
		case AddMembers, RemoveMembers:
			for _, m := range c.Members {
				s += " " + m
			}
		}
		out = append(out, s)
	}
	return out
}

func TestCalculate(t *testing.T) {
	u1, u2, u3 := "CN=u1,CN=Users,DC=lab,DC=test", "CN=u2,CN=Users,DC=lab,DC=test", "CN=u3,CN=Users,DC=lab,DC=test"
	pol := Policy{OnDelete: "delete", OnOutOfScope: "leave", DeleteThreshold: 10, MoveTo: "OU=Old,DC=lab,DC=test"}
	tests := []struct {
		name    string
		in      Input
		want    []string
		summary Summary
		blocked bool
	}{
		{
			name: "create then members, parent before child reference",
			in: Input{Desired: []Desired{
				func() Desired { d := desired("b", "Parent", u1); d.MemberGroups = []string{"a"}; return d }(),
				desired("a", "Child", u2),
			}, Policy: pol},
			want: []string{
				"create a", "create b",
				"add-members a " + u2,
				"add-members b CN=Child," + ou + " " + u1,
			},
			summary: Summary{Create: 2, MemberAdds: 3},
		},
		{
			name:    "converged: no changes",
			in:      Input{Desired: []Desired{desired("a", "A", u1, u2)}, Actual: map[string]Actual{Anchor("a"): actual("a", "A", u2, u1)}, Policy: pol},
			want:    nil,
			summary: Summary{},
		},
		{
			name: "member DN case and escaping do not count as changes",
			in: Input{Desired: []Desired{desired("a", "A", `CN=x\,y,CN=Users,DC=lab,DC=test`)},
				Actual: map[string]Actual{"GROUP_A": actual("a", "A", `cn=x\2Cy,cn=users,dc=LAB,dc=test`)}, Policy: pol},
			want: nil,
		},
		{
			name:    "a member listed twice is one member",
			in:      Input{Desired: []Desired{desired("a", "A", u1, u1, u2)}, Actual: map[string]Actual{Anchor("a"): actual("a", "A", u2, u1)}, Policy: pol},
			want:    nil,
			summary: Summary{},
		},
		{
			name:    "same count, one member swapped",
			in:      Input{Desired: []Desired{desired("a", "A", u1, u3)}, Actual: map[string]Actual{Anchor("a"): actual("a", "A", u3, u2)}, Policy: pol},
			want:    []string{"add-members a " + u1, "remove-members a " + u2},
			summary: Summary{MemberAdds: 1, MemberRemoves: 1},
		},
		{
			name:    "exact member diff",
			in:      Input{Desired: []Desired{desired("a", "A", u1, u3)}, Actual: map[string]Actual{Anchor("a"): actual("a", "A", u1, u2)}, Policy: pol},
			want:    []string{"add-members a " + u3, "remove-members a " + u2},
			summary: Summary{MemberAdds: 1, MemberRemoves: 1},
		},
		{
			name: "rename and attribute update",
			in: Input{Desired: []Desired{func() Desired {
				d := desired("a", "New", u1)
				d.Attrs["description"] = []string{"hello"}
				return d
			}()}, Actual: map[string]Actual{Anchor("a"): actual("a", "Old", u1)}, Policy: pol},
			want:    []string{"rename a -> CN=New," + ou, "update a description displayName"},
			summary: Summary{Update: 1},
		},
		{
			name: "case-only rename",
			in:   Input{Desired: []Desired{desired("a", "ABC")}, Actual: map[string]Actual{Anchor("a"): func() Actual { a := actual("a", "abc"); a.Attrs["displayname"] = []string{"ABC"}; return a }()}, Policy: pol},
			want: []string{"rename a -> CN=ABC," + ou},
		},
		{
			name: "takeover keeps CN and parent when mapped onCreate",
			in: Input{Desired: []Desired{func() Desired {
				d := desired("a", "Sales", u1)
				d.KeepCN, d.KeepParent = true, true
				return d
			}()}, Actual: map[string]Actual{Anchor("a"): func() Actual {
				a := actual("a", "Sales", u1)
				a.DN = "CN=Group_a,OU=Writeback,DC=lab,DC=test"
				return a
			}()}, Policy: pol},
			want: nil,
		},
		{
			name: "onCreate attribute is not updated",
			in: Input{Desired: []Desired{func() Desired {
				d := desired("a", "A")
				d.Attrs["sAMAccountName"] = []string{"new"}
				d.OnCreate = map[string]bool{"samaccountname": true}
				return d
			}()}, Actual: map[string]Actual{Anchor("a"): func() Actual { a := actual("a", "A"); a.Attrs["samaccountname"] = []string{"old"}; return a }()}, Policy: pol},
			want: nil,
		},
		{
			name: "foreign collision is reported, not touched, and nested reference skipped",
			in: Input{Desired: []Desired{
				desired("a", "Taken"),
				func() Desired { d := desired("b", "Parent"); d.MemberGroups = []string{"a"}; return d }(),
			}, Occupied: map[string]string{"cn=taken," + ou: ""}, Policy: pol},
			want:    []string{"create b"},
			summary: Summary{Create: 1, Unresolved: 1, Collisions: 1},
		},
		{
			name:    "unprepared Connect Sync group: no duplicate created",
			in:      Input{Desired: []Desired{desired("a", "A")}, Unprepared: map[string]string{"a": "CN=Group_a,OU=WB,DC=lab,DC=test"}, Policy: pol},
			want:    nil,
			summary: Summary{Collisions: 1},
		},
		{
			name:    "two cloud groups wanting the same DN: second reported",
			in:      Input{Desired: []Desired{desired("a", "Same"), desired("b", "Same")}, Policy: pol},
			want:    []string{"create a"},
			summary: Summary{Create: 1, Collisions: 1},
		},
		{
			name: "renamed child: parent membership follows without remove/add",
			in: Input{Desired: []Desired{
				desired("c", "ChildNew"),
				func() Desired { d := desired("p", "P"); d.MemberGroups = []string{"c"}; return d }(),
			}, Actual: map[string]Actual{
				Anchor("c"): actual("c", "ChildOld"),
				Anchor("p"): actual("p", "P", "CN=ChildOld,"+ou),
			}, Policy: pol},
			want:    []string{"rename c -> CN=ChildNew," + ou, "update c displayName"},
			summary: Summary{Update: 1},
		},
		{
			name: "deleted group deleted, out of scope left",
			in: Input{Actual: map[string]Actual{Anchor("a"): actual("a", "A"), Anchor("b"): actual("b", "B"), Anchor("c"): actual("c", "C")},
				Gone: map[string]GoneReason{"a": Deleted, "b": OutOfScope}, Policy: pol},
			want:    []string{"delete a"},
			summary: Summary{Delete: 1},
		},
		{
			name: "move and convert policies are idempotent",
			in: Input{Actual: map[string]Actual{
				Anchor("a"): actual("a", "A"),
				Anchor("b"): func() Actual { a := actual("b", "B"); a.DN = "CN=B,OU=Old,DC=lab,DC=test"; return a }(),
				Anchor("c"): actual("c", "C"),
				Anchor("d"): func() Actual { a := actual("d", "D"); a.Attrs["grouptype"] = []string{"8"}; return a }(),
			}, Gone: map[string]GoneReason{"a": Deleted, "b": Deleted, "c": OutOfScope, "d": OutOfScope},
				Policy: Policy{OnDelete: "move", OnOutOfScope: "convert", MoveTo: "OU=Old,DC=lab,DC=test"}},
			want:    []string{"move a -> CN=A,OU=Old,DC=lab,DC=test", "convert c groupType"},
			summary: Summary{Update: 2},
		},
		{
			name: "threshold blocks",
			in: Input{Actual: map[string]Actual{Anchor("a"): actual("a", "A"), Anchor("b"): actual("b", "B")},
				Gone: map[string]GoneReason{"a": Deleted, "b": Deleted}, Policy: Policy{OnDelete: "delete", DeleteThreshold: 1}},
			want:    []string{"delete a", "delete b"},
			summary: Summary{Delete: 2},
			blocked: true,
		},
		{
			name: "allow deletes lifts threshold",
			in: Input{Actual: map[string]Actual{Anchor("a"): actual("a", "A"), Anchor("b"): actual("b", "B")},
				Gone: map[string]GoneReason{"a": Deleted, "b": Deleted}, Policy: Policy{OnDelete: "delete", DeleteThreshold: 1, AllowDeletes: true}},
			want:    []string{"delete a", "delete b"},
			summary: Summary{Delete: 2},
		},
		{
			name: "unknown membership leaves members alone",
			in: Input{Desired: []Desired{func() Desired { d := desired("a", "A"); d.MembersUnknown = true; return d }()},
				Actual: map[string]Actual{Anchor("a"): actual("a", "A", u1)}, Policy: pol},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Calculate(tt.in)
			if diff := cmp.Diff(tt.want, brief(p)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if tt.summary != (Summary{}) || len(tt.want) == 0 {
				if diff := cmp.Diff(tt.summary, p.Summary); diff != "" {
					t.Errorf("summary (-want +got):\n%s", diff)
				}
			}
			if p.Blocked != tt.blocked {
				t.Errorf("blocked = %v (%s), want %v", p.Blocked, p.BlockedReason, tt.blocked)
			}
		})
	}
}

func TestCreateOmitsEmptyAttributes(t *testing.T) {
	p := Calculate(Input{Desired: []Desired{desired("a", "A")}})
	for _, a := range p.Changes[0].Attrs {
		if a.Name == "description" {
			t.Fatalf("create writes empty description: %+v", a)
		}
	}
}

// convert only clears the security bit: a global or domain local group keeps
// its scope (Windows refuses a scope change of a nested group).
func TestConvertKeepsScope(t *testing.T) {
	for before, want := range map[string]string{"-2147483646": "2", "-2147483644": "4", "-2147483640": "8", "": "8"} {
		a := actual("c", "C")
		if before != "" {
			a.Attrs["grouptype"] = []string{before}
		} else {
			delete(a.Attrs, "grouptype")
		}
		p := Calculate(Input{Actual: map[string]Actual{Anchor("c"): a}, Gone: map[string]GoneReason{"c": OutOfScope},
			Policy: Policy{OnDelete: "leave", OnOutOfScope: "convert"}})
		if len(p.Changes) != 1 || p.Changes[0].Action != Convert || len(p.Changes[0].Attrs) != 1 || !cmp.Equal(p.Changes[0].Attrs[0].After, []string{want}) {
			t.Errorf("convert from groupType %q: %+v; want groupType %s", before, p.Changes, want)
		}
	}
}

// Issue 17: a mapping change that converts a nested pair is ordered the way
// Windows accepts it, so it converges in one round: narrowing (universal to
// global, domain local to universal) converts the member group first,
// widening (global to universal, universal to domain local) the parent.
func TestConversionsOfNestedGroupsOrdered(t *testing.T) {
	const (
		global      = "-2147483646"
		domainLocal = "-2147483644"
		universal   = "-2147483640"
	)
	childDN := "CN=Child," + ou
	for _, tc := range []struct {
		name, from, to string
		first          string // the group converted in the earlier step
	}{
		{"universal to global", universal, global, "c"},
		{"domain local to universal", domainLocal, universal, "c"},
		{"domain local to global", domainLocal, global, "c"},
		{"global to universal", global, universal, "p"},
		{"universal to domain local", universal, domainLocal, "p"},
		{"global to domain local", global, domainLocal, "p"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The grandchild makes a chain of three, and the
			// unrelated group u is converted too: it needs no order.
			var in Input
			in.Actual = map[string]Actual{}
			add := func(id, cn string, memberGroups []string, members ...string) {
				d := desired(id, cn, members...)
				d.Attrs["groupType"] = []string{tc.to}
				d.MemberGroups = memberGroups
				in.Desired = append(in.Desired, d)
				a := actual(id, cn, members...)
				a.Attrs["grouptype"] = []string{tc.from}
				in.Actual[Anchor(id)] = a
			}
			add("g", "Grandchild", nil)
			add("c", "Child", []string{"g"}, "CN=Grandchild,"+ou)
			add("p", "Parent", []string{"c"}, childDN)
			add("u", "Unrelated", nil)
			p := Calculate(in)
			steps := map[string]int{}
			for _, c := range p.Changes {
				if c.Action != Update {
					t.Fatalf("unexpected change %+v", c)
				}
				steps[c.GroupID] = c.Step
			}
			want := map[string]int{"g": 0, "c": 1, "p": 2, "u": 0}
			if tc.first == "p" {
				want = map[string]int{"p": 0, "c": 1, "g": 2, "u": 0}
			}
			if !cmp.Equal(steps, want) {
				t.Errorf("steps %v; want %v", steps, want)
			}
			for i := 1; i < len(p.Changes); i++ {
				if p.Changes[i].Step < p.Changes[i-1].Step {
					t.Errorf("changes not in step order: %v", brief(p))
				}
			}
		})
	}
}

// A parent narrowing while its member widens (or the reverse) needs no order,
// and an update that keeps the scope is not ordered either.
func TestConversionsWithoutOrder(t *testing.T) {
	in := Input{Actual: map[string]Actual{}}
	d := desired("p", "Parent", "CN=Child,"+ou)
	d.MemberGroups = []string{"c"}
	d.Attrs["groupType"] = []string{"-2147483640"} // domain local -> universal
	in.Desired = append(in.Desired, d)
	a := actual("p", "Parent", "CN=Child,"+ou)
	a.Attrs["grouptype"] = []string{"-2147483644"}
	in.Actual[Anchor("p")] = a
	d = desired("c", "Child")
	d.Attrs["groupType"] = []string{"-2147483640"} // global -> universal
	in.Desired = append(in.Desired, d)
	a = actual("c", "Child")
	a.Attrs["grouptype"] = []string{"-2147483646"}
	in.Actual[Anchor("c")] = a
	d = desired("x", "Other", "CN=Child,"+ou)
	d.MemberGroups = []string{"c"}
	d.Attrs["description"] = []string{"new"}
	in.Desired = append(in.Desired, d)
	in.Actual[Anchor("x")] = actual("x", "Other", "CN=Child,"+ou)
	for _, c := range Calculate(in).Changes {
		if c.Step != 0 {
			t.Errorf("%s %s has step %d, want 0", c.Action, c.GroupID, c.Step)
		}
	}
}

// An owned group whose DN AD spells with a quoted value keeps its CN when the
// cn mapping applies on create only: the first RDN ends after the closing
// quote (the old split at the first comma gave CN="a and renamed the group
// to a DN that does not parse).
func TestKeepCNOfQuotedDN(t *testing.T) {
	a := actual("q", "Q")
	a.DN = `CN="a,b",` + ou
	d := desired("q", "Other")
	d.KeepCN = true
	if got := TargetDN(d, a.DN); got != a.DN {
		t.Fatalf("TargetDN = %q, want the current %q", got, a.DN)
	}
	p := Calculate(Input{Desired: []Desired{d}, Actual: map[string]Actual{Anchor("q"): a}})
	for _, c := range p.Changes {
		if c.Action == Rename || c.Action == Move {
			t.Errorf("unexpected %s %s -> %s", c.Action, c.DN, c.NewDN)
		}
	}
}

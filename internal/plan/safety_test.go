package plan

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/writeback/writeback/internal/ldapdn"
)

// A protected AD group (Domain Admins, say) carrying a cloud group's anchor
// is never renamed, retyped, emptied or deleted: the group is reported.
func TestProtectedGroupIsNeverWritten(t *testing.T) {
	da := actual("a", "Domain Admins", "CN=Administrator,CN=Users,DC=lab,DC=test")
	da.Attrs["grouptype"] = []string{"-2147483646"}
	da.Attrs["description"] = []string{"Designated administrators of the domain"}
	da.Protected = "isCriticalSystemObject, well-known RID 512, adminCount=1"
	d := desired("a", "Tier0 Takeover", "CN=Mallory,CN=Users,DC=lab,DC=test")
	parent := desired("p", "Parent")
	parent.MemberGroups = []string{"a"}
	p := Calculate(Input{Desired: []Desired{d, parent}, Actual: map[string]Actual{da.Anchor: da},
		Policy: Policy{OnDelete: "delete", DeleteThreshold: 10}})
	for _, c := range p.Changes {
		if c.GroupID == "a" {
			t.Errorf("planned %s for the protected group: %+v", c.Action, c)
		}
		for _, m := range c.Members {
			if strings.Contains(m, "Domain Admins") {
				t.Errorf("protected group nested into %s", c.GroupID)
			}
		}
	}
	if len(p.Collisions) != 1 || p.Collisions[0].Kind != SkipProtected || !strings.Contains(p.Collisions[0].Reason, "well-known RID 512") {
		t.Errorf("collisions = %+v", p.Collisions)
	}

	// Gone from the cloud: not deleted either.
	p = Calculate(Input{Actual: map[string]Actual{da.Anchor: da}, Gone: map[string]GoneReason{"a": Deleted},
		Policy: Policy{OnDelete: "delete", DeleteThreshold: 10}})
	if len(p.Changes) != 0 || len(p.Left) != 1 || !strings.Contains(p.Left[0].Reason, "protected") {
		t.Errorf("changes = %v, left = %+v", brief(p), p.Left)
	}
}

// D16: with cn = [displayName], two groups swapping names converge in one
// plan: one moves to a temporary name, the other takes its DN, then the
// first takes the other's old DN.
func TestNameSwapConverges(t *testing.T) {
	a, b := actual("a", "Red"), actual("b", "Blue")
	da, db := desired("a", "Blue"), desired("b", "Red")
	occupied := map[string]string{a.DN: a.Anchor, b.DN: b.Anchor} // what the engine reads at the target DNs
	p := Calculate(Input{Desired: []Desired{da, db}, Actual: map[string]Actual{a.Anchor: a, b.Anchor: b}, Occupied: occupied})
	if len(p.Collisions) != 0 {
		t.Fatalf("collisions = %+v", p.Collisions)
	}
	want := []string{
		"rename a -> CN=Group_a," + ou,
		"rename b -> CN=Red," + ou,
		"rename a -> CN=Blue," + ou,
		"update a displayName", "update b displayName",
	}
	if diff := cmp.Diff(want, brief(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	// Replay it as AD would, one step after the other: every rename's
	// target is free when it runs.
	dns := map[string]string{ldapdn.Norm(a.DN): "a", ldapdn.Norm(b.DN): "b"}
	step := -1
	for _, c := range p.Changes {
		if c.Action != Rename {
			continue
		}
		if c.Step < step {
			t.Fatalf("steps out of order: %+v", p.Changes)
		}
		step = c.Step
		if holder, ok := dns[ldapdn.Norm(c.NewDN)]; ok {
			t.Fatalf("step %d renames %s to %s, still held by %s", c.Step, c.GroupID, c.NewDN, holder)
		}
		delete(dns, ldapdn.Norm(c.DN))
		dns[ldapdn.Norm(c.NewDN)] = c.GroupID
	}
	if dns[ldapdn.Norm("CN=Blue,"+ou)] != "a" || dns[ldapdn.Norm("CN=Red,"+ou)] != "b" {
		t.Errorf("after the plan: %v", dns)
	}

	// A chain (c takes b's name, b takes a new one) needs no temporary name:
	// b first, then c.
	c := actual("c", "Green")
	dc := desired("c", "Blue")
	db2 := desired("b", "Yellow")
	p = Calculate(Input{Desired: []Desired{db2, dc}, Actual: map[string]Actual{b.Anchor: b, c.Anchor: c}, Occupied: map[string]string{b.DN: b.Anchor}})
	if len(p.Collisions) != 0 {
		t.Fatalf("collisions = %+v", p.Collisions)
	}
	var steps []string
	for _, ch := range p.Changes {
		if ch.Action == Rename {
			steps = append(steps, ch.GroupID+" "+ldapdn.FirstRDN(ch.NewDN)+" step "+itoa(ch.Step))
		}
	}
	if diff := cmp.Diff([]string{"b CN=Yellow step 1", "c CN=Blue step 2"}, steps); diff != "" {
		t.Errorf("renames (-want +got):\n%s", diff)
	}
}

// D18: a rename that collides with a foreign object writes nothing for that
// group, not even its other attributes or members.
func TestCollisionWritesNothing(t *testing.T) {
	a := actual("a", "Old", "CN=u1,CN=Users,DC=lab,DC=test")
	d := desired("a", "Taken", "CN=u2,CN=Users,DC=lab,DC=test")
	p := Calculate(Input{Desired: []Desired{d}, Actual: map[string]Actual{a.Anchor: a},
		Occupied: map[string]string{"CN=Taken," + ou: ""}})
	if len(p.Changes) != 0 {
		t.Errorf("changes = %v", brief(p))
	}
	if len(p.Collisions) != 1 || !strings.Contains(p.Collisions[0].Reason, "without writeback's anchor") {
		t.Errorf("collisions = %+v", p.Collisions)
	}
}

// D15: the collision messages say what holds the DN.
func TestCollisionMessagesSayWhatIsTrue(t *testing.T) {
	const tampered = "Group_00000000-0000-0000-0000-000000000bad"
	p := Calculate(Input{Desired: []Desired{desired("a", "X")}, Occupied: map[string]string{"CN=X," + ou: tampered}})
	if len(p.Collisions) != 1 || !strings.Contains(p.Collisions[0].Reason, "carries the anchor "+tampered+", not this group's") ||
		strings.Contains(p.Collisions[0].Reason, "provisioned group") {
		t.Errorf("tampered anchor: %+v", p.Collisions)
	}
	// Two cloud groups mapping to one DN.
	p = Calculate(Input{Desired: []Desired{desired("a", "X"), desired("b", "X")}})
	if len(p.Collisions) != 1 || p.Collisions[0].GroupID != "b" || !strings.Contains(p.Collisions[0].Reason, "cloud group a maps to this DN too") {
		t.Errorf("same DN: %+v", p.Collisions)
	}
	// The DN holds this group's own anchor, but the group was not found
	// under sync.searchBase: it is outside, not "without anchor".
	p = Calculate(Input{Desired: []Desired{desired("a", "X")}, Occupied: map[string]string{"CN=X," + ou: Anchor("a")}})
	if len(p.Changes) != 0 || len(p.Collisions) != 1 || p.Collisions[0].Kind != SkipOutside {
		t.Errorf("own anchor outside: changes %v, collisions %+v", brief(p), p.Collisions)
	}
	// Found by anchor outside the search base: reported, not created again.
	p = Calculate(Input{Desired: []Desired{desired("a", "X")}, Outside: map[string]string{"a": "CN=X,OU=Elsewhere,DC=lab,DC=test"}})
	if len(p.Changes) != 0 || len(p.Collisions) != 1 || p.Collisions[0].Kind != SkipOutside || p.Collisions[0].DN != "CN=X,OU=Elsewhere,DC=lab,DC=test" {
		t.Errorf("outside: changes %v, collisions %+v", brief(p), p.Collisions)
	}
}

// F14: a tenant answering with 8 % fewer groups (401 of 5,001) is blocked by
// the default share (5 %) although 401 is under the count (500); the
// stricter of the two applies.
func TestDeleteThresholdShare(t *testing.T) {
	gone := func(n int) Input {
		in := Input{Actual: map[string]Actual{}, Gone: map[string]GoneReason{}}
		for i := range n {
			id := "g" + itoa(i)
			in.Actual[Anchor(id)] = actual(id, id)
			in.Gone[id] = Deleted
		}
		return in
	}
	for _, tt := range []struct {
		name    string
		deletes int
		pol     Policy
		blocked bool
	}{
		{"F14: 401 of 5,001 at 500 or 5%", 401, Policy{DeleteThreshold: 500, DeletePercent: 5, Owned: 5001}, true},
		{"250 of 5,001 at 500 or 5%", 250, Policy{DeleteThreshold: 500, DeletePercent: 5, Owned: 5001}, false},
		{"251 of 5,001 at 500 or 5% (rounded up)", 251, Policy{DeleteThreshold: 500, DeletePercent: 5, Owned: 5001}, false},
		{"252 of 5,001 at 500 or 5%", 252, Policy{DeleteThreshold: 500, DeletePercent: 5, Owned: 5001}, true},
		{"401 of 5,001 at a count of 500 alone", 401, Policy{DeleteThreshold: 500, Owned: 5001}, false},
		{"8 of 11 at 500 or 5%", 8, Policy{DeleteThreshold: 500, DeletePercent: 5}, true},
		{"1 of 11 at 500 or 5%: one is always allowed", 1, Policy{DeleteThreshold: 500, DeletePercent: 5, Owned: 11}, false},
		{"600 of 100,000 at 500 or 5%: the count", 600, Policy{DeleteThreshold: 500, DeletePercent: 5, Owned: 100000}, true},
		{"F14 with --allow-deletes", 401, Policy{DeleteThreshold: 500, DeletePercent: 5, Owned: 5001, AllowDeletes: true}, false},
	} {
		in := gone(tt.deletes)
		if tt.pol.Owned == 0 {
			for i := tt.deletes; i < 11; i++ { // the rest of a tenant of 11
				id := "k" + itoa(i)
				in.Actual[Anchor(id)] = actual(id, id)
			}
		}
		tt.pol.OnDelete = "delete"
		in.Policy = tt.pol
		p := Calculate(in)
		if p.Blocked != tt.blocked {
			t.Errorf("%s: blocked = %v (%s)", tt.name, p.Blocked, p.BlockedReason)
		}
	}
	p := Calculate(func() Input {
		in := gone(401)
		in.Policy = Policy{OnDelete: "delete", DeleteThreshold: 500, DeletePercent: 5, Owned: 5001}
		return in
	}())
	if want := "the plan deletes 401 of the 5001 groups writeback owns (8.0 %), more than 5 % (251)"; !strings.Contains(p.BlockedReason, want) {
		t.Errorf("reason = %q, want it to contain %q", p.BlockedReason, want)
	}
}

package migrate

import (
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/plan"
)

// Without a lab: a group the DC returns no allowedAttributesEffective for is
// one the account may not write (issue 18.2).
func TestPermissionCheckAbsentIsNoRight(t *testing.T) {
	r := &Report{Base: "OU=CS,DC=x", Groups: []GroupReport{{InScope: true}, {InScope: true}, {InScope: false}}}
	groups := []ad.Group{
		{DN: "CN=a,OU=CS,DC=x", Attrs: map[string][]string{"allowedattributeseffective": {"member", "msDS-ExternalDirectoryObjectId"}}},
		{DN: "CN=b,OU=CS,DC=x"}, // absent
		{DN: "CN=c,OU=CS,DC=x"},
	}
	c := permissionCheck(r, groups)
	if c.OK || !strings.Contains(c.Detail, "1 of 2") || !strings.Contains(c.Fix, `dsacls "OU=CS,DC=x"`) {
		t.Errorf("check %+v", c)
	}
	groups[1].Attrs = groups[0].Attrs
	if c := permissionCheck(r, groups); !c.OK {
		t.Errorf("with rights: %+v", c)
	}
}

// Issue 18.4: handover leaves out an unaccepted removal, takes an accepted
// one over, and the takeover check allows removals from accepted groups only.
func TestHandoverAcceptRemovals(t *testing.T) {
	g := func(dn, id string, remove bool, accepted bool) GroupReport {
		gr := GroupReport{DN: dn, ObjectID: id, InScope: true, AnchorState: AnchorEqual, RemovalAccepted: accepted}
		if remove {
			gr.WouldRemove = []string{"CN=u,DC=x"}
		}
		return gr
	}
	r := &Report{Base: "OU=CS,DC=x", Domain: "DC=x", Groups: []GroupReport{
		g("CN=a,OU=CS,DC=x", "a", true, false),
		g("CN=b,OU=CS,DC=x", "b", true, true),
		g("CN=c,OU=CS,DC=x", "c", false, false),
	}}
	base := &config.Config{}
	base.Sync.SearchBase = "OU=Elsewhere,DC=x"
	h, err := BuildHandover(base, r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(h.Groups, ",") != "b,c" || len(h.Excluded) != 1 || !strings.Contains(h.Excluded[0].Reason, "--accept-removals a") {
		t.Errorf("groups %v excluded %+v", h.Groups, h.Excluded)
	}
	if h.Config.Sync.SearchBase != "OU=CS,DC=x" {
		t.Errorf("searchBase %q: the configured one does not hold the groups", h.Config.Sync.SearchBase)
	}
	p := &plan.Plan{Changes: []plan.Change{
		{Action: plan.RemoveMembers, DN: "cn=B,ou=cs,dc=x", Members: []string{"x"}},
		{Action: plan.RemoveMembers, DN: "CN=c,OU=CS,DC=x", Members: []string{"x"}},
	}}
	v := TakeoverViolations(p, AcceptedDNs(r)...)
	if len(v) != 1 || !strings.Contains(v[0], "CN=c,") {
		t.Errorf("violations %v: want the removal from c only", v)
	}
}

func TestAcceptSetMatches(t *testing.T) {
	a := acceptSet([]string{"Payroll", "CN=Other,OU=CS,DC=x", "0a0b"})
	for _, g := range []GroupReport{{DisplayName: "payroll"}, {DN: "cn=other,ou=cs,dc=x"}, {ObjectID: "0A0B"}} {
		g.ObjectID = strings.ToLower(g.ObjectID)
		if !a.has(g) {
			t.Errorf("%+v not accepted", g)
		}
	}
	if a.has(GroupReport{DN: "CN=x,DC=x", CN: "x", ObjectID: "ff", DisplayName: "Sales"}) {
		t.Error("unrelated group accepted")
	}
}

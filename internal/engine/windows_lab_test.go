package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/plan"
)

// Issue 17, protected groups: a writeback group given adminCount=1, and one
// nested (through another group) in a protected group, are left untouched
// by later changes and reported by name in the plan and status; a display
// name with a line feed is refused for that group only, with the reason in
// status. Everything is read back from AD.
func TestLabProtectedByNestingAndLineFeed(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 2, "wbw")
	ctx := context.Background()
	dc := l.AdminConn(t)
	idAdmin, idNested, idOK := uniqueID("c1c1c1c1"), uniqueID("c2c2c2c2"), uniqueID("c3c3c3c3")
	tf := sampleTenant(users)
	tf.Groups = []emulator.Group{
		{ID: idAdmin, DisplayName: "Given AdminCount", SecurityEnabled: true, Members: []string{tf.Users[0].ID}},
		{ID: idNested, DisplayName: "Nested In Tier0", SecurityEnabled: true, Members: []string{tf.Users[0].ID}},
		{ID: idOK, DisplayName: "Plain", SecurityEnabled: true, Members: []string{tf.Users[0].ID}},
	}
	f := newFixtureOn(t, l, tf, nil)
	f.round(RoundOptions{})
	dnOf := func(id string) string {
		st, _ := f.db.Status(id)
		if st.DN == "" {
			t.Fatalf("group %s not provisioned", id)
		}
		return st.DN
	}
	adminDN, nestedDN, okDN := dnOf(idAdmin), dnOf(idNested), dnOf(idOK)

	// An on-prem admin marks one group protected and nests the other, through
	// an intermediate group, into a protected group (adminCount=1, as SDProp
	// marks Domain Admins; a test group so the shared lab's are untouched).
	if err := dc.Modify(ctx, adminDN, map[string][]string{"adminCount": {"1"}}); err != nil {
		t.Fatal(err)
	}
	root, mid := "CN=Tier0 Root,"+l.OU, "CN=Tier0 Mid,"+l.OU
	if err := dc.CreateGroup(ctx, root, map[string][]string{"adminCount": {"1"}}); err != nil {
		t.Fatal(err)
	}
	if err := dc.CreateGroup(ctx, mid, nil); err != nil {
		t.Fatal(err)
	}
	if err := dc.AddMembers(ctx, root, []string{mid}); err != nil {
		t.Fatal(err)
	}
	if err := dc.AddMembers(ctx, mid, []string{nestedDN}); err != nil {
		t.Fatal(err)
	}
	before := map[string]*ad.Group{}
	for _, dn := range []string{adminDN, nestedDN} {
		g, err := dc.GroupByDN(ctx, dn, true)
		if err != nil || g == nil {
			t.Fatal(err)
		}
		before[dn] = g
	}

	// The cloud changes all three: names (one with a line feed) and members.
	adm := f.env.Admin
	for _, id := range []string{idAdmin, idNested} {
		if _, err := adm.UpdateGroup(id, func(g *emulator.Group) { g.DisplayName += " Renamed"; g.Description = "changed" }); err != nil {
			t.Fatal(err)
		}
		if err := adm.AddMembers(id, tf.Users[1].ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := adm.UpdateGroup(idOK, func(g *emulator.Group) { g.DisplayName = "Plain\nSecond line" }); err != nil {
		t.Fatal(err)
	}
	for _, o := range []RoundOptions{{}, {PlanOptions: PlanOptions{Full: true}}} {
		res, err := f.eng.RunOnce(ctx, o)
		if err != nil {
			t.Fatalf("full=%v: %v", o.Full, err)
		}
		for id, want := range map[string]string{idAdmin: "adminCount=1", idNested: "nested in the protected group " + root} {
			s := skipOf(res.Planned.Plan, id)
			if s == nil || s.Kind != plan.SkipProtected || !strings.Contains(s.Reason, want) {
				t.Errorf("full=%v: group %s: skip %+v; want protected, %q", o.Full, id, s, want)
			}
		}
		for _, c := range res.Planned.Plan.Changes {
			if strings.EqualFold(c.DN, adminDN) || strings.EqualFold(c.DN, nestedDN) {
				t.Errorf("full=%v: planned %s on a protected group %s", o.Full, c.Action, c.DN)
			}
		}
	}
	for dn, b := range before {
		g, err := dc.GroupByDN(ctx, dn, true)
		if err != nil || g == nil || g.USNChanged != b.USNChanged || g.Description != b.Description || len(g.Members) != len(b.Members) {
			t.Errorf("protected group %s changed: before %+v after %+v (%v)", dn, b, g, err)
		}
	}
	for _, id := range []string{idAdmin, idNested} {
		if st, _ := f.db.Status(id); !strings.Contains(st.LastError, "protected") {
			t.Errorf("status of %s does not say it is protected: %+v", id, st)
		}
	}
	// The line feed: refused for that group only, reason in status, AD unchanged.
	if st, _ := f.db.Status(idOK); !strings.Contains(st.LastError, "line feed") {
		t.Errorf("status of the group with a line feed: %+v", st)
	}
	if g, err := dc.GroupByDN(ctx, okDN, false); err != nil || g == nil || strings.Contains(g.CN, "\n") {
		t.Errorf("group with a line feed in its name: %+v %v", g, err)
	}
}

// Issue 17, group types: changing mappings.groupType converts existing
// groups in Windows' order (global -> domain local through universal, each
// its own modify: Samba refuses the direct change too), and universal ->
// global in one; the new description lands with it. Read back from AD.
func TestLabGroupTypeMappingChange(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 1, "wbt")
	ctx := context.Background()
	dc := l.AdminConn(t)
	id := uniqueID("c4c4c4c4")
	tf := sampleTenant(users)
	tf.Groups = []emulator.Group{{ID: id, DisplayName: "Typed", SecurityEnabled: true, Members: []string{tf.Users[0].ID}}}
	f := newFixtureOn(t, l, tf, nil)
	f.round(RoundOptions{})
	st, _ := f.db.Status(id)
	read := func() *ad.Group {
		g, err := dc.GroupByDN(ctx, st.DN, false)
		if err != nil || g == nil {
			t.Fatalf("read %s: %v", st.DN, err)
		}
		return g
	}
	if g := read(); g.GroupType != ad.GroupTypeUniversalSecurity {
		t.Fatalf("created as %d, want universal security", g.GroupType)
	}
	for i, to := range []struct {
		mapping string
		want    int32
	}{{"globalSecurity", ad.GroupTypeGlobalSecurity}, {"domainLocalSecurity", ad.GroupTypeDomainLocalSecurity}} {
		f.cfg.Mappings.GroupType = to.mapping
		f.db.Close() // one process per state: the next engine opens it again
		f.open()
		if _, err := f.env.Admin.UpdateGroup(id, func(g *emulator.Group) { g.Description = fmt.Sprint("step ", i) }); err != nil {
			t.Fatal(err)
		}
		f.round(RoundOptions{PlanOptions: PlanOptions{Full: true}})
		if g := read(); g.GroupType != to.want || g.Description != fmt.Sprint("step ", i) {
			t.Errorf("after mapping %s: groupType %d description %q; want %d and the new description", to.mapping, g.GroupType, g.Description, to.want)
		}
	}
}

// Issue 17, group types across groups: a mapping change that converts a
// parent and its member group converges in one round, in Windows' order
// (universal -> global: the member first; global -> universal and
// universal -> domain local: the parent first). Samba does not check
// nesting on a conversion, writeback's own check does: without the order
// the parent's conversion is refused until a later round. Read back from AD.
func TestLabNestedPairGroupTypeMappingChange(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 1, "wbt")
	ctx := context.Background()
	dc := l.AdminConn(t)
	parent, child := uniqueID("c5c5c5c5"), uniqueID("c6c6c6c6")
	tf := sampleTenant(users)
	tf.Groups = []emulator.Group{
		{ID: child, DisplayName: "Typed child", SecurityEnabled: true, Members: []string{tf.Users[0].ID}},
		{ID: parent, DisplayName: "Typed parent", SecurityEnabled: true, Members: []string{child, tf.Users[0].ID}},
	}
	f := newFixtureOn(t, l, tf, func(c *config.Config) { c.Sync.Workers = 4 })
	f.round(RoundOptions{})
	var dns []string
	for _, id := range []string{parent, child} {
		st, _ := f.db.Status(id)
		dns = append(dns, st.DN)
	}
	if g, err := dc.GroupByDN(ctx, dns[0], true); err != nil || g == nil || len(g.Members) != 2 {
		t.Fatalf("parent %s: %+v %v; want the child and a user as members", dns[0], g, err)
	}
	for _, to := range []struct {
		mapping string
		want    int32
	}{
		{"globalSecurity", ad.GroupTypeGlobalSecurity},
		{"universalSecurity", ad.GroupTypeUniversalSecurity},
		{"domainLocalSecurity", ad.GroupTypeDomainLocalSecurity},
	} {
		f.cfg.Mappings.GroupType = to.mapping
		f.db.Close() // one process per state: the next engine opens it again
		f.open()
		f.round(RoundOptions{PlanOptions: PlanOptions{Full: true}}) // fails the test on a failed group
		for _, dn := range dns {
			if g, err := dc.GroupByDN(ctx, dn, false); err != nil || g == nil || g.GroupType != to.want {
				t.Errorf("after mapping %s in one round: %s is %+v (%v); want groupType %d", to.mapping, dn, g, err, to.want)
			}
		}
	}
}

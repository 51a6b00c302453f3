package engine

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// Issue 20 item 4: an edit made by hand in AD to a group writeback owns is
// repaired by the next incremental round, not the daily full one; a group it
// does not own is left as it is; a round in which nothing changed costs one
// LDAP search. The engine binds as the delegated svc-writeback; the edits
// "by hand" are made as Administrator.
func TestLabTamperingRepairedNextRound(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 6, "wbtm")
	f := newFixtureOn(t, l, sampleTenant(users), nil)
	ctx := context.Background()
	admin := l.AdminConn(t)

	f.round(RoundOptions{}) // first sync (full): records the mark past its own writes
	quiet := func(when string) {
		t.Helper()
		r := f.round(RoundOptions{})
		if r.Planned.Full || !r.Planned.Plan.Empty() || r.LDAP.Searches != 1 || r.LDAP.Writes != 0 {
			t.Errorf("%s: nothing changed: full=%v, %d changes, %+v; want exactly 1 LDAP search (the uSNChanged poll), 0 writes",
				when, r.Planned.Full, len(r.Planned.Plan.Changes), r.LDAP)
		}
	}
	quiet("after the first sync (a full round settles its own writes)")

	sales := f.adGroups()[plan.Anchor(gSales)]
	// A foreign group carrying a Group_ anchor writeback never provisioned,
	// and a plain group, both in the search base.
	foreignAnchor := plan.Anchor(uniqueID("f0f0f0f0"))
	foreignDN := "CN=Foreign tamper," + l.OU
	plainDN := "CN=Plain tamper," + l.OU
	for dn, attrs := range map[string]map[string][]string{
		foreignDN: {"sAMAccountName": {"wbtm-foreign-" + l.Tag}, ad.AttrExternalDirectoryObjectID: {foreignAnchor}, "description": {"theirs"}},
		plainDN:   {"sAMAccountName": {"wbtm-plain-" + l.Tag}, "description": {"plain"}},
	} {
		if err := admin.CreateGroup(ctx, dn, attrs); err != nil {
			t.Fatal(err)
		}
	}
	r := f.round(RoundOptions{}) // the foreign group is new in AD: seen, not owned, not planned
	if !r.Planned.Plan.Empty() || r.LDAP.Writes != 0 {
		t.Errorf("round after a foreign group appeared: %v, %+v", r.Planned.Plan.Changes, r.LDAP)
	}

	// 1. Someone adds themselves to the owned group, and edits a foreign one.
	intruder := users[4].DN
	if err := admin.AddMembers(ctx, sales.DN, []string{intruder}); err != nil {
		t.Fatal(err)
	}
	for _, dn := range []string{foreignDN, plainDN} {
		if err := admin.AddMembers(ctx, dn, []string{intruder}); err != nil {
			t.Fatal(err)
		}
		if err := admin.Modify(ctx, dn, map[string][]string{"description": {"edited by hand"}}); err != nil {
			t.Fatal(err)
		}
	}
	r = f.round(RoundOptions{})
	g := f.adGroups()
	if m := g[plan.Anchor(gSales)].Members; slices.ContainsFunc(m, func(dn string) bool { return strings.EqualFold(dn, intruder) }) {
		t.Errorf("member added by hand is still in %s after the next incremental round: %v", sales.DN, rdns(m))
	}
	if r.Planned.Full || r.Applied == nil || r.Applied.Repaired != 1 {
		t.Errorf("repair round: full=%v applied %+v; want an incremental round with 1 repair", r.Planned.Full, r.Applied)
	}
	if !strings.Contains(r.Planned.Plan.Basis, "changed in AD") {
		t.Errorf("basis %q does not say groups were compared because they changed in AD", r.Planned.Plan.Basis)
	}
	for _, key := range []string{foreignAnchor, "unanchored:Plain tamper"} {
		x := g[key]
		if x.Description != "edited by hand" || !slices.ContainsFunc(x.Members, func(dn string) bool { return strings.EqualFold(dn, intruder) }) {
			t.Errorf("group writeback does not own was changed: %s %q %v", x.DN, x.Description, rdns(x.Members))
		}
	}
	repairs := repairEntries(t, f.db, gSales)
	if len(repairs) != 1 || repairs[0].Action != string(plan.RemoveMembers) ||
		!strings.Contains(repairs[0].Repair, "member "+intruder+" added in AD by hand: removed") {
		t.Errorf("provisioning log repairs = %+v; want one remove-members naming %s", repairs, intruder)
	}
	var last state.Round
	_ = f.db.Rounds(func(x state.Round) error { last = x; return state.ErrStop })
	if last.Repaired != 1 {
		t.Errorf("round record repaired = %d, want 1 (writeback status shows it)", last.Repaired)
	}

	// 2. A managed attribute edited by hand is restored.
	want := f.adGroups()[plan.Anchor(gSales)].Description
	if err := admin.Modify(ctx, sales.DN, map[string][]string{"description": {"pwned"}}); err != nil {
		t.Fatal(err)
	}
	r = f.round(RoundOptions{})
	if got := f.adGroups()[plan.Anchor(gSales)].Description; got != want {
		t.Errorf("description edited by hand = %q after the next round, want %q restored", got, want)
	}
	if repairs = repairEntries(t, f.db, gSales); len(repairs) != 2 || !strings.Contains(repairs[0].Repair, "description edited in AD by hand: restored") {
		t.Errorf("provisioning log repairs = %+v; want the description restored", repairs)
	}
	t.Logf("repair round: %d changes, %d writes, %d searches", len(r.Planned.Plan.Changes), r.LDAP.Writes, r.LDAP.Searches)

	// The repairs' own writes are compared once more, then rounds are quiet.
	if r := f.round(RoundOptions{}); !r.Planned.Plan.Empty() || r.LDAP.Writes != 0 {
		t.Errorf("round after a repair: %v, %+v; want no changes (no repair loop)", r.Planned.Plan.Changes, r.LDAP)
	}
	quiet("after the repairs")
	quiet("again")
}

// Another DC's database (another invocationId, as after a failover or a
// restore) makes the next round compare every group: its uSNChanged values
// mean nothing against the recorded mark.
func TestLabTamperMarkOfAnotherDCMakesRoundFull(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 6, "wbtd")
	f := newFixtureOn(t, l, sampleTenant(users), nil)
	f.round(RoundOptions{})
	mp, err := f.db.ADMark()
	if err != nil || mp == nil {
		t.Fatalf("no mark recorded by the first sync: %v %v", mp, err)
	}
	m := *mp
	if m.USN <= 0 || m.InvocationID == "" {
		t.Fatalf("mark %+v", m)
	}
	m.InvocationID = "00000000-0000-0000-0000-000000000001"
	if err := f.db.SetADMark(m); err != nil {
		t.Fatal(err)
	}
	r := f.round(RoundOptions{})
	if !r.Planned.Full || !strings.Contains(r.Planned.Plan.Basis, "domain controller changed") {
		t.Errorf("round on another DC's mark: full=%v basis %q; want a full round saying why", r.Planned.Full, r.Planned.Plan.Basis)
	}
	if m2, _ := f.db.ADMark(); m2 == nil || m2.InvocationID == m.InvocationID {
		t.Errorf("mark not replaced by this DC's: %+v", m2)
	}
	f.round(RoundOptions{})
	if r := f.round(RoundOptions{}); r.Planned.Full || r.LDAP.Searches != 1 {
		t.Errorf("rounds after the reset: full=%v, %+v; want incremental with 1 search", r.Planned.Full, r.LDAP)
	}
}

// A round that wrote many groups (a full round) does not compare them all
// once more: it searches for the groups changed since its own mark after its
// writes, marks pending the owned ones it did not write (edited by hand
// meanwhile), and moves the mark past its writes.
func TestLabTamperFullRoundSettlesOwnWrites(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 6, "wbts")
	f := newFixtureOn(t, l, sampleTenant(users), nil)
	ctx := context.Background()
	admin := l.AdminConn(t)
	f.round(RoundOptions{})
	src := f.eng.dir.Directory.(changeSource)
	id, err := src.DCIdentity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	since, err := src.HighestCommittedUSN(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// While a full round "writes" Sales, someone edits Sales and All Staff.
	g := f.adGroups()
	for _, a := range []string{gSales, gParent} {
		if err := admin.Modify(ctx, g[plan.Anchor(a)].DN, map[string][]string{"description": {"edited meanwhile"}}); err != nil {
			t.Fatal(err)
		}
	}
	c := &adChanges{src: src, id: id, gen: src.Generation(), since: since}
	p := &Planned{Full: true, Plan: &plan.Plan{Changes: []plan.Change{{GroupID: gSales, Action: plan.Update}}}}
	if err := f.eng.settleOwnWrites(ctx, c, p); err != nil {
		t.Fatal(err)
	}
	dirty, _ := f.db.Dirty()
	if dirty[gParent] != dirtyADChanged || dirty[gSales] != "" {
		t.Errorf("pending after settling: %v; want All Staff (edited, not written) only", dirty)
	}
	if c.next == nil || c.next.USN <= since || c.next.InvocationID != id.InvocationID {
		t.Errorf("mark after settling = %+v, want this DC's above %d", c.next, since)
	}
}

// repairEntries are the provisioning log's repairs of gid, newest first.
func repairEntries(t *testing.T, db *state.DB, gid string) []state.Entry {
	t.Helper()
	var out []state.Entry
	if err := db.Log(gid, func(e state.Entry) error {
		if e.Repair != "" {
			out = append(out, e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

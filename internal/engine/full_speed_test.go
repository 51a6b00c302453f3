package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/plan"
)

// countingGC records the objectGUIDs looked up in the Global Catalog.
type countingGC struct {
	Catalog
	mu    sync.Mutex
	guids int
}

func (c *countingGC) LookupGUIDs(ctx context.Context, g []ad.GUID) (map[ad.GUID]ad.Object, error) {
	c.mu.Lock()
	c.guids += len(g)
	c.mu.Unlock()
	return c.Catalog.LookupGUIDs(ctx, g)
}

func (c *countingGC) take() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.guids
	c.guids = 0
	return n
}

// TestLabFullRoundUsesADReadForMembers: a full round learns the current DN of
// every member AD already holds from its own read of the groups (objectGUID
// and objectSid come with each value), so a converged full round looks no user
// up in the Global Catalog and writes nothing; it still repairs drift made by
// hand (member removed, member added, attribute changed, group renamed) and
// follows users moved in AD, in full and in incremental rounds.
func TestLabFullRoundUsesADReadForMembers(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 7, "wbs")
	tf := sampleTenant(users[:6])
	f := newFixtureOn(t, l, tf, nil)
	ctx := context.Background()
	gc := &countingGC{Catalog: l.GC(t)}
	src, err := entra.New(ctx, entraconfig.Options(*f.cfg.Entra))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f.eng, err = New(ctx, Options{Config: f.cfg, State: f.db, DC: f.dc, GC: gc, Source: src, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	f.round(RoundOptions{}) // first sync
	gc.take()

	full := func() *Result { return f.round(RoundOptions{PlanOptions: PlanOptions{Full: true}}) }
	if r := full(); r.LDAP.Writes != 0 || !r.Planned.Plan.Empty() {
		t.Fatalf("converged full round: %d writes, %+v", r.LDAP.Writes, r.Planned.Plan.Changes)
	}
	if n := gc.take(); n != 0 {
		t.Errorf("converged full round looked up %d objectGUIDs in the GC; every member was in the AD read", n)
	}

	// A user moved in AD: AD rewrites the member values, the plan must agree.
	moved := "OU=Moved," + l.OU
	if err := f.dc.CreateOU(ctx, moved); err != nil {
		t.Fatal(err)
	}
	newDN, err := f.dc.Move(ctx, users[0].DN, "", moved)
	if err != nil {
		t.Fatal(err)
	}
	if r := full(); r.LDAP.Writes != 0 || !r.Planned.Plan.Empty() {
		t.Errorf("full round after a user moved: %d writes, %+v", r.LDAP.Writes, r.Planned.Plan.Changes)
	}
	// Incremental: a cloud change to a group holding the moved user adds only
	// the new member (before, the cached old DN made it swap the moved user).
	if _, err := f.dc.Move(ctx, newDN, "CN=moved again "+l.Tag, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Admin.AddMembers(gSales, tf.Users[3].ID); err != nil {
		t.Fatal(err)
	}
	r := f.round(RoundOptions{})
	var acts []string
	for _, c := range r.Planned.Plan.Changes {
		acts = append(acts, string(c.Action)+" "+ldapdn.RDNValue(c.Members[0]))
	}
	if !slices.Equal(acts, []string{"add-members " + cn(users[3])}) {
		t.Errorf("incremental round after a user moved: %q, want only the new member added", acts)
	}

	// Drift by hand: member removed, foreign member added, description edited, group renamed.
	sales := f.adGroups()[plan.Anchor(gSales)]
	if err := f.dc.RemoveMembers(ctx, sales.DN, []string{users[1].DN}); err != nil {
		t.Fatal(err)
	}
	if err := f.dc.AddMembers(ctx, sales.DN, []string{users[6].DN}); err != nil {
		t.Fatal(err)
	}
	if err := f.dc.Modify(ctx, sales.DN, map[string][]string{"description": {"edited by hand"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.dc.Move(ctx, sales.DN, "CN=Renamed by hand "+l.Tag, ""); err != nil {
		t.Fatal(err)
	}
	r = full()
	if r.LDAP.Writes == 0 {
		t.Fatal("full round wrote nothing after drift by hand")
	}
	got := f.adGroups()[plan.Anchor(gSales)]
	if got.CN != sales.CN || got.Description != sales.Description {
		t.Errorf("drift not repaired: cn %q description %q, want %q %q", got.CN, got.Description, sales.CN, sales.Description)
	}
	want := sortedCopy([]string{"moved again " + l.Tag, cn(users[1]), cn(users[3]), cn(users[5])})
	if m := rdns(got.Members); !slices.Equal(m, want) {
		t.Errorf("members after repair = %v, want %v", m, want)
	}
	if r := full(); r.LDAP.Writes != 0 || !r.Planned.Plan.Empty() {
		t.Errorf("full round after repair: %d writes, %+v", r.LDAP.Writes, r.Planned.Plan.Changes)
	}
}

// TestLabManyCreatesFindUnpreparedGroups: past one OR batch of anchors the
// check for Connect Sync groups not prepared for migration is one pass over
// the marked groups; it must still find them and block the duplicate.
func TestLabManyCreatesFindUnpreparedGroups(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 1, "wbu")
	tf := sampleTenant(users)
	tf.Groups = nil
	for i := range 250 {
		tf.Groups = append(tf.Groups, emulator.Group{ID: fmt.Sprintf("eeeeeeee-0000-4000-8000-%012d", i), DisplayName: fmt.Sprintf("G%d", i), SecurityEnabled: true, Members: []string{tf.Users[0].ID}})
	}
	unprepared := tf.Groups[137].ID
	dn := "CN=Group_" + unprepared + "," + l.OU
	if err := l.AdminConn(t).CreateGroup(context.Background(), dn, map[string][]string{"adminDescription": {plan.Anchor(unprepared)}, "sAMAccountName": {"cs-" + l.Tag}}); err != nil {
		t.Fatal(err)
	}
	f := newFixtureOn(t, l, tf, nil)
	res := f.round(RoundOptions{DryRun: true})
	p := res.Planned.Plan
	if p.Summary.Create != 249 || len(p.Collisions) != 1 || p.Collisions[0].GroupID != unprepared || !ldapdn.Equal(p.Collisions[0].DN, dn) {
		t.Errorf("creates %d, collisions %+v; want 249 and the unprepared group", p.Summary.Create, p.Collisions)
	}
}

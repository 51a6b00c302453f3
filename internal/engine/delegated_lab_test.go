package engine

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// Issue 17: the engine's whole life cycle of a group (create with members,
// rename, member add and remove, delete) runs as the
// lab's least-privilege svc-writeback, delegated as docs/ad.md documents,
// not as Administrator. The setup and the read-back use Administrator.
func TestLabDelegatedAccountLifecycle(t *testing.T) {
	l := labtest.AD(t)
	if l.Env["LAB_SVC_UPN"] == "" {
		t.Skip("this lab has no svc-writeback account (provisioned before it existed)")
	}
	users := l.CreateUsers(t, 2, "wbd")
	admin := l.AdminConn(t)
	ctx := context.Background()
	id := uniqueID("d1d1d1d1")
	tf := sampleTenant(users)
	tf.Groups = []emulator.Group{{ID: id, DisplayName: "Delegated", SecurityEnabled: true, Members: []string{tf.Users[0].ID}}}
	env := emulatortest.Start(t, tf)
	cfg := loadConfig(t, l, env, func(c *config.Config) {
		c.AD.BindDN = l.Env["LAB_SVC_UPN"]
		c.AD.Password = config.Secret{File: l.Env["LAB_SVC_PASSWORD_FILE"]}
		c.Safety.DeleteThreshold = config.Threshold{Count: 10}
	})
	db, err := state.Open(cfg.State.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dc, err := ad.Dial(ctx, adconfig.Options(cfg.AD))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	gc, err := ad.DialGC(ctx, adconfig.Options(cfg.AD))
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	src, err := entra.New(ctx, entraconfig.Options(*cfg.Entra))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := New(ctx, Options{Config: cfg, State: db, DC: dc, GC: gc, Source: src,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	round := func(step string) {
		t.Helper()
		res, err := eng.RunOnce(ctx, RoundOptions{})
		if err != nil || (res.Applied != nil && res.Applied.Failed > 0) {
			t.Fatalf("%s as svc-writeback: %v %+v", step, err, res.Applied)
		}
	}
	read := func() *ad.Group {
		t.Helper()
		gs := byAnchor(t, admin, l.BaseDN, plan.Anchor(id))
		if len(gs) != 1 {
			return nil
		}
		return &gs[0]
	}
	round("create")
	if g := read(); g == nil || len(g.Members) != 1 || !ldapdn.Equal(g.Members[0], users[0].DN) {
		t.Fatalf("after create: %+v", g)
	}
	if _, err := env.Admin.UpdateGroup(id, func(g *emulator.Group) { g.DisplayName = "Delegated Renamed" }); err != nil {
		t.Fatal(err)
	}
	if err := env.Admin.AddMembers(id, tf.Users[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := env.Admin.RemoveMembers(id, tf.Users[0].ID); err != nil {
		t.Fatal(err)
	}
	round("rename and members")
	if g := read(); g == nil || g.DisplayName != "Delegated Renamed" || !slices.ContainsFunc(g.Members, func(m string) bool { return ldapdn.Equal(m, users[1].DN) }) || len(g.Members) != 1 {
		t.Fatalf("after rename and member changes: %+v", g)
	}
	if err := env.Admin.DeleteGroup(id, true); err != nil {
		t.Fatal(err)
	}
	round("delete")
	if g := read(); g != nil {
		t.Errorf("after delete the group is still there: %+v", g)
	}
}

package engine

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/lab"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// Issue #20 on two real Samba DCs (`writeback lab up --dcs 2`): DC1 stops
// while rounds run → rounds continue on DC2 and Entra changes reach AD; DC1
// back and replicated → no duplicate group on either DC, members exact on
// both. Skips unless the two-DC lab runs (it is not the default lab).
func TestLabTwoDCsFailover(t *testing.T) {
	second, err := lab.Running(lab.Second(lab.Default()))
	if err != nil {
		t.Skip("skipping: no second lab DC (start one with 'writeback-lab up --dcs 2')")
	}
	la := labtest.AD(t)
	first, err := lab.Running(lab.Default())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := lab.Replicate(ctx, lab.Default()); err != nil { // the test's OU reaches DC2
		t.Fatal(err)
	}
	dc1URL, dc2URL := first.Env["LAB_LDAPS_URL"], second.Env["LAB_LDAPS_URL"]
	cfg, err := config.Parse([]byte(`
ad: {url: "ldaps://dc.test", bindDN: x, password: {env: X}}
entra: {tenantId: t, clientId: c, credential: {kind: secret, secret: {env: Y}}}
sync: {workers: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.AD = la.Config
	cfg.AD.URL, cfg.AD.GCURL, cfg.AD.Servers = "", "", []string{dc1URL, dc2URL}
	cfg.Sync.SearchBase = la.OU
	dc, err := ad.Dial(ctx, adconfig.Options(cfg.AD))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	if dc.URL() != dc1URL {
		t.Fatalf("pinned %s, want DC1 %s", dc.URL(), dc1URL)
	}
	member := la.Env["LAB_SVC_DN"]
	mem := newMemCatalog()
	mem.users[uGUID] = member
	src := memTenant(idA)
	db, err := state.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng, err := New(ctx, Options{Config: cfg, State: db, DC: dc, GC: mem, Source: src, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}

	// DC1 stops while writeback works; B is new in Entra.
	pid := first.PID()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := lab.Up(context.Background(), lab.Default()); err != nil {
			t.Errorf("restart DC1: %v", err)
		}
	})
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	src.change(entra.Group{ID: idB, DisplayName: "G 000b", SecurityEnabled: true, MembersDelta: []entra.MemberRef{{ID: "u1", Type: "user"}}})
	var last error
	for range 3 {
		_, last = eng.RunOnce(ctx, RoundOptions{})
	}
	if last != nil {
		t.Fatalf("rounds after DC1 stopped: %v", last)
	}
	if dc.URL() != dc2URL {
		t.Fatalf("on %s after DC1 stopped, want DC2", dc.URL())
	}
	if got := groupsOn(t, dc2URL, la, idB); len(got) != 1 || len(got[0].Members) != 1 {
		t.Fatalf("B on DC2: %+v", got)
	}

	// DC1 back, replication both ways; a full round (still on DC2), and
	// replication again.
	if _, err := lab.Up(ctx, lab.Default()); err != nil {
		t.Fatal(err)
	}
	if err := lab.Replicate(ctx, lab.Default()); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.RunOnce(ctx, RoundOptions{PlanOptions: PlanOptions{Full: true}}); err != nil {
		t.Fatal(err)
	}
	if err := lab.Replicate(ctx, lab.Default()); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{dc1URL, dc2URL} {
		for _, id := range []string{idA, idB} {
			got := groupsOn(t, u, la, id)
			if len(got) != 1 {
				t.Fatalf("%s on %s: %d groups %+v, want exactly one", id, u, len(got), got)
			}
			if len(got[0].Members) != 1 || !ldapdn.Equal(got[0].Members[0], member) || strings.Contains(strings.ToUpper(got[0].DN), "CNF:") {
				t.Fatalf("%s on %s: %+v, want %s as its only member", id, u, got[0], member)
			}
		}
	}
}

// groupsOn reads the groups carrying id's anchor under the test's OU on one DC.
func groupsOn(t *testing.T, url string, la *labtest.Lab, id string) []ad.Group {
	t.Helper()
	a := la.Admin
	a.URL, a.GCURL = url, ""
	c, err := ad.Dial(t.Context(), adconfig.Options(a))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []ad.Group
	f := "(" + ad.AttrExternalDirectoryObjectID + "=" + ad.EscapeFilter(plan.Anchor(id)) + ")"
	err = c.Groups(t.Context(), la.OU, f, ad.GroupQuery{WithMembers: true}, func(g ad.Group) error { out = append(out, g); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

package engine

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/state"
)

// A member removal that a Windows DC refuses by policy (53 with a Win32
// code other than "not a member") is a failed change of that group, with
// the DC's reason in its status, and the member stays: it is never recorded
// as applied (reviews/windows-ad.md D2).
func TestRemovalRefusedByPolicyFails(t *testing.T) {
	src := memTenant(idA)
	src.users[0].OnPremisesSyncEnabled = yes()
	eng, dir, db := newLDAPEngine(t, src, "sync: {workers: 1}")
	srv := dir.srv
	ctx := context.Background()
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	st, _ := db.Status(idA)
	if st.DN == "" || len(srv.Values(st.DN, "member")) != 1 {
		t.Fatalf("first round: status %+v, members in AD %v", st, srv.Values(st.DN, "member"))
	}

	srv.RefuseMember(st.DN, uDN, ldaptest.Result{Code: 53, Msg: ldaptest.DiagPolicy})
	src.change(entra.Group{ID: idA, DisplayName: src.groups[idA].DisplayName, SecurityEnabled: true, MembersDelta: []entra.MemberRef{{ID: "u1", Type: "user", Removed: true}}})
	g := src.groups[idA]
	g.MembersDelta = nil
	src.groups[idA] = g
	res, err := eng.RunOnce(ctx, RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied == nil || res.Applied.Failed != 1 {
		t.Errorf("applied = %+v; want the refused removal failed", res.Applied)
	}
	if got := srv.Values(st.DN, "member"); len(got) != 1 || !ldapdn.Equal(got[0], uDN) {
		t.Errorf("members in AD = %v; want %s still there", got, uDN)
	}
	if st, _ := db.Status(idA); st.Failures != 1 || !strings.Contains(st.LastError, "0000054F") || !strings.Contains(st.LastError, uDN) {
		t.Errorf("status = %+v; want one failure naming the member and the DC's reason", st)
	}
}

// denyDeleteDir refuses deletes as a group protected from accidental
// deletion does (Deny Delete for Everyone: LDAP 50).
type denyDeleteDir struct{ Directory }

func (d denyDeleteDir) Delete(_ context.Context, dn string) error {
	return &ad.OpError{Op: "delete", DN: dn, Code: ad.CodeInsufficientAccess,
		Err: ldap.NewError(ad.CodeInsufficientAccess, errors.New("00002098: SecErr: DSID-03150F94, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0"))}
}

// A delete refused by "protect from accidental deletion" quarantines the
// group with that reason, and the group stays in AD.
func TestDeleteDeniedSaysAccidentalDeletion(t *testing.T) {
	src := memTenant(idA, idB)
	src.users[0].OnPremisesSyncEnabled = yes()
	eng, mem, db := newLDAPEngineWrapped(t, src, "sync: {workers: 1}\nsafety: {deleteThreshold: 5}", func(d Directory) Directory { return denyDeleteDir{d} })
	ctx := context.Background()
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	src.change(entra.Group{ID: idA, Removed: &entra.Removed{Reason: "deleted"}})
	res, err := eng.RunOnce(ctx, RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied == nil || res.Applied.Failed != 1 {
		t.Fatalf("applied = %+v; want the delete failed", res.Applied)
	}
	st, _ := db.Status(idA)
	if !strings.Contains(st.LastError, "protected from accidental deletion") || st.DN == "" {
		t.Errorf("status = %+v; want the accidental-deletion reason and the group still known", st)
	}
	if len(mem.groups(t)) != 2 {
		t.Errorf("%d groups in AD, want 2", len(mem.groups(t)))
	}
}

// Issue 17: a mapping change from universal to global that converts a
// nested pair converges in one round against a DC that checks nesting as
// Windows does: the member group is converted before its parent (the
// parent first would be refused, 8518), and back to universal the parent
// goes first (the member first would be refused, 8518 again). Read back
// from the server.
func TestNestedPairConvertsInOneRound(t *testing.T) {
	src := memTenant(idA, idB)
	// A (parent) has B (child) as a member, besides alice.
	a := src.groups[idA]
	a.MembersDelta = append(a.MembersDelta, entra.MemberRef{ID: idB, Type: "group"})
	src.groups[idA] = a
	eng, dir, db := newLDAPEngine(t, src, "sync: {workers: 4}") // ldaptest in ModeWindows
	srv, dc := dir.srv, dir.dc
	ctx := context.Background()
	if _, err := eng.RunOnce(ctx, RoundOptions{}); err != nil {
		t.Fatal(err)
	}
	stA, _ := db.Status(idA)
	stB, _ := db.Status(idB)
	if got := srv.Values(stA.DN, "member"); len(got) != 2 {
		t.Fatalf("first round: members of the parent %v; want alice and the child group", got)
	}
	for _, tc := range []struct{ mapping, want string }{
		{"globalSecurity", "-2147483646"},
		{"universalSecurity", "-2147483640"},
	} {
		eng := engineOnDB(t, dc, dc, src, db, "sync: {workers: 4}\nmappings: {groupType: "+tc.mapping+"}")
		res, err := eng.RunOnce(ctx, RoundOptions{PlanOptions: PlanOptions{Full: true}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied == nil || res.Applied.Failed != 0 {
			t.Errorf("%s: applied %+v; want no failure", tc.mapping, res.Applied)
		}
		for _, dn := range []string{stA.DN, stB.DN} {
			if got := srv.Values(dn, "groupType"); len(got) != 1 || got[0] != tc.want {
				t.Errorf("%s: groupType of %s is %v; want %s in one round", tc.mapping, dn, got, tc.want)
			}
		}
	}
}

// engineOnDB is newEngineOn on an existing state database: the next
// process after a configuration change.
func engineOnDB(t *testing.T, dc Directory, gc Catalog, src *memSource, db *state.DB, extraYAML string) *Engine {
	t.Helper()
	cfg, err := config.Parse([]byte(`
ad: {url: "ldaps://dc.test", bindDN: x, password: {env: X}, targetOU: "OU=G,DC=test"}
entra: {tenantId: t, clientId: c, credential: {kind: secret, secret: {env: Y}}}
` + extraYAML))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := New(context.Background(), Options{Config: cfg, State: db, DC: dc, GC: gc, Source: src, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

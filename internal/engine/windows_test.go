package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/entra"
)

// A member removal that a Windows DC refuses by policy (53 with a Win32
// code other than "not a member") is a failed change of that group, with
// the DC's reason in its status, and the member stays: it is never recorded
// as applied (reviews/windows-ad.md D2).
func TestRemovalRefusedByPolicyFails(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{BaseDN: "DC=test"})
	srv.Put("OU=G,DC=test", map[string][]string{"objectClass": {"organizationalUnit"}})
	dc, err := ad.Dial(t.Context(), srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	mem := newMemDir()
	src := memTenant(idA)
	src.users[0].OnPremisesSyncEnabled = yes()
	eng, db := newEngineOn(t, dc, mem, src, "sync: {workers: 1}")
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
	if got := srv.Values(st.DN, "member"); len(got) != 1 || !ad.EqualDN(got[0], uDN) {
		t.Errorf("members in AD = %v; want %s still there", got, uDN)
	}
	if st, _ := db.Status(idA); st.Failures != 1 || !strings.Contains(st.LastError, "0000054F") || !strings.Contains(st.LastError, uDN) {
		t.Errorf("status = %+v; want one failure naming the member and the DC's reason", st)
	}
}

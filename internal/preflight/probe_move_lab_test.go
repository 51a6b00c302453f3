package preflight_test

import (
	"context"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/preflight"
)

func runConfig(t *testing.T, cfg *config.Config) map[string]preflight.Result {
	t.Helper()
	env := &preflight.Env{Config: cfg}
	defer env.Close()
	out := map[string]preflight.Result{}
	for _, r := range preflight.Run(context.Background(), env, preflight.ADChecks(), nil) {
		out[r.Name] = r
		t.Logf("%-5s %-17s %s %s", r.Status, r.Name, r.Detail, r.Fix)
	}
	return out
}

// Issue 17: with safety.onOutOfScope: move, the write probe also moves its
// group to safety.moveTo as the delegated account (svc-writeback) and
// deletes it there; nothing of it is left in either OU.
func TestWriteProbeMovesToMoveTo(t *testing.T) {
	l := labtest.AD(t)
	ctx := context.Background()
	moveTo := "OU=Retired," + l.OU
	if err := l.AdminConn(t).CreateOU(ctx, moveTo); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{AD: l.Config, Safety: config.Safety{OnDelete: "delete", OnOutOfScope: "move", MoveTo: moveTo}}
	rs := runConfig(t, cfg)
	want(t, rs, preflight.CheckBind, preflight.OK, "svc-writeback", "")
	want(t, rs, preflight.CheckWrite, preflight.OK, "moved to "+moveTo, "")
	left := 0
	l.AdminConn(t).Groups(ctx, l.OU, "(cn=writeback-preflight-*)", ad.GroupQuery{}, func(ad.Group) error { left++; return nil })
	if left != 0 {
		t.Errorf("%d probe groups left under %s", left, l.OU)
	}
	// A moveTo that does not exist is named as such, not as a missing right.
	cfg.Safety.MoveTo = "OU=Missing," + l.OU
	rs = runConfig(t, cfg)
	want(t, rs, preflight.CheckWrite, preflight.Fail, "move", "safety.moveTo OU=Missing,"+l.OU+" does not exist")
}

// Without the right to create groups in safety.moveTo (an OU the lab's
// delegation does not cover), the probe fails naming the missing right and
// the commands that grant it, and cleans up its groups.
func TestWriteProbeMoveToWithoutRights(t *testing.T) {
	l := labtest.AD(t)
	ctx := context.Background()
	adm := l.AdminConn(t)
	moveTo := "OU=wb-retired-" + l.Tag + "," + l.BaseDN // outside OU=writeback-tests: svc-writeback has no rights there
	if err := adm.CreateOU(ctx, moveTo); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := adm.DeleteTree(context.Background(), moveTo); err != nil {
			t.Errorf("clean up %s: %v", moveTo, err)
		}
	})
	cfg := &config.Config{AD: l.Config, Safety: config.Safety{OnDelete: "move", OnOutOfScope: "leave", MoveTo: moveTo}}
	rs := runConfig(t, cfg)
	want(t, rs, preflight.CheckWrite, preflight.Fail, "insufficient access", "lacks the right to move group objects into it")
	r := rs[preflight.CheckWrite]
	sid := ""
	if s, err := l.Conn(t).AccountSID(ctx, l.Config.BindDN); err == nil {
		sid = s
	}
	for _, w := range []string{
		`dsacls "` + moveTo + `" /I:T /G "` + l.Config.BindDN + `:CCDC;group"`,
		`samba-tool dsacl set -H ` + l.Config.URL + ` -U Administrator --objectdn="` + moveTo + `" --sddl="(OA;CI;CCDC;bf967a9c-0de6-11d0-a285-00aa003049e2;;` + sid + `)"`,
	} {
		if sid == "" || !strings.Contains(r.Fix, w) {
			t.Errorf("fix %q\nlacks %q", r.Fix, w)
		}
	}
	// The commands it names, run as a lab admin would, make it pass.
	l.DSACL(t, moveTo, "(OA;CI;CCDC;bf967a9c-0de6-11d0-a285-00aa003049e2;;"+sid+")")
	l.DSACL(t, moveTo, "(OA;CIIO;RPWP;;bf967a9c-0de6-11d0-a285-00aa003049e2;"+sid+")")
	l.DSACL(t, moveTo, "(OA;CIIO;SD;;bf967a9c-0de6-11d0-a285-00aa003049e2;"+sid+")")
	rs = runConfig(t, cfg)
	want(t, rs, preflight.CheckWrite, preflight.OK, "moved to "+moveTo, "")
	left := 0
	for _, base := range []string{l.OU, moveTo} {
		adm.Groups(ctx, base, "(cn=writeback-preflight-*)", ad.GroupQuery{}, func(ad.Group) error { left++; return nil })
	}
	if left != 0 {
		t.Errorf("%d probe groups left behind", left)
	}
}

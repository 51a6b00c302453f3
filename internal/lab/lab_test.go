package lab_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/lab"
	"github.com/writeback/writeback/internal/lab/labtest"
)

// TestConcurrentUpReusesOneLab: parallel Up calls (as from parallel test
// binaries) all get the same running instance.
func TestConcurrentUpReusesOneLab(t *testing.T) {
	labtest.Get(t)
	var wg sync.WaitGroup
	pids := make([]string, 4)
	errs := make([]error, 4)
	for i := range pids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			l, err := lab.Up(context.Background(), lab.Default())
			errs[i] = err
			if l != nil {
				pids[i] = l.Env["LAB_PID"]
			}
		}(i)
	}
	wg.Wait()
	for i := range pids {
		if errs[i] != nil || pids[i] == "" || pids[i] != pids[0] {
			t.Fatalf("Up #%d: pid %q err %v; want the same pid %q for all", i, pids[i], errs[i], pids[0])
		}
	}
}

// TestLabConfigIsComplete: `writeback lab config` parses as a writeback
// configuration and connects as is.
func TestLabConfigIsComplete(t *testing.T) {
	l := labtest.Get(t)
	cfg, err := config.Parse([]byte(l.ConfigYAML()))
	if err != nil {
		t.Fatalf("lab config does not parse: %v\n%s", err, l.ConfigYAML())
	}
	if cfg.AD.TargetOU == "" || cfg.AD.CAFile == "" || cfg.AD.Insecure || cfg.AD.Password.File == "" {
		t.Errorf("lab config ad section = %+v", cfg.AD)
	}
	// Least privilege: the delegated account, not Administrator.
	if svc := l.Env["LAB_SVC_UPN"]; svc != "" && (cfg.AD.BindDN != svc || cfg.AD.Password.File != l.Env["LAB_SVC_PASSWORD_FILE"]) {
		t.Errorf("lab config binds as %s (password %s); want %s", cfg.AD.BindDN, cfg.AD.Password.File, svc)
	}
	c, err := ad.Dial(t.Context(), adconfig.Options(cfg.AD))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if e, err := c.SearchOne(t.Context(), cfg.AD.TargetOU, nil); err != nil || e == nil {
		t.Errorf("target OU %s: %v %v", cfg.AD.TargetOU, e, err)
	}
	if !strings.Contains(l.ShellEnv(), "export LAB_LDAPS_URL='ldaps://"+l.Env["LAB_ADDR"]+":636'") { // WRITEBACK_LAB_ADDR may move it from 127.0.0.1
		t.Errorf("ShellEnv:\n%s", l.ShellEnv())
	}
}

// TestResetRestoresPristine uses its own instance on 127.0.0.13 so the shared
// lab is not disturbed: changes made after provisioning are gone after reset,
// and reset takes seconds.
func TestResetRestoresPristine(t *testing.T) {
	if testing.Short() {
		t.Skip("provisions a separate lab instance")
	}
	labtest.Get(t) // skip/fail like every lab test when there is no lab
	o := lab.Options{Instance: "reset-test", Addr: "127.0.0.13"}
	ctx := context.Background()
	l := labtest.Instance(t, o)
	t.Cleanup(func() { lab.Down(ctx, o) })
	cfg := l.ADConfig()
	c, err := ad.Dial(ctx, adconfig.Options(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ou := "OU=scratch," + l.Env["LAB_BASE_DN"]
	if err := c.CreateOU(ctx, ou); err != nil {
		t.Fatal(err)
	}
	c.Close()
	start := time.Now()
	l, err = lab.Reset(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("reset took %s", took.Round(time.Millisecond))
	if took > 30*time.Second {
		t.Errorf("reset took %s; it should restore a copy in seconds", took)
	}
	c, err = ad.Dial(ctx, adconfig.Options(l.ADConfig()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if e, err := c.SearchOne(ctx, ou, nil); err != nil || e != nil {
		t.Errorf("after reset %s still exists (%v)", ou, err)
	}
	r, err := c.RootDSE(ctx)
	if err != nil || !r.HasExternalDirectoryObjectID {
		t.Errorf("after reset the schema extension is gone: %+v %v", r, err)
	}
	if _, err := os.Stat(l.Dir + ".pristine"); err != nil {
		t.Error(err)
	}
}

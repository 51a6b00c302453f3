package preflight_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/lab"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/preflight"
)

func run(t *testing.T, ad config.AD, noWrite bool) map[string]preflight.Result {
	t.Helper()
	env := &preflight.Env{Config: &config.Config{AD: ad}, NoWrite: noWrite}
	defer env.Close()
	out := map[string]preflight.Result{}
	for _, r := range preflight.Run(context.Background(), env, preflight.ADChecks(), nil) {
		out[r.Name] = r
		t.Logf("%-5s %-17s %s %s", r.Status, r.Name, r.Detail, r.Fix)
	}
	return out
}

// want asserts a check's status and that detail and fix mention the given words.
func want(t *testing.T, rs map[string]preflight.Result, name string, status preflight.Status, detail, fix string) {
	t.Helper()
	r, ok := rs[name]
	if !ok {
		t.Fatalf("no result for %s", name)
	}
	if r.Status != status || !strings.Contains(r.Detail, detail) || !strings.Contains(r.Fix, fix) {
		t.Errorf("%s = %s %q fix %q; want %s with detail containing %q and fix containing %q", name, r.Status, r.Detail, r.Fix, status, detail, fix)
	}
}

func TestAllOKAgainstLab(t *testing.T) {
	l := labtest.AD(t)
	rs := run(t, l.Config, false)
	for name, r := range rs {
		// These two describe the shared lab, not the configuration: the
		// lab's password ages, and other packages' tests running at the
		// same time give protected groups a cloud anchor for a moment.
		if (name == preflight.CheckPwExpiry || name == preflight.CheckProtected) && r.Status == preflight.Warn {
			continue
		}
		if r.Status != preflight.OK {
			t.Errorf("%s: %s %s (fix: %s)", name, r.Status, r.Detail, r.Fix)
		}
	}
	rs = run(t, l.Config, true)
	want(t, rs, preflight.CheckWrite, preflight.Skip, "--no-write", "")
}

func TestWrongPassword(t *testing.T) {
	l := labtest.AD(t)
	cfg := l.Config
	p := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(p, []byte("not-the-password\n"), 0o600)
	cfg.Password = config.Secret{File: p}
	rs := run(t, cfg, false)
	want(t, rs, preflight.CheckTLS, preflight.OK, "verified", "")
	want(t, rs, preflight.CheckBind, preflight.Fail, "invalid credentials (LDAP 49)", "ad.password.file ("+p+")")
	want(t, rs, preflight.CheckSchema, preflight.Skip, "needs ad.bind", "")
}

func TestMissingPasswordEnv(t *testing.T) {
	l := labtest.AD(t)
	cfg := l.Config
	cfg.Password = config.Secret{Env: "WRITEBACK_TEST_UNSET_PASSWORD"}
	rs := run(t, cfg, false)
	want(t, rs, preflight.CheckSecret, preflight.Fail, "WRITEBACK_TEST_UNSET_PASSWORD", "ad.password.env")
	want(t, rs, preflight.CheckConnect, preflight.Skip, "needs ad.password", "")
}

func TestWrongCA(t *testing.T) {
	l := labtest.AD(t)
	other := labtest.Instance(t, lab.NoSchema()) // a lab with its own CA
	for _, url := range []string{l.Env["LAB_LDAPS_URL"], l.Env["LAB_LDAP_URL"]} {
		cfg := l.Config
		cfg.URL = url
		cfg.CAFile = other.Env["LAB_CA_CERT"]
		rs := run(t, cfg, false)
		want(t, rs, preflight.CheckConnect, preflight.OK, "reachable", "")
		want(t, rs, preflight.CheckTLS, preflight.Fail, "certificate signed by unknown authority", "set ad.caFile")
		want(t, rs, preflight.CheckBind, preflight.Skip, "needs ad.tls", "")
	}
}

func TestWrongServerName(t *testing.T) {
	l := labtest.AD(t)
	cfg := l.Config
	cfg.ServerName = "dc9.elsewhere.test"
	rs := run(t, cfg, false)
	want(t, rs, preflight.CheckTLS, preflight.Fail, "dc9.elsewhere.test", "ad.serverName")
}

func TestUnreachable(t *testing.T) {
	l := labtest.AD(t)
	cfg := l.Config
	cfg.URL = "ldaps://127.0.0.1:1"
	rs := run(t, cfg, false)
	want(t, rs, preflight.CheckConnect, preflight.Fail, "connection refused", "check ad.url")
}

func TestMissingOU(t *testing.T) {
	l := labtest.AD(t)
	cfg := l.Config
	cfg.TargetOU = "OU=does-not-exist," + l.OU
	rs := run(t, cfg, false)
	want(t, rs, preflight.CheckTargetOU, preflight.Fail, "does not exist", "create the OU")
	want(t, rs, preflight.CheckWrite, preflight.Skip, "needs ad.target-ou", "")
	want(t, rs, preflight.CheckSchema, preflight.OK, "present", "")
}

func TestSchemaWithoutAttribute(t *testing.T) {
	ns := labtest.Instance(t, lab.NoSchema())
	cfg := ns.ADConfig()
	rs := run(t, cfg, true)
	want(t, rs, preflight.CheckBind, preflight.OK, "bound", "")
	want(t, rs, preflight.CheckSchema, preflight.Fail, "msDS-ExternalDirectoryObjectId is not in the schema", "adprep /forestprep")
	want(t, rs, preflight.CheckGCAttr, preflight.Skip, "needs ad.schema", "")
}

// TestWriteProbeWithoutRights: an ordinary user can bind and read but not
// create groups; the probe says so and how to delegate.
func TestWriteProbeWithoutRights(t *testing.T) {
	l := labtest.AD(t)
	c, err := ad.Dial(t.Context(), adconfig.Options(l.Admin)) // creates the ordinary user
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const pw = "Probe-Passw0rd!"
	quoted := utf16.Encode([]rune(`"` + pw + `"`))
	raw := make([]byte, 2*len(quoted))
	for i, u := range quoted {
		raw[2*i], raw[2*i+1] = byte(u), byte(u>>8)
	}
	sam := "wbprobe" + l.Tag // sAMAccountName is domain-wide unique
	dn := "CN=" + sam + "," + l.OU
	err = c.Add(t.Context(), dn, map[string][]string{
		"objectClass":        {"top", "person", "organizationalPerson", "user"},
		"sAMAccountName":     {sam},
		"userPrincipalName":  {sam + "@contoso.test"},
		"unicodePwd":         {string(raw)},
		"userAccountControl": {"512"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := l.Config
	cfg.BindDN = sam + "@contoso.test"
	p := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(p, []byte(pw), 0o600)
	cfg.Password = config.Secret{File: p}
	rs := run(t, cfg, false)
	want(t, rs, preflight.CheckBind, preflight.OK, "bound", "")
	want(t, rs, preflight.CheckTargetOU, preflight.OK, "exists", "")
	want(t, rs, preflight.CheckWrite, preflight.Fail, "insufficient access", "Delegation of Control")
}

// D3: a target OU outside sync.searchBase fails the check: groups created
// there would not be found again by their anchor.
func TestTargetOUOutsideSearchBase(t *testing.T) {
	l := labtest.AD(t)
	env := &preflight.Env{Config: &config.Config{AD: l.Config, Sync: config.Sync{SearchBase: "OU=does-not-matter," + l.OU}}, NoWrite: true}
	defer env.Close()
	rs := map[string]preflight.Result{}
	for _, r := range preflight.Run(context.Background(), env, preflight.ADChecks(), nil) {
		rs[r.Name] = r
	}
	want(t, rs, preflight.CheckTargetOU, preflight.Fail, "is outside sync.searchBase", "widen sync.searchBase")
}

// check lists the groups with a cloud anchor that writeback will not touch
// because they are protected: adminCount=1, or nested in a protected group.
func TestProtectedGroupsListed(t *testing.T) {
	l := labtest.AD(t)
	ctx := context.Background()
	dc := l.AdminConn(t)
	root, mid := "CN=PF Tier0,"+l.OU, "CN=PF Mid,"+l.OU
	nested, marked, plain := "CN=PF Nested,"+l.OU, "CN=PF Marked,"+l.OU, "CN=PF Plain,"+l.OU
	for dn, attrs := range map[string]map[string][]string{
		root:   {"adminCount": {"1"}},
		mid:    nil,
		nested: {ad.AttrExternalDirectoryObjectID: {"Group_" + l.Tag + "-0000-4000-8000-000000000001"}},
		marked: {ad.AttrExternalDirectoryObjectID: {"Group_" + l.Tag + "-0000-4000-8000-000000000002"}, "adminCount": {"1"}},
		plain:  {ad.AttrExternalDirectoryObjectID: {"Group_" + l.Tag + "-0000-4000-8000-000000000003"}},
	} {
		if err := dc.CreateGroup(ctx, dn, attrs); err != nil {
			t.Fatal(err)
		}
	}
	if err := dc.AddMembers(ctx, root, []string{mid}); err != nil {
		t.Fatal(err)
	}
	if err := dc.AddMembers(ctx, mid, []string{nested}); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{AD: l.Config}
	cfg.Sync.SearchBase = l.OU
	env := &preflight.Env{Config: cfg, NoWrite: true}
	defer env.Close()
	rs := map[string]preflight.Result{}
	for _, r := range preflight.Run(ctx, env, preflight.ADChecks(), nil) {
		rs[r.Name] = r
	}
	r := rs[preflight.CheckProtected]
	if r.Status != preflight.Warn || !strings.Contains(r.Detail, "2 group(s)") || !strings.Contains(r.Detail, nested+" (nested in the protected group "+root) ||
		!strings.Contains(r.Detail, marked+" (adminCount=1)") || strings.Contains(r.Detail, plain) || r.Fix == "" {
		t.Errorf("%s = %s %q fix %q; want a warning listing %s and %s only", preflight.CheckProtected, r.Status, r.Detail, r.Fix, nested, marked)
	}
}

// The lab's least-privilege account (svc-writeback, delegated as docs/ad.md
// says) passes every AD check, the write probe included (create, modify,
// member add/remove, rename, delete) in the test's OU.
func TestDelegatedAccountPasses(t *testing.T) {
	l := labtest.AD(t)
	if l.Env["LAB_SVC_UPN"] == "" {
		t.Skip("this lab has no svc-writeback account (provisioned before it existed): 'writeback lab up' after a reset creates it")
	}
	cfg := l.Config
	cfg.BindDN = l.Env["LAB_SVC_UPN"]
	cfg.Password = config.Secret{File: l.Env["LAB_SVC_PASSWORD_FILE"]}
	for name, r := range run(t, cfg, false) {
		if (name == preflight.CheckPwExpiry || name == preflight.CheckProtected) && r.Status == preflight.Warn {
			continue
		}
		if r.Status != preflight.OK {
			t.Errorf("%s: %s %s (fix: %s)", name, r.Status, r.Detail, r.Fix)
		}
	}
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/lab/labtest"
)

// The CLI tests that need only LDAP semantics run one body against two
// directories: the in-process ldaptest server always (so `go test ./...`
// without a lab runs plan and apply as a user types them), and the Samba lab
// when asked (WRITEBACK_LAB=1 or WRITEBACK_REQUIRE_LAB=1; skipped otherwise).

// directory is where a CLI test's AD lives.
type directory string

const (
	onLDAPTest directory = "ldaptest"
	onLab      directory = "lab"
)

// eachDirectory runs test once per directory, as subtests named after it.
func eachDirectory(t *testing.T, test func(t *testing.T, d directory)) {
	t.Helper()
	for _, d := range []directory{onLDAPTest, onLab} {
		t.Run(string(d), func(t *testing.T) { test(t, d) })
	}
}

// cliDir is a test's AD: an empty OU and users to make members of, an
// administrator's connection to set up and read back, and the settings
// writeback connects with.
type cliDir struct {
	kind   directory
	OU     string
	BaseDN string
	Users  []labtest.User
	// Admin is bound as an administrator: for the test's setup and to read
	// AD back (never writeback's own connection).
	Admin *ad.Conn
	// AD is writeback's ad section (its least-privilege account on the lab).
	AD config.AD
	// LDAP is the in-process server (nil on the lab).
	LDAP *ldaptest.Server
	// Lab is the lab's view (nil on ldaptest).
	Lab *labtest.Lab
}

// newDir makes a directory of kind d with n users named prefix0...; on the
// lab it skips unless the lab tests were asked for.
func newDir(t *testing.T, d directory, n int, prefix string) *cliDir {
	t.Helper()
	if d == onLab {
		l := labtest.AD(t)
		return &cliDir{kind: d, OU: l.OU, BaseDN: l.BaseDN, Users: l.CreateUsers(t, n, prefix), Admin: l.AdminConn(t), AD: l.Config, Lab: l}
	}
	srv := ldaptest.Start(t, ldaptest.Options{})
	base := "DC=contoso,DC=test"
	ou := "OU=writeback-tests," + base
	srv.Put(ou, map[string][]string{"objectClass": {"top", "organizationalUnit"}})
	if n > 100 {
		t.Fatalf("newDir: %d users; at most 100 (RIDs 1000-1099, below those the server gives)", n)
	}
	users := make([]labtest.User, n)
	for i := range users {
		u := labtest.User{
			DN:  fmt.Sprintf("CN=%s%d,%s", prefix, i, ou),
			SAM: fmt.Sprintf("%s%d", prefix, i),
			// The users' GUIDs differ in bytes over 0x7f only: they are
			// binary values, to be matched byte for byte, not as text.
			GUID: ad.GUID{0xa0, 0xb0, 0xc0, 0x80 + byte(i), 0xd0, 0xe0, 0x40, 0xf0, 0x80, 0x90, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0x80 + byte(i)},
			SID:  fmt.Sprintf("%s-%d", srv.DomainSID(), 1000+i),
		}
		sid, err := ad.SIDToAD(u.SID)
		if err != nil {
			t.Fatal(err)
		}
		srv.Put(u.DN, map[string][]string{
			"objectClass": {"top", "person", "organizationalPerson", "user"}, "objectCategory": {"person"},
			"objectGUID": {string(u.GUID.AD())}, "objectSid": {string(sid)}, "sAMAccountName": {u.SAM},
			"userAccountControl": {"514"},
		})
		users[i] = u
	}
	cfg := srv.Config()
	cfg.TargetOU = ou
	admin, err := ad.Dial(context.Background(), adconfig.Options(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	return &cliDir{kind: d, OU: ou, BaseDN: base, Users: users, Admin: admin, AD: cfg, LDAP: srv}
}

// groups reads back the groups under the directory's OU, by their anchor
// (msDS-ExternalDirectoryObjectId), with their members.
func (d *cliDir) groups(t *testing.T) map[string]ad.Group {
	t.Helper()
	out := map[string]ad.Group{}
	err := d.Admin.Groups(context.Background(), d.OU, "", ad.GroupQuery{WithMembers: true}, func(g ad.Group) error {
		out[g.Anchor] = g
		return nil
	})
	if err != nil {
		t.Fatalf("read the groups in %s back: %v", d.OU, err)
	}
	return out
}

// cliEnv is a directory, an emulated tenant and a configuration file for both.
type cliEnv struct {
	*cliDir
	env     *emulatortest.Env
	dir     string
	cfgFile string
}

// newCLIEnv starts an emulator serving tf and writes dir's configuration
// file: sync.searchBase is the directory's OU (the lab is shared), the state
// file "state.db" beside the configuration; edit, when not nil, changes the
// configuration before it is written.
func newCLIEnv(t *testing.T, d *cliDir, tf *emulator.TenantFile, edit func(*config.Config)) *cliEnv {
	t.Helper()
	env := emulatortest.Start(t, tf)
	dir := t.TempDir()
	ec := env.Config
	c := config.Config{AD: d.AD, Entra: &ec}
	c.Sync.SearchBase = d.OU
	c.State.Path = "state.db"
	if edit != nil {
		edit(&c)
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "writeback.yaml")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &cliEnv{cliDir: d, env: env, dir: dir, cfgFile: cfgFile}
}

// syncedUser is the Entra user id, named name and upn, synced from AD user u.
func syncedUser(id, name, upn string, u labtest.User) emulator.User {
	yes := true
	return emulator.User{ID: id, DisplayName: name, UserPrincipalName: upn, OnPremisesSyncEnabled: &yes,
		OnPremisesObjectIdentifier: u.GUID.String(), OnPremisesSecurityIdentifier: u.SID}
}

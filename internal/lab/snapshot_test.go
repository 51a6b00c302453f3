package lab_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/lab"
	"github.com/writeback/writeback/internal/lab/labtest"
)

// TestSnapshotSeededUsers uses its own instance on 127.0.0.14 so the shared
// lab is not disturbed: users seeded in bulk are found over LDAP and the
// Global Catalog; a snapshot saved then brings them back, without what was
// changed after it, and restoring a snapshot that does not exist says where
// it looked.
func TestSnapshotSeededUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("provisions a separate lab instance")
	}
	labtest.Get(t) // skip/fail like every lab test when there is no lab
	o := lab.Options{Instance: "snapshot-test", Addr: "127.0.0.14"}
	ctx := context.Background()
	labtest.Instance(t, o)
	t.Cleanup(func() {
		lab.Down(ctx, o)
		os.RemoveAll(o.SnapshotDir("t"))
	})
	l, err := lab.Reset(ctx, o) // the users of an earlier run would be in the way
	if err != nil {
		t.Fatal(err)
	}
	base := l.Env["LAB_BASE_DN"]
	ou := "OU=seeded," + base
	const n = 300
	start := time.Now()
	if err := lab.SeedUsers(ctx, o, lab.Seed{OU: ou, Prefix: "Seed User ", SAMPrefix: "snt", Digits: 5, From: 0, To: n}); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d users in %s", n, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	if err := lab.SaveSnapshot(ctx, o, "t"); err != nil {
		t.Fatal(err)
	}
	t.Logf("snapshot saved in %s", time.Since(start).Round(time.Millisecond))
	if !lab.HasSnapshot(o, "t") || lab.HasSnapshot(o, "missing") {
		t.Errorf("HasSnapshot(t) = %v, HasSnapshot(missing) = %v; want true, false", lab.HasSnapshot(o, "t"), lab.HasSnapshot(o, "missing"))
	}

	// a change after the snapshot, which restoring discards
	c, err := ad.Dial(ctx, adconfig.Options(l.ADConfig()))
	if err != nil {
		t.Fatal(err)
	}
	after := "OU=after-snapshot," + base
	if err := c.CreateOU(ctx, after); err != nil {
		t.Fatal(err)
	}
	c.Close()

	start = time.Now()
	l, err = lab.RestoreSnapshot(ctx, o, "t")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("snapshot restored in %s", time.Since(start).Round(time.Millisecond))
	c, err = ad.Dial(ctx, adconfig.Options(l.ADConfig()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if e, err := c.SearchOne(ctx, after, nil); err != nil || e != nil {
		t.Errorf("after restore %s still exists (%v)", after, err)
	}
	var guids []ad.GUID
	err = c.Search(ctx, ou, ad.ScopeSubtree, "(objectClass=user)", []string{"objectGUID", "sAMAccountName", "userPrincipalName", "userAccountControl"},
		func(e *ldap.Entry) error {
			g, err := ad.GUIDFromAD(e.GetRawAttributeValue("objectGUID"))
			if err != nil {
				return err
			}
			guids = append(guids, g)
			sam := e.GetAttributeValue("sAMAccountName")
			if !strings.HasPrefix(e.DN, "CN=Seed User ") || !strings.HasPrefix(sam, "snt") || len(sam) != 8 ||
				e.GetAttributeValue("userPrincipalName") != sam+"@contoso.test" || e.GetAttributeValue("userAccountControl") != "514" {
				t.Errorf("seeded user %s: sAMAccountName %q, userPrincipalName %q, userAccountControl %s", e.DN, sam,
					e.GetAttributeValue("userPrincipalName"), e.GetAttributeValue("userAccountControl"))
			}
			return nil
		})
	if err != nil || len(guids) != n {
		t.Fatalf("after restore: %d users in %s (%v); want %d", len(guids), ou, err, n)
	}
	e, err := c.SearchOne(ctx, "CN=Seed User 00299,"+ou, []string{"sAMAccountName"})
	if err != nil || e == nil || e.GetAttributeValue("sAMAccountName") != "snt00299" {
		t.Errorf("last seeded user: %v %v", e, err)
	}
	gc, err := ad.DialGC(ctx, adconfig.Options(l.ADConfig()))
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	found, err := gc.FindByGUIDs(ctx, guids)
	if err != nil || len(found) != n {
		t.Errorf("Global Catalog found %d of %d seeded users by objectGUID (%v)", len(found), n, err)
	}

	_, err = lab.RestoreSnapshot(ctx, o, "missing")
	if err == nil || !strings.Contains(err.Error(), o.SnapshotDir("missing")) {
		t.Errorf("restore of a missing snapshot: %v; want an error naming %s", err, o.SnapshotDir("missing"))
	}
	if _, err := lab.Running(o); err != nil {
		t.Errorf("a failed restore must leave the lab running: %v", err)
	}
}

package ad_test

import (
	"sync"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
)

// These tests restart ldaptest, not the shared Samba lab: a dropped or refused
// connection must heal by itself, with the same bind, and only idempotent
// operations may be repeated.

func redialServer(t *testing.T) (*ldaptest.Server, *ad.Conn, string) {
	t.Helper()
	srv := ldaptest.Start(t, ldaptest.Options{})
	ou := "OU=Groups,DC=contoso,DC=test"
	srv.Put(ou, map[string][]string{"objectClass": {"organizationalUnit"}})
	dn := "CN=Sales," + ou
	srv.Put(dn, map[string][]string{"objectClass": {"top", "group"}, ad.AttrExternalDirectoryObjectID: {"Group_1"}})
	c, err := ad.Dial(t.Context(), adconfig.Options(srv.Config()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c, dn
}

func TestRedialAfterDroppedConnection(t *testing.T) {
	srv, c, dn := redialServer(t)
	ctx := t.Context()
	find := func() (*ad.Group, error) { return c.GroupByAnchor(ctx, "DC=contoso,DC=test", "Group_1", false) }
	if g, err := find(); err != nil || g == nil {
		t.Fatalf("before: %v, %v", g, err)
	}

	// A search is repeated on a new connection, bound as before (ldaptest
	// refuses searches on an unbound connection).
	srv.DropConnections()
	if g, err := find(); err != nil || g == nil {
		t.Fatalf("search after the DC dropped the connection: %v, %v", g, err)
	}
	if n := srv.Stats().Binds; n != 2 {
		t.Errorf("%d binds, want 2 (dial, redial)", n)
	}

	// A replace is idempotent: repeated too.
	srv.DropConnections()
	if err := c.Modify(ctx, dn, map[string][]string{"description": {"after reset"}}); err != nil {
		t.Fatalf("modify after reset: %v", err)
	}
	if got := srv.Values(dn, "description"); len(got) != 1 || got[0] != "after reset" {
		t.Errorf("description = %v", got)
	}
	if err := c.AddMembers(ctx, dn, []string{"CN=u1,DC=contoso,DC=test"}); err != nil {
		t.Fatal(err)
	}
	srv.DropConnections()
	if err := c.AddMembers(ctx, dn, []string{"CN=u1,DC=contoso,DC=test", "CN=u2,DC=contoso,DC=test"}); err != nil {
		t.Fatalf("add members after reset: %v", err)
	}
	if got := srv.Values(dn, "member"); len(got) != 2 {
		t.Errorf("members = %v", got)
	}

	// A delete is not repeated (its outcome would be unknown), but the
	// connection is replaced, so the next call works at once.
	srv.DropConnections()
	err := c.Delete(ctx, dn)
	if err == nil || !ad.IsNetworkError(err) {
		t.Fatalf("delete on a dropped connection: %v, want the network error", err)
	}
	if srv.Values(dn, "objectClass") == nil {
		t.Fatal("the failed delete was repeated")
	}
	binds := srv.Stats().Binds
	if err := c.Delete(ctx, dn); err != nil || srv.Values(dn, "objectClass") != nil {
		t.Fatalf("delete on the new connection: %v", err)
	}
	if srv.Stats().Binds != binds {
		t.Errorf("the delete's failure did not reconnect: the next call had to")
	}
}

func TestRedialWhileDCIsDown(t *testing.T) {
	srv, c, _ := redialServer(t)
	ctx := t.Context()
	search := func() error {
		return c.Search(ctx, "DC=contoso,DC=test", ad.ScopeSubtree, "(objectClass=group)", nil, func(*ldap.Entry) error { return nil })
	}
	srv.Stop()
	if err := search(); err == nil || !ad.IsNetworkError(err) {
		t.Fatalf("search while the DC is down: %v, want a network error", err)
	}
	if err := search(); err == nil {
		t.Fatal("second search while down succeeded")
	}
	srv.Restart()
	if err := search(); err != nil {
		t.Fatalf("search after the DC came back: %v", err)
	}
}

// Workers that all hit the broken connection share one redial.
func TestRedialConcurrent(t *testing.T) {
	srv, c, _ := redialServer(t)
	ctx := t.Context()
	srv.DropConnections()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := c.GroupByAnchor(ctx, "DC=contoso,DC=test", "Group_1", false)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := srv.Stats().Binds; n != 2 {
		t.Errorf("%d binds, want 2: one shared redial", n)
	}
}

// Close is final: a closed connection is not brought back.
func TestNoRedialAfterClose(t *testing.T) {
	_, c, _ := redialServer(t)
	c.Close()
	err := c.Search(t.Context(), "DC=contoso,DC=test", ad.ScopeBase, "(objectClass=*)", nil, func(*ldap.Entry) error { return nil })
	if err == nil {
		t.Fatal("search on a closed connection succeeded")
	}
}

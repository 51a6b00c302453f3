package ad_test

import (
	"context"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/lab/labtest"
)

// Issue 20 item 4: what uSNChanged polling reads, as the delegated service
// account: the DC's identity (read at connect: no search of its own),
// highestCommittedUSN, and a
// group written after that USN found by the changed-since filter.
func TestLabUSNPolling(t *testing.T) {
	l := labtest.AD(t)
	ctx := context.Background()
	c := l.Conn(t) // svc-writeback
	n0 := c.Searches()
	id, err := c.DCIdentity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id.DSServiceName, "CN=NTDS Settings,") || len(id.InvocationID) != 36 || id.DNSHostName == "" {
		t.Errorf("identity = %+v", id)
	}
	if again, err := c.DCIdentity(ctx); err != nil || again != id || c.Searches()-n0 != 0 {
		t.Errorf("identity read again: %+v %v after %d searches; want the one read at connect, no search", again, err, c.Searches()-n0)
	}
	usn, err := c.HighestCommittedUSN(ctx)
	if err != nil || usn <= 0 {
		t.Fatalf("highestCommittedUSN = %d, %v", usn, err)
	}
	admin := l.AdminConn(t)
	anchor := "Group_5a5a5a5a-0000-4000-8000-" + l.Tag + "00000000"
	dn := "CN=USN poll," + l.OU
	if err := admin.CreateGroup(ctx, dn, map[string][]string{"sAMAccountName": {"usnpoll-" + l.Tag}, ad.AttrExternalDirectoryObjectID: {anchor}}); err != nil {
		t.Fatal(err)
	}
	var found []string
	if err := c.Search(ctx, l.OU, ad.ScopeSubtree, ad.ChangedSinceFilter(usn), []string{ad.AttrExternalDirectoryObjectID, "uSNChanged"}, func(e *ldap.Entry) error {
		found = append(found, e.DN)
		if u, err := ad.ParseUSN(e, "uSNChanged"); err != nil || u <= usn {
			t.Errorf("uSNChanged of %s = %d (%v), want above %d", e.DN, u, err, usn)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || !strings.EqualFold(found[0], dn) {
		t.Errorf("changed since %d: %v, want [%s]", usn, found, dn)
	}
	after, err := c.HighestCommittedUSN(ctx)
	if err != nil || after <= usn {
		t.Fatalf("highestCommittedUSN after a write = %d (%v), want above %d", after, err, usn)
	}
	found = nil
	if err := c.Search(ctx, l.OU, ad.ScopeSubtree, ad.ChangedSinceFilter(after), []string{"1.1"}, func(e *ldap.Entry) error {
		found = append(found, e.DN)
		return nil
	}); err != nil || len(found) != 0 {
		t.Errorf("changed since %d (after the write): %v %v, want nothing", after, found, err)
	}
}

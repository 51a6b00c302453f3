package ad_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/lab/labtest"
)

// "Protect object from accidental deletion" as ADUC sets it (Everyone: Deny
// Delete and Delete subtree on the group, Deny Delete child on its OU): the
// delegated account's delete and move of the group are refused (LDAP 50)
// and the error says it is that protection and how to lift it; the group
// stays. Its unprotected sibling in the same OU can still be deleted (the
// delegation grants Delete on group objects, as docs/ad.md says, because
// the parent's Deny Delete child takes the OU's Delete child away).
func TestLabDeleteProtectedFromAccidentalDeletion(t *testing.T) {
	l := labtest.AD(t)
	ctx := context.Background()
	c := l.Conn(t) // svc-writeback
	prot, plain := "CN=DP Protected,"+l.OU, "CN=DP Plain,"+l.OU
	for _, dn := range []string{prot, plain} {
		if err := c.CreateGroup(ctx, dn, nil); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := c.ProtectedFromDeletion(ctx, prot); err != nil || p {
		t.Fatalf("before: ProtectedFromDeletion = %v, %v", p, err)
	}
	l.DSACL(t, prot, "(D;;SDDT;;;WD)")
	l.DSACL(t, l.OU, "(D;;DC;;;WD)")
	t.Cleanup(func() { l.Unprotect(t, l.OU); l.Unprotect(t, prot) }) // before the OU is deleted
	if p, err := c.ProtectedFromDeletion(ctx, prot); err != nil || !p {
		t.Fatalf("after: ProtectedFromDeletion = %v, %v", p, err)
	}

	err := c.Delete(ctx, prot)
	if !ad.IsInsufficientAccess(err) || !errors.Is(err, ad.ErrProtectedFromDeletion) ||
		!strings.Contains(err.Error(), `clear "Protect object from accidental deletion"`) || !strings.Contains(err.Error(), "-ProtectedFromAccidentalDeletion $false") {
		t.Errorf("delete of the protected group: %v", err)
	}
	sub := "OU=Elsewhere," + l.OU
	if err := l.AdminConn(t).CreateOU(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(ctx, prot, "", sub); !errors.Is(err, ad.ErrProtectedFromDeletion) {
		t.Errorf("move of the protected group: %v", err)
	}
	if e, err := c.SearchOne(ctx, prot, nil); err != nil || e == nil {
		t.Errorf("protected group gone: %v", err)
	}
	if err := c.Delete(ctx, plain); err != nil {
		t.Errorf("delete of its unprotected sibling: %v", err)
	}
}

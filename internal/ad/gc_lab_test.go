package ad_test

import (
	"context"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/ldapdn"
)

// TestLookupsReturnWhatDecidesMembership: the Global Catalog lookups return,
// in the same search, what member resolution checks: class, SID, account
// flags; the DC's computer account is a computer with primaryGroupID 516;
// a malformed SID among the values fails nothing (D5).
func TestLookupsReturnWhatDecidesMembership(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 1, "gco")
	gc := l.GC(t)
	ctx := context.Background()

	got, err := gc.LookupSIDs(ctx, []string{users[0].SID, "garbage", "S-1-5-21-x", users[0].SID + " ", "S-1-5-21-99999999999999"})
	if err != nil || len(got) != 1 {
		t.Fatalf("LookupSIDs with malformed values = %v, %v; want the user alone", got, err)
	}
	u := got[users[0].SID]
	if !ldapdn.Equal(u.DN, users[0].DN) || u.GUID != users[0].GUID || !contains(u.Classes, "user") || contains(u.Classes, "computer") {
		t.Errorf("user = %+v", u)
	}
	if _, err := gc.FindBySIDs(ctx, []string{"garbage"}); err == nil {
		t.Error("FindBySIDs accepted a malformed SID")
	}

	var dcGUID ad.GUID
	c := l.Conn(t)
	var dc []ad.Object
	err = c.Search(ctx, "OU=Domain Controllers,"+l.BaseDN, ad.ScopeOne, "(objectClass=computer)", ad.ObjectAttrs, func(en *ldap.Entry) error {
		o, err := ad.ObjectFromEntry(en)
		dc = append(dc, o)
		return err
	})
	if err != nil || len(dc) == 0 {
		t.Fatalf("read the DC account: %v, %d", err, len(dc))
	}
	dcGUID = dc[0].GUID
	byGUID, err := gc.LookupGUIDs(ctx, []ad.GUID{dcGUID})
	if err != nil || len(byGUID) != 1 {
		t.Fatalf("LookupGUIDs(DC) = %v, %v", byGUID, err)
	}
	o := byGUID[dcGUID]
	if !contains(o.Classes, "computer") || o.PrimaryGroupID != 516 || o.UserAccountControl&0x2000 == 0 {
		t.Errorf("DC account from the GC = %+v, want class computer, primaryGroupID 516, SERVER_TRUST_ACCOUNT", o)
	}
	// Samba's GC returns isCriticalSystemObject (a Windows GC does not: not
	// in its partial attribute set, which is why resolve reads it on the DC).
	t.Logf("DC account from the GC: isCriticalSystemObject %v, adminCount %v", deref(o.Critical), deref(o.AdminCount))
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func deref(b *bool) any {
	if b == nil {
		return "not returned"
	}
	return *b
}

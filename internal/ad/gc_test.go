package ad_test

import (
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
)

// TestObjectFromEntry reads what decides membership from an entry as AD
// returns it: userAccountControl as a signed 32-bit value, booleans as
// TRUE/FALSE, and nil for the attributes a Windows GC does not return.
func TestObjectFromEntry(t *testing.T) {
	g, _ := ad.ParseGUID("11111111-2222-3333-4444-555555555555")
	sid, _ := ad.SIDToAD("S-1-5-21-1-2-3-1000")
	e := ldap.NewEntry("CN=DC1,OU=Domain Controllers,DC=x", map[string][]string{
		"objectClass":            {"top", "person", "organizationalPerson", "user", "Computer"},
		"userAccountControl":     {"-2147475456"}, // 0x80002000: SERVER_TRUST_ACCOUNT and a high bit
		"primaryGroupID":         {"516"},
		"isCriticalSystemObject": {"TRUE"},
	})
	e.Attributes = append(e.Attributes,
		&ldap.EntryAttribute{Name: "objectGUID", ByteValues: [][]byte{g.AD()}},
		&ldap.EntryAttribute{Name: "objectSid", ByteValues: [][]byte{sid}})
	o, err := ad.ObjectFromEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	if o.GUID != g || o.SID != "S-1-5-21-1-2-3-1000" || o.Classes[4] != "computer" || o.UserAccountControl&0x2000 == 0 ||
		o.PrimaryGroupID != 516 || o.Critical == nil || !*o.Critical || o.AdminCount != nil || o.ConsistencyGUID != nil {
		t.Errorf("object = %+v", o)
	}
	if _, err := ad.ObjectFromEntry(ldap.NewEntry("CN=x", nil)); err == nil {
		t.Error("an entry without objectGUID was accepted")
	}
}

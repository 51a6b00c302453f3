package config

import "testing"

func TestSOAAcceptRemovals(t *testing.T) {
	s := SOA{AcceptRemovals: []string{"File Share Readers", "aaaaaaaa-0000-4000-8000-0000000000a1", "CN=Other,OU=X,DC=c,DC=t", "Short"}}
	dn := "CN=File Share Readers,OU=On-Premises Groups,DC=c,DC=t"
	for _, c := range []struct {
		id, name, dn string
		want         bool
	}{
		{"x", "File Share Readers", dn, true},                  // display name
		{"AAAAAAAA-0000-4000-8000-0000000000A1", "", "", true}, // object ID, any case
		{"x", "", "cn=other,ou=x,dc=c,dc=t", true},             // DN
		{"x", "", "CN=Short,OU=X,DC=c,DC=t", true},             // CN
		{"x", "file share readers", "CN=Else,DC=c,DC=t", false},
	} {
		if got := s.Accepts(c.id, c.name, c.dn); got != c.want {
			t.Errorf("Accepts(%q, %q, %q) = %v, want %v", c.id, c.name, c.dn, got, c.want)
		}
	}
	if !(SOA{AcceptRemovals: []string{"*"}}).Accepts("a", "b", "c") {
		t.Error(`"*" does not accept every group`)
	}
	if (SOA{}).Accepts("a", "b", "CN=b,DC=c") {
		t.Error("nothing configured accepts a group")
	}
	if errs := (SOA{AcceptRemovals: []string{" "}}).validate(); len(errs) != 1 {
		t.Errorf("empty entry: %v", errs)
	}
}

func TestSOAAndManagedByOwnerParse(t *testing.T) {
	c, err := Parse([]byte(syncTestBase + "soa:\n  createMissing: true\n  acceptRemovals: [\"*\"]\nmappings:\n  managedByOwner: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.SOA.CreateMissing || len(c.SOA.AcceptRemovals) != 1 || !c.Mappings.ManagedByOwner {
		t.Errorf("soa = %+v, managedByOwner %v", c.SOA, c.Mappings.ManagedByOwner)
	}
	if c.Mappings.GroupTypeSet() {
		t.Error("groupType not in the file, but GroupTypeSet")
	}
	_, err = Parse([]byte(syncTestBase + "mappings:\n  managedByOwner: true\n  attributes:\n    managedBy: {expression: '\"CN=x\"'}\n"))
	if err == nil {
		t.Error("managedByOwner with a managedBy mapping accepted")
	}
	c, err = Parse([]byte(syncTestBase + "mappings:\n  groupType: globalSecurity\n"))
	if err != nil || !c.Mappings.GroupTypeSet() {
		t.Errorf("groupType set in the file: GroupTypeSet false (%v)", err)
	}
}

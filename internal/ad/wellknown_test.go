package ad_test

import (
	"testing"

	"github.com/writeback/writeback/internal/ad"
)

func TestRIDAndBuiltin(t *testing.T) {
	for _, tt := range []struct {
		sid    string
		rid    uint32
		domain bool
	}{
		{"S-1-5-21-1-2-3-512", 512, true},
		{"S-1-5-21-1-2-3-1105", 1105, true},
		{"S-1-5-32-544", 544, false},
		{"S-1-5-21-1-2-3-x", 0, false},
		{"", 0, false},
	} {
		if rid, domain := ad.RID(tt.sid); rid != tt.rid || domain != tt.domain {
			t.Errorf("RID(%q) = %d, %v; want %d, %v", tt.sid, rid, domain, tt.rid, tt.domain)
		}
	}
	for dn, want := range map[string]bool{
		"CN=Administrators,CN=Builtin,DC=x,DC=test": true,
		"cn=Account Operators, cn=BUILTIN, dc=x":    true,
		"CN=Builtin Fans,OU=Groups,DC=x,DC=test":    false,
		"CN=a\\,CN=Builtin,OU=Groups,DC=x,DC=test":  false, // an escaped comma
		"CN=Domain Admins,CN=Users,DC=x,DC=test":    false,
	} {
		if got := ad.InBuiltin(dn); got != want {
			t.Errorf("InBuiltin(%q) = %v, want %v", dn, got, want)
		}
	}
}

package main

import (
	"testing"

	"github.com/writeback/writeback/internal/config"
)

// A saved plan names the DCs it was made for however the configuration
// names them (a plan made against ad.servers was not bound to anything).
func TestConfiguredAD(t *testing.T) {
	for _, tt := range []struct {
		ad   config.AD
		want string
	}{
		{config.AD{URL: "ldaps://dc1.contoso.com:636"}, "ldaps://dc1.contoso.com:636"},
		{config.AD{Servers: []string{"ldaps://dc1:636", "ldaps://dc2:636"}}, "ldaps://dc1:636,ldaps://dc2:636"},
		{config.AD{Domain: "contoso.com"}, "domain contoso.com"},
	} {
		if got := configuredAD(tt.ad); got != tt.want {
			t.Errorf("configuredAD(%+v) = %q, want %q", tt.ad, got, tt.want)
		}
	}
}

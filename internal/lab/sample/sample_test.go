package sample

import (
	"fmt"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/emulator"
)

func fakeAnchors() map[string]emulator.Anchor {
	out := map[string]emulator.Anchor{}
	for i, p := range Synced {
		out[p.SAM] = emulator.Anchor{GUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1), SID: fmt.Sprintf("S-1-5-21-1-2-3-%d", 1100+i),
			SAM: p.SAM, DN: "CN=" + p.Display + ",OU=SyncedUsers,DC=contoso,DC=test"}
	}
	return out
}

// TestTenant: the sample tenant loads in the emulator, its synced users carry
// the AD users' anchors, and the IDs do not depend on the AD (stable demo output).
func TestTenant(t *testing.T) {
	f, err := Tenant(fakeAnchors())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := emulator.NewTenant(f); err != nil {
		t.Fatalf("the emulator rejects the sample tenant: %v", err)
	}
	if len(f.Users) != len(Synced)+len(CloudOnly) || len(f.Groups) != len(Groups) {
		t.Errorf("%d users, %d groups", len(f.Users), len(f.Groups))
	}
	u := f.Users[0]
	if u.OnPremisesObjectIdentifier != "00000000-0000-4000-8000-000000000001" || u.OnPremisesSamAccountName != Synced[0].SAM ||
		u.OnPremisesSecurityIdentifier != "S-1-5-21-1-2-3-1100" || u.OnPremisesImmutableId != "AAAAAAAAAECAAAAAAAAAAQ==" {
		t.Errorf("first synced user = %+v", u)
	}
	for _, u := range f.Users[len(Synced):] {
		if u.OnPremisesObjectIdentifier != "" || u.OnPremisesSyncEnabled != nil {
			t.Errorf("cloud-only user %s has on-premises anchors", u.DisplayName)
		}
	}
	g, _ := Tenant(fakeAnchors())
	if g.TenantID != f.TenantID || g.Groups[3].ID != f.Groups[3].ID || GroupID("engineering") != "2a159ee6-9103-5084-ac36-9aef3fa95842" {
		t.Errorf("IDs are not stable")
	}
	inScope, special := 0, 0
	for _, g := range Groups {
		if g.InScope {
			inScope++
		}
		if strings.ContainsAny(g.DisplayName, `,+"\<>;=#`) {
			special++
		}
	}
	if inScope < 10 || inScope == len(Groups) || special < 4 {
		t.Errorf("%d groups in scope of %d, %d with DN-special characters", inScope, len(Groups), special)
	}
}

func TestTenantNeedsEveryUser(t *testing.T) {
	a := fakeAnchors()
	delete(a, "na.li")
	if _, err := Tenant(a); err == nil || !strings.Contains(err.Error(), "na.li") {
		t.Errorf("missing AD user: err = %v", err)
	}
}

package engine

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/plan"
)

// A device synced from AD becomes a member as its computer object, read
// back from AD; a cloud-only device, and a device claiming a domain
// controller's or a user's SID, are reported (docs/trust.md).
func TestLabDeviceMembersResolveToComputers(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 6, "wbdev")
	dc := l.AdminConn(t) // creating a computer is setup, not writeback's right
	ctx := context.Background()

	pcDN := "CN=WBPC1," + l.OU
	if err := dc.Add(ctx, pcDN, map[string][]string{
		"objectClass": {"top", "person", "organizationalPerson", "user", "computer"},
		// WORKSTATION_TRUST_ACCOUNT: an ordinary domain-joined computer.
		"sAMAccountName": {"WBPC1-" + l.Tag + "$"}, "userAccountControl": {"4096"},
	}); err != nil {
		t.Fatalf("create computer: %v", err)
	}
	sidOf := func(filterBase string, scope ad.Scope, filter string) (string, string) {
		var sid, dn string
		err := dc.Search(ctx, filterBase, scope, filter, ad.ObjectAttrs, func(e *ldap.Entry) error {
			o, err := ad.ObjectFromEntry(e)
			if err == nil && sid == "" {
				sid, dn = o.SID, o.DN
			}
			return err
		})
		if err != nil || sid == "" {
			t.Fatalf("read SID under %s: %q, %v", filterBase, sid, err)
		}
		return sid, dn
	}
	pcSID, _ := sidOf(pcDN, ad.ScopeBase, "(objectClass=computer)")
	dcSID, dcDN := sidOf("OU=Domain Controllers,"+l.BaseDN, ad.ScopeOne, "(objectClass=computer)")

	tf := sampleTenant(users)
	const (
		dPC    = "dddddddd-0000-4000-8000-000000000010"
		dDC    = "dddddddd-0000-4000-8000-000000000011"
		dUser  = "dddddddd-0000-4000-8000-000000000012"
		dCloud = "dddddddd-0000-4000-8000-000000000001" // the sample's laptop
	)
	tf.Objects = append(tf.Objects,
		emulator.Object{ID: dPC, Type: "device", DisplayName: "WBPC1", OnPremisesSecurityIdentifier: pcSID, OnPremisesSyncEnabled: yes()},
		emulator.Object{ID: dDC, Type: "device", DisplayName: "forged DC", OnPremisesSecurityIdentifier: dcSID, OnPremisesSyncEnabled: yes()},
		emulator.Object{ID: dUser, Type: "device", DisplayName: "forged user", OnPremisesSecurityIdentifier: users[3].SID, OnPremisesSyncEnabled: yes()},
	)
	tf.Groups[0].Members = append(tf.Groups[0].Members, dPC, dDC, dUser)
	f := newFixtureOn(t, l, tf, nil)
	res := f.round(RoundOptions{})

	sales := f.adGroups()[plan.Anchor(gSales)]
	want := []string{cn(users[0]), cn(users[1]), cn(users[5]), "WBPC1"}
	if !slices.Equal(rdns(sales.Members), sortedCopy(want)) {
		t.Errorf("Sales members in AD = %v, want %v (the synced device's computer, not the DC %s nor the user)", rdns(sales.Members), want, dcDN)
	}
	reasons := map[string]string{}
	for _, u := range res.Planned.Plan.Unresolved {
		for _, x := range u.Unresolved {
			reasons[x.ID] = x.Reason
		}
	}
	for id, w := range map[string]string{dCloud: "cloud-only device", dDC: "domain controller", dUser: "is a user, not a computer"} {
		if !strings.Contains(reasons[id], w) {
			t.Errorf("reason for device %s = %q, want it to contain %q", id, reasons[id], w)
		}
	}

	// members.devices: false takes the computer out again (a removal of
	// the members writeback wrote), and reports why.
	f.reconfigure(func(c *config.Config) { no := false; c.Members.Devices = &no })
	res = f.round(RoundOptions{PlanOptions: PlanOptions{Full: true}})
	sales = f.adGroups()[plan.Anchor(gSales)]
	if slices.Contains(rdns(sales.Members), "WBPC1") {
		t.Errorf("members.devices false: Sales still has the computer: %v", rdns(sales.Members))
	}
	found := false
	for _, u := range res.Planned.Plan.Unresolved {
		for _, x := range u.Unresolved {
			found = found || x.ID == dPC && strings.Contains(x.Reason, "members.devices is false")
		}
	}
	if !found {
		t.Error("members.devices false: the device is not reported with the reason")
	}
}

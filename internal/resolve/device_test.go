package resolve

import (
	"context"
	"strings"
	"testing"
)

// Device members (docs/trust.md): a synced device resolves, by its
// onPremisesSecurityIdentifier, only to a computer object that passes the
// rules users get; a cloud-only device is reported.

// devSrc is a cloud cache with devices.
type devSrc struct {
	fakeSrc
	devices map[string]*Device
}

func (s devSrc) Device(id string) (*Device, error) { return s.devices[id], nil }

func computerObj(sid string) Object {
	return Object{SID: sid, Classes: []string{"top", "person", "organizationalPerson", "user", "computer"}}
}

func TestDeviceMembers(t *testing.T) {
	on, off := true, false
	sids := map[string]string{
		dom + "-1600": "CN=PC1,OU=Computers,DC=x",
		dom + "-1601": "CN=DC1,OU=Domain Controllers,DC=x",
		dom + "-1602": "CN=Alice,OU=Staff,DC=x",
		dom + "-1603": "CN=Crit,OU=Computers,DC=x",
		dom + "-1604": "CN=Admin PC,OU=Computers,DC=x",
		dom + "-1605": "CN=Some Group,OU=G,DC=x",
		dom + "-515":  "CN=Low,OU=Computers,DC=x",
		dom + "-1606": "CN=Forged,OU=Computers,DC=x",
	}
	objs := map[string]Object{
		"CN=PC1,OU=Computers,DC=x":          computerObj(dom + "-1600"),
		"CN=DC1,OU=Domain Controllers,DC=x": {SID: dom + "-1601", Classes: computerObj("").Classes, UserAccountControl: 0x82000, PrimaryGroupID: 516},
		"CN=Alice,OU=Staff,DC=x":            userObj(dom + "-1602"),
		"CN=Crit,OU=Computers,DC=x":         computerObj(dom + "-1603"),
		"CN=Admin PC,OU=Computers,DC=x":     computerObj(dom + "-1604"),
		"CN=Some Group,OU=G,DC=x":           {SID: dom + "-1605", Classes: []string{"top", "group"}},
		"CN=Low,OU=Computers,DC=x":          computerObj(dom + "-515"),
		"CN=Forged,OU=Computers,DC=x":       computerObj(dom + "-1606"),
	}
	dir := &fakeDir{sid: sids, objs: objs, domain: "DC=x", prot: map[string]string{
		fakeGUID("CN=Crit,OU=Computers,DC=x"):     "isCriticalSystemObject",
		fakeGUID("CN=Admin PC,OU=Computers,DC=x"): "adminCount",
	}}
	devices := map[string]*Device{
		"pc1":      {ID: "pc1", Name: "PC1", SID: dom + "-1600", SyncEnabled: &on},
		"dc":       {ID: "dc", Name: "DC1", SID: dom + "-1601", SyncEnabled: &on},
		"user":     {ID: "user", Name: "alice-as-device", SID: dom + "-1602", SyncEnabled: &on},
		"crit":     {ID: "crit", SID: dom + "-1603", SyncEnabled: &on},
		"admin":    {ID: "admin", SID: dom + "-1604", SyncEnabled: &on},
		"group":    {ID: "group", SID: dom + "-1605", SyncEnabled: &on},
		"low":      {ID: "low", SID: dom + "-515", SyncEnabled: &on},
		"cloud":    {ID: "cloud", Name: "LAPTOP-0001"},
		"forged":   {ID: "forged", SID: dom + "-1606", SyncEnabled: &off},
		"nosid":    {ID: "nosid", SyncEnabled: &on},
		"badsid":   {ID: "badsid", SID: "garbage", SyncEnabled: &on},
		"notfound": {ID: "notfound", SID: dom + "-9999", SyncEnabled: &on},
	}
	var ms []Member
	for id := range devices {
		ms = append(ms, Member{ID: id, Type: "#microsoft.graph.device"})
	}
	ms = append(ms, Member{ID: "unknown", Type: "device"})
	// A user claiming the computer's SID never resolves to the computer.
	ms = append(ms, Member{ID: "u", Type: "user"})
	src := devSrc{fakeSrc: fakeSrc{users: map[string]*User{"u": {ID: "u", SID: dom + "-1600"}}}, devices: devices}

	r := New(dir)
	r.SetPolicy(Policy{Devices: true})
	res, err := r.Resolve(context.Background(), map[string][]Member{"g": ms}, src)
	if err != nil {
		t.Fatal(err)
	}
	got := res["g"]
	if len(got.DNs) != 1 || got.DNs[0] != "CN=PC1,OU=Computers,DC=x" {
		t.Errorf("DNs = %q, want only the synced device's computer CN=PC1", got.DNs)
	}
	reasons := map[string]string{}
	for _, u := range got.Unresolved {
		reasons[u.ID] = u.Reason
	}
	for id, want := range map[string]string{
		"dc":       "is a domain controller account",
		"user":     "CN=Alice,OU=Staff,DC=x is a user, not a computer",
		"crit":     "critical system object",
		"admin":    "adminCount=1",
		"group":    "is a group, not a computer",
		"low":      "well-known principal (RID 515)",
		"cloud":    "cloud-only device",
		"forged":   "cloud-only device",
		"nosid":    "without onPremisesSecurityIdentifier",
		"badsid":   `"garbage" is not a valid SID`,
		"notfound": "not found in the forest (objectSid " + dom + "-9999)",
		"unknown":  "device not known to writeback",
		"u":        "CN=PC1,OU=Computers,DC=x is a computer account, not a user",
	} {
		if !strings.Contains(reasons[id], want) {
			t.Errorf("reason for %s = %q, want it to contain %q", id, reasons[id], want)
		}
	}
	if len(got.Unresolved) != 13 {
		t.Errorf("%d unresolved, want 13: %+v", len(got.Unresolved), got.Unresolved)
	}
	for _, s := range dir.batchSizes {
		if s > 200 {
			t.Errorf("batch of %d", s)
		}
	}

	// members.allow lifts the privilege rule for a named computer, as for users.
	r.SetPolicy(Policy{Devices: true, Allow: []string{dom + "-1604"}})
	res, err = r.Resolve(context.Background(), map[string][]Member{"g": {{ID: "admin", Type: "device"}}}, src)
	if err != nil {
		t.Fatal(err)
	}
	if dns := res["g"].DNs; len(dns) != 1 || dns[0] != "CN=Admin PC,OU=Computers,DC=x" {
		t.Errorf("allowed computer: DNs = %q, unresolved %+v", dns, res["g"].Unresolved)
	}
}

func TestDeviceMembersOptOut(t *testing.T) {
	on := true
	dir := &fakeDir{sid: map[string]string{dom + "-1600": "CN=PC1,OU=Computers,DC=x"},
		objs: map[string]Object{"CN=PC1,OU=Computers,DC=x": computerObj(dom + "-1600")}}
	src := devSrc{devices: map[string]*Device{"pc1": {ID: "pc1", SID: dom + "-1600", SyncEnabled: &on}}}
	r := New(dir)
	r.SetPolicy(Policy{Devices: false})
	res, err := r.Resolve(context.Background(), map[string][]Member{"g": {{ID: "pc1", Type: "device"}}}, src)
	if err != nil {
		t.Fatal(err)
	}
	if len(res["g"].DNs) != 0 || len(res["g"].Unresolved) != 1 || !strings.Contains(res["g"].Unresolved[0].Reason, "members.devices is false") {
		t.Errorf("devices off: %+v", res["g"])
	}
	if dir.calls != 0 {
		t.Errorf("devices off made %d directory calls", dir.calls)
	}
}

// A device that could not be read is that member's problem: reported with
// why, the rest of the group resolved.
func TestDeviceUnreadable(t *testing.T) {
	on := true
	dir := &fakeDir{sid: map[string]string{dom + "-1600": "CN=PC1,OU=Computers,DC=x"},
		objs: map[string]Object{"CN=PC1,OU=Computers,DC=x": computerObj(dom + "-1600")}}
	src := devSrc{devices: map[string]*Device{
		"pc1": {ID: "pc1", SID: dom + "-1600", SyncEnabled: &on},
		"bad": {ID: "bad", Unreadable: "403 Authorization_RequestDenied (grant Device.Read.All)"},
	}}
	r := New(dir)
	r.SetPolicy(Policy{Devices: true})
	res, err := r.Resolve(context.Background(), map[string][]Member{"g": {{ID: "pc1", Type: "device"}, {ID: "bad", Type: "device"}}}, src)
	if err != nil {
		t.Fatal(err)
	}
	g := res["g"]
	if len(g.DNs) != 1 || len(g.Unresolved) != 1 || !strings.Contains(g.Unresolved[0].Reason, "could not be read from Graph: 403") {
		t.Errorf("got %+v", g)
	}
}

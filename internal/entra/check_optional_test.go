package entra_test

import (
	"context"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/entra"
)

// The optional permissions are probed: with them the steps pass; without
// them each step fails naming the permission to grant.
func TestCheckOptionalPermissions(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, emulatortest.Start(t, sample()))
	if s := c.CheckDevices(ctx); s.Err != nil {
		t.Errorf("devices with Device.Read.All: %v", s.Err)
	}
	if s := c.CheckSyncBehavior(ctx); s.Err != nil {
		t.Errorf("syncbehavior with %s: %v", entra.SyncBehaviorPermission, s.Err)
	}
	bare := newClient(t, emulatortest.StartWith(t, sample(), emulator.Options{Roles: []string{"Group.Read.All", "User.Read.All"}}))
	if s := bare.CheckDevices(ctx); s.Err == nil || !strings.Contains(s.Fix, "Device.Read.All") {
		t.Errorf("devices without Device.Read.All: %v, fix %q", s.Err, s.Fix)
	}
	if s := bare.CheckSyncBehavior(ctx); s.Err == nil || !strings.Contains(s.Fix, entra.SyncBehaviorPermission) {
		t.Errorf("syncbehavior without the permission: %v, fix %q", s.Err, s.Fix)
	}
}

// isCloudManaged is read per group: true for a converted group, false for
// a cloud-native one.
func TestCloudManaged(t *testing.T) {
	tf := sample()
	tf.Groups = append(tf.Groups, emulator.Group{ID: "g-soa", DisplayName: "Converted", SecurityEnabled: true, IsCloudManaged: true,
		Extra: map[string]any{"onPremisesSecurityIdentifier": "S-1-5-21-1-2-3-1700"}})
	c := newClient(t, emulatortest.Start(t, tf))
	ctx := context.Background()
	if ok, err := c.CloudManaged(ctx, "g-soa"); !ok || err != nil {
		t.Errorf("converted group: %v, %v", ok, err)
	}
	if ok, err := c.CloudManaged(ctx, tf.Groups[0].ID); ok || err != nil {
		t.Errorf("cloud group: %v, %v", ok, err)
	}
}

// Owners come in the tenant's order, with their types; an owner that no
// longer exists is left out.
func TestOwners(t *testing.T) {
	tf := sample()
	tf.Groups[0].Owners = []string{tf.Users[1].ID, "gone-user", tf.Users[0].ID}
	c := newClient(t, emulatortest.Start(t, tf))
	got, err := c.Owners(context.Background(), tf.Groups[0].ID)
	if err != nil || len(got) != 2 || got[0].ID != tf.Users[1].ID || got[1].ID != tf.Users[0].ID || got[0].Type != "user" {
		t.Errorf("owners = %+v, %v", got, err)
	}
}

package entra_test

import (
	"context"
	"errors"
	"testing"

	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/entra"
)

// A device member's on-premises identity is read from GET /devices/{id}:
// a synced device carries its computer's SID, a cloud-only one nothing.
func TestDevice(t *testing.T) {
	tf := sample()
	tf.Objects = append(tf.Objects, emulator.Object{ID: "d-synced", Type: "device", DisplayName: "PC1",
		OnPremisesSecurityIdentifier: "S-1-5-21-1-2-3-1600", OnPremisesSyncEnabled: ptr(true)})
	env := emulatortest.Start(t, tf)
	c := newClient(t, env)
	ctx := context.Background()
	d, err := c.Device(ctx, "d-synced")
	if err != nil || d.OnPremisesSecurityIdentifier != "S-1-5-21-1-2-3-1600" || d.OnPremisesSyncEnabled == nil || !*d.OnPremisesSyncEnabled || d.DisplayName != "PC1" {
		t.Errorf("synced device = %+v, %v", d, err)
	}
	d, err = c.Device(ctx, "d-1")
	if err != nil || d.OnPremisesSecurityIdentifier != "" || d.OnPremisesSyncEnabled != nil {
		t.Errorf("cloud-only device = %+v, %v", d, err)
	}
	if _, err := c.Device(ctx, "u-ada"); !errors.Is(err, entra.ErrNotFound) {
		t.Errorf("a user read as a device: %v, want ErrNotFound", err)
	}
	// Without Device.Read.All Graph refuses, and says so.
	env2 := emulatortest.StartWith(t, tf, emulator.Options{Roles: []string{"Group.Read.All", "User.Read.All"}})
	if _, err := newClient(t, env2).Device(ctx, "d-synced"); err == nil {
		t.Error("device read without Device.Read.All succeeded")
	}
}

package engine

import (
	"context"
	"errors"
	"sync"

	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/resolve"
)

// DeviceReader is a Source that can read device members (*entra.Client).
type DeviceReader interface {
	Device(ctx context.Context, id string) (entra.Device, error)
}

var _ DeviceReader = (*entra.Client)(nil)

// deviceReader returns how a round reads its device members: from Graph,
// once per device per round (device members are few, and their on-premises
// SID does not change; the state file does not keep devices). A device
// Graph does not know is unknown; one it will not give (no Device.Read.All,
// an outage) is reported unresolved with why, so the rest of the group is
// still written. nil when members.devices is false or the source cannot
// read devices.
func (e *Engine) deviceReader(ctx context.Context) func(string) (*resolve.Device, error) {
	dr, ok := e.src.(DeviceReader)
	if !ok || !e.cfg.Members.DevicesEnabled() {
		return nil
	}
	var (
		mu   sync.Mutex
		seen = map[string]*resolve.Device{}
	)
	return func(id string) (*resolve.Device, error) {
		mu.Lock()
		defer mu.Unlock()
		if d, ok := seen[id]; ok {
			return d, nil
		}
		var out *resolve.Device
		d, err := dr.Device(ctx, id)
		switch {
		case errors.Is(err, entra.ErrNotFound):
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			e.log.Warn("cannot read a device member; it is reported unresolved", "device", id, "err", err)
			out = &resolve.Device{ID: id, Unreadable: err.Error()}
		default:
			out = &resolve.Device{ID: d.ID, Name: d.DisplayName, SID: d.OnPremisesSecurityIdentifier, SyncEnabled: d.OnPremisesSyncEnabled}
		}
		seen[id] = out
		return out, nil
	}
}

package entra

import (
	"context"
	"encoding/json"
	"errors"
)

// noSuchObject is an object ID no tenant has: reading it answers 404 with
// the permission and 403 without, which is all a check needs to know.
const noSuchObject = "00000000-0000-0000-0000-000000000000"

// CheckDevices checks that device members can be read (GET /devices/{id},
// Device.Read.All): a 404 for an object that does not exist passes.
func (c *Client) CheckDevices(ctx context.Context) CheckStep {
	err := c.get(ctx, c.base+"/devices/"+noSuchObject+"?$select="+deviceSelect, nil, new(json.RawMessage))
	if errors.Is(err, ErrNotFound) {
		err = nil
	}
	return c.checkStep("devices", err)
}

// CheckSyncBehavior checks that onPremisesSyncBehavior can be read (the
// permission Microsoft lists is Group-OnPremisesSyncBehavior.ReadWrite.All):
// on the tenant's first group, or a 404 for a group that does not exist.
func (c *Client) CheckSyncBehavior(ctx context.Context) CheckStep {
	id := noSuchObject
	var groups page
	if err := c.get(ctx, c.base+"/groups?$select=id&$top=1", nil, &groups); err == nil && len(groups.Value) > 0 {
		var g struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(groups.Value[0], &g) == nil && g.ID != "" {
			id = g.ID
		}
	}
	_, err := c.CloudManaged(ctx, id)
	if errors.Is(err, ErrNotFound) {
		err = nil
	}
	return c.checkStep("syncbehavior", err)
}

package entra

import (
	"context"
	"fmt"
	"net/url"
)

// SyncBehaviorPermission is the application permission GET (and PATCH)
// /groups/{id}/onPremisesSyncBehavior need: Microsoft lists no read-only one.
const SyncBehaviorPermission = "Group-OnPremisesSyncBehavior.ReadWrite.All"

// SOAProperties are the group properties that keep a group's on-premises
// identity after its source of authority moved to the cloud: writeback
// selects them to find the AD group an SOA-converted cloud group came from.
var SOAProperties = []string{"onPremisesSecurityIdentifier", "onPremisesSamAccountName", "onPremisesDomainName"}

// CloudManaged reads onPremisesSyncBehavior.isCloudManaged of a group: true
// once its source of authority was converted to the cloud, false for a group
// synced from AD, a cloud-native group, or one rolled back to AD. It is not
// a property of the group (no $select, no delta): one GET per group. A
// missing group is ErrNotFound (wrapped); without SyncBehaviorPermission
// Graph answers 403.
func (c *Client) CloudManaged(ctx context.Context, groupID string) (bool, error) {
	var b struct {
		IsCloudManaged *bool `json:"isCloudManaged"`
	}
	u := c.base + "/groups/" + url.PathEscape(groupID) + "/onPremisesSyncBehavior?$select=isCloudManaged"
	if err := c.get(ctx, u, nil, &b); err != nil {
		return false, fmt.Errorf("read onPremisesSyncBehavior of group %s: %w", groupID, err)
	}
	return b.IsCloudManaged != nil && *b.IsCloudManaged, nil
}

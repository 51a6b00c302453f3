package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
)

// Owners returns the group's owners in the order Graph lists them
// (GET /groups/{id}/owners, application permission GroupMember.Read.All,
// or Group.Read.All): their IDs and types ("user", "servicePrincipal").
// Owners are not part of the groups delta.
func (c *Client) Owners(ctx context.Context, groupID string) ([]MemberRef, error) {
	var out []MemberRef
	link := c.base + "/groups/" + url.PathEscape(groupID) + "/owners?$select=id"
	for link != "" {
		var p page
		if err := c.get(ctx, link, nil, &p); err != nil {
			return nil, fmt.Errorf("read owners of group %s: %w", groupID, err)
		}
		for _, raw := range p.Value {
			var m struct {
				ID   string `json:"id"`
				Type string `json:"@odata.type"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, fmt.Errorf("read owners of group %s: decode: %w", groupID, err)
			}
			out = append(out, MemberRef{ID: m.ID, Type: odataType(m.Type)})
		}
		link = p.NextLink
	}
	return out, nil
}

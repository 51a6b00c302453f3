package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
)

// Group reads one group by object ID. A missing group is ErrNotFound (wrapped).
func (c *Client) Group(ctx context.Context, id string) (Group, error) {
	var raw json.RawMessage
	u := c.base + "/groups/" + url.PathEscape(id) + "?$select=" + strings.Join(c.groupSel, ",")
	if err := c.get(ctx, u, nil, &raw); err != nil {
		return Group{}, fmt.Errorf("read group %s: %w", id, err)
	}
	return decodeGroup(raw)
}

// deviceSelect is what writeback reads of a device member: whether it is
// synced from AD, and its computer object's objectSid.
const deviceSelect = "id,displayName,onPremisesSecurityIdentifier,onPremisesSyncEnabled"

// Device reads one device by object ID (application permission
// Device.Read.All). A missing device is ErrNotFound (wrapped).
func (c *Client) Device(ctx context.Context, id string) (Device, error) {
	var d struct {
		ID                           string `json:"id"`
		DisplayName                  string `json:"displayName"`
		OnPremisesSecurityIdentifier string `json:"onPremisesSecurityIdentifier"`
		OnPremisesSyncEnabled        *bool  `json:"onPremisesSyncEnabled"`
	}
	u := c.base + "/devices/" + url.PathEscape(id) + "?$select=" + deviceSelect
	if err := c.get(ctx, u, nil, &d); err != nil {
		return Device{}, fmt.Errorf("read device %s: %w", id, err)
	}
	return Device{ID: d.ID, DisplayName: d.DisplayName, OnPremisesSecurityIdentifier: d.OnPremisesSecurityIdentifier, OnPremisesSyncEnabled: d.OnPremisesSyncEnabled}, nil
}

// Members calls fn for each direct member of the group, page by page.
func (c *Client) Members(ctx context.Context, groupID string, fn func(MemberRef) error) error {
	link := c.base + "/groups/" + url.PathEscape(groupID) + "/members?$select=id&$top=999"
	for link != "" {
		var p page
		if err := c.get(ctx, link, nil, &p); err != nil {
			return fmt.Errorf("read members of group %s: %w", groupID, err)
		}
		for _, raw := range p.Value {
			var m struct {
				ID   string `json:"id"`
				Type string `json:"@odata.type"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				return fmt.Errorf("read members of group %s: decode: %w", groupID, err)
			}
			if err := fn(MemberRef{ID: m.ID, Type: odataType(m.Type)}); err != nil {
				return err
			}
		}
		link = p.NextLink
	}
	return nil
}

// idsPerFilter is how many IDs one "id in (...)" filter may name: Graph
// refuses more than 15 values in one clause on directory objects.
const idsPerFilter = 15

// UsersByID reads users by object ID through GET /users?$filter=id in
// (...), 15 IDs a request, run concurrently (bounded by entra.concurrency).
// IDs that are not users, or no longer exist, are simply absent from the
// result.
//
// Not directoryObjects/getByIds: that needs Directory.Read.All, and v1.0
// answers it with a subset of user properties without the on-premises
// anchors. A filter on /users needs only User.Read.All and returns them.
func (c *Client) UsersByID(ctx context.Context, ids []string) ([]User, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		out   = make([]User, 0, len(ids))
		first error
		wg    sync.WaitGroup
	)
	for start := 0; start < len(ids); start += idsPerFilter {
		batch := ids[start:min(start+idsPerFilter, len(ids))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			users, err := c.usersIn(ctx, batch)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = fmt.Errorf("read %d users by id: %w", len(batch), err)
					cancel()
				}
				return
			}
			out = append(out, users...)
		}()
	}
	wg.Wait()
	return out, first
}

// usersIn reads one filter's worth of users, following nextLink.
func (c *Client) usersIn(ctx context.Context, ids []string) ([]User, error) {
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = "'" + strings.ReplaceAll(id, "'", "''") + "'"
	}
	filter := "id in (" + strings.Join(quoted, ",") + ")"
	for {
		sel := c.userSelect()
		link := c.base + "/users?$filter=" + strings.ReplaceAll(url.QueryEscape(filter), "+", "%20") + "&$select=" + sel
		var users []User
		var err error
		for link != "" && err == nil {
			var p page
			if err = c.get(ctx, link, nil, &p); err != nil {
				break
			}
			for _, raw := range p.Value {
				var u User
				if u, err = decodeUser(raw); err != nil {
					break
				}
				users = append(users, u)
			}
			link = p.NextLink
		}
		if err != nil && c.dropObjectIdentifier(err, "users by id", sel) {
			continue
		}
		return users, err
	}
}

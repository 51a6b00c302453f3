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

// getByIdsMax is Graph's limit of IDs in one directoryObjects/getByIds call.
const getByIdsMax = 1000

// UsersByID reads users by object ID through POST /directoryObjects/getByIds,
// in batches of 1000 run concurrently (bounded by entra.concurrency). IDs that
// are not users, or no longer exist, are simply absent from the result.
func (c *Client) UsersByID(ctx context.Context, ids []string) ([]User, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		out   = make([]User, 0, len(ids))
		first error
		wg    sync.WaitGroup
	)
	for start := 0; start < len(ids); start += getByIdsMax {
		batch := ids[start:min(start+getByIdsMax, len(ids))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			var p page
			body := map[string]any{"ids": batch, "types": []string{"user"}}
			err := c.do(ctx, "POST", c.base+"/directoryObjects/getByIds?$select="+strings.Join(c.userSel, ","), nil, body, &p)
			var users []User
			for _, raw := range p.Value {
				if err != nil {
					break
				}
				var u User
				u, err = decodeUser(raw)
				users = append(users, u)
			}
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

package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// page is one page of a collection or delta response. Value stays raw so only
// one page is ever decoded at a time.
type page struct {
	Value     []json.RawMessage `json:"value"`
	NextLink  string            `json:"@odata.nextLink"`
	DeltaLink string            `json:"@odata.deltaLink"`
}

// maxResyncs bounds how often one call restarts a round the server keeps refusing.
const maxResyncs = 3

// GroupsDelta reads /groups/delta from deltaLink ("" starts a full round),
// calls fn for each group as its page arrives and returns the deltaLink to use
// next time.
//
// full is true when this was a full enumeration: deltaLink was "", or Graph
// refused it (expired or unknown token: HTTP 410, syncStateNotFound,
// resyncRequired), in which case the round restarts from scratch and says so
// in the log. In a full round a group not yielded no longer exists.
//
// The same group can be yielded several times in one round; see Group.
func (c *Client) GroupsDelta(ctx context.Context, deltaLink string, fn func(Group) error) (next string, full bool, err error) {
	start := func() string {
		return c.base + "/groups/delta?$select=" + strings.Join(append(append([]string{}, c.groupSel...), "members"), ",")
	}
	return c.delta(ctx, "groups", start, deltaLink, func(raw json.RawMessage) error {
		g, err := decodeGroup(raw)
		if err != nil {
			return err
		}
		return fn(g)
	})
}

// UsersDelta reads /users/delta like GroupsDelta reads groups.
func (c *Client) UsersDelta(ctx context.Context, deltaLink string, fn func(User) error) (next string, full bool, err error) {
	start := func() string { return c.base + "/users/delta?$select=" + c.userSelect() }
	return c.delta(ctx, "users", start, deltaLink, func(raw json.RawMessage) error {
		u, err := decodeUser(raw)
		if err != nil {
			return err
		}
		return fn(u)
	})
}

type restartKey struct{}

// WithRestart returns a context whose delta reads call fn (on the reading
// goroutine, before the first item of the new pass) when Graph refuses a
// token mid-way and the read starts over with a full enumeration: what the
// caller received until then belongs to an abandoned pass. A caller tracking
// what a full enumeration contains must start its tracking over.
func WithRestart(ctx context.Context, fn func()) context.Context {
	return context.WithValue(ctx, restartKey{}, fn)
}

// NotifyRestart calls the function WithRestart put in ctx, if any. The
// client calls it; other delta sources (test fakes) call it the same way.
func NotifyRestart(ctx context.Context) {
	if h, ok := ctx.Value(restartKey{}).(func()); ok {
		h()
	}
}

func (c *Client) delta(ctx context.Context, what string, startFn func() string, deltaLink string, fn func(json.RawMessage) error) (string, bool, error) {
	start := startFn()
	link, full := deltaLink, deltaLink == ""
	if full {
		link = start
	} else if err := c.sameHost(deltaLink); err != nil {
		return "", false, fmt.Errorf("%s delta: %w", what, err)
	}
	var hdr http.Header
	if c.pageSize > 0 {
		hdr = http.Header{"Prefer": {"odata.maxpagesize=" + strconv.Itoa(c.pageSize)}}
	}
	resyncs, pages := 0, 0
	for {
		var p page
		err := c.get(ctx, link, hdr, &p)
		if err != nil {
			if link == start && c.dropObjectIdentifier(err, what+" delta", start) {
				// Nothing was read yet: the same request without it.
				start = startFn()
				link = start
				continue
			}
			if isResync(err) && resyncs < maxResyncs {
				resyncs++
				c.resyncs.Add(1)
				c.log.Warn("Graph refused the delta token; starting a full round", "resource", what, "after_pages", pages, "reason", err)
				// Graph's 410 names the request to start over with in
				// Location; ours is the same request with our current
				// $select, so start is used.
				link, full = start, true
				NotifyRestart(ctx)
				continue
			}
			return "", full, fmt.Errorf("%s delta (page %d): %w", what, pages+1, err)
		}
		pages++
		c.pages.Add(1)
		for _, raw := range p.Value {
			if err := fn(raw); err != nil {
				return "", full, err
			}
		}
		switch {
		case p.NextLink != "":
			link = p.NextLink
		case p.DeltaLink != "":
			return p.DeltaLink, full, nil
		default:
			return "", full, fmt.Errorf("%s delta (page %d): response has neither @odata.nextLink nor @odata.deltaLink", what, pages)
		}
	}
}

// sameHost refuses a stored deltaLink for another Graph endpoint (a config
// switched between clouds or from the emulator to Microsoft).
func (c *Client) sameHost(link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return fmt.Errorf("stored delta link is not a URL: %w", err)
	}
	b, _ := url.Parse(c.base)
	if !strings.EqualFold(u.Host, b.Host) {
		return fmt.Errorf("stored delta link is for %s but entra.graphUrl is %s; discard the stored state to start a full round", u.Host, b.Host)
	}
	return nil
}

var errNoID = errors.New("object without id")

// decodeGroup decodes one delta item. The properties go through a map (Raw
// keeps them for scoping filters and mappings), but members@delta, up to
// thousands of entries on a page, is decoded straight into MemberRefs.
func decodeGroup(raw json.RawMessage) (Group, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Group{}, fmt.Errorf("decode group: %w", err)
	}
	m := make(map[string]any, len(fields))
	var g Group
	for k, v := range fields {
		if k == "members@delta" {
			g.MembersDelta = decodeMembers(v)
			continue
		}
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return Group{}, fmt.Errorf("decode group: %w", err)
		}
		m[k] = x
	}
	g.ID = str(m["id"])
	if g.ID == "" {
		return Group{}, fmt.Errorf("decode group: %w", errNoID)
	}
	g.DisplayName = str(m["displayName"])
	g.Description = str(m["description"])
	g.MailNickname = str(m["mailNickname"])
	g.Mail = str(m["mail"])
	g.SecurityEnabled, _ = m["securityEnabled"].(bool)
	g.MailEnabled, _ = m["mailEnabled"].(bool)
	g.OnPremisesSyncEnabled = boolPtr(m["onPremisesSyncEnabled"])
	if ts, ok := m["groupTypes"].([]any); ok {
		for _, t := range ts {
			g.GroupTypes = append(g.GroupTypes, str(t))
		}
	}
	g.Removed = removed(m["@removed"])
	g.Raw = stripAnnotations(m)
	return g, nil
}

// memberJSON is one members@delta entry as Graph sends it.
type memberJSON struct {
	Type    string          `json:"@odata.type"`
	ID      string          `json:"id"`
	Removed json.RawMessage `json:"@removed"`
}

// decodeMembers reads members@delta; entries that are not objects, or whose
// id or type is not a string, keep only what is usable (as before: an entry
// without a string id has ID "").
func decodeMembers(v json.RawMessage) []MemberRef {
	var list []memberJSON
	if err := json.Unmarshal(v, &list); err != nil {
		return decodeMembersLoose(v)
	}
	out := make([]MemberRef, len(list))
	for i, x := range list {
		out[i] = MemberRef{ID: x.ID, Type: odataType(x.Type), Removed: len(x.Removed) > 0 && string(x.Removed) != "null"}
	}
	return out
}

func decodeMembersLoose(v json.RawMessage) []MemberRef {
	var list []any
	if json.Unmarshal(v, &list) != nil {
		return nil
	}
	out := make([]MemberRef, 0, len(list))
	for _, x := range list {
		mm, _ := x.(map[string]any)
		out = append(out, MemberRef{ID: str(mm["id"]), Type: odataType(mm["@odata.type"]), Removed: mm["@removed"] != nil})
	}
	return out
}

func decodeUser(raw json.RawMessage) (User, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return User{}, fmt.Errorf("decode user: %w", err)
	}
	u := User{
		ID:                           str(m["id"]),
		DisplayName:                  str(m["displayName"]),
		UserPrincipalName:            str(m["userPrincipalName"]),
		OnPremisesObjectIdentifier:   str(m["onPremisesObjectIdentifier"]),
		OnPremisesSecurityIdentifier: str(m["onPremisesSecurityIdentifier"]),
		OnPremisesImmutableId:        str(m["onPremisesImmutableId"]),
		OnPremisesDistinguishedName:  str(m["onPremisesDistinguishedName"]),
		OnPremisesDomainName:         str(m["onPremisesDomainName"]),
		OnPremisesSamAccountName:     str(m["onPremisesSamAccountName"]),
		OnPremisesSyncEnabled:        boolPtr(m["onPremisesSyncEnabled"]),
		Removed:                      removed(m["@removed"]),
	}
	if u.ID == "" {
		return User{}, fmt.Errorf("decode user: %w", errNoID)
	}
	u.Raw = stripAnnotations(m)
	return u, nil
}

func stripAnnotations(m map[string]any) map[string]any {
	for k := range m {
		if strings.Contains(k, "@") {
			delete(m, k)
		}
	}
	return m
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func boolPtr(v any) *bool {
	b, ok := v.(bool)
	if !ok {
		return nil
	}
	return &b
}

func removed(v any) *Removed {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	return &Removed{Reason: str(m["reason"])}
}

// odataType turns "#microsoft.graph.user" into "user"; the common types are
// returned as constants, so a page of members does not keep each entry's
// type string alive.
func odataType(v any) string {
	s := str(v)
	switch s {
	case "#microsoft.graph.user":
		return "user"
	case "#microsoft.graph.group":
		return "group"
	case "#microsoft.graph.device":
		return "device"
	}
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[i+1:]
	}
	return strings.TrimPrefix(s, "#")
}

package engine

import (
	"context"
	"fmt"
	"sort"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/entra"
)

// memCatalog is a Global Catalog that knows users only (objectGUID -> DN):
// the member lookups of tests whose directory is not the catalog (two DCs,
// one catalog).
type memCatalog struct {
	users map[string]string
}

func newMemCatalog() *memCatalog { return &memCatalog{users: map[string]string{}} }

func (d *memCatalog) LookupAnchors(context.Context, []string) (map[string]ad.Object, error) {
	return map[string]ad.Object{}, nil
}

func (d *memCatalog) LookupGUIDs(_ context.Context, guids []ad.GUID) (map[ad.GUID]ad.Object, error) {
	out := map[ad.GUID]ad.Object{}
	for _, g := range guids {
		if dn, ok := d.users[g.String()]; ok {
			out[g] = ad.Object{DN: dn, GUID: g, Classes: []string{"top", "person", "organizationalPerson", "user"}}
		}
	}
	return out, nil
}

func (d *memCatalog) LookupSIDs(context.Context, []string) (map[string]ad.Object, error) {
	return map[string]ad.Object{}, nil
}

// memSource is an in-memory Graph: a log of delta items; a delta link is an
// index into it.
type memSource struct {
	groups map[string]entra.Group
	users  []entra.User
	events []entra.Group
	calls  int
}

func (s *memSource) GroupsDelta(_ context.Context, link string, fn func(entra.Group) error) (string, bool, error) {
	s.calls++
	if link == "" {
		for _, k := range sortedKeys(s.groups) {
			if err := fn(s.groups[k]); err != nil {
				return "", true, err
			}
		}
		return fmt.Sprint(len(s.events)), true, nil
	}
	var from int
	fmt.Sscan(link, &from)
	for _, e := range s.events[from:] {
		if err := fn(e); err != nil {
			return "", false, err
		}
	}
	return fmt.Sprint(len(s.events)), false, nil
}

func (s *memSource) UsersDelta(_ context.Context, link string, fn func(entra.User) error) (string, bool, error) {
	if link == "" {
		for _, u := range s.users {
			if err := fn(u); err != nil {
				return "", true, err
			}
		}
		return "u", true, nil
	}
	return "u", false, nil
}

// change records a delta item and updates the full view.
func (s *memSource) change(g entra.Group) {
	s.events = append(s.events, g)
	cur := s.groups[g.ID]
	if g.DisplayName != "" {
		cur.ID, cur.DisplayName, cur.SecurityEnabled = g.ID, g.DisplayName, g.SecurityEnabled
	}
	for _, m := range g.MembersDelta {
		if !m.Removed {
			cur.MembersDelta = append(cur.MembersDelta, m)
		}
	}
	s.groups[g.ID] = cur
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

const (
	uGUID = "11111111-2222-3333-4444-555555555555"
	uDN   = "CN=alice,OU=Users,DC=test"
	idA   = "aaaaaaaa-0000-0000-0000-00000000000a"
	idB   = "aaaaaaaa-0000-0000-0000-00000000000b"
)

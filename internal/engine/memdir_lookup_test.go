package engine

import (
	"context"
	"strconv"
	"strings"

	"github.com/writeback/writeback/internal/ad"
)

// The Global Catalog lookups of memDir, with what member resolution checks:
// users are users, groups are groups.

func (d *memDir) LookupAnchors(_ context.Context, anchors []string) (map[string]ad.Object, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]ad.Object{}
	for _, a := range anchors {
		for _, g := range d.groups {
			if strings.EqualFold(g.Anchor, a) {
				out[a] = ad.Object{DN: g.DN, GUID: g.GUID, SID: "S-1-5-21-1-2-3-" + groupRID(g.DN), Classes: []string{"top", "group"}, Anchor: g.Anchor}
			}
		}
	}
	return out, nil
}

// groupRID makes a stable RID above 1000 for a group known by DN.
func groupRID(dn string) string {
	n := 0
	for _, c := range strings.ToLower(dn) {
		n = (n*31 + int(c)) % 1000000
	}
	return strconv.Itoa(n + 1000)
}

func (d *memDir) LookupGUIDs(_ context.Context, guids []ad.GUID) (map[ad.GUID]ad.Object, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[ad.GUID]ad.Object{}
	for _, g := range guids {
		if dn, ok := d.users[g.String()]; ok {
			out[g] = ad.Object{DN: dn, GUID: g, Classes: []string{"top", "person", "organizationalPerson", "user"}}
		}
	}
	return out, nil
}

func (d *memDir) LookupSIDs(context.Context, []string) (map[string]ad.Object, error) {
	return map[string]ad.Object{}, nil
}

package ad

import (
	"context"
	"fmt"

	"github.com/go-ldap/ldap/v3"
)

// Reads only a domain controller can answer, for member resolution
// (internal/resolve): attributes outside the Global Catalog's partial
// attribute set (mS-DS-ConsistencyGuid, isCriticalSystemObject,
// adminCount), and which members a group read listed are not plain users.

// consistencyBatch is how many values go in one OR filter.
const consistencyBatch = 200

// classBatch is how many objectGUIDs go in one NotPlainUsers filter. Samba
// matches every candidate against the whole OR, so wider filters cost more
// per object: 9,000 users took 0.25–0.50 s at 100 or 200 values per filter,
// 0.5–0.8 s at 500 and 0.8–1.3 s at 1,000 (lab VM, 2026-12-05).
const classBatch = 200

// UsersByConsistencyGUIDs returns the users under base whose
// mS-DS-ConsistencyGuid is one of guids, keyed by it, read with everything
// ObjectFromEntry reads. The attribute is not indexed (searchFlags 0, on
// Windows as on Samba), so every search scans the domain's users: 200
// values per OR filter for a few values, one pass over the users carrying
// the attribute, matched here, for many. objectCategory=person lets the DC
// start from that index.
func (c *Conn) UsersByConsistencyGUIDs(ctx context.Context, base string, guids []GUID) (map[GUID]Object, error) {
	out := map[GUID]Object{}
	keep := func(want map[GUID]bool) func(e *ldap.Entry) error {
		return func(e *ldap.Entry) error {
			o, err := ObjectFromEntry(e)
			if err != nil || o.ConsistencyGUID == nil {
				return err
			}
			if want == nil || want[*o.ConsistencyGUID] {
				out[*o.ConsistencyGUID] = o
			}
			return nil
		}
	}
	if len(guids) > 2*consistencyBatch {
		want := make(map[GUID]bool, len(guids))
		for _, g := range guids {
			want[g] = true
		}
		if err := c.Search(ctx, base, ScopeSubtree, FilterPersonsWithConsistencyGUID, ObjectAttrs, keep(want)); err != nil {
			return nil, fmt.Errorf("find users by mS-DS-ConsistencyGuid: %w", err)
		}
		return out, nil
	}
	for start := 0; start < len(guids); start += consistencyBatch {
		batch := guids[start:min(start+consistencyBatch, len(guids))]
		if err := c.Search(ctx, base, ScopeSubtree, FilterPersonsByConsistencyGUIDs(batch), ObjectAttrs, keep(nil)); err != nil {
			return nil, fmt.Errorf("find users by mS-DS-ConsistencyGuid: %w", err)
		}
	}
	return out, nil
}

// ProtectionOf returns, of the objects under base with the given
// objectGUIDs, those that are critical system objects or protected by
// AdminSDHolder: GUID -> "isCriticalSystemObject" or "adminCount". Neither
// attribute is in the Global Catalog, nor indexed: a few objects are read
// by objectGUID (200 per search, indexed); for many, one pass over the
// domain's users and computers that carry either attribute (a small set),
// matched here.
func (c *Conn) ProtectionOf(ctx context.Context, base string, guids []GUID) (map[GUID]string, error) {
	out := map[GUID]string{}
	record := func(want map[GUID]bool) func(e *ldap.Entry) error {
		return func(e *ldap.Entry) error {
			o, err := ObjectFromEntry(e)
			if err != nil {
				return err
			}
			if want != nil && !want[o.GUID] {
				return nil
			}
			switch {
			case o.Critical != nil && *o.Critical:
				out[o.GUID] = "isCriticalSystemObject"
			case o.AdminCount != nil && *o.AdminCount:
				out[o.GUID] = "adminCount"
			}
			return nil
		}
	}
	attrs := []string{"objectGUID", "isCriticalSystemObject", "adminCount"}
	if len(guids) > 2*consistencyBatch {
		want := make(map[GUID]bool, len(guids))
		for _, g := range guids {
			want[g] = true
		}
		if err := c.Search(ctx, base, ScopeSubtree, FilterCriticalOrProtectedAccounts, attrs, record(want)); err != nil {
			return nil, fmt.Errorf("find critical and protected users: %w", err)
		}
		return out, nil
	}
	for start := 0; start < len(guids); start += consistencyBatch {
		batch := guids[start:min(start+consistencyBatch, len(guids))]
		if err := c.Search(ctx, base, ScopeSubtree, FilterGUIDs(batch), attrs, record(nil)); err != nil {
			return nil, fmt.Errorf("read isCriticalSystemObject and adminCount of %d objects: %w", len(batch), err)
		}
	}
	return out, nil
}

// NotPlainUsers returns, of the objects under base with the given
// objectGUIDs, those that are anything but a plain user account (see
// FilterNotPlainUsersAmong), read with everything ObjectFromEntry reads.
// The filter asks for the exceptions, not the users: Samba's cost is per
// object returned (about 0.25 ms on the lab VM), and usually none come back.
func (c *Conn) NotPlainUsers(ctx context.Context, base string, guids []GUID) (map[GUID]Object, error) {
	out := map[GUID]Object{}
	for start := 0; start < len(guids); start += classBatch {
		batch := guids[start:min(start+classBatch, len(guids))]
		err := c.Search(ctx, base, ScopeSubtree, FilterNotPlainUsersAmong(batch), ObjectAttrs, func(e *ldap.Entry) error {
			o, err := ObjectFromEntry(e)
			if err != nil {
				return err
			}
			out[o.GUID] = o
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the class of %d members: %w", len(batch), err)
		}
	}
	return out, nil
}

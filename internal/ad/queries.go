package ad

import (
	"context"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// The questions the engine asks the domain controller, in its own terms:
// groups by anchor or SID, who holds a DN, which names are taken, which
// groups Connect Sync marked, which protected group contains a DN, which
// owned groups changed. Each makes one search for the values it is given
// (callers batch: a filter of a few hundred values is what AD answers
// well); the filters are in filters.go.

// AnchoredGroups streams every group under base carrying a Group_ anchor.
func (c *Conn) AnchoredGroups(ctx context.Context, base string, q GroupQuery, fn func(Group) error) error {
	return c.Groups(ctx, base, FilterAnchored, q, fn)
}

// GroupsWithAnchors streams the groups under base carrying one of anchors.
func (c *Conn) GroupsWithAnchors(ctx context.Context, base string, anchors []string, q GroupQuery, fn func(Group) error) error {
	if len(anchors) == 0 {
		return nil
	}
	return c.Groups(ctx, base, FilterAnchors(anchors), q, fn)
}

// GroupsWithSIDs streams the groups under base whose objectSid is one of
// sids (S-1-5-...); a value that is not a SID matches nothing.
func (c *Conn) GroupsWithSIDs(ctx context.Context, base string, sids []string, q GroupQuery, fn func(Group) error) error {
	if len(sids) == 0 {
		return nil
	}
	return c.Groups(ctx, base, FilterSIDs(sids), q, fn)
}

// Marked is a group carrying a cloud group's mark: writeback's anchor, or
// the adminDescription Group_<id> Connect Sync's group writeback writes.
type Marked struct {
	DN               string
	Anchor           string // msDS-ExternalDirectoryObjectId
	AdminDescription string
}

// MarkedGroups streams the groups under base marked for one of anchors (as
// their anchor or their adminDescription); with anchors nil, every marked
// group. adminDescription is not indexed: each search scans the domain's
// groups, so for more than a few hundred anchors one pass over every marked
// group (nil) costs less than many batches.
func (c *Conn) MarkedGroups(ctx context.Context, base string, anchors []string, fn func(Marked) error) error {
	f := FilterMarkedGroups
	if anchors != nil {
		if len(anchors) == 0 {
			return nil
		}
		f = FilterGroupsMarked(anchors)
	}
	return c.Search(ctx, base, ScopeSubtree, f, []string{"adminDescription", AttrExternalDirectoryObjectID}, func(e *ldap.Entry) error {
		return fn(Marked{DN: e.DN, Anchor: e.GetEqualFoldAttributeValue(AttrExternalDirectoryObjectID),
			AdminDescription: e.GetEqualFoldAttributeValue("adminDescription")})
	})
}

// HolderOf says whether an object is at dn and which anchor it carries (""
// for none).
func (c *Conn) HolderOf(ctx context.Context, dn string) (anchor string, exists bool, err error) {
	err = c.Search(ctx, dn, ScopeBase, FilterAnyObject, []string{AttrExternalDirectoryObjectID}, func(e *ldap.Entry) error {
		anchor, exists = e.GetEqualFoldAttributeValue(AttrExternalDirectoryObjectID), true
		return nil
	})
	if IsNoSuchObject(err) {
		return "", false, nil
	}
	return anchor, exists, err
}

// HoldersUnder lists the objects directly under parent: DN (as AD spells
// it) -> the anchor each carries ("" for none). A parent that does not
// exist holds nothing.
func (c *Conn) HoldersUnder(ctx context.Context, parent string) (map[string]string, error) {
	out := map[string]string{}
	err := c.Search(ctx, parent, ScopeOne, FilterAnyObject, []string{AttrExternalDirectoryObjectID}, func(e *ldap.Entry) error {
		out[e.DN] = e.GetEqualFoldAttributeValue(AttrExternalDirectoryObjectID)
		return nil
	})
	if IsNoSuchObject(err) {
		return out, nil
	}
	return out, err
}

// TakenSAMAccountNames returns, lower-case, the names of names that an
// object under base (a user, group or computer: the name is unique across
// them in a domain) already has.
func (c *Conn) TakenSAMAccountNames(ctx context.Context, base string, names []string) (map[string]bool, error) {
	taken := map[string]bool{}
	if len(names) == 0 {
		return taken, nil
	}
	err := c.Search(ctx, base, ScopeSubtree, FilterSAMAccountNames(names...), []string{"sAMAccountName"}, func(e *ldap.Entry) error {
		taken[strings.ToLower(e.GetAttributeValue("sAMAccountName"))] = true
		return nil
	})
	return taken, err
}

// ProtectedGroupContaining names a protected group (adminCount=1) under
// base that has dn in its member chain, through any depth of nesting, or "".
func (c *Conn) ProtectedGroupContaining(ctx context.Context, base, dn string) (string, error) {
	var out string
	err := c.Search(ctx, base, ScopeSubtree, FilterProtectedParentsOf(dn), []string{"1.1"}, func(e *ldap.Entry) error {
		if out == "" {
			out = e.DN
		}
		return nil
	})
	return out, err
}

// AnchorsChangedSince streams the anchors of the anchored objects under base
// whose uSNChanged is above usn (one indexed search; usn is only meaningful
// on the DC that answered it).
func (c *Conn) AnchorsChangedSince(ctx context.Context, base string, usn int64, fn func(anchor string) error) error {
	return c.Search(ctx, base, ScopeSubtree, ChangedSinceFilter(usn), []string{AttrExternalDirectoryObjectID}, func(e *ldap.Entry) error {
		return fn(e.GetEqualFoldAttributeValue(AttrExternalDirectoryObjectID))
	})
}

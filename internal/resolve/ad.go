package resolve

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
)

// Catalog is the Global Catalog as *ad.Conn (from ad.DialGC) offers it.
type Catalog interface {
	FindByAnchors(ctx context.Context, anchors []string) (map[string]string, error)
	FindByGUIDs(ctx context.Context, guids []ad.GUID) (map[ad.GUID]string, error)
	FindBySIDs(ctx context.Context, sids []string) (map[string]string, error)
}

// Searcher is a domain controller search (*ad.Conn).
type Searcher interface {
	Search(ctx context.Context, base string, scope ad.Scope, filter string, attrs []string, fn func(*ldap.Entry) error) error
}

// ADDirectory is the Directory resolution uses in production: the Global
// Catalog for anchors, objectGUIDs and SIDs, and the domain controller under
// Base for mS-DS-ConsistencyGuid, which is not in the GC's partial attribute set.
type ADDirectory struct {
	GC   Catalog
	DC   Searcher
	Base string // the domain naming context
}

var _ Directory = (*ADDirectory)(nil)

// FindByAnchors looks msDS-ExternalDirectoryObjectId values up in the GC.
func (d *ADDirectory) FindByAnchors(ctx context.Context, anchors []string) (map[string]string, error) {
	return d.GC.FindByAnchors(ctx, anchors)
}

// FindBySIDs looks objectSids up in the GC.
func (d *ADDirectory) FindBySIDs(ctx context.Context, sids []string) (map[string]string, error) {
	return d.GC.FindBySIDs(ctx, sids)
}

// FindByGUIDs looks canonical GUID strings up as objectGUIDs in the GC.
func (d *ADDirectory) FindByGUIDs(ctx context.Context, guids []string) (map[string]string, error) {
	in := make([]ad.GUID, 0, len(guids))
	for _, s := range guids {
		if g, err := ad.ParseGUID(s); err == nil { // resolve only passes canonical GUIDs
			in = append(in, g)
		}
	}
	got, err := d.GC.FindByGUIDs(ctx, in)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(got))
	for g, dn := range got {
		out[g.String()] = dn
	}
	return out, nil
}

// FindByConsistencyGUIDs searches the DC. mS-DS-ConsistencyGuid is not
// indexed (searchFlags 0, on Windows as on Samba), so every search scans the
// users of the domain: 200 values per OR filter for a few values, one pass
// over the users carrying the attribute, matched here, for many. Only users
// are looked up (objectCategory=person lets the DC start from that index).
func (d *ADDirectory) FindByConsistencyGUIDs(ctx context.Context, guids []string) (map[string]string, error) {
	out := map[string]string{}
	const attr = "mS-DS-ConsistencyGuid"
	if len(guids) > 2*consistencyBatch {
		want := make(map[string]bool, len(guids))
		for _, s := range guids {
			if g, err := ad.ParseGUID(s); err == nil {
				want[g.String()] = true
			}
		}
		err := d.DC.Search(ctx, d.Base, ad.ScopeSubtree, "(&(objectCategory=person)("+attr+"=*))", []string{attr}, func(e *ldap.Entry) error {
			if g, err := ad.GUIDFromAD(e.GetEqualFoldRawAttributeValue(attr)); err == nil && want[g.String()] {
				out[g.String()] = e.DN
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("find users by %s: %w", attr, err)
		}
		return out, nil
	}
	for start := 0; start < len(guids); start += consistencyBatch {
		var f strings.Builder
		f.WriteString("(&(objectCategory=person)(|")
		for _, s := range guids[start:min(start+consistencyBatch, len(guids))] {
			if g, err := ad.ParseGUID(s); err == nil {
				f.WriteString("(" + attr + "=" + ad.EscapeFilterBytes(g.AD()) + ")")
			}
		}
		f.WriteString("))")
		err := d.DC.Search(ctx, d.Base, ad.ScopeSubtree, f.String(), []string{attr}, func(e *ldap.Entry) error {
			if g, err := ad.GUIDFromAD(e.GetEqualFoldRawAttributeValue(attr)); err == nil {
				out[g.String()] = e.DN
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("find users by %s: %w", attr, err)
		}
	}
	return out, nil
}

// consistencyBatch is how many values go in one OR filter.
const consistencyBatch = 200

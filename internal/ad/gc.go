package ad

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// lookupBatch is how many values go in one OR filter: small enough for any DC's
// filter limits, large enough that 10,000 lookups take 50 round trips.
const lookupBatch = 200

// FindByAnchors looks anchors (msDS-ExternalDirectoryObjectId values) up in the
// whole forest and returns anchor -> DN for those found. Use a Global Catalog
// connection (DialGC) to cover every domain.
func (c *Conn) FindByAnchors(ctx context.Context, anchors []string) (map[string]string, error) {
	out := make(map[string]string, len(anchors))
	byLower := make(map[string]string, len(anchors))
	for _, a := range anchors {
		byLower[strings.ToLower(a)] = a
	}
	err := c.lookup(ctx, "msDS-ExternalDirectoryObjectId", len(anchors), func(i int) string { return EscapeFilter(anchors[i]) },
		func(e *ldap.Entry) error {
			v := e.GetEqualFoldAttributeValue(AttrExternalDirectoryObjectID)
			if a, ok := byLower[strings.ToLower(v)]; ok {
				out[a] = e.DN
			}
			return nil
		})
	return out, err
}

// FindByGUIDs looks objectGUIDs up and returns GUID -> DN for those found.
func (c *Conn) FindByGUIDs(ctx context.Context, guids []GUID) (map[GUID]string, error) {
	out := make(map[GUID]string, len(guids))
	err := c.lookup(ctx, "objectGUID", len(guids), func(i int) string { return EscapeFilterBytes(guids[i].AD()) },
		func(e *ldap.Entry) error {
			g, err := GUIDFromAD(e.GetEqualFoldRawAttributeValue("objectGUID"))
			if err != nil {
				return fmt.Errorf("%s: %w", e.DN, err)
			}
			out[g] = e.DN
			return nil
		})
	return out, err
}

// FindBySIDs looks objectSids ("S-1-5-21-...") up and returns SID -> DN for those found.
func (c *Conn) FindBySIDs(ctx context.Context, sids []string) (map[string]string, error) {
	out := make(map[string]string, len(sids))
	bins := make([]string, len(sids))
	for i, s := range sids {
		b, err := SIDToAD(s)
		if err != nil {
			return nil, err
		}
		bins[i] = EscapeFilterBytes(b)
	}
	err := c.lookup(ctx, "objectSid", len(sids), func(i int) string { return bins[i] },
		func(e *ldap.Entry) error {
			s, err := SIDFromAD(e.GetEqualFoldRawAttributeValue("objectSid"))
			if err != nil {
				return fmt.Errorf("%s: %w", e.DN, err)
			}
			out[s] = e.DN
			return nil
		})
	return out, err
}

// lookup runs OR-filter searches over n escaped values of attr across the
// forest (base "" on a GC; the default naming context on a DC).
func (c *Conn) lookup(ctx context.Context, attr string, n int, value func(int) string, fn func(*ldap.Entry) error) error {
	base := ""
	if !c.gc {
		b, err := c.BaseDN(ctx)
		if err != nil {
			return err
		}
		base = b
	}
	attrs := []string{attr, AttrExternalDirectoryObjectID, "objectGUID", "objectSid"}
	for start := 0; start < n; start += lookupBatch {
		end := min(start+lookupBatch, n)
		var f strings.Builder
		f.WriteString("(|")
		for i := start; i < end; i++ {
			f.WriteString("(" + attr + "=" + value(i) + ")")
		}
		f.WriteString(")")
		if err := c.Search(ctx, base, ScopeSubtree, f.String(), attrs, fn); err != nil {
			return fmt.Errorf("look up %d values of %s: %w", end-start, attr, err)
		}
	}
	return nil
}

// BaseDN returns the default naming context (read once from the RootDSE).
func (c *Conn) BaseDN(ctx context.Context) (string, error) {
	c.baseOnce.Do(func() {
		r, err := c.RootDSE(ctx)
		c.base, c.baseErr = r.DefaultNamingContext, err
	})
	return c.base, c.baseErr
}

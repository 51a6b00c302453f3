package ad

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// lookupBatch is how many values go in one OR filter: small enough for any DC's
// filter limits, large enough that 10,000 lookups take 50 round trips.
const lookupBatch = 200

// Object is what a lookup returns about one object: its identifiers and what
// decides whether it may become a member of a group writeback writes (class,
// account type, criticality). objectClass, objectSid, objectGUID,
// userAccountControl and primaryGroupID are in the Global Catalog's partial
// attribute set on Windows; isCriticalSystemObject, adminCount and
// mS-DS-ConsistencyGuid are not ([MS-ADA1] 2.52, 2.334; [MS-ADA2]), so a
// Windows GC leaves them unknown (nil / zero) while a DC (and Samba's GC)
// returns them.
type Object struct {
	DN                 string
	GUID               GUID
	SID                string   // "S-1-5-..."; "" if the object has none (a contact)
	Classes            []string // objectClass values, lower-case
	UserAccountControl uint32
	PrimaryGroupID     uint32
	Anchor             string // msDS-ExternalDirectoryObjectId
	Critical           *bool  // isCriticalSystemObject; nil: not returned
	AdminCount         *bool  // adminCount = 1; nil: not returned
	ConsistencyGUID    *GUID  // mS-DS-ConsistencyGuid; nil: not returned or not set
}

// ObjectAttrs are the attributes ObjectFromEntry reads.
var ObjectAttrs = []string{"objectGUID", "objectSid", "objectClass", "userAccountControl", "primaryGroupID",
	AttrExternalDirectoryObjectID, "isCriticalSystemObject", "adminCount", "mS-DS-ConsistencyGuid"}

// ObjectFromEntry reads an Object from an entry searched with ObjectAttrs.
func ObjectFromEntry(e *ldap.Entry) (Object, error) {
	o := Object{DN: e.DN, Anchor: e.GetEqualFoldAttributeValue(AttrExternalDirectoryObjectID)}
	g, err := GUIDFromAD(e.GetEqualFoldRawAttributeValue("objectGUID"))
	if err != nil {
		return o, fmt.Errorf("%s: %w", e.DN, err)
	}
	o.GUID = g
	if b := e.GetEqualFoldRawAttributeValue("objectSid"); len(b) > 0 {
		if o.SID, err = SIDFromAD(b); err != nil {
			return o, fmt.Errorf("%s: %w", e.DN, err)
		}
	}
	for _, c := range e.GetEqualFoldAttributeValues("objectClass") {
		o.Classes = append(o.Classes, strings.ToLower(c))
	}
	o.UserAccountControl = uint32Attr(e, "userAccountControl")
	o.PrimaryGroupID = uint32Attr(e, "primaryGroupID")
	if v := e.GetEqualFoldAttributeValue("isCriticalSystemObject"); v != "" {
		b := strings.EqualFold(v, "TRUE")
		o.Critical = &b
	}
	if v := e.GetEqualFoldAttributeValue("adminCount"); v != "" {
		b := v != "0"
		o.AdminCount = &b
	}
	if b := e.GetEqualFoldRawAttributeValue("mS-DS-ConsistencyGuid"); len(b) == 16 {
		if cg, err := GUIDFromAD(b); err == nil {
			o.ConsistencyGUID = &cg
		}
	}
	return o, nil
}

// uint32Attr reads an integer attribute; AD writes some (userAccountControl)
// as signed 32-bit values.
func uint32Attr(e *ldap.Entry, name string) uint32 {
	v := e.GetEqualFoldAttributeValue(name)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0
	}
	return uint32(n)
}

// LookupAnchors looks anchors (msDS-ExternalDirectoryObjectId values) up in
// the whole forest and returns anchor (as given) -> object for those found.
// Use a Global Catalog connection (DialGC) to cover every domain.
func (c *Conn) LookupAnchors(ctx context.Context, anchors []string) (map[string]Object, error) {
	out := make(map[string]Object, len(anchors))
	byLower := make(map[string]string, len(anchors))
	for _, a := range anchors {
		byLower[strings.ToLower(a)] = a
	}
	err := c.lookup(ctx, AttrExternalDirectoryObjectID, len(anchors), func(i int) string { return EscapeFilter(anchors[i]) },
		func(o Object) {
			if a, ok := byLower[strings.ToLower(o.Anchor)]; ok {
				out[a] = o
			}
		})
	return out, err
}

// LookupGUIDs looks objectGUIDs up and returns GUID -> object for those found.
func (c *Conn) LookupGUIDs(ctx context.Context, guids []GUID) (map[GUID]Object, error) {
	out := make(map[GUID]Object, len(guids))
	err := c.lookup(ctx, "objectGUID", len(guids), func(i int) string { return EscapeFilterBytes(guids[i].AD()) },
		func(o Object) { out[o.GUID] = o })
	return out, err
}

// LookupSIDs looks objectSids ("S-1-5-21-...") up and returns SID (as
// SIDFromAD spells it) -> object for those found. Values that are not SIDs
// are not looked up (they cannot match anything): one malformed value must
// not fail the lookup of the others.
func (c *Conn) LookupSIDs(ctx context.Context, sids []string) (map[string]Object, error) {
	out := make(map[string]Object, len(sids))
	var bins []string
	for _, s := range sids {
		if b, err := SIDToAD(s); err == nil {
			bins = append(bins, EscapeFilterBytes(b))
		}
	}
	err := c.lookup(ctx, "objectSid", len(bins), func(i int) string { return bins[i] },
		func(o Object) {
			if o.SID != "" {
				out[o.SID] = o
			}
		})
	return out, err
}

// FindByAnchors is LookupAnchors returning DNs only.
func (c *Conn) FindByAnchors(ctx context.Context, anchors []string) (map[string]string, error) {
	got, err := c.LookupAnchors(ctx, anchors)
	return dns(got), err
}

// FindByGUIDs is LookupGUIDs returning DNs only.
func (c *Conn) FindByGUIDs(ctx context.Context, guids []GUID) (map[GUID]string, error) {
	got, err := c.LookupGUIDs(ctx, guids)
	return dns(got), err
}

// FindBySIDs is LookupSIDs returning DNs only; unlike LookupSIDs it refuses
// a malformed SID.
func (c *Conn) FindBySIDs(ctx context.Context, sids []string) (map[string]string, error) {
	for _, s := range sids {
		if _, err := SIDToAD(s); err != nil {
			return nil, err
		}
	}
	got, err := c.LookupSIDs(ctx, sids)
	return dns(got), err
}

func dns[K comparable](m map[K]Object) map[K]string {
	out := make(map[K]string, len(m))
	for k, o := range m {
		out[k] = o.DN
	}
	return out
}

// lookup runs OR-filter searches over n escaped values of attr across the
// forest (base "" on a GC; the default naming context on a DC), reading
// ObjectAttrs with each object.
func (c *Conn) lookup(ctx context.Context, attr string, n int, value func(int) string, fn func(Object)) error {
	base := ""
	if !c.gc {
		b, err := c.BaseDN(ctx)
		if err != nil {
			return err
		}
		base = b
	}
	for start := 0; start < n; start += lookupBatch {
		end := min(start+lookupBatch, n)
		var f strings.Builder
		f.WriteString("(|")
		for i := start; i < end; i++ {
			f.WriteString("(" + attr + "=" + value(i) + ")")
		}
		f.WriteString(")")
		err := c.Search(ctx, base, ScopeSubtree, f.String(), ObjectAttrs, func(e *ldap.Entry) error {
			o, err := ObjectFromEntry(e)
			if err != nil {
				return err
			}
			fn(o)
			return nil
		})
		if err != nil {
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

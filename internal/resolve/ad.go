package resolve

import (
	"context"
	"strings"

	"github.com/writeback/writeback/internal/ad"
)

// Catalog is the Global Catalog as *ad.Conn (from ad.DialGC) offers it.
type Catalog interface {
	LookupAnchors(ctx context.Context, anchors []string) (map[string]ad.Object, error)
	LookupGUIDs(ctx context.Context, guids []ad.GUID) (map[ad.GUID]ad.Object, error)
	LookupSIDs(ctx context.Context, sids []string) (map[string]ad.Object, error)
}

// DC is what resolution reads on a domain controller (*ad.Conn): what the
// Global Catalog does not hold (mS-DS-ConsistencyGuid, protection), the
// class of members a group read listed, and anchors the GC has not
// received yet.
type DC interface {
	UsersByConsistencyGUIDs(ctx context.Context, base string, guids []ad.GUID) (map[ad.GUID]ad.Object, error)
	ProtectionOf(ctx context.Context, base string, guids []ad.GUID) (map[ad.GUID]string, error)
	NotPlainUsers(ctx context.Context, base string, guids []ad.GUID) (map[ad.GUID]ad.Object, error)
	LookupAnchors(ctx context.Context, anchors []string) (map[string]ad.Object, error)
}

var _ DC = (*ad.Conn)(nil)

// ADDirectory is the Directory resolution uses in production: the Global
// Catalog for anchors, objectGUIDs and SIDs, and the domain controller under
// Base for mS-DS-ConsistencyGuid, isCriticalSystemObject and adminCount,
// which are not in the GC's partial attribute set.
type ADDirectory struct {
	GC   Catalog
	DC   DC
	Base string // the domain naming context
}

var _ Directory = (*ADDirectory)(nil)

// Domain is the naming context of the domain the DC holds.
func (d *ADDirectory) Domain() string { return d.Base }

// FindByAnchors looks msDS-ExternalDirectoryObjectId values up in the GC.
func (d *ADDirectory) FindByAnchors(ctx context.Context, anchors []string) (map[string]Object, error) {
	got, err := d.GC.LookupAnchors(ctx, anchors)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Object, len(got))
	for a, o := range got {
		out[a] = fromAD(o)
	}
	// hook (issue #20, dcanchors.go): what the GC does not know yet, the DC that writes may.
	var missing []string
	for _, a := range anchors {
		if _, ok := got[a]; !ok {
			missing = append(missing, a)
		}
	}
	if err := d.anchorsOnDC(ctx, missing, out); err != nil {
		return nil, err
	}
	return out, nil
}

// FindBySIDs looks objectSids up in the GC; malformed values are not looked up.
func (d *ADDirectory) FindBySIDs(ctx context.Context, sids []string) (map[string]Object, error) {
	got, err := d.GC.LookupSIDs(ctx, sids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Object, len(got))
	for s, o := range got {
		out[strings.ToUpper(s)] = fromAD(o)
	}
	return out, nil
}

// FindByGUIDs looks canonical GUID strings up as objectGUIDs in the GC.
func (d *ADDirectory) FindByGUIDs(ctx context.Context, guids []string) (map[string]Object, error) {
	in := make([]ad.GUID, 0, len(guids))
	for _, s := range guids {
		if g, err := ad.ParseGUID(s); err == nil { // resolve only passes canonical GUIDs
			in = append(in, g)
		}
	}
	got, err := d.GC.LookupGUIDs(ctx, in)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Object, len(got))
	for g, o := range got {
		out[g.String()] = fromAD(o)
	}
	return out, nil
}

// fromAD converts the directory layer's object.
func fromAD(o ad.Object) Object {
	out := Object{DN: o.DN, GUID: o.GUID.String(), SID: strings.ToUpper(o.SID), Classes: o.Classes,
		UserAccountControl: o.UserAccountControl, PrimaryGroupID: o.PrimaryGroupID, Critical: o.Critical, AdminCount: o.AdminCount}
	if o.ConsistencyGUID != nil {
		out.ConsistencyGUID = o.ConsistencyGUID.String()
	}
	return out
}

// FindByConsistencyGUIDs finds users by mS-DS-ConsistencyGuid on the DC
// (the attribute is not in the GC). The DC returns isCriticalSystemObject
// and adminCount with each object.
func (d *ADDirectory) FindByConsistencyGUIDs(ctx context.Context, guids []string) (map[string]Object, error) {
	got, err := d.DC.UsersByConsistencyGUIDs(ctx, d.Base, parseGUIDs(guids))
	if err != nil {
		return nil, err
	}
	out := make(map[string]Object, len(got))
	for g, o := range got {
		out[g.String()] = dcObject(o)
	}
	return out, nil
}

// dcObject is an object read on the DC: what it does not say about
// criticality it does not have (unlike the GC, the DC holds every attribute).
func dcObject(o ad.Object) Object {
	out := fromAD(o)
	no := false
	if out.Critical == nil {
		out.Critical = &no
	}
	if out.AdminCount == nil {
		out.AdminCount = &no
	}
	out.ConsistencyGUIDKnown = true
	return out
}

// Protected reads, on the DC, which of the given objects of its domain
// (canonical objectGUIDs) are critical system objects or protected by
// AdminSDHolder: guid -> the attribute that says so. Computers are
// included: device members resolve to them.
func (d *ADDirectory) Protected(ctx context.Context, guids []string) (map[string]string, error) {
	got, err := d.DC.ProtectionOf(ctx, d.Base, parseGUIDs(guids))
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(got))
	for g, why := range got {
		out[g.String()] = why
	}
	return out, nil
}

// NotPlainUsers reads, on the DC, which of the given objects of its domain
// (canonical objectGUIDs) are anything but a plain user account, and
// returns those (guid -> object). A plain user is of class user and not a
// computer, group, contact or inetOrgPerson, not a domain controller or
// trust account, not isCriticalSystemObject=TRUE and without a non-zero
// adminCount: exactly what the resolver's class and privilege checks
// accept, so an object the answer leaves out passes them (see
// Resolver.checkLearned). At M the 9,000 members a full round learned from
// its group read cost 2.2–3.4 s to fetch back and 0.4 s to confirm this way.
// The exceptions are negated in the filter, so an attribute the account
// cannot read counts as absent and the object is returned, then judged on
// what was read.
func (d *ADDirectory) NotPlainUsers(ctx context.Context, guids []string) (map[string]Object, error) {
	got, err := d.DC.NotPlainUsers(ctx, d.Base, parseGUIDs(guids))
	if err != nil {
		return nil, err
	}
	out := make(map[string]Object, len(got))
	for g, o := range got {
		out[g.String()] = dcObject(o)
	}
	return out, nil
}

// parseGUIDs parses canonical GUIDs, leaving out those that are not (they
// cannot match anything).
func parseGUIDs(ss []string) []ad.GUID {
	out := make([]ad.GUID, 0, len(ss))
	for _, s := range ss {
		if g, err := ad.ParseGUID(s); err == nil {
			out = append(out, g)
		}
	}
	return out
}

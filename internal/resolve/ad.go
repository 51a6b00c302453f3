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
	LookupAnchors(ctx context.Context, anchors []string) (map[string]ad.Object, error)
	LookupGUIDs(ctx context.Context, guids []ad.GUID) (map[ad.GUID]ad.Object, error)
	LookupSIDs(ctx context.Context, sids []string) (map[string]ad.Object, error)
}

// Searcher is a domain controller search (*ad.Conn).
type Searcher interface {
	Search(ctx context.Context, base string, scope ad.Scope, filter string, attrs []string, fn func(*ldap.Entry) error) error
}

// ADDirectory is the Directory resolution uses in production: the Global
// Catalog for anchors, objectGUIDs and SIDs, and the domain controller under
// Base for mS-DS-ConsistencyGuid, isCriticalSystemObject and adminCount,
// which are not in the GC's partial attribute set.
type ADDirectory struct {
	GC   Catalog
	DC   Searcher
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

// dcAttrs are what a DC read asks for: everything ad.ObjectFromEntry reads.
var dcAttrs = ad.ObjectAttrs

// FindByConsistencyGUIDs searches the DC. mS-DS-ConsistencyGuid is not
// indexed (searchFlags 0, on Windows as on Samba), so every search scans the
// users of the domain: 200 values per OR filter for a few values, one pass
// over the users carrying the attribute, matched here, for many. Only users
// are looked up (objectCategory=person lets the DC start from that index).
// The DC returns isCriticalSystemObject and adminCount with each object.
func (d *ADDirectory) FindByConsistencyGUIDs(ctx context.Context, guids []string) (map[string]Object, error) {
	out := map[string]Object{}
	const attr = "mS-DS-ConsistencyGuid"
	keep := func(want map[string]bool) func(e *ldap.Entry) error {
		return func(e *ldap.Entry) error {
			o, err := ad.ObjectFromEntry(e)
			if err != nil || o.ConsistencyGUID == nil {
				return err
			}
			if cg := o.ConsistencyGUID.String(); want == nil || want[cg] {
				out[cg] = dcObject(o)
			}
			return nil
		}
	}
	if len(guids) > 2*consistencyBatch {
		want := make(map[string]bool, len(guids))
		for _, s := range guids {
			if g, err := ad.ParseGUID(s); err == nil {
				want[g.String()] = true
			}
		}
		err := d.DC.Search(ctx, d.Base, ad.ScopeSubtree, ad.FilterPersonsWithConsistencyGUID, dcAttrs, keep(want))
		if err != nil {
			return nil, fmt.Errorf("find users by %s: %w", attr, err)
		}
		return out, nil
	}
	for start := 0; start < len(guids); start += consistencyBatch {
		batch := parseGUIDs(guids[start:min(start+consistencyBatch, len(guids))])
		if len(batch) == 0 {
			continue
		}
		if err := d.DC.Search(ctx, d.Base, ad.ScopeSubtree, ad.FilterPersonsByConsistencyGUIDs(batch), dcAttrs, keep(nil)); err != nil {
			return nil, fmt.Errorf("find users by %s: %w", attr, err)
		}
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
// AdminSDHolder: guid -> the attribute that says so. Neither attribute is in
// the Global Catalog, nor indexed: a few objects are read by objectGUID (200
// per search, indexed); for many, one pass over the domain's users that
// carry either attribute (a small set), matched here. Computers are
// included: device members resolve to them.
func (d *ADDirectory) Protected(ctx context.Context, guids []string) (map[string]string, error) {
	out := map[string]string{}
	record := func(want map[string]bool) func(e *ldap.Entry) error {
		return func(e *ldap.Entry) error {
			o, err := ad.ObjectFromEntry(e)
			if err != nil {
				return err
			}
			g := o.GUID.String()
			if want != nil && !want[g] {
				return nil
			}
			switch {
			case o.Critical != nil && *o.Critical:
				out[g] = "isCriticalSystemObject"
			case o.AdminCount != nil && *o.AdminCount:
				out[g] = "adminCount"
			}
			return nil
		}
	}
	attrs := []string{"objectGUID", "isCriticalSystemObject", "adminCount"}
	if len(guids) > 2*consistencyBatch {
		want := make(map[string]bool, len(guids))
		for _, s := range guids {
			want[s] = true
		}
		err := d.DC.Search(ctx, d.Base, ad.ScopeSubtree, ad.FilterCriticalOrProtectedAccounts, attrs, record(want))
		if err != nil {
			return nil, fmt.Errorf("find critical and protected users: %w", err)
		}
		return out, nil
	}
	for start := 0; start < len(guids); start += consistencyBatch {
		batch := parseGUIDs(guids[start:min(start+consistencyBatch, len(guids))])
		if len(batch) == 0 {
			continue
		}
		if err := d.DC.Search(ctx, d.Base, ad.ScopeSubtree, ad.FilterGUIDs(batch), attrs, record(nil)); err != nil {
			return nil, fmt.Errorf("read isCriticalSystemObject and adminCount of %d objects: %w", min(consistencyBatch, len(guids)-start), err)
		}
	}
	return out, nil
}

// NotPlainUsers reads, on the DC, which of the given objects of its domain
// (canonical objectGUIDs) are anything but a plain user account, and
// returns those (guid -> object, read with everything ad.ObjectFromEntry
// reads). A plain user is of class user and not a computer, group, contact
// or inetOrgPerson, not a domain controller or trust account, not
// isCriticalSystemObject=TRUE and without a non-zero adminCount: exactly
// what the resolver's class and privilege checks accept, so an object the
// answer leaves out passes them (see Resolver.checkLearned).
//
// The filter asks for the exceptions, not the users: Samba's cost is per
// object returned (about 0.25 ms on the lab VM, by objectGUID as by
// objectSid), and at M the 9,000 members a full round learned from its group
// read cost 2.2–3.4 s to fetch back and 0.4 s to confirm this way. The
// exceptions are negated, so an attribute the account cannot read counts as
// absent and the object is returned, then judged on what was read.
func (d *ADDirectory) NotPlainUsers(ctx context.Context, guids []string) (map[string]Object, error) {
	out := map[string]Object{}
	for start := 0; start < len(guids); start += classBatch {
		batch := parseGUIDs(guids[start:min(start+classBatch, len(guids))])
		n := len(batch)
		if n == 0 {
			continue
		}
		err := d.DC.Search(ctx, d.Base, ad.ScopeSubtree, ad.FilterNotPlainUsersAmong(batch), dcAttrs, func(e *ldap.Entry) error {
			o, err := ad.ObjectFromEntry(e)
			if err != nil {
				return err
			}
			out[o.GUID.String()] = dcObject(o)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the class of %d members: %w", n, err)
		}
	}
	return out, nil
}

// classBatch is how many objectGUIDs go in one NotPlainUsers filter. Samba
// matches every candidate against the whole OR, so wider filters cost more
// per object: 9,000 users took 0.25–0.50 s at 100 or 200 values per filter,
// 0.5–0.8 s at 500 and 0.8–1.3 s at 1,000 (lab VM, 2026-12-05).
const classBatch = 200

// consistencyBatch is how many values go in one OR filter.
const consistencyBatch = 200

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

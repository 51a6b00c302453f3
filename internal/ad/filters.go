package ad

import "strings"

// The LDAP filters writeback asks AD with, by what they find: the engine
// and the migration speak of anchors, names and SIDs, and the syntax stays
// here, escaped once.

// FilterAnyObject matches every object (a base or one-level read).
const FilterAnyObject = "(objectClass=*)"

// FilterAnchored matches every object carrying a Group_ anchor.
const FilterAnchored = "(" + AttrExternalDirectoryObjectID + "=Group_*)"

// FilterMarkedGroups matches the groups carrying a Group_ anchor or a
// Group_ adminDescription (Connect Sync's mark).
const FilterMarkedGroups = "(&(objectCategory=group)(|(adminDescription=Group_*)" + FilterAnchored + "))"

// orOf is (|(attr=v1)(attr=v2)...) for each attr of attrs, values escaped;
// wrapped in (&(objectCategory=group)...) when groupsOnly.
func orOf(attrs []string, values []string, groupsOnly bool) string {
	var f strings.Builder
	if groupsOnly {
		f.WriteString("(&(objectCategory=group)")
	}
	f.WriteString("(|")
	for _, v := range values {
		v = EscapeFilter(v)
		for _, a := range attrs {
			f.WriteString("(" + a + "=" + v + ")")
		}
	}
	f.WriteString(")")
	if groupsOnly {
		f.WriteString(")")
	}
	return f.String()
}

// FilterAnchors matches the objects carrying one of anchors.
func FilterAnchors(anchors []string) string {
	return orOf([]string{AttrExternalDirectoryObjectID}, anchors, false)
}

// FilterGroupsMarked matches the groups carrying one of anchors as their
// anchor or as their adminDescription (adminDescription is not indexed:
// keep the batches small, or use FilterMarkedGroups for many).
func FilterGroupsMarked(anchors []string) string {
	return orOf([]string{"adminDescription", AttrExternalDirectoryObjectID}, anchors, true)
}

// FilterSAMAccountNames matches the objects (users, groups, computers) with
// one of names.
func FilterSAMAccountNames(names ...string) string {
	if len(names) == 1 {
		return "(sAMAccountName=" + EscapeFilter(names[0]) + ")"
	}
	return orOf([]string{"sAMAccountName"}, names, false)
}

// FilterSIDs matches the objects with one of sids (S-1-5-...); a string
// that is not a SID is left out.
func FilterSIDs(sids []string) string {
	var f strings.Builder
	f.WriteString("(|")
	for _, s := range sids {
		b, err := SIDToAD(s)
		if err != nil {
			continue
		}
		f.WriteString("(objectSid=" + EscapeFilterBytes(b) + ")")
	}
	f.WriteString(")")
	return f.String()
}

// FilterProtectedParentsOf matches the protected groups (adminCount=1)
// that have dn in their member chain, through any depth of nesting.
func FilterProtectedParentsOf(dn string) string {
	return "(&(objectCategory=group)(adminCount=1)(member:" + InChainOID + ":=" + EscapeFilter(dn) + "))"
}

// FilterConnectSyncGroups matches the groups Connect Sync's group writeback
// wrote (adminDescription Group_<id>; ANDed with objectCategory=group by
// Groups).
const FilterConnectSyncGroups = "(adminDescription=Group_*)"

// FilterAnchoredProtected matches the objects carrying a Group_ anchor and
// adminCount=1 (AdminSDHolder protects them).
const FilterAnchoredProtected = "(&" + FilterAnchored + "(adminCount=1))"

// FilterDNs matches the objects at dns (distinguishedName is indexed: one
// search finds a batch of DNs anywhere under the base).
func FilterDNs(dns []string) string {
	return orOf([]string{"distinguishedName"}, dns, false)
}

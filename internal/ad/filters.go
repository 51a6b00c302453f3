package ad

import (
	"fmt"
	"strings"
)

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

// The account flags and groups that make a user account a domain
// controller's or a trust's (userAccountControl bits, primaryGroupID RIDs).
const (
	UACInterdomainTrust    = 0x800
	UACServerTrust         = 0x2000
	RIDDomainControllers   = 516
	RIDReadOnlyControllers = 521
)

// matchingRuleBitAnd is LDAP_MATCHING_RULE_BIT_AND: a bit set in a flags
// attribute.
const matchingRuleBitAnd = "1.2.840.113556.1.4.803"

// orBytes is (|(attr=v1)(attr=v2)...) over binary values.
func orBytes(attr string, values [][]byte) string {
	var f strings.Builder
	f.WriteString("(|")
	for _, v := range values {
		f.WriteString("(" + attr + "=" + EscapeFilterBytes(v) + ")")
	}
	f.WriteString(")")
	return f.String()
}

func guidBytes(guids []GUID) [][]byte {
	out := make([][]byte, len(guids))
	for i, g := range guids {
		out[i] = g.AD()
	}
	return out
}

// FilterGUIDs matches the objects whose objectGUID is one of guids.
func FilterGUIDs(guids []GUID) string { return orBytes("objectGUID", guidBytes(guids)) }

// FilterPersonsWithConsistencyGUID matches the users carrying an
// mS-DS-ConsistencyGuid (not indexed: a scan of the domain's users).
const FilterPersonsWithConsistencyGUID = "(&(objectCategory=person)(mS-DS-ConsistencyGuid=*))"

// FilterPersonsByConsistencyGUIDs matches the users whose
// mS-DS-ConsistencyGuid is one of guids.
func FilterPersonsByConsistencyGUIDs(guids []GUID) string {
	return "(&(objectCategory=person)" + orBytes("mS-DS-ConsistencyGuid", guidBytes(guids)) + ")"
}

// FilterCriticalOrProtectedAccounts matches the users and computers that
// are critical system objects or protected by AdminSDHolder (adminCount=1):
// a small set, read in one pass when many objects are asked about.
const FilterCriticalOrProtectedAccounts = "(&(|(objectCategory=person)(objectCategory=computer))(|(isCriticalSystemObject=TRUE)(adminCount=1)))"

// FilterNotPlainUsersAmong matches, of the objects whose objectGUID is one
// of guids, those that are anything but a plain user account: not of class
// user, or a computer, group, contact or inetOrgPerson, a domain controller
// or trust account, a critical system object, or with a non-zero adminCount.
// The conditions are negated, so an attribute the account cannot read
// counts as absent and the object matches rather than passes.
func FilterNotPlainUsersAmong(guids []GUID) string {
	return "(&" + FilterGUIDs(guids) + notPlainUser + ")"
}

var notPlainUser = fmt.Sprintf("(|(!(objectClass=user))(objectClass=computer)(objectClass=group)(objectClass=contact)(objectClass=inetOrgPerson)"+
	"(userAccountControl:%[1]s:=%[2]d)(userAccountControl:%[1]s:=%[3]d)(primaryGroupID=%[4]d)(primaryGroupID=%[5]d)"+
	"(isCriticalSystemObject=TRUE)(&(adminCount=*)(!(adminCount=0))))",
	matchingRuleBitAnd, UACServerTrust, UACInterdomainTrust, RIDDomainControllers, RIDReadOnlyControllers)

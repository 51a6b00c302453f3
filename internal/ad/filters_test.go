package ad_test

import (
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
)

// Every filter writeback asks with is valid LDAP, also with values that
// need escaping (a parenthesis in an anchor, a NUL byte in a GUID).
func TestFiltersCompile(t *testing.T) {
	var g ad.GUID
	g[0], g[3], g[15] = 0x28, 0x00, 0x5c
	guids := []ad.GUID{g, {}}
	values := []string{"Group_a(b)*", `x\y`}
	for name, f := range map[string]string{
		"AnyObject":                   ad.FilterAnyObject,
		"Anchored":                    ad.FilterAnchored,
		"MarkedGroups":                ad.FilterMarkedGroups,
		"ConnectSyncGroups":           ad.FilterConnectSyncGroups,
		"AnchoredProtected":           ad.FilterAnchoredProtected,
		"Anchors":                     ad.FilterAnchors(values),
		"GroupsMarked":                ad.FilterGroupsMarked(values),
		"SAMAccountNames":             ad.FilterSAMAccountNames(values...),
		"SAMAccountName":              ad.FilterSAMAccountNames(values[0]),
		"SIDs":                        ad.FilterSIDs([]string{"S-1-5-21-1-2-3-512", "not a SID"}),
		"ProtectedParentsOf":          ad.FilterProtectedParentsOf("CN=a\\,b (c),DC=test"),
		"DNs":                         ad.FilterDNs([]string{"CN=a\\,b (c),DC=test"}),
		"ChangedSince":                ad.ChangedSinceFilter(42),
		"GUIDs":                       ad.FilterGUIDs(guids),
		"PersonsWithConsistencyGUID":  ad.FilterPersonsWithConsistencyGUID,
		"PersonsByConsistencyGUIDs":   ad.FilterPersonsByConsistencyGUIDs(guids),
		"CriticalOrProtectedAccounts": ad.FilterCriticalOrProtectedAccounts,
		"NotPlainUsersAmong":          ad.FilterNotPlainUsersAmong(guids),
	} {
		if _, err := ldap.CompileFilter(f); err != nil {
			t.Errorf("%s: %q does not compile: %v", name, f, err)
		}
	}
}

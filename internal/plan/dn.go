package plan

import "github.com/writeback/writeback/internal/ldapdn"

// rdnValue is the unescaped value of the first RDN (case preserved), so a
// case-only rename is still a rename; a DN that does not parse gives its
// first RDN as written.
func rdnValue(dn string) string {
	rdns, err := ldapdn.Parse(dn)
	if err != nil || len(rdns) == 0 {
		return ldapdn.FirstRDN(dn)
	}
	return rdns[0][0].Value
}

package plan

import (
	"sort"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// NormDN is a DN's comparison key: parsed, re-escaped, lower-cased, so that
// "CN=a\2Cb, OU=X" and "cn=a\,b,ou=x" compare equal. An unparsable DN falls
// back to its lower-cased text.
func NormDN(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	rdns := make([]string, len(d.RDNs))
	for i, r := range d.RDNs {
		parts := make([]string, len(r.Attributes))
		for j, a := range r.Attributes {
			parts[j] = strings.ToLower(a.String())
		}
		sort.Strings(parts) // multi-valued RDNs have no order
		rdns[i] = strings.Join(parts, "+")
	}
	return strings.Join(rdns, ",")
}

// rdn is the first RDN as written ("CN=x"), parentDN the rest.
func rdn(dn string) string {
	i := firstSep(dn)
	if i < 0 {
		return dn
	}
	return dn[:i]
}

func parentDN(dn string) string {
	i := firstSep(dn)
	if i < 0 {
		return ""
	}
	return strings.TrimLeft(dn[i+1:], " ")
}

// firstSep finds the first unescaped comma.
func firstSep(dn string) int {
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++
		case ',':
			return i
		}
	}
	return -1
}

// rdnValue is the unescaped value of the first RDN (case preserved), so a
// case-only rename is still a rename.
func rdnValue(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 || len(d.RDNs[0].Attributes) == 0 {
		return rdn(dn)
	}
	return d.RDNs[0].Attributes[0].Value
}

// isUnder reports whether dn's parent is ou.
func isUnder(dn, ou string) bool { return NormDN(parentDN(dn)) == NormDN(ou) }

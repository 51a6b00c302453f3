package plan

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

// NormDN is a DN's comparison key: parsed, re-escaped, lower-cased, so that
// "CN=a\2Cb, OU=X" and "cn=a\,b,ou=x" compare equal. An unparsable DN falls
// back to its lower-cased text.
func NormDN(dn string) string {
	if n, ok := normPlainDN(dn); ok {
		return n
	}
	return normParsedDN(dn)
}

// normParsedDN is NormDN through the full RFC 4514 parser.
func normParsedDN(dn string) string {
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

// normPlainDN computes NormDN without the parser for the DNs AD returns almost
// always: single-valued RDNs, no escapes, quotes or hex values. A full round
// compares every member value of every group, so the parser's allocations
// dominated planning. ok is false when the DN needs the parser; otherwise the
// result equals normParsedDN's (FuzzNormDN checks that).
func normPlainDN(dn string) (string, bool) {
	if dn == "" || !utf8.ValidString(dn) {
		return "", false
	}
	const hexd = "0123456789abcdef"
	b := make([]byte, 0, len(dn)+8)
	start := 0
	for i := 0; i <= len(dn); i++ {
		if i < len(dn) {
			c := dn[i]
			if c < ' ' || c == 0x7f {
				return "", false
			}
			switch c {
			case '\\', '"', '+', ';', '<', '>', '#':
				return "", false
			}
			if c != ',' {
				continue
			}
		}
		part := dn[start:i]
		eq := strings.IndexByte(part, '=')
		if eq < 0 {
			return "", false
		}
		typ, val := strings.Trim(part[:eq], " "), strings.Trim(part[eq+1:], " ")
		if typ == "" {
			return "", false
		}
		if start > 0 {
			b = append(b, ',')
		}
		for j := 0; j < len(typ); j++ {
			c := typ[j]
			if c > '~' {
				return "", false
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
		}
		b = append(b, '=')
		for j := 0; j < len(val); j++ {
			switch c := val[j]; {
			case c > '~':
				// The parser's encoder hex-escapes every non-ASCII byte.
				b = append(b, '\\', hexd[c>>4], hexd[c&15])
			case 'A' <= c && c <= 'Z':
				b = append(b, c+'a'-'A')
			default:
				b = append(b, c)
			}
		}
		start = i + 1
	}
	return string(b), true
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

// Within reports whether dn is base or an object in base's subtree
// (compared normalized: case, spaces, escapes).
func Within(dn, base string) bool {
	if base == "" {
		return true
	}
	d, b := NormDN(dn), NormDN(base)
	return d == b || strings.HasSuffix(d, ","+b)
}

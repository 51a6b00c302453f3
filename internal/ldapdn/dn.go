// Package ldapdn is writeback's one implementation of LDAP distinguished names
// (RFC 4514, also accepting RFC 2253 quoted values and ';' separators): parse,
// escape, compare, parent, first RDN and the normal form used as a
// comparison key. ad, plan, resolve, migrate, engine and expr all use it, so
// two packages can no longer disagree about where a DN's parent starts.
//
// go-ldap's ldap.ParseDN (v3.4) refuses RFC 2253 quoted values
// (CN="a,b",...), which AD accepts in a search base, so the parser is our own;
// only #hex (BER) values are decoded through go-ldap. (The package is not
// called dn because dn is what every caller names its DN variables.)
package ldapdn

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// AVA is one attribute=value pair of an RDN, unescaped.
type AVA struct{ Type, Value string }

// RDN is one relative distinguished name; AD's have exactly one AVA.
type RDN []AVA

// Parse parses dn into unescaped RDNs, most specific first. A blank dn is no
// RDNs and no error.
func Parse(dn string) ([]RDN, error) {
	if strings.TrimSpace(dn) == "" {
		return nil, nil
	}
	var (
		rdns []RDN
		cur  RDN
		i    int
	)
	for {
		typ, n, err := parseType(dn, i)
		if err != nil {
			return nil, err
		}
		i = n + 1 // past '='
		val, n, err := parseValue(dn[i:])
		if err != nil {
			return nil, fmt.Errorf("DN %q: value of %s at offset %d: %w", dn, typ, i, err)
		}
		i += n
		cur = append(cur, AVA{Type: typ, Value: val})
		if i >= len(dn) {
			return append(rdns, cur), nil
		}
		if dn[i] != '+' { // ',' or ';'
			rdns = append(rdns, cur)
			cur = nil
		}
		i++
	}
}

// parseType reads an attribute type starting at i and returns it trimmed with
// the offset of the '=' that ends it.
func parseType(dn string, i int) (string, int, error) {
	for i < len(dn) && dn[i] == ' ' {
		i++
	}
	start := i
	for i < len(dn) && dn[i] != '=' {
		if strings.IndexByte(",+;\\\"", dn[i]) >= 0 {
			return "", 0, fmt.Errorf("DN %q: attribute type at offset %d: unexpected %q", dn, i, dn[i])
		}
		i++
	}
	if i >= len(dn) {
		return "", 0, fmt.Errorf("DN %q: missing '=' after attribute type at offset %d", dn, start)
	}
	typ := strings.Trim(dn[start:i], " ")
	if typ == "" {
		return "", 0, fmt.Errorf("DN %q: empty attribute type at offset %d", dn, start)
	}
	return typ, i, nil
}

// parseValue reads one attribute value up to an unescaped separator and returns
// it unescaped with the number of bytes consumed (separator not included).
func parseValue(s string) (string, int, error) {
	i := 0
	for i < len(s) && s[i] == ' ' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '#':
		return parseHexValue(s, i)
	case i < len(s) && s[i] == '"':
		return parseQuotedValue(s, i+1)
	}
	var b []byte
	keep := 0 // length of b that must survive trailing-space trimming
	for i < len(s) {
		c := s[i]
		if strings.IndexByte(",+;", c) >= 0 {
			break
		}
		if c == '\\' {
			r, n, err := unescape(s[i:])
			if err != nil {
				return "", 0, err
			}
			b = append(b, r)
			keep = len(b)
			i += n
			continue
		}
		if c == '"' || c == 0 {
			return "", 0, fmt.Errorf("character %q must be escaped", c)
		}
		b = append(b, c)
		if c != ' ' {
			keep = len(b)
		}
		i++
	}
	return string(b[:keep]), i, nil
}

// parseQuotedValue reads an RFC 2253 quoted value whose opening quote ends
// just before i.
func parseQuotedValue(s string, i int) (string, int, error) {
	var b []byte
	for {
		if i >= len(s) {
			return "", 0, errors.New("unterminated quoted value")
		}
		c := s[i]
		if c == '"' {
			i++
			break
		}
		if c == '\\' {
			r, n, err := unescape(s[i:])
			if err != nil {
				return "", 0, err
			}
			b = append(b, r)
			i += n
			continue
		}
		b = append(b, c)
		i++
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i < len(s) && strings.IndexByte(",+;", s[i]) < 0 {
		return "", 0, fmt.Errorf("unexpected %q after quoted value", s[i])
	}
	return string(b), i, nil
}

// parseHexValue reads a "#<hex BER>" value starting at i; go-ldap decodes the
// BER (its parser is right for this form).
func parseHexValue(s string, i int) (string, int, error) {
	start := i
	i++
	for i < len(s) && isHex(s[i]) {
		i++
	}
	end := i
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i < len(s) && strings.IndexByte(",+;", s[i]) < 0 {
		return "", 0, fmt.Errorf("unexpected %q in hex-encoded value", s[i])
	}
	d, err := ldap.ParseDN("x=" + s[start:end])
	if err != nil || len(d.RDNs) != 1 || len(d.RDNs[0].Attributes) != 1 {
		return "", 0, fmt.Errorf("hex-encoded value %q: %v", s[start:end], err)
	}
	return d.RDNs[0].Attributes[0].Value, i, nil
}

// unescape decodes "\X" or "\HH" at the start of s.
func unescape(s string) (byte, int, error) {
	if len(s) < 2 {
		return 0, 0, errors.New("trailing backslash")
	}
	if isHex(s[1]) && len(s) >= 3 && isHex(s[2]) {
		v, _ := hex.DecodeString(s[1:3])
		return v[0], 3, nil
	}
	if strings.IndexByte(" \"#+,;<=>\\", s[1]) >= 0 {
		return s[1], 2, nil
	}
	return 0, 0, fmt.Errorf("invalid escape %q", s[:2])
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Escape escapes an attribute value for use in a DN (RFC 4514): the specials
// ",+\"\\<>;=" get a backslash, as do a leading '#' or space and a trailing
// space; NUL and other control characters become \XX.
func Escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\%02X", c)
		case strings.IndexByte(",+\"\\<>;=", c) >= 0,
			i == 0 && (c == ' ' || c == '#'),
			i == len(s)-1 && c == ' ':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Format writes RDNs back as a DN string, escaping every value.
func Format(rdns []RDN) string {
	var b strings.Builder
	for i, r := range rdns {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, a := range r {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(a.Type)
			b.WriteByte('=')
			b.WriteString(Escape(a.Value))
		}
	}
	return b.String()
}

// Parent returns dn without its first RDN, in the caller's own spelling (an
// unchanged parent must compare equal as text, or it reads as a move); ""
// when dn has a single RDN. Quoted values and ';' separators are honoured.
func Parent(dn string) string {
	if i := firstSep(dn); i >= 0 {
		return trimUnescaped(dn[i+1:])
	}
	return ""
}

// FirstRDN returns dn's first RDN as written ("CN=a\,b"), or dn itself when it
// has a single RDN.
func FirstRDN(dn string) string {
	if i := firstSep(dn); i >= 0 {
		return trimUnescaped(dn[:i])
	}
	return dn
}

// trimUnescaped trims the spaces around an RDN, but not an escaped one at
// its end ("CN=a\ " keeps its "\ ": the space is the value's).
func trimUnescaped(s string) string {
	s = strings.TrimLeft(s, " ")
	for strings.HasSuffix(s, " ") {
		n := 0
		for j := len(s) - 2; j >= 0 && s[j] == '\\'; j-- {
			n++
		}
		if n%2 == 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// firstSep finds the first RDN separator (',' or ';') outside escapes and
// quotes.
func firstSep(dn string) int {
	inQuote := false
	for i := 0; i < len(dn); i++ {
		switch c := dn[i]; {
		case c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && (c == ',' || c == ';'):
			return i
		}
	}
	return -1
}

// RDNValue returns the unescaped value of dn's first RDN, case preserved
// ("Sales" for "CN=Sales,OU=Groups,..."); "" when dn does not parse.
func RDNValue(dn string) string {
	rdns, err := Parse(dn)
	if err != nil || len(rdns) == 0 {
		return ""
	}
	return rdns[0][0].Value
}

// Norm is dn's comparison key: parsed, lower-cased (AD compares names
// case-insensitively), re-escaped one way, the AVAs of a multi-valued RDN
// sorted; so "CN=a\2Cb, OU=X", `cn="a,b",ou=x` and "cn=a\,b,ou=x" have the same
// key. A DN that does not parse falls back to its trimmed, lower-cased text.
func Norm(dn string) string {
	if n, ok := normPlain(dn); ok {
		return n
	}
	return normParsed(dn)
}

// normParsed is Norm through the parser.
func normParsed(dn string) string {
	rdns, err := Parse(dn)
	if err != nil {
		// The fallback is the trimmed text; when trimming is what makes it
		// parse (a tab after a quoted value), its key is the parsed one, so
		// that Norm stays idempotent.
		if t := strings.TrimSpace(dn); t != dn {
			return Norm(t)
		}
		return strings.ToLower(dn)
	}
	out := make([]string, len(rdns))
	for i, r := range rdns {
		parts := make([]string, len(r))
		for j, a := range r {
			parts[j] = strings.ToLower(a.Type) + "=" + Escape(strings.ToLower(a.Value))
		}
		slices.Sort(parts) // multi-valued RDNs have no order
		out[i] = strings.Join(parts, "+")
	}
	return strings.Join(out, ",")
}

// Equal reports whether a and b name the same object, ignoring case, spaces
// and escaping style.
func Equal(a, b string) bool { return a == b || Norm(a) == Norm(b) }

// Within reports whether dn is base or an object in base's subtree (compared
// normalized). An empty base contains everything.
func Within(dn, base string) bool {
	if base == "" {
		return true
	}
	d, b := Norm(dn), Norm(base)
	return d == b || strings.HasSuffix(d, ","+b)
}

// DomainNC returns the naming context of the domain holding dn: its
// trailing DC= components ("DC=child,DC=x" for an object of a child domain
// of DC=x), or "" when it has none.
func DomainNC(dn string) string {
	for p := trimUnescaped(dn); p != ""; p = Parent(p) {
		if len(p) >= 3 && strings.EqualFold(p[:3], "dc=") {
			return p
		}
	}
	return ""
}

// DNSName turns a domain naming context into its DNS name, lower-case
// (DC=Contoso,DC=com -> contoso.com); the RDNs that are not DC= are left out.
func DNSName(dn string) string {
	rdns, err := Parse(dn)
	if err != nil {
		return ""
	}
	var parts []string
	for _, rdn := range rdns {
		if strings.EqualFold(rdn[0].Type, "DC") {
			parts = append(parts, rdn[0].Value)
		}
	}
	return strings.ToLower(strings.Join(parts, "."))
}

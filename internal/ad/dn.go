package ad

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxRDNLength is the rangeUpper of cn and ou in the AD schema, in UTF-16 code units.
const MaxRDNLength = 64

// EscapeFilter escapes an assertion value for an LDAP filter (RFC 4515):
// '*', '(', ')', '\' and NUL become \2a, \28, \29, \5c, \00. Other bytes,
// including UTF-8, pass through as AD compares UTF-8 octets.
func EscapeFilter(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError:
			// go-ldap's filter compiler refuses a literal U+FFFD (and
			// invalid UTF-8) as a rune it cannot read; as \ef\bf\bd it is a
			// plain value (a display name with U+FFFD was otherwise never
			// provisionable).
			for _, c := range []byte(s[i : i+size]) {
				fmt.Fprintf(&b, "\\%02x", c)
			}
		case r == '*' || r == '(' || r == ')' || r == '\\' || r == 0:
			fmt.Fprintf(&b, "\\%02x", r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// EscapeFilterBytes escapes every byte, for binary assertion values such as
// objectGUID and objectSid.
func EscapeFilterBytes(v []byte) string {
	var b strings.Builder
	b.Grow(3 * len(v))
	const hexd = "0123456789abcdef"
	for _, c := range v {
		b.WriteByte('\\')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// EscapeRDNValue escapes an attribute value for use in a DN (RFC 4514): the
// specials ",+\"\\<>;=" get a backslash, as do a leading '#' or space and a
// trailing space; NUL and other control characters become \XX.
func EscapeRDNValue(s string) string {
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

// JoinDN builds "<rdnAttr>=<escaped value>,<parent>". It rejects values AD
// cannot hold as a cn/ou: empty, longer than 64 UTF-16 code units, invalid
// UTF-8, or containing NUL.
func JoinDN(rdnAttr, value, parent string) (string, error) {
	if err := ValidateRDNValue(rdnAttr, value); err != nil {
		return "", err
	}
	dn := rdnAttr + "=" + EscapeRDNValue(value)
	if parent != "" {
		dn += "," + parent
	}
	return dn, nil
}

// ValidateRDNValue says why value cannot be the naming attribute of an AD object.
func ValidateRDNValue(rdnAttr, value string) error {
	switch {
	case value == "":
		return fmt.Errorf("%s is empty", rdnAttr)
	case !utf8.ValidString(value):
		return fmt.Errorf("%s %q is not valid UTF-8", rdnAttr, value)
	case strings.IndexByte(value, 0) >= 0:
		return fmt.Errorf("%s %q contains a NUL character, which AD does not allow in a name", rdnAttr, value)
	}
	// Windows answers namingViolation (64) for a line feed or any other
	// control character in an RDN; Samba accepts them, so the lab would not
	// notice.
	if i := strings.IndexFunc(value, unicode.IsControl); i >= 0 {
		c, _ := utf8.DecodeRuneInString(value[i:])
		return fmt.Errorf("%s %q contains the control character %U, which AD does not allow in a name: rename the group in Entra", rdnAttr, value, c)
	}
	if n := len(utf16.Encode([]rune(value))); n > MaxRDNLength {
		return fmt.Errorf("%s %q is %d characters (UTF-16 units) long; AD allows at most %d: shorten the name or its mapping (e.g. Left(..., %d))",
			rdnAttr, value, n, MaxRDNLength, MaxRDNLength)
	}
	return nil
}

// AVA is one attribute=value pair of an RDN, unescaped.
type AVA struct{ Type, Value string }

// RDN is one relative distinguished name; AD's have exactly one AVA.
type RDN []AVA

// ParseDN parses an RFC 4514 DN (also accepting RFC 2253 quoted values and ';'
// separators) into unescaped RDNs, most specific first.
func ParseDN(dn string) ([]RDN, error) {
	if strings.TrimSpace(dn) == "" {
		return nil, nil
	}
	var (
		rdns []RDN
		cur  RDN
		i    int
	)
	for {
		// attribute type
		for i < len(dn) && dn[i] == ' ' {
			i++
		}
		start := i
		for i < len(dn) && dn[i] != '=' {
			if strings.IndexByte(",+;\\\"", dn[i]) >= 0 {
				return nil, fmt.Errorf("DN %q: attribute type at offset %d: unexpected %q", dn, i, dn[i])
			}
			i++
		}
		if i >= len(dn) {
			return nil, fmt.Errorf("DN %q: missing '=' after attribute type at offset %d", dn, start)
		}
		typ := strings.TrimSpace(dn[start:i])
		if typ == "" {
			return nil, fmt.Errorf("DN %q: empty attribute type at offset %d", dn, start)
		}
		i++ // '='
		val, n, err := parseValue(dn[i:])
		if err != nil {
			return nil, fmt.Errorf("DN %q: value of %s at offset %d: %w", dn, typ, i, err)
		}
		i += n
		cur = append(cur, AVA{Type: typ, Value: val})
		if i >= len(dn) {
			rdns = append(rdns, cur)
			return rdns, nil
		}
		switch dn[i] {
		case '+':
		case ',', ';':
			rdns = append(rdns, cur)
			cur = nil
		}
		i++
	}
}

// parseValue reads one attribute value up to an unescaped separator and returns
// it unescaped with the number of bytes consumed (separator not included).
func parseValue(s string) (string, int, error) {
	i := 0
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i < len(s) && s[i] == '#' {
		return "", 0, errors.New("hex-encoded (#...) values are not supported")
	}
	var b []byte
	if i < len(s) && s[i] == '"' { // RFC 2253 quoted value
		i++
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

// FormatDN writes RDNs back as a DN string, escaping every value.
func FormatDN(rdns []RDN) string {
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
			b.WriteString(EscapeRDNValue(a.Value))
		}
	}
	return b.String()
}

// ParentDN returns dn without its first RDN, in the server's own spelling;
// "" when dn has a single RDN or does not parse.
func ParentDN(dn string) string {
	inQuote := false
	for i := 0; i < len(dn); i++ {
		switch c := dn[i]; {
		case c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && (c == ',' || c == ';'):
			return strings.TrimSpace(dn[i+1:])
		}
	}
	return ""
}

// RDNValue returns the unescaped value of dn's first RDN ("Sales" for
// "CN=Sales,OU=Groups,..."); "" when dn does not parse.
func RDNValue(dn string) string {
	rdns, err := ParseDN(dn)
	if err != nil || len(rdns) == 0 {
		return ""
	}
	return rdns[0][0].Value
}

// NormalizeDN returns a canonical spelling of dn for comparisons: attribute
// types upper-cased, values lower-cased (AD compares names case-insensitively)
// and re-escaped one way. A DN that does not parse is returned lower-cased.
func NormalizeDN(dn string) string {
	rdns, err := ParseDN(dn)
	if err != nil {
		return strings.ToLower(dn)
	}
	for _, r := range rdns {
		for j := range r {
			r[j].Type = strings.ToUpper(r[j].Type)
			r[j].Value = strings.ToLower(r[j].Value)
		}
	}
	return FormatDN(rdns)
}

// EqualDN reports whether a and b name the same object, ignoring case and escaping style.
func EqualDN(a, b string) bool { return a == b || NormalizeDN(a) == NormalizeDN(b) }

package ad

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/writeback/writeback/internal/ldapdn"
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

// JoinDN builds "<rdnAttr>=<escaped value>,<parent>". It rejects values AD
// cannot hold as a cn/ou: empty, longer than 64 UTF-16 code units, invalid
// UTF-8, or containing NUL.
func JoinDN(rdnAttr, value, parent string) (string, error) {
	if err := ValidateRDNValue(rdnAttr, value); err != nil {
		return "", err
	}
	dn := rdnAttr + "=" + ldapdn.Escape(value)
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

package ldapdn

import (
	"strings"
	"unicode/utf8"
)

// normPlain computes Norm without the parser for the DNs AD returns almost
// always: single-valued RDNs, no escapes, quotes or hex values. A full round
// compares every member value of every group, so the parser's allocations
// dominated planning. ok is false when the DN needs the parser; otherwise the
// result equals normParsed's (FuzzNormPlain checks that).
func normPlain(dn string) (string, bool) {
	if dn == "" || !utf8.ValidString(dn) {
		return "", false
	}
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
		var ok bool
		if b, ok = appendPlainRDN(b, dn[start:i], start > 0); !ok {
			return "", false
		}
		start = i + 1
	}
	return string(b), true
}

// appendPlainRDN appends the normal form of one "type=value" part.
func appendPlainRDN(b []byte, part string, comma bool) ([]byte, bool) {
	eq := strings.IndexByte(part, '=')
	if eq < 0 {
		return b, false
	}
	typ, val := strings.Trim(part[:eq], " "), strings.Trim(part[eq+1:], " ")
	if typ == "" {
		return b, false
	}
	if comma {
		b = append(b, ',')
	}
	ascii := true
	for j := 0; j < len(typ); j++ {
		if typ[j] >= utf8.RuneSelf {
			ascii = false
		}
	}
	for j := 0; j < len(val); j++ {
		if val[j] >= utf8.RuneSelf {
			ascii = false
		}
	}
	if !ascii {
		// Unicode lower-casing: rare enough to pay for.
		typ, val = strings.ToLower(typ), strings.ToLower(val)
	}
	b = appendLower(b, typ)
	b = append(b, '=')
	for j := 0; j < len(val); j++ {
		switch c := val[j]; {
		case c == '=':
			b = append(b, '\\', '=')
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			b = append(b, c)
		}
	}
	return b, true
}

func appendLower(b []byte, s string) []byte {
	for j := 0; j < len(s); j++ {
		c := s[j]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

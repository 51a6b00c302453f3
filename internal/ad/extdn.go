package ad

import (
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// OIDExtendedDN is LDAP_SERVER_EXTENDED_DN_OID ([MS-ADTS] 3.1.1.3.4.1.5):
// every DN in the response comes as "<GUID=g>;<SID=s>;dn" (SID only for
// security principals). Samba supports it too.
const OIDExtendedDN = "1.2.840.113556.1.4.529"

// MemberID identifies a member value's object independently of its DN.
type MemberID struct {
	GUID GUID   // zero when the server sent none
	SID  string // "S-1-5-..."; "" for objects without objectSid
}

// extendedDNControl asks for the string form (flag 1): canonical GUIDs and
// S-1-... SIDs, not hex.
type extendedDNControl struct{}

func (extendedDNControl) GetControlType() string { return OIDExtendedDN }
func (extendedDNControl) String() string         { return "Extended DN (string form)" }
func (extendedDNControl) Encode() *ber.Packet {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Control")
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, OIDExtendedDN, "Control Type"))
	val := ber.Encode(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, nil, "Control Value")
	seq := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "ExtendedDNRequestValue")
	seq.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(1), "Flag"))
	val.AppendChild(seq)
	p.AppendChild(val)
	return p
}

// ParseExtendedDN splits "<GUID=g>;<SID=s>;dn" (either component optional, in
// any order, hex or string form) into the plain DN and the identifiers. A
// value without the prefix is returned unchanged with zero identifiers.
func ParseExtendedDN(v string) (dn string, guid GUID, sid string) {
	rest := v
	for strings.HasPrefix(rest, "<") {
		end := strings.Index(rest, ">;")
		if end < 0 {
			return v, GUID{}, ""
		}
		k, val, ok := strings.Cut(rest[1:end], "=")
		if !ok {
			return v, GUID{}, ""
		}
		switch strings.ToUpper(k) {
		case "GUID":
			g, err := parseExtGUID(val)
			if err != nil {
				return v, GUID{}, ""
			}
			guid = g
		case "SID":
			s, ok := parseExtSID(val)
			if !ok {
				return v, GUID{}, ""
			}
			sid = s
		default:
			return v, GUID{}, ""
		}
		rest = rest[end+2:]
	}
	return rest, guid, sid
}

// parseExtGUID accepts the string form and the hex form (AD's byte order).
func parseExtGUID(s string) (GUID, error) {
	if len(s) == 32 {
		b, ok := decodeHex(s)
		if ok {
			return GUIDFromAD(b)
		}
	}
	return ParseGUID(s)
}

func parseExtSID(s string) (string, bool) {
	if strings.HasPrefix(strings.ToUpper(s), "S-") {
		// A copy: s is part of the whole extended DN, which a caller keeping
		// only the SID would otherwise keep alive.
		return strings.Clone(strings.ToUpper(s)), true
	}
	b, ok := decodeHex(s)
	if !ok {
		return "", false
	}
	out, err := SIDFromAD(b)
	return out, err == nil
}

func decodeHex(s string) ([]byte, bool) {
	if len(s)%2 != 0 {
		return nil, false
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		hi, ok1 := hexVal(s[2*i])
		lo, ok2 := hexVal(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		out[i] = hi<<4 | lo
	}
	return out, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

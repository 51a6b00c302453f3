package ad

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// GUID is an objectGUID in canonical (RFC 4122 string) byte order: the order
// Graph's onPremisesObjectIdentifier is written in. AD stores the first three
// fields little-endian; AD and GUIDFromAD convert.
type GUID [16]byte

// ParseGUID parses the canonical form "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
// (case-insensitive, optional braces).
func ParseGUID(s string) (GUID, error) {
	var g GUID
	t := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if len(t) != 36 || t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
		return g, fmt.Errorf("GUID %q: want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s)
	}
	h := t[0:8] + t[9:13] + t[14:18] + t[19:23] + t[24:36]
	if _, err := hex.Decode(g[:], []byte(h)); err != nil {
		return GUID{}, fmt.Errorf("GUID %q: want hexadecimal digits: %w", s, err)
	}
	return g, nil
}

// GUIDFromAD converts the 16 bytes of an objectGUID value as AD returns them.
func GUIDFromAD(b []byte) (GUID, error) {
	var g GUID
	if len(b) != 16 {
		return g, fmt.Errorf("objectGUID: %d bytes, want 16", len(b))
	}
	binary.BigEndian.PutUint32(g[0:4], binary.LittleEndian.Uint32(b[0:4]))
	binary.BigEndian.PutUint16(g[4:6], binary.LittleEndian.Uint16(b[4:6]))
	binary.BigEndian.PutUint16(g[6:8], binary.LittleEndian.Uint16(b[6:8]))
	copy(g[8:], b[8:])
	return g, nil
}

// AD returns the binary layout AD stores (first three fields little-endian).
func (g GUID) AD() []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[0:4], binary.BigEndian.Uint32(g[0:4]))
	binary.LittleEndian.PutUint16(b[4:6], binary.BigEndian.Uint16(g[4:6]))
	binary.LittleEndian.PutUint16(b[6:8], binary.BigEndian.Uint16(g[6:8]))
	copy(b[8:], g[8:])
	return b
}

// String is the canonical lower-case form.
func (g GUID) String() string {
	h := hex.EncodeToString(g[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// IsZero reports whether g is the all-zero GUID.
func (g GUID) IsZero() bool { return g == GUID{} }

// Filter returns an LDAP filter matching the object with this objectGUID.
func (g GUID) Filter() string { return "(objectGUID=" + EscapeFilterBytes(g.AD()) + ")" }

// SIDFromAD converts a binary objectSid to its "S-1-5-21-..." string.
func SIDFromAD(b []byte) (string, error) {
	if len(b) < 8 || b[0] != 1 || len(b) != 8+4*int(b[1]) {
		return "", fmt.Errorf("objectSid: %d bytes is not a valid SID", len(b))
	}
	var auth uint64
	for _, c := range b[2:8] {
		auth = auth<<8 | uint64(c)
	}
	var sb strings.Builder
	sb.WriteString("S-1-")
	sb.WriteString(strconv.FormatUint(auth, 10))
	for i := 0; i < int(b[1]); i++ {
		sb.WriteByte('-')
		sb.WriteString(strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10))
	}
	return sb.String(), nil
}

// SIDToAD converts "S-1-5-21-..." to the binary layout AD stores.
func SIDToAD(s string) ([]byte, error) {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || !strings.EqualFold(parts[0], "S") || parts[1] != "1" || len(parts)-3 > 15 {
		return nil, fmt.Errorf("SID %q: want S-1-<authority>-<subauthority>, with at most 15 subauthorities", s)
	}
	auth, err := strconv.ParseUint(parts[2], 10, 48)
	if err != nil {
		return nil, fmt.Errorf("SID %q: identifier authority: %w", s, err)
	}
	sub := parts[3:]
	b := make([]byte, 8+4*len(sub))
	b[0], b[1] = 1, byte(len(sub))
	for i := 0; i < 6; i++ {
		b[7-i] = byte(auth >> (8 * i))
	}
	for i, p := range sub {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("SID %q: sub-authority %q: %w", s, p, err)
		}
		binary.LittleEndian.PutUint32(b[8+4*i:], uint32(v))
	}
	return b, nil
}

package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// What the engine records about the domain controller its rounds work on:
// the DC the last applied round used (issue #20: a round on another DC reads
// everything again), when rounds last moved to another DC (creates of groups
// written just before the move wait for replication), and the uSNChanged
// high-water mark of AD changes already compared (tampering repaired in
// seconds). Callers use the typed accessors below; the keys and encodings
// are those of earlier versions, so an upgraded state keeps its marks.
const (
	// metaADMark is the high-water mark, as JSON (ADMark).
	metaADMark = "adChangeMark"
	// metaDC is the DC the last applied round worked on: "<dsServiceName>|<invocationId>".
	metaDC = "dc"
	// metaDCMovedAt is the DC rounds last moved to and when: "<dsServiceName>|<invocationId> <RFC 3339>".
	metaDCMovedAt = "dcMovedAt"
)

// ErrUnreadable means a record in the state does not decode (edited by
// hand, or written by a broken version): the caller treats it as absent
// and says so.
var ErrUnreadable = errors.New("unreadable record")

// ADMark is the high-water mark of AD changes: every change the DC's
// database named by InvocationID committed up to USN has been compared.
type ADMark struct {
	InvocationID string `json:"invocationId"`
	DC           string `json:"dc"` // dsServiceName, for messages
	USN          int64  `json:"usn"`
}

// ADMark returns the recorded high-water mark: nil when none is recorded,
// and an error wrapping ErrUnreadable (naming the stored value) when the
// record does not decode or names no database.
func (db *DB) ADMark() (*ADMark, error) {
	v, err := db.meta(metaADMark)
	if err != nil || v == "" {
		return nil, err
	}
	var m ADMark
	if err := json.Unmarshal([]byte(v), &m); err != nil || m.InvocationID == "" {
		return nil, fmt.Errorf("the recorded AD high-water mark %q: %w", v, ErrUnreadable)
	}
	return &m, nil
}

// SetADMark records m as the high-water mark.
func (db *DB) SetADMark(m ADMark) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode the AD high-water mark: %w", err)
	}
	return db.setMeta(metaADMark, string(b))
}

// DCRef names a domain controller and its database: the DN of its nTDSDSA
// object and its invocationId (which changes when the DC is restored).
type DCRef struct {
	DSServiceName string
	InvocationID  string
}

// IsZero reports whether r names no DC.
func (r DCRef) IsZero() bool { return r.DSServiceName == "" && r.InvocationID == "" }

// Same reports whether r and o name the same DC and database (AD compares
// both case-insensitively).
func (r DCRef) Same(o DCRef) bool {
	return strings.EqualFold(r.DSServiceName, o.DSServiceName) && strings.EqualFold(r.InvocationID, o.InvocationID)
}

// String is r as stored: "<dsServiceName>|<invocationId>", "" for none.
func (r DCRef) String() string {
	if r.IsZero() {
		return ""
	}
	return r.DSServiceName + "|" + r.InvocationID
}

// parseDCRef reads a stored DCRef. It cuts at the last '|': an invocationId
// is a GUID, while a DN may in principle hold a '|'.
func parseDCRef(v string) DCRef {
	if i := strings.LastIndex(v, "|"); i >= 0 {
		return DCRef{DSServiceName: v[:i], InvocationID: v[i+1:]}
	}
	return DCRef{DSServiceName: v}
}

// PinnedDC returns the DC the last applied round worked on (zero before any).
func (db *DB) PinnedDC() (DCRef, error) {
	v, err := db.meta(metaDC)
	if err != nil {
		return DCRef{}, err
	}
	return parseDCRef(v), nil
}

// SetPinnedDC records the DC an applied round worked on.
func (db *DB) SetPinnedDC(r DCRef) error { return db.setMeta(metaDC, r.String()) }

// DCMove is the DC rounds last moved to, and when (zero: never moved; At
// is zero when the recorded time is unreadable).
type DCMove struct {
	To DCRef
	At time.Time
}

// DCMove returns the last move of rounds to another DC (zero when none is
// recorded).
func (db *DB) DCMove() (DCMove, error) {
	v, err := db.meta(metaDCMovedAt)
	if err != nil || v == "" {
		return DCMove{}, err
	}
	// The DN holds spaces ("CN=NTDS Settings,..."); the time is after the last.
	i := strings.LastIndex(v, " ")
	if i < 0 {
		return DCMove{}, nil
	}
	m := DCMove{To: parseDCRef(v[:i])}
	if t, err := time.Parse(time.RFC3339, v[i+1:]); err == nil {
		m.At = t
	}
	return m, nil
}

// SetDCMove records that rounds moved to m.To at m.At.
func (db *DB) SetDCMove(m DCMove) error {
	return db.setMeta(metaDCMovedAt, m.To.String()+" "+m.At.UTC().Format(time.RFC3339))
}

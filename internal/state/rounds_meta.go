package state

import (
	"strconv"
	"time"
)

// The keys of the round bookkeeping the engine, the daemon and 'writeback
// status' share. They are private: callers use the typed accessors below,
// so a key is spelt in one place.
const (
	// metaFullPending marks a full snapshot not yet planned in full; its
	// value identifies the snapshot that set it.
	metaFullPending = "fullPending"
	// metaLastFull is when a full round was last applied (RFC 3339).
	metaLastFull = "lastFull"
	// metaConfigFingerprint is the fingerprint (JSON, section -> hash) of
	// the configuration the last full round was applied with.
	metaConfigFingerprint = "configFingerprint"
	// metaGraphSelect is the Graph $select the stored delta links were made with.
	metaGraphSelect = "graphSelect"
)

// FullPending returns the mark of the full snapshot not yet planned in
// full, or "" when none is pending.
func (db *DB) FullPending() (string, error) { return db.meta(metaFullPending) }

// MarkFullPending records that a full snapshot begins now: a full round is
// pending until a full plan covering this mark is applied. It returns the mark.
func (db *DB) MarkFullPending(now time.Time) (string, error) {
	mark := strconv.FormatInt(now.UnixNano(), 36)
	return mark, db.setMeta(metaFullPending, mark)
}

// ClearFullPending clears the pending full round when its mark is still
// mark: a snapshot begun since (a saved plan applied later) keeps its own.
func (db *DB) ClearFullPending(mark string) error {
	cur, err := db.meta(metaFullPending)
	if err != nil || cur != mark {
		return err
	}
	return db.setMeta(metaFullPending, "")
}

// LastFull returns when a full round was last applied. set is false when
// none was; t is zero when the record is unreadable.
func (db *DB) LastFull() (t time.Time, set bool, err error) {
	v, err := db.LastFullText()
	if err != nil || v == "" {
		return time.Time{}, false, err
	}
	t, perr := time.Parse(time.RFC3339, v)
	if perr != nil {
		return time.Time{}, true, nil
	}
	return t, true, nil
}

// LastFullText is LastFull as stored (RFC 3339), for display; "" when none.
func (db *DB) LastFullText() (string, error) { return db.meta(metaLastFull) }

// SetLastFull records that a full round was applied at t.
func (db *DB) SetLastFull(t time.Time) error {
	return db.setMeta(metaLastFull, t.UTC().Format(time.RFC3339))
}

// ConfigFingerprint returns the fingerprint of the configuration the last
// full round was applied with, "" when none is recorded.
func (db *DB) ConfigFingerprint() (string, error) { return db.meta(metaConfigFingerprint) }

// SetConfigFingerprint records fp within the transaction (with the marks
// the same full round leaves pending).
func (t *Tx) SetConfigFingerprint(fp string) error { return t.setMeta(metaConfigFingerprint, fp) }

// GraphSelect returns the Graph $select the stored delta links were made with.
func (db *DB) GraphSelect() (string, error) { return db.meta(metaGraphSelect) }

// SetGraphSelect records the $select within the transaction that drops the links.
func (t *Tx) SetGraphSelect(sel string) error { return t.setMeta(metaGraphSelect, sel) }

package state

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// GroupStatus is what the engine knows about one provisioned group.
type GroupStatus struct {
	ID          string    `json:"id"`
	DN          string    `json:"dn,omitempty"`
	LastApplied time.Time `json:"lastApplied,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	Failures    int       `json:"failures,omitempty"`
	// QuarantinedUntil: the group is skipped by rounds until then (exponential backoff).
	QuarantinedUntil time.Time `json:"quarantinedUntil,omitzero"`
	Unresolved       int       `json:"unresolved,omitempty"`
	// TakenOver: the AD group was an SOA-converted group's original, taken
	// over in place (takeover.go); nil for groups writeback created.
	TakenOver *Takeover `json:"takenOver,omitempty"`
	// Released: the group was given back to AD (takeover.go).
	Released *Released `json:"released,omitempty"`
}

// Quarantined reports whether the group is skipped at now.
func (s GroupStatus) Quarantined(now time.Time) bool { return now.Before(s.QuarantinedUntil) }

// Backoff is the quarantine after n consecutive failures: 1 min doubling, at most 24 h.
func Backoff(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := time.Minute
	for i := 1; i < n && d < 24*time.Hour; i++ {
		d *= 2
	}
	return min(d, 24*time.Hour)
}

// Status reads one group's status (zero value when none).
func (db *DB) Status(id string) (GroupStatus, error) {
	s := GroupStatus{ID: id}
	err := db.view(func(tx kvTx) error {
		b := tx.Bucket(bStatus)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(id))
		if v == nil {
			return nil
		}
		return json.Unmarshal(v, &s)
	})
	return s, err
}

// Statuses streams all group statuses.
func (db *DB) Statuses(fn func(GroupStatus) error) error {
	return db.view(func(tx kvTx) error {
		b := tx.Bucket(bStatus)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var s GroupStatus
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("decode status %s: %w", k, err)
			}
			return fn(s)
		})
	})
}

// PutStatuses stores several statuses in one transaction.
func (db *DB) PutStatuses(list []GroupStatus) error {
	if len(list) == 0 {
		return nil
	}
	return db.update(func(tx kvTx) error {
		b := tx.Bucket(bStatus)
		for _, s := range list {
			v, err := json.Marshal(s)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(s.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteStatus forgets a group (deleted from AD).
func (db *DB) DeleteStatus(ids ...string) error {
	return db.update(func(tx kvTx) error {
		for _, id := range ids {
			if err := tx.Bucket(bStatus).Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Entry is one provisioning log record: what was done to which group, with the
// values before and after, like Cloud Sync's provisioning logs.
type Entry struct {
	Seq     uint64              `json:"seq"`
	Time    time.Time           `json:"time"`
	Round   uint64              `json:"round,omitempty"`
	GroupID string              `json:"groupId"`
	Name    string              `json:"name,omitempty"`
	Action  string              `json:"action"` // create, update, rename, add-members, ..., skip, error, staged-delete
	DN      string              `json:"dn,omitempty"`
	NewDN   string              `json:"newDN,omitempty"`
	Before  map[string][]string `json:"before,omitempty"`
	After   map[string][]string `json:"after,omitempty"`
	Members []string            `json:"members,omitempty"`
	Error   string              `json:"error,omitempty"`
	// Repair says which edit made by hand in AD the change undid (the
	// group was compared because it changed in AD, not in Entra).
	Repair string `json:"repair,omitempty"`
}

// AppendLog adds entries, numbering them.
func (db *DB) AppendLog(entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	return db.update(func(tx kvTx) error {
		b := tx.Bucket(bLog)
		for _, e := range entries {
			n, err := b.NextSequence()
			if err != nil {
				return err
			}
			e.Seq = n
			if e.Time.IsZero() {
				e.Time = time.Now().UTC()
			}
			v, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(n), v); err != nil {
				return err
			}
			if n > MaxLogEntries {
				if err := b.Delete(seqKey(n - MaxLogEntries)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// MaxLogEntries is how many provisioning log entries the state keeps; older
// ones are dropped as new ones arrive.
const MaxLogEntries = 200_000

// Log streams entries newest first; groupID "" means all groups. fn returning
// ErrStop ends the walk without error.
func (db *DB) Log(groupID string, fn func(Entry) error) error {
	return db.view(func(tx kvTx) error {
		b := tx.Bucket(bLog)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode log entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if groupID != "" && e.GroupID != groupID {
				continue
			}
			if err := fn(e); err != nil {
				if err == ErrStop {
					return nil
				}
				return err
			}
		}
		return nil
	})
}

// ErrStop ends a Log or Rounds walk early.
var ErrStop = errors.New("stop")

// Round is the summary of one engine round.
type Round struct {
	Seq   uint64    `json:"seq"`
	Start time.Time `json:"start"`
	// Duration is stored and printed as durationSeconds (fractional
	// seconds, the one unit of every duration writeback prints as JSON).
	Duration time.Duration `json:"-"`
	Full     bool          `json:"full"`
	DryRun   bool          `json:"dryRun,omitempty"`
	// Saved: the round applied a plan saved by 'writeback plan -out'
	// (ingest and plan happened in the round that saved it).
	Saved      bool   `json:"saved,omitempty"`
	Groups     int    `json:"groups"` // groups planned
	Changes    int    `json:"changes"`
	Applied    int    `json:"applied"`
	Failed     int    `json:"failed"`
	Repaired   int    `json:"repaired,omitempty"` // changes that undid edits made by hand in AD
	Blocked    string `json:"blocked,omitempty"`
	Unresolved int    `json:"unresolved"`
	Error      string `json:"error,omitempty"`
}

// roundJSON is Round as stored and printed. Duration is what versions before
// durationSeconds stored: nanoseconds; it is read, never written.
type roundJSON struct {
	roundFields
	DurationSeconds float64 `json:"durationSeconds"`
	Duration        *int64  `json:"duration,omitempty"`
}

type roundFields Round // without Round's methods

// MarshalJSON writes the duration as durationSeconds.
func (r Round) MarshalJSON() ([]byte, error) {
	return json.Marshal(roundJSON{roundFields: roundFields(r), DurationSeconds: r.Duration.Seconds()})
}

// UnmarshalJSON reads durationSeconds, or the nanoseconds older versions stored.
func (r *Round) UnmarshalJSON(b []byte) error {
	var j roundJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Round(j.roundFields)
	switch {
	case j.Duration != nil:
		r.Duration = time.Duration(*j.Duration)
	default:
		r.Duration = time.Duration(j.DurationSeconds * float64(time.Second))
	}
	return nil
}

// AddRound records a round and returns its number.
func (db *DB) AddRound(r Round) (uint64, error) {
	err := db.update(func(tx kvTx) error {
		b := tx.Bucket(bRounds)
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		r.Seq = n
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		// Keep the last 1000 rounds.
		if n > 1000 {
			_ = b.Delete(seqKey(n - 1000))
		}
		return b.Put(seqKey(n), v)
	})
	return r.Seq, err
}

// Rounds streams rounds newest first.
func (db *DB) Rounds(fn func(Round) error) error {
	return db.view(func(tx kvTx) error {
		b := tx.Bucket(bRounds)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var r Round
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if err := fn(r); err != nil {
				if err == ErrStop {
					return nil
				}
				return err
			}
		}
		return nil
	})
}

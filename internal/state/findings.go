package state

import (
	"encoding/json"
	"fmt"
	"time"
)

// bFindings holds, per group, what writeback skipped for it and an operator
// should see; created on first use, so older state files need no migration.
var bFindings = []byte("findings")

// metaBlockedDeletes holds the deletes the threshold last blocked.
const metaBlockedDeletes = "blockedDeletes"

// Finding is what a round could not do for one group: members it could not
// resolve, a DN another object holds, or an error that kept the group out of
// the plan. Rounds keep it current, so `writeback status` shows what is
// still true rather than a log of everything that ever was.
type Finding struct {
	GroupID    string          `json:"groupId"`
	Name       string          `json:"name,omitempty"`
	DN         string          `json:"dn,omitempty"`
	Unresolved []SkippedMember `json:"unresolved,omitempty"`
	// Collision: why the group's DN cannot be written (the DN and what holds it).
	Collision string `json:"collision,omitempty"`
	// Error: why the group could not be planned (a mapping, a protected object...).
	Error string `json:"error,omitempty"`
	// Since: when this finding, as it is, was first seen.
	Since time.Time `json:"since"`
}

// SkippedMember is one cloud member left out of its AD group, with why.
type SkippedMember struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Type   string `json:"type,omitempty"`
	Reason string `json:"reason"`
}

// Empty reports whether the finding says nothing (the group is fine).
func (f Finding) Empty() bool {
	return len(f.Unresolved) == 0 && f.Collision == "" && f.Error == ""
}

// BlockedDeletes are the deletes the deletion threshold held back, kept until
// a round applies without being blocked.
type BlockedDeletes struct {
	Since  time.Time      `json:"since"`
	Reason string         `json:"reason"`
	Groups []BlockedGroup `json:"groups"`
}

// BlockedGroup is one AD group a blocked round would have deleted.
type BlockedGroup struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	DN   string `json:"dn"`
}

// Finding reads one group's finding; ok is false when there is none.
func (db *DB) Finding(id string) (f Finding, ok bool, err error) {
	err = db.view(func(tx kvTx) error {
		b := tx.Bucket(bFindings)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(id))
		if v == nil {
			return nil
		}
		ok = true
		if err := json.Unmarshal(v, &f); err != nil {
			return fmt.Errorf("decode finding of group %s: %w", id, err)
		}
		return nil
	})
	return f, ok, err
}

// Findings streams every group's finding.
func (db *DB) Findings(fn func(Finding) error) error {
	return db.view(func(tx kvTx) error {
		b := tx.Bucket(bFindings)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var f Finding
			if err := json.Unmarshal(v, &f); err != nil {
				return fmt.Errorf("decode finding of group %s: %w", k, err)
			}
			return fn(f)
		})
	})
}

// PutFindings stores put and forgets the groups in drop, in one transaction.
func (db *DB) PutFindings(put []Finding, drop []string) error {
	if len(put) == 0 && len(drop) == 0 {
		return nil
	}
	return db.update(func(tx kvTx) error {
		b, err := tx.CreateBucketIfNotExists(bFindings)
		if err != nil {
			return err
		}
		for _, f := range put {
			v, err := json.Marshal(f)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(f.GroupID), v); err != nil {
				return err
			}
		}
		for _, id := range drop {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// BlockedDeletes reads the deletes last blocked by the threshold (nil: none).
func (db *DB) BlockedDeletes() (*BlockedDeletes, error) {
	v, err := db.meta(metaBlockedDeletes)
	if err != nil || v == "" {
		return nil, err
	}
	var b BlockedDeletes
	if err := json.Unmarshal([]byte(v), &b); err != nil {
		return nil, fmt.Errorf("decode the blocked deletes: %w", err)
	}
	return &b, nil
}

// SetBlockedDeletes records the deletes a round held back; nil clears them.
func (db *DB) SetBlockedDeletes(b *BlockedDeletes) error {
	if b == nil {
		return db.setMeta(metaBlockedDeletes, "")
	}
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return db.setMeta(metaBlockedDeletes, string(v))
}

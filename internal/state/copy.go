package state

import (
	"bytes"
	"fmt"
)

// copyBatch is how many keys one write transaction of Copy carries.
const copyBatch = 20_000

// CopyStats says what Copy copied.
type CopyStats struct {
	Buckets int
	Keys    int
}

// Copy copies every bucket of src, with its keys and sequence, into dst
// (writeback state migrate: a state file into PostgreSQL). dst must hold no
// keys yet: merging two states would mix two histories of which groups
// writeback owns. src is read in one transaction, so the copy is of one
// moment of it.
func Copy(dst, src *DB) (CopyStats, error) {
	var st CopyStats
	var used []string
	err := dst.view(func(tx kvTx) error {
		return tx.ForEachBucket(func(name []byte) error {
			if b := tx.Bucket(name); b != nil {
				if k, _ := b.Cursor().First(); k != nil {
					used = append(used, string(name))
				}
			}
			return nil
		})
	})
	if err != nil {
		return st, fmt.Errorf("read the target state %s: %w", dst.Path(), err)
	}
	if len(used) > 0 {
		return st, fmt.Errorf("the target state %s already holds data (buckets %v): copy only into an empty one", dst.Path(), used)
	}
	err = src.view(func(stx kvTx) error {
		var names [][]byte
		if err := stx.ForEachBucket(func(name []byte) error { names = append(names, bytes.Clone(name)); return nil }); err != nil {
			return err
		}
		for _, name := range names {
			b := stx.Bucket(name)
			seq := b.Sequence()
			c := b.Cursor()
			k, v := c.First()
			for first := true; first || k != nil; first = false {
				err := dst.update(func(dtx kvTx) error {
					db, err := dtx.CreateBucketIfNotExists(name)
					if err != nil {
						return err
					}
					for n := 0; k != nil && n < copyBatch; n++ {
						if err := db.Put(k, v); err != nil {
							return err
						}
						st.Keys++
						k, v = c.Next()
					}
					return db.SetSequence(seq)
				})
				if err != nil {
					return fmt.Errorf("copy bucket %s: %w", name, err)
				}
			}
			st.Buckets++
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("copy the state %s into %s: %w", src.Path(), dst.Path(), err)
	}
	return st, nil
}

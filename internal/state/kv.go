package state

// The storage seam: everything above it in this package (delta links, the
// cloud cache, statuses, the log, findings...) is written against a small
// transactional bucket/key-value store, and there are two of them: the
// embedded bbolt file (kv_bolt.go, the default, its file format unchanged)
// and PostgreSQL (kv_postgres.go), which several writeback instances share.
//
// The seam is below the package's API rather than at it so that the higher
// level (and the engine, which uses Tx and DB) has one implementation whose
// behaviour both backends share, and a third backend is a few hundred lines.
// It is bbolt's model, cut to what this package uses: buckets of ordered
// byte keys, Get/Put/Delete, cursors, a per-bucket sequence, and
// transactions that either commit whole or not at all.

// backend is one store. view runs fn in a read-only transaction that sees
// one consistent snapshot; update runs fn in a read-write transaction that
// commits when fn returns nil and rolls back otherwise.
type backend interface {
	view(fn func(kvTx) error) error
	update(fn func(kvTx) error) error
	close() error
}

// kvTx is one transaction. Bucket returns nil for a bucket that does not
// exist.
type kvTx interface {
	Bucket(name []byte) kvBucket
	CreateBucket(name []byte) (kvBucket, error)
	CreateBucketIfNotExists(name []byte) (kvBucket, error)
	DeleteBucket(name []byte) error
	// ForEachBucket calls fn with the name of every bucket.
	ForEachBucket(fn func(name []byte) error) error
	// trim gives back memory a long transaction holds (bbolt: mapped pages
	// of the file; see TrimMapped). It changes nothing that is stored.
	trim()
}

// kvBucket is an ordered map of byte keys to byte values. Keys sort
// bytewise (bytes.Compare). Get returns nil for a missing key and a non-nil
// (maybe empty) slice for a present one. Slices returned are valid only
// within the transaction.
type kvBucket interface {
	Get(key []byte) []byte
	Put(key, value []byte) error
	Delete(key []byte) error
	ForEach(fn func(k, v []byte) error) error
	Cursor() kvCursor
	// NextSequence returns the bucket's next sequence number (1, 2, ...).
	NextSequence() (uint64, error)
	// Sequence is the last number NextSequence returned (0: none).
	Sequence() uint64
	// SetSequence sets it (copying a state).
	SetSequence(n uint64) error
	// KeyN is the number of keys.
	KeyN() int
}

// kvCursor walks a bucket in key order. Each method returns a nil key when
// the walk has gone past either end.
type kvCursor interface {
	First() (k, v []byte)
	Last() (k, v []byte)
	Seek(seek []byte) (k, v []byte)
	Next() (k, v []byte)
	Prev() (k, v []byte)
}

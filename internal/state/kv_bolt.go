package state

import (
	bolt "go.etcd.io/bbolt"
)

// boltBackend is the embedded state file.
type boltBackend struct {
	db *DB // for the damage guard, which names the file
}

func (b boltBackend) view(fn func(kvTx) error) error {
	return b.db.boltView(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (b boltBackend) update(fn func(kvTx) error) error {
	return b.db.boltUpdate(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (b boltBackend) close() error { return b.db.bolt.Close() }

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) Bucket(name []byte) kvBucket {
	if b := t.tx.Bucket(name); b != nil {
		return boltBucket{b}
	}
	return nil
}

func (t boltTx) CreateBucket(name []byte) (kvBucket, error) {
	b, err := t.tx.CreateBucket(name)
	if err != nil {
		return nil, err
	}
	return boltBucket{b}, nil
}

func (t boltTx) CreateBucketIfNotExists(name []byte) (kvBucket, error) {
	b, err := t.tx.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	return boltBucket{b}, nil
}

func (t boltTx) DeleteBucket(name []byte) error { return t.tx.DeleteBucket(name) }

func (t boltTx) ForEachBucket(fn func(name []byte) error) error {
	return t.tx.ForEach(func(name []byte, _ *bolt.Bucket) error { return fn(name) })
}

func (t boltTx) trim() { trimInTx(t.tx) }

type boltBucket struct{ b *bolt.Bucket }

func (b boltBucket) Get(k []byte) []byte                      { return b.b.Get(k) }
func (b boltBucket) Put(k, v []byte) error                    { return b.b.Put(k, v) }
func (b boltBucket) Delete(k []byte) error                    { return b.b.Delete(k) }
func (b boltBucket) ForEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }
func (b boltBucket) Cursor() kvCursor                         { return b.b.Cursor() }
func (b boltBucket) NextSequence() (uint64, error)            { return b.b.NextSequence() }
func (b boltBucket) Sequence() uint64                         { return b.b.Sequence() }
func (b boltBucket) SetSequence(n uint64) error               { return b.b.SetSequence(n) }
func (b boltBucket) KeyN() int                                { return b.b.Stats().KeyN }

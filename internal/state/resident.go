package state

import bolt "go.etcd.io/bbolt"

// ReleaseMapped drops the state file's pages from this process's resident
// memory. bbolt reads the file through a shared read-only mapping, and every
// page a transaction touched stays counted in the process's RSS: after a full
// snapshot that is the whole file, including the membership index and freed
// pages that the following plan never reads. The pages stay in the kernel's
// page cache; a later read maps them back without disk I/O. It is a no-op
// where the platform has no madvise.
func (db *DB) ReleaseMapped() error {
	// Inside a read transaction bbolt cannot remap the file (a remap waits
	// for readers), so the address range stays the file's mapping throughout.
	if db.bolt == nil {
		return nil // not a mapped file
	}
	return db.boltView(func(tx *bolt.Tx) error {
		return releaseMapped(db.bolt.Info().Data, tx.Size())
	})
}

// mappedBudget is how much of the state file may stay resident in this
// process while a large round reads it (see TrimMapped).
const mappedBudget = 96 << 20

// TrimMapped is ReleaseMapped when more than mappedBudget bytes of files are
// mapped resident (the state file, and the program's own text). A full round
// at L reads 250 MiB of the file within seconds, on top of a heap near
// sync.memoryLimit. The price is time: pages dropped are faulted back in when
// read again, and at L the full round's ingest takes about twice as long
// (the round 96 s instead of 74 s); below the budget nothing is dropped.
// Checking is cheap (one read of /proc/self/statm); where it is not
// available this does nothing.
func (db *DB) TrimMapped() {
	if db.bolt != nil && mappedResident() > mappedBudget {
		_ = db.ReleaseMapped()
	}
}

// trimInTx is TrimMapped from inside a write transaction: bbolt only remaps
// the file when the transaction commits, so the mapping stays put while the
// transaction's function runs.
func trimInTx(btx *bolt.Tx) {
	if mappedResident() > mappedBudget {
		_ = releaseMapped(btx.DB().Info().Data, btx.Size())
	}
}

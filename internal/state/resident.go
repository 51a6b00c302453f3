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
	return db.bolt.View(func(tx *bolt.Tx) error {
		return releaseMapped(db.bolt.Info().Data, tx.Size())
	})
}

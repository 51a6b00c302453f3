package state

import "sync/atomic"

// TrimEvery returns a function to call once per object of a long scan (a
// round reading every group's members, or every member's user): every n-th
// call it runs TrimMapped, so callers keep no count of their own. Safe for
// concurrent use.
func (db *DB) TrimEvery(n int64) func() {
	var calls atomic.Int64
	return func() {
		if calls.Add(1)%n == 0 {
			db.TrimMapped()
		}
	}
}

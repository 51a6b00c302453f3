package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DamagedError reports a state file that cannot be read: truncated, pages
// overwritten, or not a state file at all. Nothing in it can be trusted, and
// nothing in it is needed either: the cache is rebuilt by a full round.
type DamagedError struct {
	Path  string
	Cause error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("state file %s is damaged (%v): move it away; the next round will be full", e.Path, e.Cause)
}

func (e *DamagedError) Unwrap() error { return e.Cause }

// IsDamaged reports whether err (or an error it wraps) is a DamagedError.
func IsDamaged(err error) bool {
	var d *DamagedError
	return errors.As(err, &d)
}

// The layout of a bbolt meta page (go.etcd.io/bbolt/internal/common): a
// 16-byte page header, then magic, version, page size, flags (uint32 each),
// the root bucket (root page, sequence), the freelist page, the high-water
// page id, the transaction id and an FNV-64a checksum of everything before it.
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	metaOff         = 16
	metaPgidOff     = metaOff + 40
	metaTxidOff     = metaOff + 48
	metaChecksumOff = metaOff + 56
	metaEnd         = metaChecksumOff + 8
)

type boltMeta struct {
	pageSize uint32
	pgid     uint64 // high-water mark: pages [0, pgid) are in the file
	txid     uint64
}

// readMeta decodes the meta page at off; ok is false when it is not a valid one.
func readMeta(f *os.File, off int64) (m boltMeta, ok bool) {
	var b [metaEnd]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return m, false
	}
	order := binary.NativeEndian // bbolt writes its pages in the machine's order
	if order.Uint32(b[metaOff:]) != boltMagic || order.Uint32(b[metaOff+4:]) != boltVersion {
		return m, false
	}
	h := fnv.New64a()
	h.Write(b[metaOff:metaChecksumOff])
	if h.Sum64() != order.Uint64(b[metaChecksumOff:]) {
		return m, false
	}
	return boltMeta{pageSize: order.Uint32(b[metaOff+8:]), pgid: order.Uint64(b[metaPgidOff:]), txid: order.Uint64(b[metaTxidOff:])}, true
}

// precheck looks at the file before bbolt maps it. bbolt trusts the meta
// page's high-water mark and reads every page below it when it opens (it
// rebuilds its free list): a file cut short then faults with SIGBUS in the
// mapping, which no recover() can catch. So a file shorter than its meta
// says is refused here. A missing or empty file is a new state (bbolt
// initialises it); that is what a user who deleted the file wants.
func precheck(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open state %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open state %s: %w", path, err)
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	// The second meta page sits one page in; its page size is the one the
	// first meta names, or, when that is the damaged one, one of the sizes
	// bbolt uses.
	var metas []boltMeta
	m0, ok0 := readMeta(f, 0)
	if ok0 {
		metas = append(metas, m0)
	}
	sizes := []int64{int64(os.Getpagesize()), 4096, 8192, 16384, 32768, 65536}
	if ok0 {
		sizes = []int64{int64(m0.pageSize)}
	}
	for _, ps := range sizes {
		if m1, ok := readMeta(f, ps); ok && int64(m1.pageSize) == ps {
			metas = append(metas, m1)
			break
		}
	}
	if len(metas) == 0 {
		if size < metaEnd {
			return &DamagedError{Path: path, Cause: fmt.Errorf("%d bytes, shorter than a state file's header", size)}
		}
		return &DamagedError{Path: path, Cause: errors.New("no valid meta page: not a writeback state file, or both of its meta pages are overwritten")}
	}
	// bbolt uses the valid meta with the highest transaction id.
	m := metas[0]
	for _, x := range metas[1:] {
		if x.txid > m.txid {
			m = x
		}
	}
	if m.pageSize < 1024 || m.pageSize&(m.pageSize-1) != 0 {
		return &DamagedError{Path: path, Cause: fmt.Errorf("meta page names page size %d", m.pageSize)}
	}
	if need := int64(m.pgid) * int64(m.pageSize); need > size || int64(m.pgid) > size/1024 {
		return &DamagedError{Path: path, Cause: fmt.Errorf("truncated: %d bytes, its meta page needs %d", size, need)}
	}
	return nil
}

// guard turns a panic or memory fault inside bbolt into a DamagedError.
// bbolt panics on pages that do not say what they should be ("assertion
// failed: Page expected to be ..."), and reading a corrupt page's offsets can
// fault; SetPanicOnFault makes such a fault a panic this goroutine can
// recover instead of a crash. bbolt's View and Update roll the transaction
// back on a panic. Any other panic (a bug in the function run inside the
// transaction) goes on: calling it damage would have users delete a good
// state.
func guard(path string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	if !fault(r) && !panickedInBolt() {
		panic(r)
	}
	*err = &DamagedError{Path: path, Cause: fmt.Errorf("%v", r)}
}

// fault reports a memory fault (SetPanicOnFault): only the state file's
// mapping can make a read fault.
func fault(r any) bool {
	e, ok := r.(interface{ Addr() uintptr })
	return ok && e != nil
}

// panickedInBolt reports whether the panic being recovered was raised in
// bbolt's code: the first frame below the runtime's panic machinery.
func panickedInBolt() bool {
	pc := make([]uintptr, 64)
	n := runtime.Callers(3, pc) // runtime.Callers, panickedInBolt, guard
	frames := runtime.CallersFrames(pc[:n])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			return strings.HasPrefix(f.Function, "go.etcd.io/bbolt")
		}
		if !more {
			return false
		}
	}
}

// boltView is bolt's View with damage reported as a DamagedError.
func (db *DB) boltView(fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(db.path, &err)
	return db.bolt.View(fn)
}

// boltUpdate is bolt's Update with damage reported as a DamagedError.
func (db *DB) boltUpdate(fn func(*bolt.Tx) error) (err error) {
	if db.readOnly {
		return fmt.Errorf("state %s is open read-only", db.path)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(db.path, &err)
	return db.bolt.Update(fn)
}

// openBolt is bolt.Open with damage reported as a DamagedError. A
// read-write open rebuilds bbolt's free list by walking every page in a
// goroutine of bbolt's own, where a corrupt page's panic or fault would
// crash the process: so the file is first walked here (walkAll), read-only,
// where a panic is caught.
func openBolt(path string, opts *bolt.Options) (*bolt.DB, error) {
	if err := precheck(path); err != nil {
		return nil, err
	}
	if !opts.ReadOnly {
		if err := walkAll(path, opts.Timeout); err != nil {
			return nil, err
		}
		return openGuarded(path, opts)
	}
	// Read-only: the same walk, so that status reports a damaged file
	// whichever of its pages are hit, not only those status reads.
	b, err := openGuarded(path, opts)
	if err != nil {
		return nil, err
	}
	if err := walkOpen(&DB{bolt: b, path: path, readOnly: true}); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func openGuarded(path string, opts *bolt.Options) (b *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(path, &err)
	b, err = bolt.Open(path, 0o600, opts)
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
		return nil, &DamagedError{Path: path, Cause: err}
	}
	return b, err
}

// walkAll reads every branch and leaf page and every key of an existing
// state file, checking that each page is the one it should be and that keys
// are in order: what bbolt's own walk asserts.
func walkAll(path string, timeout time.Duration) error {
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return nil // new file: bbolt creates or initialises it
	}
	b, err := openGuarded(path, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("open state %s: locked by another writeback process (stop it, or set state.path to another file)", path)
		}
		return err
	}
	defer b.Close()
	return walkOpen(&DB{bolt: b, path: path, readOnly: true})
}

func walkOpen(db *DB) error {
	path := db.path
	return db.boltView(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error { return walkBucket(path, name, bk) })
	})
}

func walkBucket(path string, name []byte, bk *bolt.Bucket) error {
	c := bk.Cursor()
	var prev []byte
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return &DamagedError{Path: path, Cause: fmt.Errorf("keys out of order in bucket %q", name)}
		}
		prev = k
		if v == nil {
			if child := bk.Bucket(k); child != nil {
				if err := walkBucket(path, k, child); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

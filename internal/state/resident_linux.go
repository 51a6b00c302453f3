package state

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

func releaseMapped(addr uintptr, n int64) error {
	if addr == 0 || n <= 0 {
		return nil
	}
	// MADV_DONTNEED on a shared file mapping only unmaps the pages from this
	// process: their contents are the file's, read again from the page cache.
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(n), syscall.MADV_DONTNEED); e != 0 {
		return e
	}
	return nil
}

// mappedResident is the process's resident file-backed memory in bytes (the
// third field of /proc/self/statm, in pages), or 0 when unreadable.
func mappedResident() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0
	}
	n, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return 0
	}
	return n * int64(os.Getpagesize())
}

package state

import "syscall"

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

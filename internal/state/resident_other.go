//go:build !linux

package state

func releaseMapped(uintptr, int64) error { return nil }

func mappedResident() int64 { return 0 }

//go:build unix

package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lock takes an exclusive flock on the instance's lock file, polling so ctx can
// cancel the wait. The kernel drops the lock if the process dies.
func lock(ctx context.Context, o Options) (func(), error) {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab dir: %w", err)
	}
	path := filepath.Join(o.Dir, o.Instance+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("lab lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lab lock %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Lock takes the named lab-wide lock (e.g. for building shared fixtures) and
// returns its release function.
func Lock(ctx context.Context, o Options, name string) (func(), error) {
	o = o.withDefaults()
	o.Instance = name
	return lock(ctx, o)
}

// detached puts a background child (the Graph emulator) in its own session,
// so it outlives the command that started it and the terminal's Ctrl-C.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

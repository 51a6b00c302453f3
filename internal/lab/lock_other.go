//go:build !unix

package lab

import (
	"context"
	"errors"
	"syscall"
)

func lock(ctx context.Context, o Options) (func(), error) {
	return nil, errors.New("the lab runs on Linux only")
}

// Lock is not available off Unix.
func Lock(ctx context.Context, o Options, name string) (func(), error) { return lock(ctx, o) }

func detached() *syscall.SysProcAttr { return nil }

//go:build !unix

package state

import (
	"errors"
	"os"
)

// Without flock (Windows) the state file is only protected by bbolt's own
// lock, held during a round.
var errWouldBlock = errors.New("would block")

func flockExclusive(*os.File) error { return nil }

func flockTest(*os.File) (bool, error) { return false, nil }

package state

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Lock is the exclusive claim of one process on a state file, held for the
// process's life by run, apply, plan and provision. It is a lock file beside
// the state (STATE.lock) rather than bbolt's own lock on the state file:
// the daemon must be refused to a second process even between rounds, and
// the file records who holds it, so the refusal names the process.
// The kernel drops the lock when the process ends, kill -9 included; a
// lock file left behind holds nothing.
type Lock struct {
	f    *os.File
	path string
}

// Holder is what a lock file says about the process holding it.
type Holder struct {
	PID     int
	Since   time.Time
	Command string
}

// LockedError is returned by AcquireLock while another process holds the state.
type LockedError struct {
	State  string
	Holder Holder
}

func (e *LockedError) Error() string {
	who := "another writeback process"
	if e.Holder.PID > 0 {
		who = fmt.Sprintf("pid %d", e.Holder.PID)
		if !e.Holder.Since.IsZero() {
			who += ", since " + e.Holder.Since.Local().Format(time.DateTime)
		}
		if e.Holder.Command != "" {
			who += ": writeback " + e.Holder.Command
		}
	}
	return fmt.Sprintf("state %s: writeback is already running (%s); stop it first, or set state.path to another file", e.State, who)
}

// LockPath is the lock file of the state file at path.
func LockPath(statePath string) string { return statePath + ".lock" }

// AcquireLock claims the state at statePath for this process, or returns a
// *LockedError at once if another process has it. command ("run",
// "apply", ...) is recorded for the refusal message.
func AcquireLock(statePath, command string) (*Lock, error) {
	p := LockPath(statePath)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state %s: %w", statePath, err)
	}
	// Held takes a shared lock for an instant to see whether the file is
	// locked: a refusal is only believed when it lasts.
	err = flockExclusive(f)
	for deadline := time.Now().Add(200 * time.Millisecond); errors.Is(err, errWouldBlock) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		err = flockExclusive(f)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			h, _ := ReadHolder(statePath)
			return nil, &LockedError{State: statePath, Holder: h}
		}
		return nil, fmt.Errorf("lock state %s (%s): %w", statePath, p, err)
	}
	// Ours now: say who we are. A reader that sees the file between the
	// truncate and the write gets no PID, and says so.
	rec := fmt.Sprintf("pid %d\nsince %s\ncommand %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339), command)
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(rec), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock state %s: write %s: %w", statePath, p, err)
	}
	return &Lock{f: f, path: p}, nil
}

// Release gives the state up (the file stays; it holds nothing by itself).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Held reports whether some process holds the lock of the state at
// statePath, and who. It opens the lock file read-only, so it works on a
// read-only file system; no lock file means no holder.
func Held(statePath string) (bool, Holder, error) {
	f, err := os.Open(LockPath(statePath))
	if errors.Is(err, os.ErrNotExist) {
		return false, Holder{}, nil
	}
	if err != nil {
		return false, Holder{}, err
	}
	defer f.Close()
	held, err := flockTest(f)
	if err != nil || !held {
		return false, Holder{}, err
	}
	h, err := ReadHolder(statePath)
	return true, h, err
}

// ReadHolder reads who the lock file says holds the state (zero fields when
// it does not say).
func ReadHolder(statePath string) (Holder, error) {
	b, err := os.ReadFile(LockPath(statePath))
	if err != nil {
		return Holder{}, err
	}
	var h Holder
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "pid":
			h.PID, _ = strconv.Atoi(v)
		case "since":
			h.Since, _ = time.Parse(time.RFC3339, v)
		case "command":
			h.Command = v
		}
	}
	return h, nil
}

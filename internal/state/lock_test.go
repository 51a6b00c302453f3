package state

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHelperHoldLock is not a test: run as a child process (lockHolder), it
// takes the lock of $WB_LOCK_STATE, says "locked" and holds it until its
// stdin closes.
func TestHelperHoldLock(t *testing.T) {
	p := os.Getenv("WB_LOCK_STATE")
	if p == "" {
		t.Skip("helper process only")
	}
	l, err := AcquireLock(p, "run")
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(3)
	}
	os.Stdout.WriteString("locked\n")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	l.Release()
	os.Exit(0)
}

// lockHolder starts another process holding the lock of statePath; it ends
// when the test does (or when stop is called).
func lockHolder(t *testing.T, statePath string) (pid int, stop func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$", "-test.count=1")
	cmd.Env = append(os.Environ(), "WB_LOCK_STATE="+statePath)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "locked\n" {
		cmd.Process.Kill()
		t.Fatalf("helper did not take the lock: %q", line)
	}
	stop = func() {
		in.Close()
		cmd.Wait()
	}
	t.Cleanup(stop)
	return cmd.Process.Pid, stop
}

// A second process is refused at once, by name: the holder's pid and start.
func TestLockRefusesSecondProcessAtOnceNamingIt(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.db")
	pid, stop := lockHolder(t, p)
	start := time.Now()
	_, err := AcquireLock(p, "apply")
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("refusal took %s, want at once", took)
	}
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second lock: %v, want a LockedError", err)
	}
	if le.Holder.PID != pid || le.Holder.Command != "run" || time.Since(le.Holder.Since) > time.Minute {
		t.Errorf("holder %+v, want pid %d, command run, since just now", le.Holder, pid)
	}
	if msg := err.Error(); !strings.Contains(msg, "already running (pid "+strconv.Itoa(pid)+", since ") {
		t.Errorf("message %q does not name the holder", msg)
	}
	held, h, err := Held(p)
	if err != nil || !held || h.PID != pid {
		t.Errorf("Held = %v, %+v, %v; want held by %d", held, h, err, pid)
	}
	// The holder ends: the lock is free again (the file left behind holds nothing).
	stop()
	l, err := AcquireLock(p, "apply")
	if err != nil {
		t.Fatalf("lock after the holder ended: %v", err)
	}
	defer l.Release()
	if h, _ := ReadHolder(p); h.PID != os.Getpid() || h.Command != "apply" {
		t.Errorf("lock file says %+v after taking it", h)
	}
}

// A killed holder (kill -9) leaves its lock file; the next process takes it.
func TestLockOfAKilledProcessIsFree(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$", "-test.count=1")
	cmd.Env = append(os.Environ(), "WB_LOCK_STATE="+p)
	_, _ = cmd.StdinPipe() // held open: the helper waits
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "locked\n" {
		t.Fatalf("helper: %q", line)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if held, _, _ := Held(p); held {
		t.Fatal("lock still held after kill -9")
	}
	l, err := AcquireLock(p, "run")
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
}

// Reading the state is not refused by the lock: status and log open it
// read-only beside a holder that has it closed, and Held needs no write
// access.
func TestReadOnlyOpenBesideTheLock(t *testing.T) {
	db, p := open(t)
	if _, err := db.AddRound(Round{Start: time.Now(), Full: true}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	lockHolder(t, p)
	ro, err := OpenReadOnly(p, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	n := 0
	if err := ro.Rounds(func(Round) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("rounds read-only: %d, %v", n, err)
	}
	if err := ro.setMeta("x", "y"); err == nil {
		t.Error("a read-only state took a write")
	}
}

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// Peak memory of a child. getrusage's maxrss of a child started from this
// process is wrong: Go starts children with clone(CLONE_VM), and Linux keeps
// the highest RSS of the memory the child ran in before exec, which is
// wbbench's own (the generated tenant and the in-process emulator, ~1 GiB at
// L). So writeback runs under a small runner, a fresh wbbench process that
// starts it and writes the child's maxrss to a file: the child of a small
// process gets its own, true peak.

const runnerArg = "-rusage-runner"

// runnerMain is wbbench started as `wbbench -rusage-runner FILE BIN ARGS...`:
// it runs BIN ARGS with the same stdio, passes SIGTERM/SIGINT on, writes the
// child's peak RSS (KiB) to FILE and exits with the child's status.
func runnerMain(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "wbbench -rusage-runner FILE BIN [ARGS...]")
		return 2
	}
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "wbbench runner:", err)
		return 127
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	_ = cmd.Wait()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		_ = os.WriteFile(args[0], []byte(strconv.FormatInt(ru.Maxrss, 10)), 0o644)
	}
	if c := cmd.ProcessState.ExitCode(); c >= 0 {
		return c
	}
	return 128 + int(cmd.ProcessState.Sys().(syscall.WaitStatus).Signal())
}

var runnerSeq atomic.Int64

// measuredCommand is exec.CommandContext(ctx, bin, args...) run under the
// runner; peak returns the child's peak RSS in MiB once it has exited.
func measuredCommand(ctx context.Context, bin string, args ...string) (cmd *exec.Cmd, peak func() float64) {
	self, err := os.Executable()
	if err != nil {
		return exec.CommandContext(ctx, bin, args...), func() float64 { return 0 }
	}
	file := filepath.Join(os.TempDir(), fmt.Sprintf("wbbench-rss-%d-%d", os.Getpid(), runnerSeq.Add(1)))
	cmd = exec.CommandContext(ctx, self, append([]string{runnerArg, file, bin}, args...)...)
	return cmd, func() float64 {
		b, err := os.ReadFile(file)
		os.Remove(file)
		if err != nil {
			return 0
		}
		kib, _ := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
		return kib / 1024
	}
}

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
	"time"
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
	done := make(chan struct{})
	split := make(chan [2]int64, 1)
	go func() { split <- sampleSplit(cmd.Process.Pid, done) }()
	_ = cmd.Wait()
	close(done)
	at := <-split
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		_ = os.WriteFile(args[0], []byte(fmt.Sprintf("%d %d %d %d", ru.Maxrss, at[0], at[1], cpu.Milliseconds())), 0o644)
	}
	if c := cmd.ProcessState.ExitCode(); c >= 0 {
		return c
	}
	return 128 + int(cmd.ProcessState.Sys().(syscall.WaitStatus).Signal())
}

// sampleSplit polls /proc/PID/status until done and returns RssAnon and
// RssFile+RssShmem (KiB) of the sample with the highest VmRSS: at the peak,
// how much was the Go heap and how much the state file's mapped pages (which
// count in RSS but are page cache the kernel can drop).
func sampleSplit(pid int, done <-chan struct{}) [2]int64 {
	var best, at [2]int64
	var bestRSS int64
	path := fmt.Sprintf("/proc/%d/status", pid)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			var rss int64
			at = [2]int64{}
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(line)
				if len(f) < 2 {
					continue
				}
				n, _ := strconv.ParseInt(f[1], 10, 64)
				switch f[0] {
				case "VmRSS:":
					rss = n
				case "RssAnon:":
					at[0] = n
				case "RssFile:", "RssShmem:":
					at[1] += n
				}
			}
			if rss > bestRSS {
				bestRSS, best = rss, at
			}
		}
		select {
		case <-done:
			return best
		case <-t.C:
		}
	}
}

// memPeak is a child's peak RSS and, at the highest sampled RSS, its split
// into anonymous memory (the Go heap, stacks) and mapped files (MiB); and the
// CPU time it used.
type memPeak struct {
	MiB, AnonMiB, FileMiB float64
	CPUSeconds            float64
}

// processCPU is the CPU time used so far by pid and every process below it
// (the lab's Samba: a root process and its forked task workers), from
// /proc, with the time of their exited children (a worker that ends during
// a round is charged to its parent); 0 when pid is 0 or gone.
func processCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	parent := map[int]int{}
	ticks := map[int]float64{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command (which may hold spaces) in parentheses.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 15 {
			continue
		}
		parent[p], _ = strconv.Atoi(f[1])
		var t float64
		for _, x := range f[11:15] { // utime stime cutime cstime
			n, _ := strconv.ParseFloat(x, 64)
			t += n
		}
		ticks[p] = t
	}
	var total float64
	for p, t := range ticks {
		for q := p; q > 1; q = parent[q] {
			if q == pid {
				total += t
				break
			}
		}
	}
	return total / 100 // USER_HZ
}

// selfCPU is this process's CPU time: during a round, the in-process Graph
// emulator's.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// Split says what the peak was made of, for the report.
func (m memPeak) Split() string {
	if m.AnonMiB == 0 && m.FileMiB == 0 {
		return ""
	}
	return fmt.Sprintf("anon %.0f + file %.0f", m.AnonMiB, m.FileMiB)
}

var runnerSeq atomic.Int64

// measuredCommand is exec.CommandContext(ctx, bin, args...) run under the
// runner; peak returns the child's peak RSS once it has exited.
func measuredCommand(ctx context.Context, bin string, args ...string) (cmd *exec.Cmd, peak func() memPeak) {
	self, err := os.Executable()
	if err != nil {
		return exec.CommandContext(ctx, bin, args...), func() memPeak { return memPeak{} }
	}
	file := filepath.Join(os.TempDir(), fmt.Sprintf("wbbench-rss-%d-%d", os.Getpid(), runnerSeq.Add(1)))
	cmd = exec.CommandContext(ctx, self, append([]string{runnerArg, file, bin}, args...)...)
	return cmd, func() memPeak {
		b, err := os.ReadFile(file)
		os.Remove(file)
		if err != nil {
			return memPeak{}
		}
		var v [4]float64 // KiB, KiB, KiB, ms
		for i, f := range strings.Fields(string(b)) {
			if i < 4 {
				v[i], _ = strconv.ParseFloat(f, 64)
			}
		}
		return memPeak{MiB: v[0] / 1024, AnonMiB: v[1] / 1024, FileMiB: v[2] / 1024, CPUSeconds: v[3] / 1000}
	}
}

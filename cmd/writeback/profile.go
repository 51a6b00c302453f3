package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"time"
)

// startProfiles writes CPU and heap profiles of this process when
// WRITEBACK_CPUPROFILE / WRITEBACK_HEAPPROFILE name files: the benchmarks
// profile writeback itself, apart from the emulator and the directory. Not a
// flag: it is for developers, and every subcommand gets it.
//
// The heap profile is the one taken when the live heap was largest: peak RSS
// is what the memory target measures, and by the time a command ends most of
// what made the peak has been freed.
func startProfiles(stderr io.Writer) (stop func()) {
	cpu, heap := os.Getenv("WRITEBACK_CPUPROFILE"), os.Getenv("WRITEBACK_HEAPPROFILE")
	var f *os.File
	if cpu != "" {
		var err error
		if f, err = os.Create(cpu); err != nil {
			fmt.Fprintf(stderr, "WRITEBACK_CPUPROFILE: %v\n", err)
		} else if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "WRITEBACK_CPUPROFILE: %v\n", err)
			f.Close()
			f = nil
		}
	}
	done, peak := make(chan struct{}), make(chan []byte, 1)
	if heap != "" {
		go func() { peak <- watchPeakHeap(done) }()
	}
	return func() {
		if f != nil {
			pprof.StopCPUProfile()
			f.Close()
		}
		if heap == "" {
			return
		}
		close(done)
		b := <-peak
		if b == nil {
			fmt.Fprintf(stderr, "WRITEBACK_HEAPPROFILE: no heap profile could be taken\n")
			return
		}
		if err := os.WriteFile(heap, b, 0o644); err != nil {
			fmt.Fprintf(stderr, "WRITEBACK_HEAPPROFILE: %v\n", err)
		}
	}
}

// watchPeakHeap samples the live heap (as of the last GC; a heap profile
// describes a GC cycle or two earlier, close enough) twice a second and keeps a heap profile from each
// new high, 5 % above the last, until done; then it returns the last kept.
func watchPeakHeap(done <-chan struct{}) []byte {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var (
		high uint64
		kept []byte
	)
	take := func() {
		metrics.Read(s)
		live := s[0].Value.Uint64()
		if kept != nil && live < high+high/20 {
			return
		}
		var b bytes.Buffer
		if err := pprof.Lookup("heap").WriteTo(&b, 0); err == nil {
			high, kept = live, b.Bytes()
		}
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		take()
		select {
		case <-done:
			return kept
		case <-t.C:
		}
	}
}

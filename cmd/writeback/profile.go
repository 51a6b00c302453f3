package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiles writes CPU and heap profiles of this process when
// WRITEBACK_CPUPROFILE / WRITEBACK_HEAPPROFILE name files: the benchmarks
// profile writeback itself, apart from the emulator and the directory. The
// heap profile is taken when the command ends. Not a flag: it is for
// developers, and every subcommand gets it.
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
	return func() {
		if f != nil {
			pprof.StopCPUProfile()
			f.Close()
		}
		if heap == "" {
			return
		}
		h, err := os.Create(heap)
		if err != nil {
			fmt.Fprintf(stderr, "WRITEBACK_HEAPPROFILE: %v\n", err)
			return
		}
		defer h.Close()
		runtime.GC()
		if err := pprof.Lookup("heap").WriteTo(h, 0); err != nil {
			fmt.Fprintf(stderr, "WRITEBACK_HEAPPROFILE: %v\n", err)
		}
	}
}

package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/writeback/writeback/internal/config"
)

// applyMemoryLimit sets sync.memoryLimit as the Go runtime's soft memory
// limit, unless GOMEMLIMIT already set one. Under a limit the collector can
// also wait longer between cycles (GOGC 400 instead of 100, unless GOGC is
// set): a round allocates far more than it keeps, and the limit, not the
// percentage, is what bounds a large round's heap. A small tenant's heap
// stays small either way.
func applyMemoryLimit(s config.Sync, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" || s.MemoryLimitBytes <= 0 {
		return
	}
	debug.SetMemoryLimit(s.MemoryLimitBytes)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercentUnderLimit)
	}
	log.Debug("soft memory limit", "sync.memoryLimit", s.MemoryLimit)
}

const gcPercentUnderLimit = 400

package engine

import (
	"context"
	"log/slog"
	"sort"
	"time"
)

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// phaseTimer measures the steps of a round and logs them in one debug line,
// so a slow round shows where its time went without a profiler.
type phaseTimer struct {
	log   *slog.Logger
	start time.Time
	last  time.Time
	attrs []any
}

func newPhaseTimer(log *slog.Logger) *phaseTimer {
	now := time.Now()
	return &phaseTimer{log: log, start: now, last: now}
}

// done closes the phase that started at the previous call.
func (t *phaseTimer) done(name string) {
	now := time.Now()
	t.attrs = append(t.attrs, name, now.Sub(t.last).Round(time.Millisecond).String())
	t.last = now
}

// report logs every phase and the total, with extra attributes.
func (t *phaseTimer) report(msg string, extra ...any) {
	if !t.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	attrs := append(append([]any{}, t.attrs...), "total", time.Since(t.start).Round(time.Millisecond).String())
	t.log.Debug(msg, append(attrs, extra...)...)
}

package migrate

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Bar draws a one-line progress bar; it is meant for a terminal only (the
// caller decides), redrawing at most ten times a second.
type Bar struct {
	w     io.Writer
	label string
	start time.Time
	mu    sync.Mutex
	last  time.Time
}

// NewBar returns a bar writing to w.
func NewBar(w io.Writer, label string) *Bar {
	return &Bar{w: w, label: label, start: time.Now()}
}

// Update redraws the bar; it is a PrepareOptions.Progress function.
func (b *Bar) Update(done, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if done < total && now.Sub(b.last) < 100*time.Millisecond {
		return
	}
	b.last = now
	const width = 30
	fill := 0
	if total > 0 {
		fill = done * width / total
	}
	rate := float64(done) / max(now.Sub(b.start).Seconds(), 0.001)
	fmt.Fprintf(b.w, "\r%s [%s%s] %d/%d  %.0f/s ", b.label, strings.Repeat("#", fill), strings.Repeat(".", width-fill), done, total, rate)
	if done >= total {
		fmt.Fprintln(b.w)
	}
}

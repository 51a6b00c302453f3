package main

import (
	"fmt"
	"io"
	"sync"
)

// termOut is a terminal shared by a live progress bar and log lines: a log
// line clears the bar's line, is written whole, and the bar is drawn again
// below it, so no log line is ever written into a bar.
type termOut struct {
	mu  sync.Mutex
	w   io.Writer
	bar string // the bar on screen, "" for none
}

func newTermOut(w io.Writer) *termOut { return &termOut{w: w} }

// Write writes log output above the bar.
func (t *termOut) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bar != "" {
		io.WriteString(t.w, "\r\033[K")
	}
	n, err := t.w.Write(p)
	if t.bar != "" {
		io.WriteString(t.w, t.bar)
	}
	return n, err
}

// draw shows line as the bar, in place of the previous one.
func (t *termOut) draw(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bar = line
	fmt.Fprintf(t.w, "\r\033[K%s", line)
}

// keep leaves the bar on screen as a finished line.
func (t *termOut) keep() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bar != "" {
		fmt.Fprintln(t.w)
	}
	t.bar = ""
}

// asTermOut returns w as a termOut (a new one when it is not).
func asTermOut(w io.Writer) *termOut {
	if t, ok := w.(*termOut); ok {
		return t
	}
	return newTermOut(w)
}

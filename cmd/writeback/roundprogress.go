package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/writeback/writeback/internal/engine"
)

// isTerminal reports whether w is a terminal (a live bar makes sense).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// phaseSnapshot is one reading of a round's progress.
type phaseSnapshot struct {
	phase                            string
	groups, users, members, resolved int64
	writes, writesTotal              int64
}

func snapshot(p *engine.Progress) phaseSnapshot {
	return phaseSnapshot{phase: p.Phase(), groups: p.GroupsRead.Load(), users: p.UsersRead.Load(),
		members: p.MembersToResolve.Load(), resolved: p.MembersResolved.Load(),
		writes: p.Writes.Load(), writesTotal: p.WritesTotal.Load()}
}

// line is one phase's progress with counts and rate over elapsed.
func (s phaseSnapshot) line(phase string, elapsed time.Duration) string {
	rate := func(n int64) string {
		if elapsed < time.Second {
			return ""
		}
		return fmt.Sprintf(" (%.0f/s)", float64(n)/elapsed.Seconds())
	}
	switch phase {
	case "read":
		return fmt.Sprintf("read     %d groups, %d users from Graph%s", s.groups, s.users, rate(s.groups+s.users))
	case "resolve":
		return fmt.Sprintf("resolve  %s %d/%d memberships", bar(s.resolved, s.members), s.resolved, s.members)
	case "write":
		return fmt.Sprintf("write    %s %d/%d changes%s", bar(s.writes, s.writesTotal), s.writes, s.writesTotal, rate(s.writes))
	}
	return ""
}

func bar(done, total int64) string {
	const width = 30
	n := int64(width)
	if total > 0 {
		n = width * min(done, total) / total
	}
	return "[" + strings.Repeat("#", int(n)) + strings.Repeat(".", width-int(n)) + "]"
}

// liveBars draws, on a terminal, a bar per phase of the rounds counted by
// p, redrawn in place; a finished phase keeps its last line. The returned
// func stops it. Log lines written through the same termOut appear above
// the bar, never inside it.
func liveBars(w io.Writer, p *engine.Progress) func() {
	term := asTermOut(w)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		var (
			shown string // the phase on screen
			since time.Time
			prev  phaseSnapshot
		)
		draw := func(s phaseSnapshot, phase string) {
			term.draw(s.line(phase, time.Since(since)))
		}
		for {
			stop := false
			select {
			case <-ctx.Done():
				stop = true
			case <-t.C:
			}
			s := snapshot(p)
			if shown != "" && s.phase != shown {
				draw(s, shown) // its final counts
				term.keep()
				shown = ""
			}
			if s.phase != "" && !stop {
				if shown == "" {
					shown, since = s.phase, time.Now()
				}
				if s != prev {
					draw(s, shown)
				}
			}
			prev = s
			if stop {
				term.keep()
				return
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// logProgress logs, at INFO every interval, the progress of a round that
// has run longer than interval (a long full round says how far it is; a
// short incremental one says nothing).
func logProgress(ctx context.Context, log *slog.Logger, p *engine.Progress, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var running time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := snapshot(p)
		if s.phase == "" {
			running = time.Time{}
			continue
		}
		if running.IsZero() {
			running = time.Now() // seen running for the first time
			continue
		}
		el := time.Since(running) + every
		log.Info("round progress", "phase", s.phase, "groupsRead", s.groups, "usersRead", s.users,
			"membershipsResolved", s.resolved, "memberships", s.members, "changesWritten", s.writes, "changes", s.writesTotal,
			"elapsedSeconds", el.Round(time.Second).Seconds())
	}
}

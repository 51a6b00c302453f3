package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/engine"
)

// A round that runs on is logged at INFO with how far it is.
func TestLogProgressOfALongRound(t *testing.T) {
	var p engine.Progress
	p.SetPhase("write")
	p.WritesTotal.Store(10)
	p.Writes.Store(4)
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		logProgress(ctx, slog.New(slog.NewTextHandler(logs, nil)), &p, 20*time.Millisecond)
		close(done)
	}()
	eventually(t, "a progress line", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), `msg="round progress" phase=write`) && strings.Contains(logs.String(), "changesWritten=4 changes=10")
	}, logs)
	cancel()
	<-done
}

// On a terminal each phase gets a bar with counts, and keeps its last line.
func TestLiveBarsPerPhase(t *testing.T) {
	var p engine.Progress
	out := &lockedBuffer{}
	stop := liveBars(out, &p)
	p.SetPhase("read")
	p.GroupsRead.Store(10000)
	time.Sleep(500 * time.Millisecond)
	p.SetPhase("resolve")
	p.MembersToResolve.Store(50)
	p.MembersResolved.Store(50)
	time.Sleep(500 * time.Millisecond)
	p.SetPhase("write")
	p.WritesTotal.Store(20)
	p.Writes.Store(20)
	time.Sleep(500 * time.Millisecond)
	p.SetPhase("")
	time.Sleep(500 * time.Millisecond)
	stop()
	s := out.String()
	for _, want := range []string{"read     10000 groups", "resolve  [##############################] 50/50 memberships", "write    [##############################] 20/20 changes"} {
		if !strings.Contains(s, want) {
			t.Errorf("bars lack %q:\n%q", want, s)
		}
	}
	if n := strings.Count(s, "\n"); n != 3 {
		t.Errorf("%d finished lines, want one per phase (3):\n%q", n, s)
	}
}

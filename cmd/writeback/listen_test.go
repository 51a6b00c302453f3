package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/config"
)

// --listen beyond loopback without sync.listenToken is refused, saying what
// to do; without --listen or sync.listen there is no listener.
func TestListenFlagBeyondLoopbackNeedsToken(t *testing.T) {
	s := &session{cfg: &config.Config{}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := startListener(s, "0.0.0.0:0", nil); err == nil || !strings.Contains(err.Error(), "sync.listenToken") {
		t.Errorf("--listen 0.0.0.0:0 without a token: err = %v", err)
	}
	stop, err := startListener(s, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	stop()
}

package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// READY=1 and WATCHDOG=1 reach the socket systemd names in $NOTIFY_SOCKET.
func TestNotifySystemd(t *testing.T) {
	p := filepath.Join(t.TempDir(), "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("NOTIFY_SOCKET", p)
	t.Setenv("WATCHDOG_USEC", "100000") // pings every 50 ms
	t.Setenv("WATCHDOG_PID", "")
	n := newNotifier(slog.New(slog.NewTextHandler(io.Discard, nil)))
	n.notify("READY=1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.watchdog(ctx)
	read := func() string {
		_ = ln.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 256)
		k, err := ln.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		return string(b[:k])
	}
	if got := read(); got != "READY=1" {
		t.Errorf("first message %q, want READY=1", got)
	}
	if got := read(); got != "WATCHDOG=1" {
		t.Errorf("second message %q, want WATCHDOG=1", got)
	}
}

// Outside systemd nothing is sent and nothing fails.
func TestNotifyOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	n := newNotifier(slog.New(slog.NewTextHandler(io.Discard, nil)))
	n.notify("READY=1")
	if watchdogInterval() != 0 {
		t.Error("watchdog without WATCHDOG_USEC")
	}
}

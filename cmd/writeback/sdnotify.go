package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// notifier speaks systemd's notification protocol (sd_notify(3)): one
// datagram per message on the unix socket named by $NOTIFY_SOCKET. It is
// a dozen lines, so no library: outside systemd (no NOTIFY_SOCKET) every
// call does nothing.
type notifier struct {
	addr *net.UnixAddr
	log  *slog.Logger
}

func newNotifier(log *slog.Logger) *notifier {
	p := os.Getenv("NOTIFY_SOCKET")
	if p == "" || (!strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "@")) {
		return &notifier{log: log}
	}
	if strings.HasPrefix(p, "@") {
		p = "\x00" + p[1:] // abstract namespace
	}
	return &notifier{addr: &net.UnixAddr{Name: p, Net: "unixgram"}, log: log}
}

// notify sends state ("READY=1", "WATCHDOG=1", "STATUS=...").
func (n *notifier) notify(state string) {
	if n.addr == nil {
		return
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err == nil {
		_, err = conn.Write([]byte(state))
		conn.Close()
	}
	if err != nil {
		n.log.Warn("cannot notify systemd", "socket", n.addr.Name, "state", state, "err", err)
	}
}

// watchdogInterval is half of WatchdogSec= (systemd's advice), or 0 when
// the unit has no watchdog for this process.
func watchdogInterval() time.Duration {
	us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(us) * time.Microsecond / 2
}

// watchdog pings systemd until ctx ends. The pings come from this
// goroutine, not the round loop: a long full round is not a hang. What
// the watchdog catches is a process that no longer schedules goroutines.
func (n *notifier) watchdog(ctx context.Context) {
	every := watchdogInterval()
	if every == 0 || n.addr == nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.notify("WATCHDOG=1")
		}
	}
}

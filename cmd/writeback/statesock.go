package main

// How 'status' and 'log' read a state another process holds.
//
// The process that holds the state (run, apply, plan, provision: see
// state.AcquireLock) keeps it open read-write for its whole life, and bbolt's
// file lock then keeps every other process out, read-only opens included.
// Closing the file between rounds (what the daemon used to do) does not help
// during a long round, and waiting for the file is what made status useless
// during a two-minute round (D10). So the holder answers status and log
// itself, on a unix socket beside the state file (STATE.sock, mode 0600:
// the same users as the state file): inside one process bbolt reads run
// beside a write transaction, so the answer comes at once, mid-round too,
// and reflects what the last committed transaction wrote.
//
// Without a holder, status and log open the file read-only, which also works
// on a read-only file system. Chosen over a snapshot file the daemon would
// write (log needs the whole provisioning log, and a snapshot is stale
// during a long round) and over copying the file (a copy of a file being
// written is not a consistent bbolt file).

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/state"
	"github.com/writeback/writeback/internal/wire"
)

// stateQuery is a status or log request, answered by whoever can read the state.
type stateQuery struct {
	Cmd   string `json:"cmd"` // "status" or "log"
	N     int    `json:"n"`
	JSON  bool   `json:"json,omitempty"`
	Group string `json:"group,omitempty"`
	// Interval is sync.interval as the asking process reads it: status
	// needs an operator after 3 intervals without a successful round.
	Interval time.Duration `json:"interval,omitempty"`
	// Running is the process holding the state, as its lock file says.
	Running *state.Holder `json:"running,omitempty"`
}

func answerQuery(db *state.DB, q stateQuery, w io.Writer) error {
	switch q.Cmd {
	case "status":
		return showStatus(db, q, w)
	case "log":
		return showLog(db, q, w)
	}
	return fmt.Errorf("unknown state query %q", q.Cmd)
}

func socketPath(statePath string) string { return statePath + ".sock" }

// queryState answers q from the state of cfg: through the socket of the
// process that holds it, or read-only.
func queryState(ctx context.Context, cfg *config.Config, q stateQuery, stdout io.Writer) error {
	if cfg.State.Postgres != nil {
		return queryShared(ctx, cfg, q, stdout) // HA (ha.go)
	}
	path := wire.StatePath(cfg)
	held, h, err := state.Held(path)
	if err != nil {
		return fmt.Errorf("read the lock of state %s: %w", path, err)
	}
	if held {
		q.Running = &h
		err := askHolder(ctx, path, q, stdout)
		if !errors.Is(err, errNoAnswer) {
			return err
		}
		// The holder does not answer (it is still opening the state, or
		// cannot create its socket): read the file if it lets us.
	}
	db, err := wire.OpenStateReadOnly(ctx, cfg, 2*time.Second)
	if errors.Is(err, state.ErrNoState) {
		// Nothing to show is an answer, not a failure.
		// For status, no round at all is something an operator must see.
		switch {
		case q.JSON && q.Cmd == "status":
			if err := writeJSON(stdout, statusReport{State: path, Rounds: []state.Round{}, Quarantined: []state.GroupStatus{}, Failing: []state.GroupStatus{},
				attention: attention{NeedsOperator: []string{"no successful round recorded"}}}); err != nil {
				return err
			}
			return errNeedsOperator
		case q.JSON:
			return nil // no log lines
		case q.Cmd == "log":
			_, err := fmt.Fprintln(stdout, "No log entries.")
			return err
		}
		if _, err := fmt.Fprintf(stdout, "No state yet in %s: writeback has not run a round with this configuration.\n", path); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "\nHealth: needs an operator: no successful round recorded")
		return errNeedsOperator
	}
	if err != nil {
		if state.IsBusy(err) && held {
			return fmt.Errorf("state %s is in use by pid %d (writeback %s, since %s), which does not answer on %s: try again in a moment",
				path, h.PID, h.Command, h.Since.Local().Format(time.DateTime), socketPath(path))
		}
		return err
	}
	defer db.Close()
	return answerQuery(db, q, stdout)
}

var errNoAnswer = errors.New("no answer on the state socket")

// Frames on the socket: a type byte ('o' output, 'e' error), a 4-byte
// length, the payload. The output is streamed (the whole log can be large).
const (
	frameOut = 'o'
	frameErr = 'e'
	// frameNeeds ends an answer that needs an operator (status --exit-code).
	frameNeeds = 'n'
)

func askHolder(ctx context.Context, path string, q stateQuery, stdout io.Writer) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "unix", socketPath(path))
	if err != nil {
		return fmt.Errorf("%w: %v", errNoAnswer, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	if err := json.NewEncoder(conn).Encode(q); err != nil {
		return fmt.Errorf("%w: %v", errNoAnswer, err)
	}
	r := bufio.NewReader(conn)
	got := false
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if !got {
				return fmt.Errorf("%w: %v", errNoAnswer, err)
			}
			return fmt.Errorf("read status from pid %d's socket %s: %w", q.Running.PID, socketPath(path), err)
		}
		got = true
		n := binary.BigEndian.Uint32(hdr[1:])
		switch hdr[0] {
		case frameOut:
			if n == 0 {
				return nil // end of the answer
			}
			if _, err := io.CopyN(stdout, r, int64(n)); err != nil {
				return err
			}
		case frameNeeds:
			return errNeedsOperator
		case frameErr:
			msg := make([]byte, n)
			if _, err := io.ReadFull(r, msg); err != nil {
				return err
			}
			return errors.New(string(msg))
		default:
			return fmt.Errorf("read status from socket %s: unexpected frame %q", socketPath(path), hdr[0])
		}
	}
}

// frameWriter writes output frames.
type frameWriter struct{ w *bufio.Writer }

func (f frameWriter) frame(typ byte, p []byte) error {
	var hdr [5]byte
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, err := f.w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := f.w.Write(p)
	return err
}

func (f frameWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		n := min(len(p), 1<<20)
		if err := f.frame(frameOut, p[:n]); err != nil {
			return 0, err
		}
		p = p[n:]
	}
	return total, nil
}

// stateServer answers status and log on the socket of the state the
// process holds.
type stateServer struct {
	ln   net.Listener
	path string
	wg   sync.WaitGroup
}

// serveState starts answering on STATE.sock from db. It needs the state's
// lock held: a socket file left there by a killed process is replaced.
// Failing to listen is not fatal: status then waits for the file instead.
func serveState(db *state.DB, log *slog.Logger) *stateServer {
	p := socketPath(db.Path())
	_ = os.Remove(p)
	ln, err := net.Listen("unix", p)
	if err != nil {
		log.Warn("status and log cannot ask this process while it runs (they read the state file when it is free)", "socket", p, "err", err)
		return nil
	}
	if err := os.Chmod(p, 0o600); err != nil {
		ln.Close()
		log.Warn("status and log cannot ask this process while it runs", "socket", p, "err", err)
		return nil
	}
	s := &stateServer{ln: ln, path: p}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // closed
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.answer(conn, db, log)
			}()
		}
	}()
	return s
}

func (s *stateServer) answer(conn net.Conn, db *state.DB, log *slog.Logger) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	var q stateQuery
	if err := json.NewDecoder(io.LimitReader(conn, 64<<10)).Decode(&q); err != nil {
		return
	}
	fw := frameWriter{w: bufio.NewWriterSize(conn, 64<<10)}
	if err := answerQuery(db, q, fw); errors.Is(err, errNeedsOperator) {
		_ = fw.frame(frameNeeds, nil)
	} else if err != nil {
		_ = fw.frame(frameErr, []byte(err.Error()))
	} else {
		_ = fw.frame(frameOut, nil)
	}
	if err := fw.w.Flush(); err != nil {
		log.Debug("state query: client gone", "err", err)
	}
}

// Close stops answering and waits for the answers under way (they read the
// state, which is closed next).
func (s *stateServer) Close() {
	if s == nil {
		return
	}
	s.ln.Close() // removes the socket file
	s.wg.Wait()
}

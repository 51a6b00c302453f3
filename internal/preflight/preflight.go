// Package preflight owns `writeback check`: an ordered list of checks, each
// saying ok or fail and, on failure, what the administrator should do. Checks
// share an Env (connections, discovered RootDSE) and are skipped when a check
// they need did not pass. Other sources (Entra) append their own Checks.
package preflight

import (
	"context"
	"log/slog"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
)

// Status of one check.
type Status string

// Statuses.
const (
	OK   Status = "ok"
	Fail Status = "fail"
	Skip Status = "skip"
	// Warn passed but needs attention; it does not fail the run.
	Warn Status = "warn"
)

// Result is the outcome of one check.
type Result struct {
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Detail   string        `json:"detail,omitempty"`
	Fix      string        `json:"fix,omitempty"`
	Duration time.Duration `json:"-"`
	Millis   int64         `json:"ms"`
}

// Check is one preflight step. Needs names checks that must have passed first.
type Check struct {
	Name  string
	Needs []string
	Run   func(ctx context.Context, e *Env) Result
}

// Env is shared by the checks of one run: the configuration, options and what
// earlier checks established.
type Env struct {
	Config  *config.Config
	NoWrite bool // skip checks that write (the probe group)
	// Log receives what the AD connections say while the checks run (a
	// reconnect, a server skipped): the configured logger.
	Log *slog.Logger

	DC      *ad.Conn
	GC      *ad.Conn
	RootDSE *ad.RootDSE
	// Values lets checks hand other things on (e.g. an Entra client).
	Values map[string]any
}

// Close releases what the checks opened.
func (e *Env) Close() {
	if e.DC != nil {
		e.DC.Close()
	}
	if e.GC != nil {
		e.GC.Close()
	}
}

// Run runs checks in order and calls report (if not nil) as each finishes.
func Run(ctx context.Context, e *Env, checks []Check, report func(Result)) []Result {
	if e.Values == nil {
		e.Values = map[string]any{}
	}
	passed := map[string]bool{}
	var out []Result
	for _, c := range checks {
		var r Result
		missing := ""
		for _, n := range c.Needs {
			if !passed[n] {
				missing = n
				break
			}
		}
		start := time.Now()
		switch {
		case missing != "":
			r = Result{Status: Skip, Detail: "needs " + missing}
		case ctx.Err() != nil:
			r = Result{Status: Skip, Detail: "interrupted"}
		default:
			r = c.Run(ctx, e)
		}
		r.Name = c.Name
		r.Duration = time.Since(start)
		r.Millis = r.Duration.Milliseconds()
		passed[c.Name] = r.Status == OK || r.Status == Warn
		out = append(out, r)
		if report != nil {
			report(r)
		}
	}
	return out
}

// Failed reports whether any result failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

func ok(detail string) Result { return Result{Status: OK, Detail: detail} }

func fail(detail, fix string) Result { return Result{Status: Fail, Detail: detail, Fix: fix} }

func warn(detail, fix string) Result { return Result{Status: Warn, Detail: detail, Fix: fix} }

func skip(detail string) Result { return Result{Status: Skip, Detail: detail} }

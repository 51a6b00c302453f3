package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/writeback/writeback/internal/engine"
	"github.com/writeback/writeback/internal/state"
	"github.com/writeback/writeback/internal/wire"
)

// statusArgs are status's flags.
type statusArgs struct {
	config   string
	n        int
	json     bool
	exitCode bool
	group    string
}

func parseStatusArgs(args []string, stderr io.Writer) (statusArgs, error) {
	var a statusArgs
	fs := newFlagSet("status", `Usage: writeback status [flags]

Shows the last rounds, the groups waiting for the next round, quarantined
groups (failing, retried with exponential backoff) and groups with errors.
Works while 'writeback run' (or apply, plan) holds the state, mid-round too:
that process answers on a socket beside the state file. Otherwise it reads
the state file read-only (a read-only file system is fine). Durations in
--json are in seconds.

It also lists what writeback skipped and why: members it could not resolve
(per group, by name, with the reason), name collisions, groups that could not
be planned, and deletes held back by safety.deleteThreshold.

With --exit-code it exits 2 when an operator is needed (quarantined groups,
blocked deletes, or no successful round within 3 sync intervals), 1 when the
status cannot be read, and 0 otherwise: a monitoring check can call it.

Examples:
  writeback status
  writeback status -n 50 --json
  writeback status --group 5ef56a4c-...      # every skipped member of one group
  writeback status --exit-code >/dev/null || alert
`, stderr)
	fs.StringVar(&a.config, "config", defaultConfig(), "configuration `FILE` (env WRITEBACK_CONFIG)")
	fs.IntVar(&a.n, "n", 10, "show the last `N` rounds")
	asJSON := jsonFlags(fs, "print JSON")
	fs.BoolVar(&a.exitCode, "exit-code", false, "exit 2 when an operator is needed (quarantined groups, blocked deletes, no successful round within 3 intervals)")
	fs.StringVar(&a.group, "group", "", "show every skipped member of this Entra group `ID`")
	if err := parseNoArgs(fs, args, stderr); err != nil {
		return a, err
	}
	a.json = *asJSON
	return a, nil
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseStatusArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	return statusCmd(ctx, a, stdout, stderr)
}

// statusCmd prints the status, from the process holding the state or the file.
func statusCmd(ctx context.Context, a statusArgs, stdout, stderr io.Writer) error {
	cfg, _, err := wire.Load(a.config, stderr)
	if err != nil {
		return err
	}
	err = queryState(ctx, cfg, stateQuery{Cmd: "status", N: a.n, JSON: a.json, Group: a.group,
		Interval: time.Duration(cfg.Sync.Interval)}, stdout)
	if errors.Is(err, errNeedsOperator) {
		if a.exitCode {
			return withExitCode(2, nil)
		}
		return nil
	}
	return err
}

// errNeedsOperator is what showStatus returns, after printing everything,
// when an operator is needed; status --exit-code turns it into exit 2.
var errNeedsOperator = errors.New("an operator is needed")

// statusReport is what status prints (--json: as is).
type statusReport struct {
	// Version is of the process that answered (the daemon's when it runs).
	Version     buildVersion        `json:"version"`
	State       string              `json:"state"`
	Running     *runningJSON        `json:"running,omitempty"`
	Rounds      []state.Round       `json:"rounds"`
	Pending     int                 `json:"pending"`
	FullPending bool                `json:"fullPending"`
	LastFull    string              `json:"lastFull,omitempty"` // when a full plan was last applied, failures or not
	LastFullRun *state.Round        `json:"lastFullRound,omitempty"`
	Quarantined []state.GroupStatus `json:"quarantined"`
	Failing     []state.GroupStatus `json:"failing"`
	// Released: groups converted to the cloud and taken over, then given back to AD (status_soa.go).
	Released []state.GroupStatus `json:"released,omitempty"`
	Groups   int                 `json:"groupsProvisioned"`
	// DC is the domain controller the last applied round worked on; DCMove
	// says when rounds last moved to another one (issue #20).
	DC     string `json:"dc,omitempty"`
	DCMove string `json:"dcMove,omitempty"`
	// Leader is the lease of a shared (PostgreSQL) state: which instance leads (ha.go).
	Leader *state.LeaseInfo `json:"leader,omitempty"`
	attention
}

type runningJSON struct {
	PID     int       `json:"pid"`
	Since   time.Time `json:"since,omitzero"`
	Command string    `json:"command,omitempty"`
}

// lastFullRounds is how far back status looks for the last full round that
// applied (or tried to): past the daemon's incremental rounds of a day.
const lastFullRounds = 1000

// buildStatus gathers what status shows; the status page and the
// metrics' gauges read the same.
func buildStatus(db *state.DB, q stateQuery) (statusReport, error) {
	r := statusReport{Version: buildInfo(), State: db.Path(), Rounds: []state.Round{}, Quarantined: []state.GroupStatus{}, Failing: []state.GroupStatus{}}
	if h := q.Running; h != nil {
		r.Running = &runningJSON{PID: h.PID, Since: h.Since, Command: h.Command}
	}
	seen := 0
	if err := db.Rounds(func(x state.Round) error {
		seen++
		if len(r.Rounds) < q.N {
			r.Rounds = append(r.Rounds, x)
		}
		if r.LastFullRun == nil && x.Full && !x.DryRun {
			r.LastFullRun = &x
		}
		if (r.LastFullRun != nil || seen >= lastFullRounds) && len(r.Rounds) >= q.N {
			return state.ErrStop
		}
		return nil
	}); err != nil {
		return r, err
	}
	dirty, err := db.Dirty()
	if err != nil {
		return r, err
	}
	r.Pending = len(dirty)
	fp, err := db.FullPending()
	if err != nil {
		return r, err
	}
	r.FullPending = fp != ""
	if r.LastFull, err = db.LastFullText(); err != nil {
		return r, err
	}
	if r.DC, r.DCMove, err = engine.DCStatus(db); err != nil { // hook (issue #20)
		return r, err
	}
	now := time.Now()
	if err := db.Statuses(func(s state.GroupStatus) error {
		if s.DN != "" {
			r.Groups++
		}
		if s.Released != nil {
			r.Released = append(r.Released, s) // SOA hook (status_soa.go)
		}
		if s.Quarantined(now) {
			r.Quarantined = append(r.Quarantined, s)
		} else if s.LastError != "" && !strings.HasPrefix(s.LastError, "skipped (") {
			// Skipped groups (collisions, protected...) are listed with
			// the findings below.
			r.Failing = append(r.Failing, s)
		}
		return nil
	}); err != nil {
		return r, err
	}
	if r.attention, err = readAttention(db, r.Quarantined, q.Interval, now); err != nil {
		return r, err
	}
	if r.Leader, err = leaseLine(context.Background(), db); err != nil { // HA (ha.go)
		return r, err
	}
	return r, nil
}

func showStatus(db *state.DB, q stateQuery, stdout io.Writer) error {
	r, err := buildStatus(db, q)
	if err != nil {
		return err
	}
	healthy := func() error {
		if len(r.NeedsOperator) > 0 {
			return errNeedsOperator
		}
		return nil
	}
	if q.JSON {
		if err := writeJSON(stdout, r); err != nil {
			return err
		}
		return healthy()
	}
	if q.Group != "" {
		writeAttention(stdout, r.attention, q.Group)
		return healthy()
	}
	fmt.Fprintln(stdout, r.Version)
	if h := r.Running; h != nil {
		fmt.Fprintf(stdout, "Running: writeback %s, pid %d, since %s\n", h.Command, h.PID, h.Since.Local().Format(time.DateTime))
	}
	if l := r.Leader; l != nil { // HA (ha.go)
		if l.Valid {
			fmt.Fprintf(stdout, "Leader: %s (epoch %d, lease until %s); other instances follow\n", l.Holder, l.Epoch, l.ExpiresAt.Local().Format(time.DateTime))
		} else {
			fmt.Fprintf(stdout, "Leader: none (the lease of %s, epoch %d, expired %s): an instance takes over at its next look\n", l.Holder, l.Epoch, l.ExpiresAt.Local().Format(time.DateTime))
		}
	}
	fmt.Fprintf(stdout, "State %s: %d groups provisioned, %d waiting for the next round", db.Path(), r.Groups, r.Pending)
	if r.FullPending {
		fmt.Fprint(stdout, ", a full round is pending")
	}
	fmt.Fprintln(stdout)
	if line := lastFullLine(r.LastFullRun, r.LastFull); line != "" {
		fmt.Fprintln(stdout, line)
	}
	if r.DC != "" { // hook (issue #20)
		line := "Domain controller: " + r.DC
		if r.DCMove != "" {
			line += " (rounds " + r.DCMove + ")"
		}
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintf(stdout, "\nLast rounds:\n")
	if len(r.Rounds) == 0 {
		fmt.Fprintln(stdout, "  (none yet)")
	}
	for _, x := range r.Rounds {
		kind := "delta"
		if x.Full {
			kind = "full "
		}
		switch {
		case x.DryRun:
			kind += " (plan)"
		case x.Saved:
			kind += " (saved plan)"
		}
		fmt.Fprintf(stdout, "  #%-5d %s %s %8s  groups %d, changes %d, applied %d, failed %d, unresolved %d",
			x.Seq, x.Start.Local().Format("2006-01-02 15:04:05"), kind, x.Duration.Round(time.Millisecond), x.Groups, x.Changes, x.Applied, x.Failed, x.Unresolved)
		if x.Repaired > 0 {
			fmt.Fprintf(stdout, ", repaired %d (edited in AD by hand)", x.Repaired)
		}
		if x.Blocked != "" {
			fmt.Fprintf(stdout, "  BLOCKED: %s", x.Blocked)
		}
		if x.Error != "" {
			fmt.Fprintf(stdout, "  ERROR: %s", x.Error)
		}
		fmt.Fprintln(stdout)
	}
	var ids []string
	for _, s := range append(slices.Clone(r.Quarantined), r.Failing...) {
		ids = append(ids, s.ID)
	}
	names := groupNames(db, ids)
	if len(r.Quarantined) > 0 {
		fmt.Fprintf(stdout, "\nQuarantined groups (%d):\n", len(r.Quarantined))
		for _, s := range r.Quarantined {
			fmt.Fprintf(stdout, "  %s  failures %d, retry after %s: %s\n", label(names[s.ID], s.ID), s.Failures, s.QuarantinedUntil.Local().Format(time.DateTime), s.LastError)
		}
	}
	if len(r.Failing) > 0 {
		fmt.Fprintf(stdout, "\nGroups with errors (%d):\n", len(r.Failing))
		for _, s := range r.Failing {
			fmt.Fprintf(stdout, "  %s  %s\n", label(names[s.ID], s.ID), s.LastError)
		}
	}
	writeReleased(stdout, db, r.Released) // SOA hook (status_soa.go)
	writeAttention(stdout, r.attention, "")
	return healthy()
}

// lastFullLine says how the last full round went. A full round is only
// "applied" when every group went through: one with failed groups (959 of
// them during a DC outage) says so.
func lastFullLine(x *state.Round, lastFull string) string {
	if x == nil {
		if lastFull == "" {
			return ""
		}
		return "Last full round: " + lastFull
	}
	at := fmt.Sprintf("%s (#%d)", x.Start.Local().Format(time.DateTime), x.Seq)
	switch {
	case x.Blocked != "":
		return fmt.Sprintf("Last full round %s: blocked, nothing applied: %s", at, x.Blocked)
	case x.Error != "" && x.Failed > 0:
		return fmt.Sprintf("Last full round %s: not completed, %d changes applied, %d groups failed: %s", at, x.Applied, x.Failed, x.Error)
	case x.Error != "":
		return fmt.Sprintf("Last full round %s: failed, %d changes applied: %s", at, x.Applied, x.Error)
	case x.Failed > 0:
		return fmt.Sprintf("Last full round %s: %d changes applied, with %d failures (those groups are retried after their quarantine)", at, x.Applied, x.Failed)
	}
	return fmt.Sprintf("Last full round applied: %s, %d changes, no failures", at, x.Applied)
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/state"
)

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", `Usage: writeback status [flags]

Shows the last rounds, the groups waiting for the next round, quarantined
groups (failing, retried with exponential backoff) and groups with errors.
Reads the state file only; works while 'writeback run' is running (between its rounds).

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
	cfgPath := configFlag(fs)
	n := fs.Int("n", 10, "show the last `N` rounds")
	asJSON := fs.Bool("json", false, "print JSON")
	exitCode := fs.Bool("exit-code", false, "exit 2 when an operator is needed (quarantined groups, blocked deletes, no successful round within 3 intervals)")
	group := fs.String("group", "", "show every skipped member of this Entra group `ID`")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	db, err := state.Open(statePath(cfg))
	if err != nil {
		return err
	}
	defer db.Close()
	type report struct {
		Rounds      []state.Round       `json:"rounds"`
		Pending     int                 `json:"pending"`
		FullPending bool                `json:"fullPending"`
		LastFull    string              `json:"lastFull,omitempty"`
		Quarantined []state.GroupStatus `json:"quarantined"`
		Failing     []state.GroupStatus `json:"failing"`
		Groups      int                 `json:"groupsProvisioned"`
		attention
	}
	var r report
	if err := db.Rounds(func(x state.Round) error {
		r.Rounds = append(r.Rounds, x)
		if len(r.Rounds) >= *n {
			return state.ErrStop
		}
		return nil
	}); err != nil {
		return err
	}
	dirty, err := db.Dirty()
	if err != nil {
		return err
	}
	r.Pending = len(dirty)
	fp, _ := db.Meta("fullPending")
	r.FullPending = fp == "1"
	r.LastFull, _ = db.Meta("lastFull")
	now := time.Now()
	if err := db.Statuses(func(s state.GroupStatus) error {
		if s.DN != "" {
			r.Groups++
		}
		if s.Quarantined(now) {
			r.Quarantined = append(r.Quarantined, s)
		} else if s.LastError != "" {
			r.Failing = append(r.Failing, s)
		}
		return nil
	}); err != nil {
		return err
	}
	if r.attention, err = readAttention(db, r.Quarantined, time.Duration(cfg.Sync.Interval), now); err != nil {
		return err
	}
	healthy := func() error {
		if *exitCode && len(r.NeedsOperator) > 0 {
			return withExitCode(2, nil)
		}
		return nil
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
		return healthy()
	}
	if *group != "" {
		writeAttention(stdout, r.attention, *group)
		return healthy()
	}
	fmt.Fprintf(stdout, "State %s: %d groups provisioned, %d waiting for the next round", db.Path(), r.Groups, r.Pending)
	if r.FullPending {
		fmt.Fprint(stdout, ", a full round is pending")
	}
	fmt.Fprintln(stdout)
	if r.LastFull != "" {
		fmt.Fprintf(stdout, "Last full round applied: %s\n", r.LastFull)
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
		if x.DryRun {
			kind += " (plan)"
		}
		fmt.Fprintf(stdout, "  #%-5d %s %s %8s  groups %d, changes %d, applied %d, failed %d, unresolved %d",
			x.Seq, x.Start.Local().Format("2006-01-02 15:04:05"), kind, x.Duration.Round(time.Millisecond), x.Groups, x.Changes, x.Applied, x.Failed, x.Unresolved)
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
	writeAttention(stdout, r.attention, "")
	return healthy()
}

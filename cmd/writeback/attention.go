package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/writeback/writeback/internal/state"
)

// attention is what `writeback status` shows an operator beyond the rounds:
// what writeback skipped and why, and whether someone must act.
type attention struct {
	// Findings: per group, members not resolved, collisions, groups not planned.
	Findings []state.Finding `json:"findings,omitempty"`
	// BlockedDeletes: what the deletion threshold is holding back.
	BlockedDeletes *state.BlockedDeletes `json:"blockedDeletes,omitempty"`
	// LastSuccess: the end of the last round that ran without error.
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	// NeedsOperator lists why `status --exit-code` fails; empty when healthy.
	NeedsOperator []string `json:"needsOperator"`
}

// readAttention gathers the findings and decides whether an operator is
// needed: quarantined groups, blocked deletes, or no successful round within
// three sync intervals (the daemon is down, stuck or failing every round).
func readAttention(db *state.DB, quarantined []state.GroupStatus, interval time.Duration, now time.Time) (attention, error) {
	var a attention
	if err := db.Findings(func(f state.Finding) error {
		a.Findings = append(a.Findings, f)
		return nil
	}); err != nil {
		return a, err
	}
	slices.SortFunc(a.Findings, func(x, y state.Finding) int { return strings.Compare(strings.ToLower(x.Name), strings.ToLower(y.Name)) })
	b, err := db.BlockedDeletes()
	if err != nil {
		return a, err
	}
	a.BlockedDeletes = b
	if err := db.Rounds(func(r state.Round) error {
		if r.Error == "" && r.Blocked == "" && !r.DryRun {
			a.LastSuccess = r.Start.Add(r.Duration)
			return state.ErrStop
		}
		return nil
	}); err != nil {
		return a, err
	}
	if n := len(quarantined); n > 0 {
		a.NeedsOperator = append(a.NeedsOperator, fmt.Sprintf("%d group(s) quarantined", n))
	}
	if b != nil {
		a.NeedsOperator = append(a.NeedsOperator, fmt.Sprintf("%d delete(s) blocked by safety.deleteThreshold since %s", len(b.Groups), b.Since.Local().Format(time.DateTime)))
	}
	switch {
	case a.LastSuccess.IsZero():
		a.NeedsOperator = append(a.NeedsOperator, "no successful round recorded")
	case interval > 0 && now.Sub(a.LastSuccess) > 3*interval:
		a.NeedsOperator = append(a.NeedsOperator, fmt.Sprintf("no successful round for %s (more than 3 × sync.interval %s)",
			now.Sub(a.LastSuccess).Round(time.Second), interval))
	}
	return a, nil
}

// groupNames looks up display names in the state's cloud cache, for lines
// that would otherwise show only object IDs.
func groupNames(db *state.DB, ids []string) map[string]string {
	out := map[string]string{}
	_ = db.View(func(tx *state.Tx) error {
		for _, id := range ids {
			if g, err := tx.Group(id); err == nil && g != nil {
				out[id] = g.DisplayName
			}
		}
		return nil
	})
	return out
}

// writeAttention prints the findings; group limits each list to one group
// and prints every member (otherwise the first few of each).
func writeAttention(w io.Writer, a attention, group string) {
	const few = 5
	var unresolved, collisions, errs []state.Finding
	for _, f := range a.Findings {
		if group != "" && !strings.EqualFold(f.GroupID, group) {
			continue
		}
		if len(f.Unresolved) > 0 {
			unresolved = append(unresolved, f)
		}
		if f.Collision != "" {
			collisions = append(collisions, f)
		}
		if f.Error != "" {
			errs = append(errs, f)
		}
	}
	if b := a.BlockedDeletes; b != nil && group == "" {
		fmt.Fprintf(w, "\nDeletes blocked since %s (%d group(s)): %s\n", b.Since.Local().Format(time.DateTime), len(b.Groups), b.Reason)
		for i, g := range b.Groups {
			if i == few*2 {
				fmt.Fprintf(w, "  ... and %d more (--json)\n", len(b.Groups)-i)
				break
			}
			fmt.Fprintf(w, "  - %s  %s\n", label(g.Name, g.ID), g.DN)
		}
		fmt.Fprintln(w, "  Allow them with 'writeback apply --allow-deletes', or fix the tenant or the scope.")
	}
	if len(unresolved) > 0 {
		fmt.Fprintf(w, "\nMembers not resolved, left out of their AD group (%d group(s)):\n", len(unresolved))
		for _, f := range unresolved {
			fmt.Fprintf(w, "  %s  %d member(s), since %s\n", label(f.Name, f.GroupID), len(f.Unresolved), f.Since.Local().Format(time.DateTime))
			for i, m := range f.Unresolved {
				if group == "" && i == few {
					fmt.Fprintf(w, "    ... and %d more (writeback status --group %s)\n", len(f.Unresolved)-i, f.GroupID)
					break
				}
				fmt.Fprintf(w, "    - %s: %s\n", label(m.Name, m.ID), m.Reason)
			}
		}
	}
	if len(collisions) > 0 {
		fmt.Fprintf(w, "\nCollisions and skipped groups: nothing is written for these (%d):\n", len(collisions))
		for _, f := range collisions {
			fmt.Fprintf(w, "  %s  %s\n", label(f.Name, f.GroupID), f.Collision)
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(w, "\nGroups that could not be planned (%d):\n", len(errs))
		for _, f := range errs {
			fmt.Fprintf(w, "  %s  %s\n", label(f.Name, f.GroupID), f.Error)
		}
	}
	if group == "" {
		if len(a.NeedsOperator) == 0 {
			fmt.Fprintln(w, "\nHealth: ok")
		} else {
			fmt.Fprintf(w, "\nHealth: needs an operator: %s\n", strings.Join(a.NeedsOperator, "; "))
		}
	}
}

// label is `"Name" (id)`, or the id alone when the name is unknown.
func label(name, id string) string {
	if name == "" {
		return id
	}
	return fmt.Sprintf("%q (%s)", name, id)
}

package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/writeback/writeback/internal/state"
)

// selection is the first stage's answer, read from the cloud changes the
// state holds: which groups the round compares, and why.
type selection struct {
	full bool
	why  string // why the round is full; "" for an incremental or targeted round
	// dirty are every pending mark in the state (group ID -> reason).
	dirty map[string]string
	// consumed are the marks this plan consumes (cleared once it is applied).
	consumed map[string]string
	// ids are the candidate group IDs, lower-case. A full round adds the
	// owned AD groups once it has read them.
	ids map[string]bool
}

// selectGroups picks the round's groups: the ones asked for (--group), every
// cached group in a full round, else the groups marked pending by ingest.
func (e *Engine) selectGroups(o PlanOptions) (selection, error) {
	var sel selection
	if len(o.Groups) == 0 {
		why, err := e.fullReason(o.Full)
		if err != nil {
			return sel, err
		}
		if why == "" {
			why = o.adReset // tamper.go
		}
		sel.why, sel.full = why, why != ""
	}
	dirty, err := e.db.Dirty()
	if err != nil {
		return sel, fmt.Errorf("read pending groups: %w", err)
	}
	sel.dirty, sel.consumed, sel.ids = dirty, dirty, map[string]bool{}
	switch {
	case len(o.Groups) > 0:
		sel.consumed = map[string]string{}
		for _, id := range o.Groups {
			id = strings.ToLower(id)
			sel.ids[id] = true
			if r, ok := dirty[id]; ok {
				sel.consumed[id] = r
			}
		}
	case sel.full:
		if err := e.db.View(func(tx *state.Tx) error {
			return tx.GroupIDs(func(id string) error { sel.ids[id] = true; return nil })
		}); err != nil {
			return sel, err
		}
		for id := range dirty {
			sel.ids[id] = true
		}
	default:
		for id := range dirty {
			sel.ids[id] = true
		}
	}
	return sel, nil
}

// fullReason says why the coming round plans every group, or "" when it
// plans only the groups marked pending: asked to (--full, the daily
// reconcile), a full snapshot not yet planned in full (the first sync, a
// delta link Graph refused), or a configuration that differs from the one
// the last full round was applied with. A delta link Graph refuses during
// the round also makes it full (plan asks again after ingesting).
func (e *Engine) fullReason(asked bool) (string, error) {
	_, done, err := e.db.LastFull()
	if err != nil {
		return "", err
	}
	if !done {
		return "first sync (no full round applied yet): every group compared", nil
	}
	if asked {
		return "a full round was asked for (--full, or sync.fullReconcile is due): every group compared", nil
	}
	changed, err := e.configChange()
	if err != nil {
		return "", err
	}
	if len(changed) > 0 {
		why := "configuration changed since the last applied round (" + strings.Join(changed, ", ") + "): every group compared"
		if slices.Contains(changed, "targetOU") && e.mapper.ParentOnCreate() {
			why += "; existing groups stay in their OU (parentDistinguishedName applies on create)"
		}
		return why, nil
	}
	pending, err := e.db.FullPending()
	if err != nil {
		return "", err
	}
	if pending != "" {
		return "Graph sent a full snapshot (a delta link was refused or a snapshot was not yet planned in full): every group compared", nil
	}
	return "", nil
}

// statuses returns a reader of group statuses: one scan of all statuses for a
// large round instead of a transaction per group.
func (e *Engine) statuses(ids []string) (func(id string) (state.GroupStatus, error), error) {
	if len(ids) < 100 {
		return e.db.Status, nil
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	all := make(map[string]state.GroupStatus)
	if err := e.db.Statuses(func(s state.GroupStatus) error {
		if want[s.ID] {
			all[s.ID] = s
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read group statuses: %w", err)
	}
	return func(id string) (state.GroupStatus, error) {
		if s, ok := all[id]; ok {
			return s, nil
		}
		return state.GroupStatus{ID: id}, nil
	}, nil
}

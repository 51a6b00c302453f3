package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// logNames is how many names one log line lists; the provisioning log and
// `writeback status` have them all.
const logNames = 20

// findingsOf gathers, per group, what the plan had to skip: unresolved
// members, collisions and groups that could not be planned.
func findingsOf(p *Planned) map[string]state.Finding {
	out := map[string]state.Finding{}
	get := func(id, name, dn string) state.Finding {
		f := out[id]
		f.GroupID = id
		if f.Name == "" {
			f.Name = name
		}
		if f.DN == "" {
			f.DN = dn
		}
		return f
	}
	for _, u := range p.Plan.Unresolved {
		f := get(u.GroupID, u.Name, u.DN)
		for _, m := range u.Unresolved {
			f.Unresolved = append(f.Unresolved, state.SkippedMember{ID: m.ID, Name: m.Name, Type: m.Type, Reason: m.Reason})
		}
		slices.SortFunc(f.Unresolved, func(a, b state.SkippedMember) int { return strings.Compare(a.ID, b.ID) })
		out[u.GroupID] = f
	}
	for _, c := range p.Plan.Collisions {
		f := get(c.GroupID, c.Name, "")
		f.Collision = c.DN + ": " + c.Reason
		if c.Kind != "" {
			// A protected object, a place outside sync.searchBase, a name AD
			// refuses: skipped like a collision, and said so.
			f.Collision = "skipped (" + c.Kind + "): " + c.Reason
		}
		out[c.GroupID] = f
	}
	for _, ge := range p.Errors {
		f := get(ge.GroupID, ge.Name, "")
		f.Error = ge.Step + ": " + ge.Error
		out[ge.GroupID] = f
	}
	return out
}

// recordFindings keeps each planned group's finding in the state current and
// tells the operator once: a WARN line and a provisioning log entry when a
// finding appears or changes, an INFO line when it clears. A round that
// finds the same again says nothing, so the log is not flooded every 15 s.
// Quarantined groups were not planned: what is known of them stays.
func (e *Engine) recordFindings(p *Planned) error {
	now := e.now().UTC()
	found := findingsOf(p)
	skip := map[string]bool{}
	for _, id := range p.Quarantined {
		skip[id] = true
	}
	planned := map[string]bool{}
	var put []state.Finding
	var drop []string
	var entries []state.Entry
	for _, id := range p.Planned {
		planned[id] = true
		if skip[id] {
			continue
		}
		old, had, err := e.db.Finding(id)
		if err != nil {
			return err
		}
		f := found[id]
		switch {
		case f.Empty() && had:
			drop = append(drop, id)
			e.log.Info("nothing skipped for the group any more", "group", old.Name, "id", id)
			entries = append(entries, state.Entry{GroupID: id, Name: old.Name, Action: "cleared", DN: old.DN})
		case f.Empty():
		case had && sameFinding(old, f):
		default:
			f.Since = now
			put = append(put, f)
			entries = append(entries, e.reportFinding(f)...)
		}
	}
	if p.Full && !p.Targeted {
		// Groups a full round did not plan are gone from the tenant or the
		// scope: what was skipped for them no longer matters.
		if err := e.db.Findings(func(f state.Finding) error {
			if !planned[f.GroupID] {
				drop = append(drop, f.GroupID)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if err := e.db.PutFindings(put, drop); err != nil {
		return fmt.Errorf("record skipped members and collisions: %w", err)
	}
	return e.db.AppendLog(entries...)
}

// reportFinding logs a new or changed finding at WARN, with names, and
// returns its provisioning log entries.
func (e *Engine) reportFinding(f state.Finding) []state.Entry {
	var entries []state.Entry
	if len(f.Unresolved) > 0 {
		var names, all []string
		for i, m := range f.Unresolved {
			s := memberLabel(m) + " (" + m.Reason + ")"
			all = append(all, s)
			if i < logNames {
				names = append(names, s)
			}
		}
		if n := len(f.Unresolved) - logNames; n > 0 {
			names = append(names, fmt.Sprintf("and %d more: writeback status --group %s", n, f.GroupID))
		}
		e.log.Warn("members not resolved, left out of the AD group", "group", f.Name, "id", f.GroupID, "dn", f.DN,
			"count", len(f.Unresolved), "members", strings.Join(names, "; "))
		entries = append(entries, state.Entry{GroupID: f.GroupID, Name: f.Name, Action: "unresolved", DN: f.DN, Members: all})
	}
	if f.Collision != "" {
		e.log.Warn("name collision: nothing is written for this group", "group", f.Name, "id", f.GroupID, "collision", f.Collision)
		entries = append(entries, state.Entry{GroupID: f.GroupID, Name: f.Name, Action: "collision", Error: f.Collision})
	}
	if f.Error != "" {
		e.log.Warn("group not planned", "group", f.Name, "id", f.GroupID, "err", f.Error)
		entries = append(entries, state.Entry{GroupID: f.GroupID, Name: f.Name, Action: "skip", Error: f.Error})
	}
	return entries
}

func memberLabel(m state.SkippedMember) string {
	if m.Name == "" {
		return m.ID
	}
	return m.Name + " <" + m.ID + ">"
}

func sameFinding(a, b state.Finding) bool {
	a.Since = b.Since
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// recordBlocked keeps the deletes a blocked plan holds back, and reports
// them once per distinct set of groups: the daemon meets the same blocked
// plan every round until someone acts.
func (e *Engine) recordBlocked(p *Planned) error {
	b := &state.BlockedDeletes{Since: e.now().UTC(), Reason: p.Plan.BlockedReason}
	for _, c := range p.Plan.Changes {
		if c.Action == plan.Delete {
			b.Groups = append(b.Groups, state.BlockedGroup{ID: c.GroupID, Name: c.Name, DN: c.DN})
		}
	}
	slices.SortFunc(b.Groups, func(x, y state.BlockedGroup) int { return strings.Compare(x.ID, y.ID) })
	old, err := e.db.BlockedDeletes()
	if err != nil {
		return err
	}
	if old != nil && slices.Equal(old.Groups, b.Groups) {
		e.log.Debug("deletes still blocked by safety.deleteThreshold", "groups", len(b.Groups))
		return nil
	}
	var names []string
	var entries []state.Entry
	for i, g := range b.Groups {
		if i < logNames {
			names = append(names, g.Name+" ("+g.DN+")")
		}
		entries = append(entries, state.Entry{GroupID: g.ID, Name: g.Name, Action: "staged-delete", DN: g.DN, Error: p.Plan.BlockedReason})
	}
	if n := len(b.Groups) - logNames; n > 0 {
		names = append(names, fmt.Sprintf("and %d more: writeback status", n))
	}
	e.log.Warn("deletes blocked by safety.deleteThreshold: nothing applied until they are allowed (writeback apply --allow-deletes) or the tenant is fixed",
		"reason", p.Plan.BlockedReason, "count", len(b.Groups), "groups", strings.Join(names, "; "))
	if err := e.db.SetBlockedDeletes(b); err != nil {
		return fmt.Errorf("record the blocked deletes: %w", err)
	}
	return e.db.AppendLog(entries...)
}

// clearBlocked forgets blocked deletes once a round over every pending group
// applied without being blocked.
func (e *Engine) clearBlocked(p *Planned) error {
	if p.Targeted {
		return nil
	}
	old, err := e.db.BlockedDeletes()
	if err != nil || old == nil {
		return err
	}
	e.log.Info("deletes no longer blocked", "groups", len(old.Groups))
	return e.db.SetBlockedDeletes(nil)
}

package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/writeback/writeback/internal/state"
)

// mappingDefaultsVersion changes whenever writeback's built-in mappings (the
// default CN, sAMAccountName generation, group type) change meaning, so that
// an upgrade is a configuration change like any other.
const mappingDefaultsVersion = 1

// fingerprint is a hash per section of everything that decides the desired
// AD state: a round planned with one fingerprint says nothing about groups
// under another. Sections let the plan say what changed.
type fingerprint map[string]string

// Selecter is implemented by a Source that can say which properties it asks
// Graph for (*entra.Client).
type Selecter interface {
	Select() (groups, users []string)
}

// computeFingerprint hashes the engine's effective settings: the compiled
// mappings with writeback's defaults filled in (not the file's text), the
// target OU and search base as resolved, the scope, the safety policy, which
// members may resolve (members.allow...) and the Graph properties selected.
func (e *Engine) computeFingerprint() fingerprint {
	type mapping struct {
		Target, Source string
		OnCreate       bool
	}
	var ms []mapping
	for _, m := range e.mapper.Mappings() {
		ms = append(ms, mapping{strings.ToLower(m.Target), m.Source, m.OnCreate})
	}
	fp := fingerprint{
		"scope": hashJSON(e.cfg.Scope),
		"mappings": hashJSON(struct {
			Defaults  int
			Mappings  []mapping
			GroupType string
		}{mappingDefaultsVersion, ms, e.cfg.Mappings.GroupType}),
		"targetOU":   hashJSON(strings.ToLower(e.targetOU)),
		"searchBase": hashJSON(strings.ToLower(e.base)),
		"safety":     hashJSON(e.cfg.Safety),
		"members":    hashJSON(e.cfg.Members),
	}
	if e.cfg.Mappings.ManagedByOwner {
		fp["owners"] = "managedBy"
	}
	if e.cfg.SOA.CreateMissing || len(e.cfg.SOA.AcceptRemovals) > 0 {
		// Only when set: an upgrade adding the section compares nothing anew.
		fp["soa"] = hashJSON(e.cfg.SOA)
	}
	if sel := e.selected(); sel != "" {
		fp["graph"] = hashJSON(sel)
	}
	return fp
}

// selected is the Graph $select of both deltas, or "" when the source cannot say.
func (e *Engine) selected() string {
	s, ok := e.src.(Selecter)
	if !ok {
		return ""
	}
	g, u := s.Select()
	return "groups=" + strings.Join(g, ",") + ";users=" + strings.Join(u, ",")
}

func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain configuration structs are hashed; they always marshal.
		panic(fmt.Sprintf("fingerprint: %v", err))
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

func (f fingerprint) String() string {
	b, _ := json.Marshal(map[string]string(f))
	return string(b)
}

// configChange compares the configuration with the one the last full round
// was applied with, and returns the sections that differ (nil when they are
// the same). A state that has applied full rounds without recording one
// (written by an earlier version) counts as changed.
func (e *Engine) configChange() (sections []string, err error) {
	stored, err := e.db.ConfigFingerprint()
	if err != nil {
		return nil, fmt.Errorf("read the configuration fingerprint: %w", err)
	}
	if stored == "" {
		return []string{"not recorded by this state yet"}, nil
	}
	var old fingerprint
	if err := json.Unmarshal([]byte(stored), &old); err != nil {
		return []string{"unreadable record"}, nil
	}
	for _, k := range slices.Sorted(maps.Keys(e.fp)) {
		if old[k] != e.fp[k] {
			sections = append(sections, k)
		}
	}
	for k := range old {
		if _, ok := e.fp[k]; !ok {
			sections = append(sections, k)
		}
	}
	return sections, nil
}

// restartDeltaIfSelectChanged drops the delta links when they were made with
// another $select (a delta link keeps the $select of the request that began
// it, so the new properties would never arrive). The next ingest is then a
// full snapshot. A state that never recorded its $select keeps its links:
// versions before this one always selected the same properties.
func (e *Engine) restartDeltaIfSelectChanged() error {
	sel := e.selected()
	if sel == "" {
		return nil
	}
	stored, err := e.db.GraphSelect()
	if err != nil {
		return err
	}
	if stored == sel {
		return nil
	}
	return e.db.Update(func(tx *state.Tx) error {
		if stored != "" {
			e.log.Info("the Graph properties selected changed: the delta links start again with a full snapshot")
			if err := tx.SetLink("groups", ""); err != nil {
				return err
			}
			if err := tx.SetLink("users", ""); err != nil {
				return err
			}
		}
		return tx.SetGraphSelect(sel)
	})
}

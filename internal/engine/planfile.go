package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/writeback/writeback/internal/entra"

	"github.com/writeback/writeback/internal/plan"
)

// PlanFile is a saved plan (writeback plan -out FILE).
type PlanFile struct {
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	// Target is what the plan was made for (see CheckTarget).
	Target *PlanTarget `json:"target,omitempty"`
	// StatePath identifies the state the plan was computed against.
	StatePath string   `json:"statePath"`
	Planned   *Planned `json:"planned"`
}

// planFileVersion 2 added Target; an older file is refused by LoadPlan.
const planFileVersion = 2

// SavePlan writes p, made for target t, to path atomically.
func (e *Engine) SavePlan(path string, p *Planned, t PlanTarget) error {
	f := &PlanFile{Version: planFileVersion, Created: e.now().UTC(), Target: &t, StatePath: e.db.Path(), Planned: p}
	if err := writeFileAtomic(path, 0o600, func(w io.Writer) error { return writePlanFileJSON(w, f) }); err != nil {
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	return nil
}

// LoadPlan reads a saved plan.
func LoadPlan(path string) (*PlanFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan %s: %w", path, err)
	}
	var f PlanFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("plan %s is not a writeback plan file: %w", path, err)
	}
	if f.Version != planFileVersion || f.Planned == nil || f.Planned.Plan == nil {
		return nil, fmt.Errorf("plan %s: unsupported plan file (version %d); run writeback plan -out again", path, f.Version)
	}
	return &f, nil
}

// ErrStale is returned by CheckStale.
var ErrStale = errors.New("saved plan is stale")

// CheckStale refuses a saved plan when the tenant or AD changed since it was
// made, as Terraform refuses a stale plan: the state's delta links must be the
// ones the plan saw, Graph must report no change since them, every owned group
// the plan read must have the same uSNChanged, and every group it creates must
// still be absent.
func (e *Engine) CheckStale(ctx context.Context, p *Planned) error {
	if err := e.checkPlanDC(p); err != nil { // planned on another DC (dcpin.go)
		return err
	}
	pc := p.Preconditions
	if p.Fingerprint != "" && p.Fingerprint != e.fp.String() {
		return fmt.Errorf("%w: the configuration changed since the plan was made; run writeback plan again", ErrStale)
	}
	gl, ul, err := e.db.Links()
	if err != nil {
		return err
	}
	if gl != pc.GroupsLink || ul != pc.UsersLink {
		return fmt.Errorf("%w: a round ran since the plan was made (delta links differ); run writeback plan again", ErrStale)
	}
	var changed []string
	_, full, err := e.src.GroupsDelta(ctx, pc.GroupsLink, func(g entra.Group) error {
		changed = append(changed, "group "+g.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("check tenant for changes: %w", err)
	}
	if full {
		return fmt.Errorf("%w: Graph no longer accepts the plan's delta link; run writeback plan again", ErrStale)
	}
	_, full, err = e.src.UsersDelta(ctx, pc.UsersLink, func(u entra.User) error {
		changed = append(changed, "user "+u.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("check tenant for changes: %w", err)
	}
	if full || len(changed) > 0 {
		return fmt.Errorf("%w: the tenant changed since the plan was made (%s); run writeback plan again", ErrStale, summarize(changed))
	}
	ids := make([]string, 0, len(pc.USN)+len(pc.Absent))
	for a := range pc.USN {
		ids = append(ids, plan.IDFromAnchor(a))
	}
	for _, a := range pc.Absent {
		ids = append(ids, plan.IDFromAnchor(a))
	}
	if len(ids) == 0 {
		return nil
	}
	now := map[string]plan.Actual{}
	if _, err := e.readActual(ctx, ids, nil, now, nil); err != nil {
		return err
	}
	for a, usn := range pc.USN {
		cur, ok := now[strings.ToLower(a)]
		switch {
		case !ok:
			changed = append(changed, a+" was deleted")
		case cur.USNChanged != usn:
			changed = append(changed, a+" changed ("+cur.DN+")")
		}
	}
	for _, a := range pc.Absent {
		if cur, ok := now[strings.ToLower(a)]; ok {
			changed = append(changed, a+" now exists ("+cur.DN+")")
		}
	}
	if len(changed) > 0 {
		return fmt.Errorf("%w: AD changed since the plan was made (%s); run writeback plan again", ErrStale, summarize(changed))
	}
	return nil
}

func summarize(s []string) string {
	if len(s) > 5 {
		return strings.Join(s[:5], ", ") + fmt.Sprintf(" and %d more", len(s)-5)
	}
	return strings.Join(s, ", ")
}

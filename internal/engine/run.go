package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// RoundOptions configure one RunOnce.
type RoundOptions struct {
	PlanOptions
	// DryRun plans without applying (the state still records what Graph said).
	DryRun bool
	// Confirm, if set, sees the plan before anything is written; false aborts.
	Confirm func(*Planned) bool
	Apply   ApplyOptions
}

// Result is one round's outcome.
type Result struct {
	Ingested Ingested   `json:"ingested"`
	Planned  *Planned   `json:"planned"`
	Applied  *Applied   `json:"applied,omitempty"`
	LDAP     LDAPStats  `json:"ldap"`  // operations made by this round
	Graph    GraphStats `json:"graph"` // Graph requests made by this round
	// Duration is the round's; JSON has it as durationSeconds, like every
	// duration writeback prints as JSON.
	Duration time.Duration `json:"-"`
}

// MarshalJSON writes Duration as durationSeconds.
func (r Result) MarshalJSON() ([]byte, error) {
	type fields Result
	return json.Marshal(struct {
		fields
		DurationSeconds float64 `json:"durationSeconds"`
	}{fields(r), r.Duration.Seconds()})
}

// MarshalJSON writes Duration as durationSeconds.
func (a Applied) MarshalJSON() ([]byte, error) {
	type fields Applied
	return json.Marshal(struct {
		fields
		DurationSeconds float64 `json:"durationSeconds"`
	}{fields(a), a.Duration.Seconds()})
}

// GraphStats counts a round's Graph traffic.
type GraphStats struct {
	Requests  int64 `json:"requests"`
	Retries   int64 `json:"retries"`
	Throttled int64 `json:"throttled"` // answered 429 Too Many Requests
}

// graphStats reads the source's counters when it keeps them (*entra.Client).
func (e *Engine) graphStats() entra.Stats {
	if s, ok := e.src.(interface{ Stats() entra.Stats }); ok {
		return s.Stats()
	}
	return entra.Stats{}
}

// ErrAborted is returned when Confirm declined the plan.
var ErrAborted = errors.New("apply cancelled")

// RunOnce is one round: ingest Graph deltas, plan the affected groups, apply.
// A round with nothing from Graph and nothing pending makes no LDAP call.
// The daemon calls it every interval, with Full set on the reconcile schedule.
func (e *Engine) RunOnce(ctx context.Context, o RoundOptions) (*Result, error) {
	start := e.now()
	s0 := e.LDAPStats()
	g0 := e.graphStats()
	res := &Result{}
	round := state.Round{Start: start.UTC(), DryRun: o.DryRun}
	finish := func(err error) (*Result, error) {
		s1 := e.LDAPStats()
		res.LDAP = LDAPStats{Searches: s1.Searches - s0.Searches, Writes: s1.Writes - s0.Writes}
		g1 := e.graphStats()
		res.Graph = GraphStats{Requests: g1.Requests - g0.Requests, Retries: g1.Retries - g0.Retries, Throttled: g1.Throttled - g0.Throttled}
		if res.Graph.Throttled > 0 {
			// Throttling is Graph telling us to slow down: worth seeing
			// without debug logging, once per round rather than per request.
			e.log.Info("Graph throttled this round's requests (429); they were retried after Retry-After",
				"throttled", res.Graph.Throttled, "retries", res.Graph.Retries, "requests", res.Graph.Requests)
		}
		res.Duration = e.now().Sub(start)
		round.Duration = res.Duration
		if err != nil {
			round.Error = err.Error()
		}
		if _, rerr := e.db.AddRound(round); rerr != nil && err == nil {
			err = rerr
		}
		if merr := e.saveMisses(); merr != nil && err == nil {
			err = merr
		}
		return res, err
	}
	timer := newPhaseTimer(e.log)
	defer func() { timer.report("round phases") }()
	e.progress.start()
	defer e.progress.SetPhase("")
	// A full round reads every owned AD group; that read does not depend on
	// Graph, so it runs while the deltas are ingested.
	var pre *ownedRead
	if len(o.Groups) == 0 {
		why, err := e.fullReason(o.Full)
		if err != nil {
			return finish(err)
		}
		if why != "" {
			pre = e.startOwnedRead(ctx, e.extraAttrs())
		}
	}
	in, err := e.Ingest(ctx, o.Full && len(o.Groups) == 0)
	res.Ingested = in
	timer.done("ingest")
	if err != nil {
		pre.stop()
		return finish(err)
	}
	p, err := e.plan(ctx, o.PlanOptions, pre)
	pre.stop()
	timer.done("plan")
	if err != nil {
		return finish(err)
	}
	res.Planned = p
	round.Full, round.Groups, round.Changes = p.Full, len(p.Planned), len(p.Plan.Changes)
	round.Unresolved = p.Plan.Summary.Unresolved
	round.Blocked = p.Plan.BlockedReason
	if o.DryRun {
		return finish(nil)
	}
	if o.Confirm != nil && !p.Plan.Empty() && !p.Plan.Blocked && !o.Confirm(p) {
		return finish(ErrAborted)
	}
	a, err := e.Apply(ctx, p, o.Apply)
	timer.done("apply")
	res.Applied = a
	if a != nil {
		round.Applied, round.Failed = a.Applied, a.Failed
	}
	return finish(err)
}

// ApplySaved applies a plan saved by 'writeback plan -out' and records it
// as a round (Saved), as RunOnce records its rounds: after CheckStale
// refuses a changed AD or tenant, and with what was applied and what failed.
func (e *Engine) ApplySaved(ctx context.Context, p *Planned, o ApplyOptions) (*Applied, error) {
	start := e.now()
	round := state.Round{Start: start.UTC(), Saved: true, Full: p.Full, Groups: len(p.Planned),
		Changes: len(p.Plan.Changes), Unresolved: p.Plan.Summary.Unresolved}
	if p.Plan.Blocked {
		round.Blocked = p.Plan.BlockedReason
	}
	a, err := func() (*Applied, error) {
		if err := e.CheckStale(ctx, p); err != nil {
			return nil, err
		}
		// An empty plan is applied too: applying records what the plan
		// compared (findings, and the configuration of a full plan).
		return e.Apply(ctx, p, o)
	}()
	if a != nil {
		round.Applied, round.Failed = a.Applied, a.Failed
	}
	if err != nil {
		round.Error = err.Error()
	}
	round.Duration = e.now().Sub(start)
	if _, rerr := e.db.AddRound(round); rerr != nil && err == nil {
		err = fmt.Errorf("record the round of the saved plan: %w", rerr)
	}
	return a, err
}

// fullReason says why the coming round plans every group, or "" when it
// plans only the groups marked pending: asked to (--full, the daily
// reconcile), a full snapshot not yet planned in full (the first sync, a
// delta link Graph refused), or a configuration that differs from the one
// the last full round was applied with. A delta link Graph refuses during
// the round also makes it full (plan asks again after ingesting).
func (e *Engine) fullReason(asked bool) (string, error) {
	last, err := e.db.Meta(metaLastFull)
	if err != nil {
		return "", err
	}
	if last == "" {
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
	pending, err := e.db.Meta(metaFullPending)
	if err != nil {
		return "", err
	}
	if pending != "" {
		return "Graph sent a full snapshot (a delta link was refused or a snapshot was not yet planned in full): every group compared", nil
	}
	return "", nil
}

// PlanFile is a saved plan (writeback plan -out FILE).
type PlanFile struct {
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	// StatePath identifies the state the plan was computed against.
	StatePath string   `json:"statePath"`
	Planned   *Planned `json:"planned"`
}

// SavePlan writes p to path atomically.
func (e *Engine) SavePlan(path string, p *Planned) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	err = writePlanFileJSON(f, &PlanFile{Version: 1, Created: e.now().UTC(), StatePath: e.db.Path(), Planned: p})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
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
	if f.Version != 1 || f.Planned == nil || f.Planned.Plan == nil {
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
	if err := e.checkPlanDC(p); err != nil { // hook (issue #20, dcpin.go)
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
	var scratch Planned
	if err := e.readActual(ctx, ids, nil, now, &scratch, nil); err != nil {
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

// saveMisses keeps the resolver's mS-DS-ConsistencyGuid misses in the state
// file when they changed in this round, so the next process does not scan
// for them again before the next full round.
func (e *Engine) saveMisses() error {
	if e.resolver.MissesVersion() == e.missesSaved {
		return nil
	}
	guids, ver := e.resolver.Misses()
	if err := e.db.SetConsistencyMisses(guids); err != nil {
		return err
	}
	e.missesSaved = ver
	return nil
}

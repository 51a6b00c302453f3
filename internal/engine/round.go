package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/writeback/writeback/internal/entra"

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
	// The round's DC first (dcpin.go): every read and write below is on it,
	// and a new one means a full read.
	dcWhy, err := e.pinDC()
	if err != nil {
		return finish(err)
	}
	// Owned groups changed in AD since the last round are marked pending;
	// no high-water mark for this DC makes the round full (tamper.go).
	adc, err := e.checkADChanges(ctx, o)
	if err != nil {
		return finish(err)
	}
	if o.adReset = adc.fullWhy(); o.adReset == "" {
		o.adReset = dcWhy
	}
	o.dcPinned = true
	// A full round reads every owned AD group; that read does not depend on
	// Graph, so it runs while the deltas are ingested.
	var pre *ownedRead
	if len(o.Groups) == 0 {
		why, err := e.fullReason(o.Full)
		if err != nil {
			return finish(err)
		}
		if why == "" {
			why = o.adReset
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
		round.Applied, round.Failed, round.Repaired = a.Applied, a.Failed, a.Repaired
	}
	// The AD high-water mark moves once the round applied (tamper.go).
	if merr := e.recordADMark(ctx, adc, o, p, a, err); merr != nil && err == nil {
		err = merr
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
	if p.Plan.Blocked && !o.AllowDeletes {
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

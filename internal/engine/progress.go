package engine

import "sync/atomic"

// Progress counts a round's work while it runs, for a live progress bar or
// a periodic log line. Any goroutine may read it; the round writes it with
// atomic additions only (nothing measurable next to a Graph page or an
// LDAP write).
type Progress struct {
	phase atomic.Pointer[string]
	// GroupsRead and UsersRead: objects read from Graph's deltas.
	GroupsRead, UsersRead atomic.Int64
	// MembersToResolve and MembersResolved: the memberships of the planned
	// groups, sent to the resolver as one batch.
	MembersToResolve, MembersResolved atomic.Int64
	// Writes of WritesTotal: changes applied (or failed) of the plan's.
	Writes, WritesTotal atomic.Int64
}

// Phase is what the round is doing: "read", "resolve", "write", or "" between rounds.
func (p *Progress) Phase() string {
	if s := p.phase.Load(); s != nil {
		return *s
	}
	return ""
}

// SetPhase names what the round does now (the engine sets it; tests too).
func (p *Progress) SetPhase(s string) {
	if p != nil {
		p.phase.Store(&s)
	}
}

func (p *Progress) start() {
	if p == nil {
		return
	}
	for _, c := range []*atomic.Int64{&p.GroupsRead, &p.UsersRead, &p.MembersToResolve, &p.MembersResolved, &p.Writes, &p.WritesTotal} {
		c.Store(0)
	}
	p.SetPhase("read")
}

func (p *Progress) add(c func(*Progress) *atomic.Int64, n int64) {
	if p != nil {
		c(p).Add(n)
	}
}

// SetProgress makes the engine count its rounds' work into p (nil: not).
func (e *Engine) SetProgress(p *Progress) { e.progress = p }

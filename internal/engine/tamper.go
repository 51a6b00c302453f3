package engine

// Tampering repaired in seconds (issue 20 item 4). Each incremental round
// asks the DC, with one search, for the groups carrying a Group_ anchor whose
// uSNChanged is above the high-water mark recorded for that DC's database
// (its invocationId). The owned ones among them are planned in the round like
// groups changed in Entra, so the comparison of a full round (members and
// managed attributes against the desired state) repairs what was edited by
// hand. A round that finds nothing costs that one search.
//
// writeback's own writes raise uSNChanged too: the round after a write
// compares the written groups once more, finds them as it left them, writes
// nothing, and moves the mark past them. That comparison is also what
// catches an edit made by hand while writeback was writing the same group.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// dirtyADChanged marks a group found changed in AD: the round compares it,
// and what it writes for it is a repair of an edit made by hand.
const dirtyADChanged = "ad-changed"

// changeSource is what polling uSNChanged needs of the DC (*ad.Conn).
type changeSource interface {
	DCIdentity(ctx context.Context) (ad.DCIdentity, error)
	HighestCommittedUSN(ctx context.Context) (int64, error)
	AnchorsChangedSince(ctx context.Context, base string, usn int64, fn func(anchor string) error) error
	Generation() uint64
	Searches() int64
}

var _ changeSource = (*ad.Conn)(nil)

// adChanges is one round's check of AD for changes to owned groups.
type adChanges struct {
	// reset, when set, says why the round must compare every group: there
	// is no mark for this DC's database (first round, another DC, a
	// restored database).
	reset string
	// next is the mark to record once the round applied without error; nil
	// keeps the recorded one.
	next *state.ADMark
	// changed are the owned groups found changed (marked pending).
	changed []string
	// For settleOwnWrites: the DC, its identity and connection generation
	// when the round started, and the USN above which changes have not
	// been compared by this round.
	src   changeSource
	id    ad.DCIdentity
	gen   uint64
	since int64
}

// checkADChanges finds the owned groups changed in AD since the recorded
// mark and marks them pending, before the round plans. It returns nil when
// the round does not poll: a targeted round, or a directory that cannot
// (the in-process test servers). A full round (asked for, or due) only reads
// the mark it will record: it reads every group anyway.
func (e *Engine) checkADChanges(ctx context.Context, o RoundOptions) (*adChanges, error) {
	src, ok := e.dir.Directory.(changeSource)
	if !ok || len(o.Groups) > 0 {
		return nil, nil
	}

	id, err := src.DCIdentity(ctx)
	if errors.Is(err, ad.ErrNoDCIdentity) {
		return nil, nil // not an AD DC (a test server): nothing to poll
	}
	if err != nil {
		return nil, fmt.Errorf("poll AD for groups edited by hand: %w", err)
	}
	p := &adPoll{e: e, src: src, id: id, gen: src.Generation()}
	mark, err := e.loadADMark()
	if err != nil {
		return nil, err
	}
	fullWhy, err := e.fullReason(o.Full)
	if err != nil {
		return nil, err
	}
	switch {
	case fullWhy != "":
		// Read before the full read of every group: whatever changes
		// during it is above the mark and compared again next round.
		return p.startAfresh(ctx, "")
	case mark == nil || mark.InvocationID != id.InvocationID:
		if o.DryRun {
			return nil, nil // a plan shows what Entra changed; the round that applies compares every group
		}
		return p.startAfresh(ctx, e.markResetWhy(id, mark))
	}
	return p.changedSince(ctx, mark)
}

// adPoll is one round's poll of the pinned DC for owned groups changed in AD.
type adPoll struct {
	e   *Engine
	src changeSource
	id  ad.DCIdentity
	gen uint64
}

// readMark reads the DC's highest committed USN as a mark.
func (p *adPoll) readMark(ctx context.Context) (*state.ADMark, error) {
	usn, err := p.src.HighestCommittedUSN(ctx)
	if err != nil {
		return nil, fmt.Errorf("poll AD for groups edited by hand: %w", err)
	}
	return &state.ADMark{InvocationID: p.id.InvocationID, DC: p.id.DSServiceName, USN: usn}, nil
}

// startAfresh reads the mark a round that compares every group records
// (reset says why it compares them all, "" when it is full anyway).
func (p *adPoll) startAfresh(ctx context.Context, reset string) (*adChanges, error) {
	next, err := p.readMark(ctx)
	if err != nil {
		return nil, err
	}
	return &adChanges{reset: reset, next: next, src: p.src, id: p.id, gen: p.gen, since: next.USN}, nil
}

// markResetWhy says why no recorded mark applies to the DC id: none yet,
// or another DC's (or a restored database's).
func (e *Engine) markResetWhy(id ad.DCIdentity, mark *state.ADMark) string {
	if mark == nil {
		return "no record yet of which AD changes writeback has compared (first round of this version): every group compared, so edits made by hand in AD are repaired"
	}
	e.log.Warn("another domain controller (or a restored database) answers: this round compares every group",
		"dc", dcName(id), "invocationId", id.InvocationID, "previousDC", mark.DC, "previousInvocationId", mark.InvocationID)
	return fmt.Sprintf("the domain controller changed (now %s, invocationId %s; the last round read %s, invocationId %s): uSNChanged values are per DC, so every group is compared",
		dcName(id), id.InvocationID, mark.DC, mark.InvocationID)
}

// reconnected: a search reconnected, maybe to another DC, so its answer
// means nothing against this DC's mark. The mark stays; the next round
// reads which DC answers and compares every group if it is another.
func (p *adPoll) reconnected() *adChanges {
	p.e.log.Info("reconnected to AD while polling for groups edited by hand; the next round polls again", "dc", dcName(p.id))
	return &adChanges{}
}

// changedSince is the one search of a quiet round: the owned groups whose
// uSNChanged is above mark, marked pending.
func (p *adPoll) changedSince(ctx context.Context, mark *state.ADMark) (*adChanges, error) {
	found := map[string]bool{}
	if err := p.search(ctx, mark.USN, found); err != nil {
		return nil, err
	}
	if p.src.Generation() != p.gen {
		return p.reconnected(), nil
	}
	if len(found) == 0 {
		return &adChanges{src: p.src, id: p.id, gen: p.gen, since: mark.USN}, nil // nothing changed: the mark stays
	}
	// Something changed: read the DC's highest committed USN, then search
	// again, so the new mark is one every change below it was searched
	// after (a change committed between the first search and this read
	// is not lost).
	next, err := p.readMark(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.search(ctx, mark.USN, found); err != nil {
		return nil, err
	}
	if p.src.Generation() != p.gen {
		return p.reconnected(), nil
	}
	out := &adChanges{next: next, src: p.src, id: p.id, gen: p.gen, since: next.USN}
	foreign, err := p.e.markChangedInAD(keys(found), out)
	if err != nil {
		return nil, err
	}
	// Most of these are writeback's own writes of the last round, compared
	// once more: worth a debug line, not more. Repairs are logged as such.
	p.e.log.Debug("owned groups changed in AD since the last round: compared in this round",
		"groups", len(out.changed), "notOwned", foreign, "sinceUSN", mark.USN, "markUSN", next.USN, "dc", dcName(p.id))
	return out, nil
}

// search adds to found the IDs of the anchored groups under the search base
// changed above usn.
func (p *adPoll) search(ctx context.Context, usn int64, found map[string]bool) error {
	e := p.e
	err := p.src.AnchorsChangedSince(ctx, e.base, usn, func(a string) error {
		if strings.HasPrefix(strings.ToLower(a), "group_") {
			found[strings.ToLower(plan.IDFromAnchor(a))] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("poll AD for groups edited by hand (uSNChanged above %d under %s): %w", usn, e.base, err)
	}
	return nil
}

// markChangedInAD marks the groups of ids that writeback owns pending
// (dirtyADChanged, unless already pending for an Entra change), lists them
// in out.changed, and returns how many were not writeback's.
func (e *Engine) markChangedInAD(ids []string, out *adChanges) (foreign int, err error) {
	status, err := e.statuses(ids)
	if err != nil {
		return 0, err
	}
	own := e.ownership()
	for _, id := range ids {
		st, err := status(id)
		if err != nil {
			return 0, err
		}
		if !own.provisioned(st) {
			foreign++ // not writeback's: reported by full rounds, never changed
			continue
		}
		out.changed = append(out.changed, id)
	}
	if len(out.changed) == 0 {
		return foreign, nil
	}
	dirty, err := e.db.Dirty()
	if err != nil {
		return 0, fmt.Errorf("read pending groups: %w", err)
	}
	err = e.db.Update(func(tx *state.Tx) error {
		for _, id := range out.changed {
			if _, ok := dirty[id]; ok {
				continue // already pending for an Entra change: keep its reason
			}
			if err := tx.MarkDirty(id, dirtyADChanged); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mark the groups changed in AD as pending: %w", err)
	}
	return foreign, nil
}

// adBasis completes an incremental plan's basis with the groups it compared
// because they changed in AD: "" when none did.
func adBasis(p *Planned) string {
	n := 0
	for _, r := range p.Dirty {
		if r == dirtyADChanged {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d of them because they changed in AD: writeback's own writes of the last round, or edits made by hand)", n)
}

// fullWhy is why the round compares every group because of the mark, or "".
func (c *adChanges) fullWhy() string {
	if c == nil {
		return ""
	}
	return c.reset
}

// recordADMark records the mark once the round applied without error: the
// groups changed below it have been compared (and repaired).
func (e *Engine) recordADMark(ctx context.Context, c *adChanges, o RoundOptions, p *Planned, a *Applied, err error) error {
	if c == nil || o.DryRun || err != nil || a == nil || a.Interrupted {
		return nil
	}
	if serr := e.settleOwnWrites(ctx, c, p); serr != nil {
		return serr
	}
	if c.next == nil {
		return nil
	}
	if serr := e.db.SetADMark(*c.next); serr != nil {
		return fmt.Errorf("record the AD high-water mark (uSNChanged %d): %w", c.next.USN, serr)
	}
	return nil
}

// echoMax is how many groups a round may write and still have them compared
// once more by the next round (their uSNChanged moved). Past it, and after
// every full round, the round settles its own writes at once instead.
const echoMax = 100

// settleOwnWrites moves the mark past the round's own writes when comparing
// the written groups again next round would cost too much (a full round, a
// first sync: up to every group): it reads highestCommittedUSN after the
// writes, searches once for the groups changed since the round's own mark,
// marks pending those it did not write (edited by hand meanwhile) and takes
// the new USN as the mark. Two searches instead of a second comparison of
// every written group; the cost is that an edit made by hand to a group the
// round wrote, while it was being planned and written, waits for the next
// full round (or the group's next change).
func (e *Engine) settleOwnWrites(ctx context.Context, c *adChanges, p *Planned) error {
	if c.src == nil || p == nil {
		return nil
	}
	written := map[string]bool{}
	for _, ch := range p.Plan.Changes {
		written[strings.ToLower(ch.GroupID)] = true
	}
	if len(written) == 0 || (!p.Full && len(written) <= echoMax) {
		return nil // nothing written, or few: the next round compares them once more
	}
	src := c.src
	usn, err := src.HighestCommittedUSN(ctx)
	if err != nil {
		return fmt.Errorf("poll AD for groups edited by hand after this round's writes: %w", err)
	}
	found := map[string]bool{}
	err = src.AnchorsChangedSince(ctx, e.base, c.since, func(a string) error {
		if strings.HasPrefix(strings.ToLower(a), "group_") {
			if id := strings.ToLower(plan.IDFromAnchor(a)); !written[id] {
				found[id] = true
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("poll AD for groups edited by hand after this round's writes (uSNChanged above %d under %s): %w", c.since, e.base, err)
	}
	if src.Generation() != c.gen {
		return nil // another connection since the round began: the mark stays, the next round compares again
	}
	ids := keys(found)
	status, err := e.statuses(ids)
	if err != nil {
		return err
	}
	dirty, err := e.db.Dirty()
	if err != nil {
		return fmt.Errorf("read pending groups: %w", err)
	}
	own := e.ownership()
	var edited []string
	for _, id := range ids {
		st, err := status(id)
		if err != nil {
			return err
		}
		if _, pending := dirty[id]; own.provisioned(st) && !pending {
			edited = append(edited, id)
		}
	}
	if len(edited) > 0 {
		if err := e.db.Update(func(tx *state.Tx) error {
			for _, id := range edited {
				if err := tx.MarkDirty(id, dirtyADChanged); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("mark the groups changed in AD as pending: %w", err)
		}
	}
	e.log.Debug("settled this round's own writes in AD", "written", len(written), "editedMeanwhile", len(edited), "markUSN", usn)
	c.next = &state.ADMark{InvocationID: c.id.InvocationID, DC: c.id.DSServiceName, USN: usn}
	return nil
}

// loadADMark reads the recorded high-water mark: nil when there is none,
// or when it is unreadable (said once here; the round compares every group
// and records a new one).
func (e *Engine) loadADMark() (*state.ADMark, error) {
	m, err := e.db.ADMark()
	if errors.Is(err, state.ErrUnreadable) {
		e.log.Warn("the recorded AD high-water mark is unreadable: this round compares every group", "err", err)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the AD high-water mark: %w", err)
	}
	return m, nil
}

func dcName(id ad.DCIdentity) string {
	if id.DNSHostName != "" {
		return id.DNSHostName
	}
	return id.DSServiceName
}

// repairNote says, for a change applied to a group that was compared because
// it changed in AD (and not in Entra), which edit made by hand it repaired,
// and logs it: "" for other changes. Called by Apply for each change written.
func (e *Engine) repairNote(p *Planned, c plan.Change) string {
	if p.Dirty[c.GroupID] != dirtyADChanged {
		return ""
	}
	var notes []string
	warn := func(msg string, args ...any) {
		notes = append(notes, msg)
		e.log.Warn(msg, append([]any{"group", c.Name, "id", c.GroupID, "dn", c.DN}, args...)...)
	}
	const most = 20 // named one by one; the rest are counted
	switch c.Action {
	case plan.RemoveMembers, plan.AddMembers:
		what := "added in AD by hand: removed"
		if c.Action == plan.AddMembers {
			what = "removed in AD by hand: added back"
		}
		for i, m := range c.Members {
			if i == most {
				warn(fmt.Sprintf("%d more members %s", len(c.Members)-most, what))
				break
			}
			warn(fmt.Sprintf("member %s %s", m, what))
		}
	case plan.Update, plan.Convert:
		for _, a := range c.Attrs {
			warn(fmt.Sprintf("%s edited in AD by hand: restored", a.Name), "was", strings.Join(a.Before, "; "), "now", strings.Join(a.After, "; "))
		}
	case plan.Rename, plan.Move:
		warn(fmt.Sprintf("renamed or moved in AD by hand: restored to %s", c.NewDN))
	default:
		warn(fmt.Sprintf("edited in AD by hand: %s", c.Action))
	}
	return strings.Join(notes, "; ")
}

package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/writeback/writeback/internal/ad"
)

// Directory is the domain controller connection migrate reads and writes
// (*ad.Conn satisfies it).
type Directory interface {
	Groups(ctx context.Context, base, filter string, q ad.GroupQuery, fn func(ad.Group) error) error
	Modify(ctx context.Context, dn string, replace map[string][]string) error
}

var _ Directory = (*ad.Conn)(nil)

// extraAttrs are read with every group besides ad.Group's fields.
var extraAttrs = []string{"proxyAddresses"}

// Candidate groups of one scan, with the duplicates among them.
type scanned struct {
	groups []ad.Group
	// byObjectID: object ID -> indexes in groups with that adminDescription.
	byObjectID map[string][]int
	// anchorHolders: msDS-ExternalDirectoryObjectId (lower-case) -> indexes holding it.
	anchorHolders map[string][]int
}

func scan(ctx context.Context, dir Directory, base string) (*scanned, error) {
	s := &scanned{byObjectID: map[string][]int{}, anchorHolders: map[string][]int{}}
	err := dir.Groups(ctx, base, ad.FilterConnectSyncGroups, ad.GroupQuery{ExtraAttrs: extraAttrs}, func(g ad.Group) error {
		i := len(s.groups)
		s.groups = append(s.groups, g)
		if id, ok := ObjectIDFromAnchor(g.AdminDescription); ok {
			s.byObjectID[id] = append(s.byObjectID[id], i)
		}
		if g.Anchor != "" {
			k := strings.ToLower(g.Anchor)
			s.anchorHolders[k] = append(s.anchorHolders[k], i)
		}
		return nil
	})
	if err != nil {
		if ad.IsNoSuchObject(err) {
			return nil, fmt.Errorf("%s does not exist: pass --base with the OU Connect Sync writes back to (or the domain)", base)
		}
		return nil, fmt.Errorf("read the groups Connect Sync wrote under %s: %w", base, err)
	}
	return s, nil
}

// duplicateOf lists the other groups that carry, or would carry, group i's anchor.
func (s *scanned) duplicateOf(i int) []string {
	g := s.groups[i]
	seen := map[int]bool{i: true}
	var out []string
	add := func(idx []int) {
		for _, j := range idx {
			if !seen[j] {
				seen[j] = true
				out = append(out, s.groups[j].DN)
			}
		}
	}
	if id, ok := ObjectIDFromAnchor(g.AdminDescription); ok {
		add(s.byObjectID[id])
	}
	add(s.anchorHolders[strings.ToLower(g.AdminDescription)])
	sort.Strings(out)
	return out
}

func inScope(g ad.Group) bool {
	if _, ok := ObjectIDFromAnchor(g.AdminDescription); !ok {
		return false
	}
	return Classify(g.GroupType, g.Mail, g.Attrs["proxyaddresses"], false).InScope()
}

// PrepareOptions control prepare.
type PrepareOptions struct {
	Base    string   // where to look (the writeback OU or the domain)
	DryRun  bool     // report what would change; write nothing (no journal needed)
	Journal *Journal // required unless DryRun
	// Server names the DC in the journal's run record.
	Server string
	// Writers are the connections modifies are spread over (default: dir).
	Writers []Directory
	// Workers is how many modifies are in flight at once (default 4).
	Workers int
	// Batch is how many intents are fsynced together before their modifies
	// are sent (default 200).
	Batch    int
	Progress func(done, total int)
	Log      *slog.Logger
	// Orphan, when set, reports object IDs whose cloud group no longer exists:
	// their anchor is not copied, because writeback would delete a group it
	// owns whose cloud group is gone.
	Orphan func(objectID string) bool
}

// Conflict is an in-scope group prepare did not touch.
type Conflict struct {
	DN               string   `json:"dn"`
	GUID             string   `json:"guid"`
	AdminDescription string   `json:"adminDescription"`
	Anchor           string   `json:"anchor,omitempty"`
	Reason           string   `json:"reason"`
	Duplicates       []string `json:"duplicates,omitempty"`
}

// PlannedChange is one copy prepare makes (or would make, on a dry run).
type PlannedChange struct {
	DN    string `json:"dn"`
	GUID  string `json:"guid"`
	After string `json:"after"`
}

// Failure is a modify AD refused.
type Failure struct {
	DN    string `json:"dn"`
	Error string `json:"error"`
}

// PrepareResult is what prepare found and did.
type PrepareResult struct {
	Scanned      int             `json:"scanned"` // groups with adminDescription Group_*
	InScope      int             `json:"inScope"`
	AlreadyEqual int             `json:"alreadyEqual"`
	Changed      int             `json:"changed"` // modifies that succeeded (0 on a dry run)
	Planned      []PlannedChange `json:"planned,omitempty"`
	Conflicts    []Conflict      `json:"conflicts,omitempty"`
	Orphans      []Conflict      `json:"orphans,omitempty"` // deleted in Entra: not copied
	Failures     []Failure       `json:"failures,omitempty"`
	Interrupted  bool            `json:"interrupted,omitempty"`
	Elapsed      time.Duration   `json:"-"` // JSON: elapsedSeconds (json.go)
}

// Prepare copies adminDescription into msDS-ExternalDirectoryObjectId on every
// in-scope group whose anchor is absent. A group whose anchor holds anything
// else, or whose anchor another group already has or would get, is reported
// as a conflict and left alone. Each change is journaled and fsynced before it
// is sent, so an interrupted run can be resumed (run prepare again: groups
// already done read as equal) and rolled back.
func Prepare(ctx context.Context, dir Directory, o PrepareOptions) (*PrepareResult, error) {
	start := time.Now()
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if !o.DryRun && o.Journal == nil {
		return nil, errors.New("prepare: a journal is required unless --dry-run")
	}
	s, err := scan(ctx, dir, o.Base)
	if err != nil {
		return nil, err
	}
	res := &PrepareResult{Scanned: len(s.groups)}
	var todo []PlannedChange
	for i, g := range s.groups {
		if !inScope(g) {
			continue
		}
		res.InScope++
		dups := s.duplicateOf(i)
		if id, _ := ObjectIDFromAnchor(g.AdminDescription); o.Orphan != nil && g.Anchor == "" && o.Orphan(id) {
			res.Orphans = append(res.Orphans, Conflict{DN: g.DN, GUID: g.GUID.String(), AdminDescription: g.AdminDescription,
				Reason: "the cloud group no longer exists: anchor not copied, so writeback will never own (and delete) it"})
			continue
		}
		switch state := CompareAnchor(g.AdminDescription, g.Anchor); {
		case state == AnchorEqual && len(dups) == 0:
			res.AlreadyEqual++
		case state == AnchorDifferent:
			res.Conflicts = append(res.Conflicts, Conflict{DN: g.DN, GUID: g.GUID.String(), AdminDescription: g.AdminDescription, Anchor: g.Anchor,
				Reason: "msDS-ExternalDirectoryObjectId already holds a different value; not overwritten", Duplicates: dups})
		case len(dups) > 0:
			res.Conflicts = append(res.Conflicts, Conflict{DN: g.DN, GUID: g.GUID.String(), AdminDescription: g.AdminDescription, Anchor: g.Anchor,
				Reason: "another group carries the same adminDescription or anchor; one anchor must identify one group", Duplicates: dups})
		default:
			todo = append(todo, PlannedChange{DN: g.DN, GUID: g.GUID.String(), After: g.AdminDescription})
		}
	}
	if o.DryRun {
		res.Planned = todo
		res.Elapsed = time.Since(start)
		return res, nil
	}
	if err := o.Journal.Append(&Record{Type: "run", Command: "prepare", Base: o.Base, Server: o.Server, Version: JournalVersion}); err != nil {
		return res, err
	}
	changes := make([]change, len(todo))
	for i, t := range todo {
		changes[i] = change{dn: t.DN, guid: t.GUID, before: nil, after: strp(t.After)}
	}
	done, failures, err := applyChanges(ctx, o.Journal, writersOr(o.Writers, dir), changes, o.Workers, o.Batch, o.Progress)
	res.Changed = done
	res.Failures = failures
	res.Elapsed = time.Since(start)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		res.Interrupted = true
	}
	return res, err
}

func writersOr(w []Directory, d Directory) []Directory {
	if len(w) == 0 {
		return []Directory{d}
	}
	return w
}

// change is one single-valued attribute write of the anchor.
type change struct {
	dn, guid      string
	before, after *string
	err           error
	done          bool // the modify returned success
}

// ValueSwapper is an optional Directory method: one atomic LDAP modify that
// deletes the value old (nil: the attribute must be absent) and adds new
// (nil: leave it absent), failing if the attribute no longer holds old. With
// it, a value written by someone else between our read and our write is never
// overwritten; without it, the write is a plain replace.
type ValueSwapper interface {
	SwapValue(ctx context.Context, dn, attr string, old, new *string) error
}

// *ad.Conn must keep SwapValue's exact signature, or prepare and rollback
// would silently fall back to a plain replace.
var _ ValueSwapper = (*ad.Conn)(nil)

func write(ctx context.Context, dir Directory, c change) error {
	if s, ok := dir.(ValueSwapper); ok {
		if err := s.SwapValue(ctx, c.dn, ad.AttrExternalDirectoryObjectID, c.before, c.after); err != nil {
			switch ad.Code(err) {
			case ad.CodeNoSuchAttribute, ad.CodeAttributeOrValueExists, ad.CodeConstraintViolation:
				return fmt.Errorf("%s changed since it was read (now not %s): left alone: %w", ad.AttrExternalDirectoryObjectID, show(c.before), err)
			}
			return err
		}
		return nil
	}
	val := []string{}
	if c.after != nil {
		val = []string{*c.after}
	}
	return dir.Modify(ctx, c.dn, map[string][]string{ad.AttrExternalDirectoryObjectID: val})
}

// applyChanges journals and applies changes in batches: the intents of a batch
// are fsynced, then its modifies run concurrently, then their outcomes are
// journaled (synced with the next batch's intents, or at the end).
func applyChanges(ctx context.Context, j *Journal, writers []Directory, cs []change, workers, batch int, progress func(done, total int)) (int, []Failure, error) {
	if workers <= 0 {
		workers = 4
	}
	if batch <= 0 {
		batch = 200
	}
	var failures []Failure
	ok := 0
	seqs := make([]int64, len(cs))
	report := func(n int) {
		if progress != nil {
			progress(n, len(cs))
		}
	}
	report(0)
	for lo := 0; lo < len(cs); lo += batch {
		if err := ctx.Err(); err != nil {
			return ok, failures, err
		}
		hi := min(lo+batch, len(cs))
		for i := lo; i < hi; i++ {
			r := &Record{Type: "intent", DN: cs[i].dn, GUID: cs[i].guid, Attr: ad.AttrExternalDirectoryObjectID, Before: cs[i].before, After: cs[i].after}
			if err := j.Append(r); err != nil {
				return ok, failures, err
			}
			seqs[i] = r.Seq
		}
		if err := j.Sync(); err != nil {
			return ok, failures, err
		}
		next := make(chan int)
		var wg sync.WaitGroup
		for w := range min(workers, hi-lo) {
			wg.Add(1)
			go func(dir Directory) {
				defer wg.Done()
				for i := range next {
					cs[i].err = write(ctx, dir, cs[i])
					cs[i].done = cs[i].err == nil
				}
			}(writers[w%len(writers)])
		}
		for i := lo; i < hi; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
		for i := lo; i < hi; i++ {
			r := &Record{Type: "done", Seq: seqs[i], GUID: cs[i].guid}
			if err := cs[i].err; err != nil {
				if ctx.Err() != nil {
					// Outcome unknown: the connection was closed under the
					// request. Leave the intent open; a re-run reads AD.
					continue
				}
				r.Type, r.Error = "failed", err.Error()
				failures = append(failures, Failure{DN: cs[i].dn, Error: err.Error()})
			} else {
				ok++
			}
			if err := j.Append(r); err != nil {
				return ok, failures, err
			}
		}
		report(hi)
	}
	return ok, failures, j.Sync()
}

// RollbackOptions control rollback.
type RollbackOptions struct {
	// Base is searched for the journaled objects by objectGUID (they may have
	// been moved or renamed since): the configured search base or the whole
	// domain (the CLI's default). "" = the bases of the journal's runs.
	Base    string
	DryRun  bool
	Journal *Journal // rollback's own journal; required unless DryRun
	Server  string
	Writers []Directory
	Workers int
	Batch   int
	// Progress is called as changes are applied.
	Progress func(done, total int)
}

// RollbackItem is the outcome for one group of the prepare journal.
type RollbackItem struct {
	DN      string `json:"dn"`
	GUID    string `json:"guid"`
	Current string `json:"current"` // the value found, "(absent)" when absent
	Restore string `json:"restore"` // the value restored, "(absent)" when deleted
	Result  string `json:"result"`  // restored, would-restore, already-original, changed-since, not-found, failed
	Detail  string `json:"detail,omitempty"`
}

// RollbackResult summarises a rollback.
type RollbackResult struct {
	Groups   int            `json:"groups"`
	Restored int            `json:"restored"`
	Items    []RollbackItem `json:"items"`
	Skipped  int            `json:"skipped"` // changed since prepare, or gone
	Elapsed  time.Duration  `json:"-"`       // JSON: elapsedSeconds (json.go)
}

// Rollback undoes what the prepare runs of a journal changed: for each group,
// the anchor is set back to its value before the first prepare intent, but
// only while it still holds what prepare wrote. Anything else is reported and
// left alone.
func Rollback(ctx context.Context, dir Directory, prepared []Record, o RollbackOptions) (*RollbackResult, error) {
	start := time.Now()
	if !o.DryRun && o.Journal == nil {
		return nil, errors.New("rollback: a journal is required unless --dry-run")
	}
	type orig struct {
		dn, guid      string
		before, after *string
	}
	var order []string
	first := map[string]*orig{}
	bases := map[string]bool{}
	for _, r := range prepared {
		if r.Type == "run" && r.Command == "prepare" && r.Base != "" {
			bases[r.Base] = true
		}
	}
	for _, c := range Changes(prepared) {
		if c.Command != "prepare" || c.Attr != ad.AttrExternalDirectoryObjectID {
			continue
		}
		o, ok := first[c.GUID]
		if !ok {
			o = &orig{dn: c.DN, guid: c.GUID, before: c.Before}
			first[c.GUID] = o
			order = append(order, c.GUID)
		}
		o.after = c.After
	}
	searchBases := []string{o.Base}
	if o.Base == "" {
		searchBases = nil
		for b := range bases {
			searchBases = append(searchBases, b)
		}
		sort.Strings(searchBases)
	}
	if len(searchBases) == 0 {
		return nil, errors.New("rollback: the journal names no base DN; pass --base")
	}
	current := map[string]ad.Group{}
	for _, b := range searchBases {
		err := dir.Groups(ctx, b, "", ad.GroupQuery{}, func(g ad.Group) error {
			if _, want := first[g.GUID.String()]; want {
				current[g.GUID.String()] = g
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read groups under %s: %w", b, err)
		}
	}
	res := &RollbackResult{Groups: len(order)}
	var todo []change
	var todoItem []int
	for _, guid := range order {
		want := first[guid]
		g, found := current[guid]
		it := RollbackItem{DN: want.dn, GUID: guid, Restore: show(want.before)}
		var cur *string
		if found {
			it.DN = g.DN
			if g.Anchor != "" {
				cur = strp(g.Anchor)
			}
		}
		it.Current = show(cur)
		switch {
		case !found:
			it.Current = "(not found)"
			it.Result, it.Detail = "not-found", "no group with this objectGUID under "+strings.Join(searchBases, "; ")+" (deleted, or moved out of it: pass --base with the domain)"
			res.Skipped++
		case deref(cur) == deref(want.before) && (cur == nil) == (want.before == nil):
			it.Result = "already-original"
		case cur != nil && want.after != nil && *cur == *want.after:
			if o.DryRun {
				it.Result = "would-restore"
			} else {
				todo = append(todo, change{dn: g.DN, guid: guid, before: cur, after: want.before})
				todoItem = append(todoItem, len(res.Items))
			}
		default:
			it.Result = "changed-since"
			it.Detail = fmt.Sprintf("prepare wrote %s, AD now holds %s: changed by someone else since; left alone", show(want.after), show(cur))
			res.Skipped++
		}
		res.Items = append(res.Items, it)
	}
	if o.DryRun || len(todo) == 0 {
		res.Elapsed = time.Since(start)
		return res, nil
	}
	if err := o.Journal.Append(&Record{Type: "run", Command: "rollback", Base: strings.Join(searchBases, "; "), Server: o.Server, Version: JournalVersion}); err != nil {
		return res, err
	}
	n, _, err := applyChanges(ctx, o.Journal, writersOr(o.Writers, dir), todo, o.Workers, o.Batch, o.Progress)
	res.Restored = n
	for k, c := range todo {
		it := &res.Items[todoItem[k]]
		switch {
		case c.done:
			it.Result = "restored"
		case c.err != nil:
			it.Result, it.Detail = "failed", c.err.Error()
		default:
			it.Result = "interrupted"
		}
	}
	res.Elapsed = time.Since(start)
	return res, err
}

// Mismatch is an in-scope group verify found wrong.
type Mismatch struct {
	DN               string   `json:"dn"`
	AdminDescription string   `json:"adminDescription"`
	Anchor           string   `json:"anchor"`
	Problem          string   `json:"problem"`
	Duplicates       []string `json:"duplicates,omitempty"`
}

// VerifyResult is the anchor check of verify (Microsoft's second script).
type VerifyResult struct {
	InScope    int        `json:"inScope"`
	Equal      int        `json:"equal"`
	Orphans    int        `json:"orphans,omitempty"` // deleted in the cloud, left without anchor
	Mismatches []Mismatch `json:"mismatches,omitempty"`
}

// VerifyAnchors checks that every in-scope group has both attributes equal and
// that no anchor is on two groups. orphan (may be nil) marks object IDs deleted
// in the cloud: those must have no anchor, and are counted apart.
func VerifyAnchors(ctx context.Context, dir Directory, base string, orphan func(objectID string) bool) (*VerifyResult, error) {
	s, err := scan(ctx, dir, base)
	if err != nil {
		return nil, err
	}
	res := &VerifyResult{}
	for i, g := range s.groups {
		if !inScope(g) {
			continue
		}
		dups := s.duplicateOf(i)
		if id, _ := ObjectIDFromAnchor(g.AdminDescription); orphan != nil && orphan(id) {
			res.Orphans++
			if g.Anchor != "" {
				res.Mismatches = append(res.Mismatches, Mismatch{DN: g.DN, AdminDescription: g.AdminDescription, Anchor: g.Anchor,
					Problem: "the cloud group no longer exists but the anchor is set: writeback would delete this group; clear msDS-ExternalDirectoryObjectId"})
			}
			continue
		}
		res.InScope++
		// Duplicates first: prepare refuses them whatever their anchor, so
		// "run prepare" would be the wrong advice.
		switch st := CompareAnchor(g.AdminDescription, g.Anchor); {
		case len(dups) > 0:
			res.Mismatches = append(res.Mismatches, Mismatch{DN: g.DN, AdminDescription: g.AdminDescription, Anchor: g.Anchor, Duplicates: dups,
				Problem: "the same object ID is on more than one group (prepare refuses both): keep the copy Connect Sync manages and clear adminDescription and msDS-ExternalDirectoryObjectId on the stale one (or delete it), then run verify again"})
		case st == AnchorMissing:
			res.Mismatches = append(res.Mismatches, Mismatch{DN: g.DN, AdminDescription: g.AdminDescription, Problem: "msDS-ExternalDirectoryObjectId is empty: run writeback migrate prepare"})
		case st == AnchorDifferent:
			res.Mismatches = append(res.Mismatches, Mismatch{DN: g.DN, AdminDescription: g.AdminDescription, Anchor: g.Anchor,
				Problem: "msDS-ExternalDirectoryObjectId differs from adminDescription (prepare never overwrites it): if the anchor is stale, clear it by hand (Set-ADGroup -Clear msDS-ExternalDirectoryObjectId) and run prepare; if it is right, fix adminDescription"})
		default:
			res.Equal++
		}
	}
	return res, nil
}

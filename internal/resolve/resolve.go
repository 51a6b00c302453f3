// Package resolve owns member resolution: turning a cloud group's members
// (users and nested groups, by Entra object ID) into AD distinguished names
// through the Global Catalog, and giving a reason for every member that has no
// AD object. It is used by the provisioning engine and the migration tools.
package resolve

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Directory finds objects in the forest (the Global Catalog), in batches. Each
// method returns only what it found; ADDirectory implements it over *ad.Conn.
type Directory interface {
	// FindByGUIDs maps canonical lower-case GUID strings to DNs (objectGUID).
	FindByGUIDs(ctx context.Context, guids []string) (map[string]string, error)
	// FindBySIDs maps "S-1-5-..." to DNs (objectSid).
	FindBySIDs(ctx context.Context, sids []string) (map[string]string, error)
	// FindByAnchors maps msDS-ExternalDirectoryObjectId values to DNs.
	FindByAnchors(ctx context.Context, anchors []string) (map[string]string, error)
	// FindByConsistencyGUIDs maps canonical GUID strings to DNs (mS-DS-ConsistencyGuid).
	FindByConsistencyGUIDs(ctx context.Context, guids []string) (map[string]string, error)
}

// Member is one direct member of a cloud group.
type Member struct {
	ID   string
	Type string // user, group, device, orgContact, servicePrincipal
}

// User is what resolution needs to know about a cloud user.
type User struct {
	ID               string
	Name             string // UPN or display name, for reports
	ObjectIdentifier string // onPremisesObjectIdentifier (= AD objectGUID)
	SID              string // onPremisesSecurityIdentifier
	ImmutableID      string // onPremisesImmutableId (base64 objectGUID or ms-DS-ConsistencyGuid)
}

// readDoner is a Source that wants to know when Resolve has read every user
// it needs: the lookups that follow wait on the directory, at L for tens of
// seconds, and the engine's cache lets go of the state file's pages meanwhile.
type readDoner interface{ ReadDone() }

// GroupInfo says how a nested cloud group relates to the provisioning scope.
type GroupInfo struct {
	Known   bool   // the group is in the cloud cache
	InScope bool   // it is (or will be) provisioned by this configuration
	Why     string // when not in scope: the scope's reason
	Name    string
}

// Source answers questions about cloud objects (the engine's cache).
type Source interface {
	User(id string) (*User, error) // nil, nil when unknown
	Group(id string) GroupInfo
}

// Unresolved is a member without an AD object, with the reason.
type Unresolved struct {
	ID, Type, Name, Reason string
}

// Result is one group's resolved membership.
type Result struct {
	// DNs of members found in AD (users, and groups found by anchor that are not in scope).
	DNs []string
	// Groups are in-scope nested cloud groups; their DN is decided by the planner
	// (they may be created or renamed in the same plan).
	Groups     []string
	Unresolved []Unresolved
}

// Resolver resolves members with a cache of positive results; it is safe for
// concurrent use. Misses are not cached, so a user created in AD later
// resolves on the next round, but for one lookup: mS-DS-ConsistencyGuid is not
// indexed, every search for it scans the domain's users (2.5–4.8 s at 270,000
// users), and an incremental round that touched a group holding an
// unresolvable member paid that scan each time. Its misses are remembered
// until Forget (the next full round), and the engine keeps them in its state
// file for the next process (see Misses).
type Resolver struct {
	dir Directory

	mu     sync.Mutex
	cache  map[cacheKey]string // -> DN
	missed map[cacheKey]bool   // kindCGUID only
	// missedVer changes whenever missed does, so the set is saved only then.
	missedVer uint64
	stats     Stats
}

// Stats count the work done, for logs and benchmarks.
type Stats struct {
	Lookups   int // directory calls
	CacheHits int
	// Asked and Took are per identifier kind ("guid", "sid", "consistencyGuid",
	// "anchor"): values looked up in the directory, and the time it took.
	Asked map[string]int
	Took  map[string]time.Duration
}

// New returns a Resolver over dir.
func New(dir Directory) *Resolver {
	return &Resolver{dir: dir, cache: map[cacheKey]string{}, missed: map[cacheKey]bool{}}
}

// SetDirectory replaces the directory (after a reconnect), keeping the cache.
func (r *Resolver) SetDirectory(dir Directory) {
	r.mu.Lock()
	r.dir = dir
	r.mu.Unlock()
}

func (r *Resolver) directory() Directory {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dir
}

// Forget drops the cache (a full reconcile re-reads everything).
func (r *Resolver) Forget() {
	r.mu.Lock()
	r.cache = map[cacheKey]string{}
	if len(r.missed) > 0 {
		r.missed = map[cacheKey]bool{}
		r.missedVer++
	}
	r.mu.Unlock()
}

// Misses returns the mS-DS-ConsistencyGuid values the directory did not hold
// when last asked, and a version that changes whenever the set does.
func (r *Resolver) Misses() (guids []string, version uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.missed {
		guids = append(guids, k.key)
	}
	slices.Sort(guids)
	return guids, r.missedVer
}

// MissesVersion is the version Misses would return, without the list.
func (r *Resolver) MissesVersion() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.missedVer
}

// SetMisses replaces the misses with those saved by the last process that
// ran a round on the same state (the daemon's first rounds would otherwise
// scan the domain's users again for each group holding an unresolvable
// member). Replaced, not added to: another process, a full round run by
// hand between two of the daemon's rounds, may have found some of them
// since. Values that are not GUIDs are ignored.
func (r *Resolver) SetMisses(guids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.missed = make(map[cacheKey]bool, len(guids))
	for _, s := range guids {
		if g, ok := canonGUID(s); ok {
			r.missed[cacheKey{kindCGUID, g}] = true
		}
	}
	r.missedVer++
}

// Known is an AD object whose identifiers and current DN the caller has just
// read (a member value of a group, read with its objectGUID and objectSid).
type Known struct {
	GUID string // canonical lower-case objectGUID; "" if unknown
	SID  string // "S-1-5-..."; "" if none
	DN   string
}

// Learn records objects read fresh from AD, so Resolve finds them without a
// lookup. A full round reads every owned group's members with their GUIDs
// anyway: every member that is still in some group then resolves from that
// read, and only new members go to the Global Catalog. The DNs must be current
// (read in this round): Learn is how a moved user's new DN gets in.
func (r *Resolver) Learn(objs []Known) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range objs {
		if o.DN == "" {
			continue
		}
		if o.GUID != "" {
			r.cache[cacheKey{kindGUID, strings.ToLower(o.GUID)}] = o.DN
		}
		if o.SID != "" {
			r.cache[cacheKey{kindSID, strings.ToUpper(o.SID)}] = o.DN
		}
	}
}

// Stats returns the counters.
func (r *Resolver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	st.Asked, st.Took = maps.Clone(st.Asked), maps.Clone(st.Took)
	return st
}

// Resolve resolves the members of several groups at once (key: group ID), so
// the directory sees a few large batched lookups instead of one per member.
//
// A first sync of a large tenant passes hundreds of thousands of memberships
// over fewer distinct users, so everything per user (the cache lookups, the
// reason it is unresolved) is worked out once and shared by its memberships.
func (r *Resolver) Resolve(ctx context.Context, groups map[string][]Member, src Source) (map[string]Result, error) {
	// Pass 1: classify members and collect the lookups.
	users := map[string]*userRef{}
	var (
		guids   = map[string]bool{}
		anchors = map[string]bool{}
	)
	for _, members := range groups {
		for _, m := range members {
			switch normType(m.Type) {
			case "user":
				if _, ok := users[m.ID]; ok {
					continue
				}
				u, err := src.User(m.ID)
				if err != nil {
					return nil, fmt.Errorf("read cached user %s: %w", m.ID, err)
				}
				ref := newUserRef(u)
				users[m.ID] = ref
				if dn, ok := r.found(kindGUID, ref.guid); ok && ref.guid != "" && dn != "" {
					// Known already (a full round has learned most users from
					// the groups' members): nothing to look up, and the user's
					// identifiers can go now, not after the lookups (at L,
					// 40 MB of a peak heap of 330).
					*ref = userRef{known: true, anchored: true, settled: true, dn: dn}
					continue
				}
				if ref.guid != "" {
					guids[ref.guid] = true
				}
			case "group":
				if gi := src.Group(m.ID); !gi.InScope {
					anchors["Group_"+strings.ToLower(m.ID)] = true
				}
			}
		}
	}

	if d, ok := src.(readDoner); ok {
		d.ReadDone()
	}

	// Pass 2: batched lookups, each stage only for what the previous one missed.
	if err := r.lookup(ctx, kindGUID, keys(guids), r.directory().FindByGUIDs); err != nil {
		return nil, fmt.Errorf("find users by objectGUID: %w", err)
	}
	guids = nil
	sids, immut := map[string]bool{}, map[string]bool{}
	for _, ref := range users {
		if !ref.known {
			continue
		}
		if _, ok := r.found(kindGUID, ref.guid); ok && ref.guid != "" {
			continue
		}
		if ref.sid != "" {
			sids[ref.sid] = true
		}
		if ref.immutableID != "" {
			immut[ref.immutableID] = true
		}
	}
	if err := r.lookup(ctx, kindSID, keys(sids), r.directory().FindBySIDs); err != nil {
		return nil, fmt.Errorf("find users by objectSid: %w", err)
	}
	sids = nil
	// ImmutableId is the objectGUID (older Connect Sync) or the ms-DS-ConsistencyGuid.
	for g := range immut {
		if _, ok := r.found(kindGUID, g); ok {
			delete(immut, g)
		}
	}
	if err := r.lookup(ctx, kindGUID, keys(immut), r.directory().FindByGUIDs); err != nil {
		return nil, fmt.Errorf("find users by onPremisesImmutableId as objectGUID: %w", err)
	}
	for g := range immut {
		if _, ok := r.found(kindGUID, g); ok {
			delete(immut, g)
		}
	}
	if err := r.lookup(ctx, kindCGUID, keys(immut), r.directory().FindByConsistencyGUIDs); err != nil {
		return nil, fmt.Errorf("find users by mS-DS-ConsistencyGuid: %w", err)
	}
	immut = nil
	if err := r.lookup(ctx, kindAnchor, keys(anchors), r.directory().FindByAnchors); err != nil {
		return nil, fmt.Errorf("find nested groups by anchor: %w", err)
	}

	// Every user's outcome is known now; its identifiers were only needed
	// to get here, and for a large tenant they are tens of MB.
	for _, ref := range users {
		r.settle(ref)
		ref.guid, ref.sid, ref.immutableID, ref.rawOI, ref.rawImmutableID = "", "", "", "", ""
		if ref.dn != "" {
			ref.name = "" // only an unresolved member's report names it
		}
	}

	// Pass 3: assemble.
	out := make(map[string]Result, len(groups))
	for gid, members := range groups {
		var res Result
		for _, m := range members {
			typ := normType(m.Type)
			switch typ {
			case "user":
				ref := users[m.ID]
				r.settle(ref)
				if ref.dn == "" {
					res.Unresolved = append(res.Unresolved, Unresolved{ID: m.ID, Type: typ, Name: ref.name, Reason: ref.reason})
					continue
				}
				res.addDN(ref.dn)
			case "group":
				gi := src.Group(m.ID)
				if gi.InScope {
					res.Groups = append(res.Groups, strings.ToLower(m.ID))
					continue
				}
				if dn, ok := r.found(kindAnchor, "Group_"+strings.ToLower(m.ID)); ok {
					// Provisioned earlier and still in AD (left by policy): keep the reference.
					res.addDN(dn)
					continue
				}
				reason := "child group is out of scope and not provisioned"
				if !gi.Known {
					reason = "child group not known to writeback (not returned by Graph groups delta)"
				} else if gi.Why != "" {
					reason = "child group is out of scope (" + gi.Why + "); add it to the scope to provision it"
				}
				res.Unresolved = append(res.Unresolved, Unresolved{ID: m.ID, Type: typ, Name: gi.Name, Reason: reason})
			default:
				t := m.Type
				if t == "" {
					t = "unknown"
				}
				res.Unresolved = append(res.Unresolved, Unresolved{ID: m.ID, Type: t, Reason: "unsupported member type " + t + " (only synced users and cloud security groups are written to AD)"})
			}
		}
		res.DNs = sortUniqueFold(res.DNs)
		sort.Strings(res.Groups)
		out[gid] = res
	}
	return out, nil
}

// userRef is one distinct user member of a Resolve call, with only what
// resolution needs (a large round holds one per user of the tenant); dn or
// reason is settled once and shared by all its memberships.
type userRef struct {
	known, anchored        bool // in the cache; has any on-premises identifier
	name                   string
	guid, sid, immutableID string // canonical lookup keys
	rawOI, rawImmutableID  string // as Graph spelled them, for the reason (rawOI only if not guid)
	settled                bool
	dn, reason             string
}

func newUserRef(u *User) *userRef {
	if u == nil {
		return &userRef{}
	}
	ref := &userRef{known: true, name: u.Name, anchored: u.ObjectIdentifier != "" || u.SID != "" || u.ImmutableID != ""}
	if g, ok := canonGUID(u.ObjectIdentifier); ok {
		ref.guid = g
	}
	if g, ok := immutableGUID(u.ImmutableID); ok {
		if g == ref.guid {
			g = ref.guid // usually the same GUID: keep one copy
		}
		ref.immutableID = g
	}
	if u.SID != "" {
		ref.sid = strings.ToUpper(u.SID)
	}
	if u.ObjectIdentifier != ref.guid {
		ref.rawOI = u.ObjectIdentifier
	}
	ref.rawImmutableID = u.ImmutableID
	return ref
}

// Reasons shared by every member they apply to.
const (
	reasonUnknownUser = "user not known to writeback (not returned by Graph users delta)"
	reasonCloudOnly   = "cloud-only user: no onPremisesObjectIdentifier, onPremisesSecurityIdentifier or onPremisesImmutableId"
)

// settle finds ref's DN in the cache, or the reason it has none.
func (r *Resolver) settle(ref *userRef) {
	if ref.settled {
		return
	}
	ref.settled = true
	switch {
	case !ref.known:
		ref.reason = reasonUnknownUser
		return
	case !ref.anchored:
		ref.reason = reasonCloudOnly
		return
	}
	dn, ok := r.found(kindGUID, ref.guid)
	if !ok || ref.guid == "" {
		dn, ok = r.found(kindSID, ref.sid)
	}
	if !ok && ref.immutableID != "" {
		if dn, ok = r.found(kindGUID, ref.immutableID); !ok {
			dn, ok = r.found(kindCGUID, ref.immutableID)
		}
	}
	if !ok || dn == "" {
		ref.reason = describeAfter("not found in the forest ", &User{ObjectIdentifier: cmp.Or(ref.rawOI, ref.guid), SID: ref.sid, ImmutableID: ref.rawImmutableID})
		return
	}
	ref.dn = dn
}

// addDN records a resolved member. (Which member resolved to which DN is not
// kept: at L that map was 500,000 entries. A caller wanting it resolves each
// member as a group of its own.)
func (res *Result) addDN(dn string) {
	res.DNs = append(res.DNs, dn)
}

// sortUniqueFold sorts DNs and drops repeats (two cloud members resolving to
// one AD object), comparing case-insensitively as AD does, without a
// lower-cased copy of every DN.
func sortUniqueFold(dns []string) []string {
	if len(dns) < 2 {
		return dns
	}
	slices.SortFunc(dns, compareLower)
	out := dns[:1]
	for _, dn := range dns[1:] {
		if compareLower(dn, out[len(out)-1]) != 0 {
			out = append(out, dn)
		}
	}
	sort.Strings(out)
	return out
}

// compareLower orders a and b as strings.ToLower(a) and strings.ToLower(b).
func compareLower(a, b string) int {
	for a != "" && b != "" {
		ra, na := lowerRune(a)
		rb, nb := lowerRune(b)
		if ra != rb {
			return cmp.Compare(ra, rb)
		}
		a, b = a[na:], b[nb:]
	}
	return cmp.Compare(len(a), len(b))
}

func lowerRune(s string) (rune, int) {
	if c := s[0]; c < utf8.RuneSelf {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		return rune(c), 1
	}
	r, n := utf8.DecodeRuneInString(s)
	return unicode.ToLower(r), n
}

// Anchors finds groups by anchor (Group_<id>) through the cache and the
// directory; it returns anchor -> DN for those found.
func (r *Resolver) Anchors(ctx context.Context, anchors []string) (map[string]string, error) {
	norm := make([]string, len(anchors))
	for i, a := range anchors {
		norm[i] = "Group_" + strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(a, "Group_"), "group_"))
	}
	if err := r.lookup(ctx, kindAnchor, norm, r.directory().FindByAnchors); err != nil {
		return nil, err
	}
	out := map[string]string{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range norm {
		if dn, ok := r.cache[cacheKey{kindAnchor, a}]; ok {
			out[a] = dn
		}
	}
	return out, nil
}

func (r *Resolver) lookup(ctx context.Context, kind lookupKind, want []string, find func(context.Context, []string) (map[string]string, error)) error {
	var miss []string
	r.mu.Lock()
	for _, k := range want {
		if _, ok := r.cache[cacheKey{kind, k}]; ok || r.missed[cacheKey{kind, k}] {
			r.stats.CacheHits++
		} else {
			miss = append(miss, k)
		}
	}
	r.mu.Unlock()
	if len(miss) == 0 {
		return nil
	}
	start := time.Now()
	got, err := find(ctx, miss)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Lookups++
	if r.stats.Asked == nil {
		r.stats.Asked, r.stats.Took = map[string]int{}, map[string]time.Duration{}
	}
	r.stats.Asked[kind.String()] += len(miss)
	r.stats.Took[kind.String()] += time.Since(start)
	if kind == kindCGUID && len(got) < len(miss) {
		for _, k := range miss {
			if _, ok := got[k]; !ok {
				r.missed[cacheKey{kind, k}] = true
			}
		}
		r.missedVer++
	}
	for k, dn := range got {
		if kind == kindSID {
			k = strings.ToUpper(k)
		} else {
			k = strings.ToLower(k)
		}
		if kind == kindAnchor {
			k = "Group_" + strings.TrimPrefix(k, "group_")
		}
		r.cache[cacheKey{kind, k}] = dn
	}
	return nil
}

// found reads the cache.
func (r *Resolver) found(kind lookupKind, key string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dn, ok := r.cache[cacheKey{kind, key}]
	return dn, ok
}

// lookupKind says which identifier a cache key is.
type lookupKind uint8

func (k lookupKind) String() string {
	return [...]string{"guid", "sid", "anchor", "consistencyGuid"}[k]
}

const (
	kindGUID   lookupKind = iota // canonical lower-case objectGUID
	kindSID                      // upper-case "S-1-5-..."
	kindAnchor                   // "Group_<lower-case id>"
	kindCGUID                    // canonical lower-case mS-DS-ConsistencyGuid
)

// cacheKey avoids building a "kind:key" string for every cache probe: a
// large round probes the cache several times per membership.
type cacheKey struct {
	kind lookupKind
	key  string
}

func describe(u *User) string {
	return describeAfter("", u)
}

// describeAfter is prefix + describe(u) in one allocation: a large round
// keeps one such reason per unresolved user.
func describeAfter(prefix string, u *User) string {
	var b strings.Builder
	b.Grow(len(prefix) + 48 + len(u.ObjectIdentifier) + len(u.SID) + len(u.ImmutableID))
	b.WriteString(prefix)
	b.WriteByte('(')
	sep := ""
	for _, f := range [...]struct{ name, v string }{{"objectGUID ", u.ObjectIdentifier}, {"objectSid ", u.SID}, {"immutableId ", u.ImmutableID}} {
		if f.v != "" {
			b.WriteString(sep)
			b.WriteString(f.name)
			b.WriteString(f.v)
			sep = ", "
		}
	}
	b.WriteByte(')')
	return b.String()
}

func normType(t string) string {
	t = strings.TrimPrefix(strings.ToLower(t), "#microsoft.graph.")
	return t
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// canonGUID validates and lower-cases a GUID string ("{...}" accepted).
func canonGUID(s string) (string, bool) {
	s = strings.ToLower(strings.Trim(strings.TrimSpace(s), "{}"))
	if len(s) != 36 {
		return "", false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return "", false
			}
		}
	}
	return s, true
}

// immutableGUID decodes an onPremisesImmutableId that is a base64 GUID (in
// AD's binary byte order) into its canonical string.
func immutableGUID(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return "", false
	}
	return GUIDFromBytes(b), true
}

// GUIDFromBytes renders a GUID in AD's binary layout (first three fields
// little-endian) as the canonical lower-case string.
func GUIDFromBytes(b []byte) string {
	const hex = "0123456789abcdef"
	order := []int{3, 2, 1, 0, -1, 5, 4, -1, 7, 6, -1, 8, 9, -1, 10, 11, 12, 13, 14, 15}
	out := make([]byte, 0, 36)
	for _, i := range order {
		if i < 0 {
			out = append(out, '-')
			continue
		}
		out = append(out, hex[b[i]>>4], hex[b[i]&15])
	}
	return string(out)
}

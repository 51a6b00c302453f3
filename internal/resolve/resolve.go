// Package resolve owns member resolution: turning a cloud group's members
// (users and nested groups, by Entra object ID) into AD distinguished names
// through the Global Catalog, and giving a reason for every member that has no
// AD object. It is used by the provisioning engine and the migration tools.
package resolve

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"sync"
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
	// ByID maps each resolved member's ID to its DN (for step reports).
	ByID map[string]string
}

// Resolver resolves members with a cache of positive results; it is safe for
// concurrent use. Misses are not cached: a user created in AD later resolves
// on the next round.
type Resolver struct {
	dir Directory

	mu    sync.Mutex
	cache map[string]string // "guid:…", "sid:…", "anchor:…", "cguid:…" -> DN
	stats Stats
}

// Stats count the work done, for logs and benchmarks.
type Stats struct {
	Lookups   int // directory calls
	CacheHits int
}

// New returns a Resolver over dir.
func New(dir Directory) *Resolver {
	return &Resolver{dir: dir, cache: map[string]string{}}
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
	r.cache = map[string]string{}
	r.mu.Unlock()
}

// Stats returns the counters.
func (r *Resolver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Resolve resolves the members of several groups at once (key: group ID), so
// the directory sees a few large batched lookups instead of one per member.
func (r *Resolver) Resolve(ctx context.Context, groups map[string][]Member, src Source) (map[string]Result, error) {
	// Pass 1: classify members and collect the lookups.
	type userRef struct {
		u                 *User
		guid, immutableID string
	}
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
				ref := &userRef{u: u}
				users[m.ID] = ref
				if u == nil {
					continue
				}
				if g, ok := canonGUID(u.ObjectIdentifier); ok {
					ref.guid = g
					guids[g] = true
				}
				if g, ok := immutableGUID(u.ImmutableID); ok {
					ref.immutableID = g
				}
			case "group":
				if gi := src.Group(m.ID); !gi.InScope {
					anchors["Group_"+strings.ToLower(m.ID)] = true
				}
			}
		}
	}

	// Pass 2: batched lookups, each stage only for what the previous one missed.
	found := func(kind, key string) (string, bool) {
		r.mu.Lock()
		defer r.mu.Unlock()
		dn, ok := r.cache[kind+":"+key]
		return dn, ok
	}
	if err := r.lookup(ctx, "guid", keys(guids), r.directory().FindByGUIDs); err != nil {
		return nil, fmt.Errorf("find users by objectGUID: %w", err)
	}
	sids, immut := map[string]bool{}, map[string]bool{}
	for _, ref := range users {
		if ref.u == nil {
			continue
		}
		if _, ok := found("guid", ref.guid); ok && ref.guid != "" {
			continue
		}
		if ref.u.SID != "" {
			sids[strings.ToUpper(ref.u.SID)] = true
		}
		if ref.immutableID != "" {
			immut[ref.immutableID] = true
		}
	}
	if err := r.lookup(ctx, "sid", keys(sids), r.directory().FindBySIDs); err != nil {
		return nil, fmt.Errorf("find users by objectSid: %w", err)
	}
	// ImmutableId is the objectGUID (older Connect Sync) or the ms-DS-ConsistencyGuid.
	for g := range immut {
		if _, ok := found("guid", g); ok {
			delete(immut, g)
		}
	}
	if err := r.lookup(ctx, "guid", keys(immut), r.directory().FindByGUIDs); err != nil {
		return nil, fmt.Errorf("find users by onPremisesImmutableId as objectGUID: %w", err)
	}
	for g := range immut {
		if _, ok := found("guid", g); ok {
			delete(immut, g)
		}
	}
	if err := r.lookup(ctx, "cguid", keys(immut), r.directory().FindByConsistencyGUIDs); err != nil {
		return nil, fmt.Errorf("find users by mS-DS-ConsistencyGuid: %w", err)
	}
	if err := r.lookup(ctx, "anchor", keys(anchors), r.directory().FindByAnchors); err != nil {
		return nil, fmt.Errorf("find nested groups by anchor: %w", err)
	}

	// Pass 3: assemble.
	out := make(map[string]Result, len(groups))
	for gid, members := range groups {
		res := Result{ByID: map[string]string{}}
		seen := map[string]bool{}
		for _, m := range members {
			typ := normType(m.Type)
			switch typ {
			case "user":
				ref := users[m.ID]
				if ref.u == nil {
					res.Unresolved = append(res.Unresolved, Unresolved{ID: m.ID, Type: typ, Reason: "user not known to writeback (not returned by Graph users delta)"})
					continue
				}
				u := ref.u
				if u.ObjectIdentifier == "" && u.SID == "" && u.ImmutableID == "" {
					res.Unresolved = append(res.Unresolved, Unresolved{ID: m.ID, Type: typ, Name: u.Name, Reason: "cloud-only user: no onPremisesObjectIdentifier, onPremisesSecurityIdentifier or onPremisesImmutableId"})
					continue
				}
				dn, ok := found("guid", ref.guid)
				if !ok || ref.guid == "" {
					dn, ok = found("sid", strings.ToUpper(u.SID))
				}
				if !ok && ref.immutableID != "" {
					if dn, ok = found("guid", ref.immutableID); !ok {
						dn, ok = found("cguid", ref.immutableID)
					}
				}
				if !ok {
					res.Unresolved = append(res.Unresolved, Unresolved{ID: m.ID, Type: typ, Name: u.Name, Reason: "not found in the forest " + describe(u)})
					continue
				}
				res.ByID[m.ID] = dn
				if !seen[strings.ToLower(dn)] {
					seen[strings.ToLower(dn)] = true
					res.DNs = append(res.DNs, dn)
				}
			case "group":
				gi := src.Group(m.ID)
				if gi.InScope {
					res.Groups = append(res.Groups, strings.ToLower(m.ID))
					continue
				}
				if dn, ok := found("anchor", "Group_"+strings.ToLower(m.ID)); ok {
					// Provisioned earlier and still in AD (left by policy): keep the reference.
					res.ByID[m.ID] = dn
					if !seen[strings.ToLower(dn)] {
						seen[strings.ToLower(dn)] = true
						res.DNs = append(res.DNs, dn)
					}
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
		sort.Strings(res.DNs)
		sort.Strings(res.Groups)
		out[gid] = res
	}
	return out, nil
}

// Anchors finds groups by anchor (Group_<id>) through the cache and the
// directory; it returns anchor -> DN for those found.
func (r *Resolver) Anchors(ctx context.Context, anchors []string) (map[string]string, error) {
	norm := make([]string, len(anchors))
	for i, a := range anchors {
		norm[i] = "Group_" + strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(a, "Group_"), "group_"))
	}
	if err := r.lookup(ctx, "anchor", norm, r.directory().FindByAnchors); err != nil {
		return nil, err
	}
	out := map[string]string{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range norm {
		if dn, ok := r.cache["anchor:"+a]; ok {
			out[a] = dn
		}
	}
	return out, nil
}

func (r *Resolver) lookup(ctx context.Context, kind string, want []string, find func(context.Context, []string) (map[string]string, error)) error {
	var miss []string
	r.mu.Lock()
	for _, k := range want {
		if _, ok := r.cache[kind+":"+k]; ok {
			r.stats.CacheHits++
		} else {
			miss = append(miss, k)
		}
	}
	r.mu.Unlock()
	if len(miss) == 0 {
		return nil
	}
	got, err := find(ctx, miss)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Lookups++
	for k, dn := range got {
		if kind == "sid" {
			k = strings.ToUpper(k)
		} else {
			k = strings.ToLower(k)
		}
		if kind == "anchor" {
			k = "Group_" + strings.TrimPrefix(k, "group_")
		}
		r.cache[kind+":"+k] = dn
	}
	return nil
}

func describe(u *User) string {
	var parts []string
	if u.ObjectIdentifier != "" {
		parts = append(parts, "objectGUID "+u.ObjectIdentifier)
	}
	if u.SID != "" {
		parts = append(parts, "objectSid "+u.SID)
	}
	if u.ImmutableID != "" {
		parts = append(parts, "immutableId "+u.ImmutableID)
	}
	return "(" + strings.Join(parts, ", ") + ")"
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

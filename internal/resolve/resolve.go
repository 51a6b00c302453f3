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
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ldapdn"
)

// Directory finds objects in the forest (the Global Catalog), in batches. Each
// method returns only what it found, with what decides whether the object may
// be a member (class, SID, account flags); ADDirectory implements it over
// *ad.Conn.
type Directory interface {
	// FindByGUIDs maps canonical lower-case GUID strings to objects (objectGUID).
	FindByGUIDs(ctx context.Context, guids []string) (map[string]Object, error)
	// FindBySIDs maps upper-case "S-1-5-..." to objects (objectSid).
	FindBySIDs(ctx context.Context, sids []string) (map[string]Object, error)
	// FindByAnchors maps msDS-ExternalDirectoryObjectId values to objects.
	FindByAnchors(ctx context.Context, anchors []string) (map[string]Object, error)
	// FindByConsistencyGUIDs maps canonical GUID strings to objects (mS-DS-ConsistencyGuid).
	FindByConsistencyGUIDs(ctx context.Context, guids []string) (map[string]Object, error)
	// Protected reads, for objects of the DC's domain (canonical
	// objectGUIDs), which are critical system objects or carry adminCount=1:
	// guid -> the attribute that says so. Neither is in the Global Catalog.
	Protected(ctx context.Context, guids []string) (map[string]string, error)
	// NotPlainUsers reads, for objects of the DC's domain (canonical
	// objectGUIDs), which are anything but a plain user (class user, not
	// computer, group, contact or inetOrgPerson, not a domain controller or
	// trust account, not critical, adminCount not set): guid -> the object,
	// read with everything. An object it leaves out is a plain user.
	NotPlainUsers(ctx context.Context, guids []string) (map[string]Object, error)
	// Domain is the naming context of the DC's domain, whose objects
	// Protected and NotPlainUsers can read.
	Domain() string
}

// Object is what the directory says about one object.
type Object struct {
	DN                 string
	GUID               string // canonical lower-case objectGUID
	SID                string // upper-case; "" if none
	Classes            []string
	UserAccountControl uint32
	PrimaryGroupID     uint32
	// Critical (isCriticalSystemObject) and AdminCount (adminCount=1) are
	// nil when the directory did not return them: a Windows GC does not
	// hold them.
	Critical, AdminCount *bool
	// ConsistencyGUID is the canonical mS-DS-ConsistencyGuid, if returned;
	// ConsistencyGUIDKnown says "" means "none" (a DC read), not "not returned".
	ConsistencyGUID      string
	ConsistencyGUIDKnown bool
}

// Policy is what the configuration allows beyond the defaults (config's
// members section).
type Policy struct {
	// Allow names privileged principals (DN or SID) a member may still
	// resolve to: well-known RIDs, critical system objects, adminCount=1.
	// It does not make a group or computer a user.
	Allow []string
	// InetOrgPerson lets users of class inetOrgPerson resolve.
	InetOrgPerson bool
	// Devices lets synced device members resolve to their computer objects
	// by onPremisesSecurityIdentifier. Off in the zero Policy; the
	// configuration turns it on unless members.devices is false.
	Devices bool
}

// Device is what resolution needs to know about a cloud device member.
type Device struct {
	ID   string
	Name string // display name, for reports
	SID  string // onPremisesSecurityIdentifier: the computer object's objectSid
	// SyncEnabled is onPremisesSyncEnabled: only a device the tenant says is
	// synced from AD has an on-premises SID writeback believes.
	SyncEnabled *bool
	// Unreadable, when set, says why the device could not be read (for
	// instance a missing Device.Read.All permission): it is reported, and
	// the rest of the group is written.
	Unreadable string
}

// DeviceSource is a Source that knows devices. A Source without it has its
// device members reported as unresolved.
type DeviceSource interface {
	Device(id string) (*Device, error) // nil, nil when unknown
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
	// SyncEnabled is onPremisesSyncEnabled: only a user the tenant says is
	// synced from AD has on-premises identifiers writeback believes.
	SyncEnabled *bool
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
//
// Member resolution is a trust boundary (docs/trust.md): the tenant says
// which AD object a cloud user is, and only a synced user's identifiers are
// followed, only to a user object, never to a well-known or critical
// principal, and only when its identifiers agree.
type Resolver struct {
	dir Directory

	mu       sync.Mutex
	allowDN  map[string]bool // normalised DNs of Policy.Allow
	allowSID map[string]bool
	inetOrg  bool
	devices  bool
	// cache indexes the objects found or learned since the last Forget.
	cache map[cacheKey]*object
	// known holds every object by objectGUID across Forget: its class and
	// SID never change, so a full round that learns a member's DN from AD
	// need not look its class up again. Objects not seen for a whole
	// generation (between two Forgets) are dropped.
	known map[string]*object
	gen   uint32 // one per Forget (full round): never wraps in practice
	// missed: kindCGUID only.
	missed map[cacheKey]bool
	// missedVer changes whenever missed does, so the set is saved only then.
	missedVer uint64
	stats     Stats
}

// object is one AD object the resolver has found or learned.
type object struct {
	dn      string
	guid    string
	sid     string
	cguid   string // mS-DS-ConsistencyGuid, if known
	kind    objKind
	flags   objFlags
	learned bool   // dn came from the DC's read of a group (its spelling wins)
	protGen uint32 // generation in which the DC said whether fCritical/fAdmin hold
	seen    uint32 // last generation the object was found or learned in
}

type objKind uint8

const (
	kindUnknownClass objKind = iota // learned from a group's member: class not read yet
	classUser
	classInetOrgPerson
	classComputer
	classGroup
	classContact
	classOther
)

type objFlags uint8

const (
	fDC         objFlags = 1 << iota // userAccountControl SERVER_TRUST_ACCOUNT, or primaryGroupID 516/521
	fTrust                           // userAccountControl INTERDOMAIN_TRUST_ACCOUNT
	fCritical                        // isCriticalSystemObject=TRUE
	fAdmin                           // adminCount=1
	fCGUIDKnown                      // cguid is what the object has ("" = none)
)

// userAccountControl bits and primary groups of domain controllers and
// trust accounts (ad's, so the filters that find them say the same).
const (
	uacInterdomainTrust    = ad.UACInterdomainTrust
	uacServerTrust         = ad.UACServerTrust
	ridDomainControllers   = ad.RIDDomainControllers
	ridReadOnlyControllers = ad.RIDReadOnlyControllers
)

func classify(classes []string) objKind {
	k := classOther
	for _, c := range classes {
		switch strings.ToLower(c) {
		case "computer":
			return classComputer // a subclass of user: checked before it
		case "group":
			return classGroup
		case "contact":
			return classContact
		case "inetorgperson":
			k = classInetOrgPerson
		case "user":
			if k != classInetOrgPerson {
				k = classUser
			}
		}
	}
	return k
}

// Stats count the work done, for logs and benchmarks.
type Stats struct {
	Lookups   int // directory calls
	CacheHits int
	// Asked and Took are per identifier kind ("guid", "sid", "consistencyGuid",
	// "anchor", "protected", "learnedClass"): values looked up in the
	// directory, and the time it took.
	Asked map[string]int
	Took  map[string]time.Duration
}

// New returns a Resolver over dir.
func New(dir Directory) *Resolver {
	return &Resolver{dir: dir, cache: map[cacheKey]*object{}, known: map[string]*object{}, gen: 1, missed: map[cacheKey]bool{}}
}

// SetPolicy sets what the configuration allows (see Policy). Allow entries
// starting with "S-" are SIDs, the others DNs.
func (r *Resolver) SetPolicy(p Policy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.allowDN, r.allowSID = map[string]bool{}, map[string]bool{}
	for _, a := range p.Allow {
		a = strings.TrimSpace(a)
		if len(a) > 2 && strings.EqualFold(a[:2], "S-") {
			r.allowSID[strings.ToUpper(a)] = true
		} else if a != "" {
			r.allowDN[ldapdn.Norm(a)] = true
		}
	}
	r.inetOrg = p.InetOrgPerson
	r.devices = p.Devices
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

// Forget drops the cache (a full reconcile re-reads everything): every DN,
// and whether an object is critical or protected (adminCount changes when a
// user joins an administrative group). Only what never changes is kept.
func (r *Resolver) Forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cache = map[cacheKey]*object{}
	for g, o := range r.known {
		if o.seen != r.gen {
			delete(r.known, g)
			continue
		}
		o.dn, o.learned = "", false
	}
	r.gen++
	if len(r.missed) > 0 {
		r.missed = map[cacheKey]bool{}
		r.missedVer++
	}
}

// Moved keeps the cache true to writeback's own writes: dns maps the old DN
// of each group the engine renamed, moved or deleted ("") to its new DN.
// Without it a nested group resolved before its rename would be added to
// another parent under its old DN (no such object, the parent quarantined).
func (r *Resolver) Moved(dns map[string]string) {
	if len(dns) == 0 {
		return
	}
	byLower := make(map[string]string, len(dns))
	byNorm := make(map[string]string, len(dns))
	for old, nw := range dns {
		byLower[strings.ToLower(old)] = nw
		byNorm[ldapdn.Norm(old)] = nw
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	gone := map[*object]bool{}
	for g, o := range r.known {
		if o.dn == "" {
			continue
		}
		nw, ok := byLower[strings.ToLower(o.dn)]
		if !ok && strings.ContainsRune(o.dn, '\\') { // another escaping of the same DN
			nw, ok = byNorm[ldapdn.Norm(o.dn)]
		}
		if !ok {
			continue
		}
		if nw == "" {
			gone[o] = true
			delete(r.known, g)
			continue
		}
		o.dn = nw
	}
	if len(gone) > 0 {
		for k, o := range r.cache {
			if gone[o] {
				delete(r.cache, k)
			}
		}
	}
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
// (read in this round): Learn is how a moved user's new DN gets in. A member
// value says nothing of the object's class: an object this resolver has not
// looked up before is still looked up once (then its class is known for the
// life of the process). Values without a GUID are ignored.
func (r *Resolver) Learn(objs []Known) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, kn := range objs {
		g, ok := canonGUID(kn.GUID)
		if kn.DN == "" || !ok {
			continue
		}
		o := r.known[g]
		if o == nil {
			o = &object{guid: g}
			r.known[g] = o
		}
		o.dn, o.learned, o.seen = kn.DN, true, r.gen
		if kn.SID != "" {
			o.sid = strings.ToUpper(kn.SID)
		}
		r.index(kindGUID, g, o)
	}
}

// index files o under key, and under its GUID and SID.
func (r *Resolver) index(kind lookupKind, key string, o *object) {
	r.cache[cacheKey{kind, key}] = o
	r.cache[cacheKey{kindGUID, o.guid}] = o
	if o.sid != "" {
		r.cache[cacheKey{kindSID, o.sid}] = o
	}
}

// merge records an object the directory returned; r.mu is held.
func (r *Resolver) merge(ob Object) *object {
	g, ok := canonGUID(ob.GUID)
	if !ok {
		return nil
	}
	o := r.known[g]
	if o == nil {
		o = &object{guid: g}
		r.known[g] = o
	}
	if !o.learned || o.dn == "" {
		o.dn = ob.DN
	}
	o.seen = r.gen
	if ob.SID != "" {
		o.sid = strings.ToUpper(ob.SID)
	}
	if len(ob.Classes) > 0 {
		o.kind = classify(ob.Classes)
	}
	o.flags &^= fDC | fTrust
	if ob.UserAccountControl&uacServerTrust != 0 || ob.PrimaryGroupID == ridDomainControllers || ob.PrimaryGroupID == ridReadOnlyControllers {
		o.flags |= fDC
	}
	if ob.UserAccountControl&uacInterdomainTrust != 0 {
		o.flags |= fTrust
	}
	if ob.Critical != nil && ob.AdminCount != nil {
		// A DC read: authoritative for this generation.
		o.flags &^= fCritical | fAdmin
		o.protGen = r.gen
	}
	if ob.Critical != nil && *ob.Critical {
		o.flags |= fCritical
	}
	if ob.AdminCount != nil && *ob.AdminCount {
		o.flags |= fAdmin
	}
	if ob.ConsistencyGUIDKnown || ob.ConsistencyGUID != "" {
		o.cguid = ob.ConsistencyGUID
		o.flags |= fCGUIDKnown
	}
	return o
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
	r.mu.Lock()
	b := &batch{users: map[string]*userRef{}, devices: map[string]*deviceRef{},
		guids: map[string]bool{}, anchors: map[string]bool{}, wantDevices: r.devices}
	r.mu.Unlock()
	if err := r.classify(b, groups, src); err != nil {
		return nil, err
	}
	if d, ok := src.(readDoner); ok {
		d.ReadDone()
	}
	if err := r.findMembers(ctx, b); err != nil {
		return nil, err
	}
	if err := r.checkOtherIdentifiers(ctx, b); err != nil {
		return nil, err
	}
	if err := r.findProtection(ctx, b); err != nil {
		return nil, err
	}
	// Every user's outcome is known now; its identifiers were only needed
	// to get here, and for a large tenant they are tens of MB.
	for _, ref := range b.users {
		r.settle(ref)
		ref.dropIDs()
	}
	for _, d := range b.devices {
		r.settleDevice(d)
	}
	// Groups found by anchor that are not in scope.
	if err := r.lookup(ctx, kindAnchor, slices.Sorted(maps.Keys(b.anchors)), r.directory().FindByAnchors); err != nil {
		return nil, fmt.Errorf("find nested groups by anchor: %w", err)
	}
	out := make(map[string]Result, len(groups))
	for gid, members := range groups {
		out[gid] = r.assemble(b, gid, members, src)
	}
	return out, nil
}

// batch is one Resolve's members, each user and device once.
type batch struct {
	users       map[string]*userRef
	devices     map[string]*deviceRef
	guids       map[string]bool // objectGUIDs to look up
	anchors     map[string]bool // anchors of nested groups not in scope
	wantDevices bool
}

// classify (pass 1) reads each distinct member from src and collects the
// lookups; a user the cache knows and agrees with is settled at once.
func (r *Resolver) classify(b *batch, groups map[string][]Member, src Source) error {
	dsrc, _ := src.(DeviceSource)
	for _, members := range groups {
		for _, m := range members {
			switch normType(m.Type) {
			case "user":
				if err := r.classifyUser(b, m.ID, src); err != nil {
					return err
				}
			case "group":
				if gi := src.Group(m.ID); !gi.InScope {
					b.anchors["Group_"+strings.ToLower(m.ID)] = true
				}
			case "device":
				if _, ok := b.devices[m.ID]; ok || !b.wantDevices {
					continue
				}
				var d *Device
				if dsrc != nil {
					var err error
					if d, err = dsrc.Device(m.ID); err != nil {
						return fmt.Errorf("read cached device %s: %w", m.ID, err)
					}
				}
				b.devices[m.ID] = newDeviceRef(d)
			}
		}
	}
	return nil
}

func (r *Resolver) classifyUser(b *batch, id string, src Source) error {
	if _, ok := b.users[id]; ok {
		return nil
	}
	u, err := src.User(id)
	if err != nil {
		return fmt.Errorf("read cached user %s: %w", id, err)
	}
	ref := newUserRef(u)
	b.users[id] = ref
	if !ref.eligible() {
		return nil
	}
	if o := r.complete(kindGUID, ref.guid); o != nil {
		// Known already (a full round has learned most users from
		// the groups' members): nothing to look up when its
		// identifiers agree, and the user's identifiers can go
		// now, not after the lookups (at L, 40 MB of a peak heap
		// of 330).
		ref.obj, ref.via = o, viaOI
		if r.agrees(ref) && r.protKnown(o) {
			r.settle(ref)
			ref.dropIDs()
			return nil
		}
	}
	if ref.guid != "" {
		b.guids[ref.guid] = true
	}
	return nil
}

// findMembers (pass 2) runs the batched lookups, each stage only for what the
// previous one missed: objectGUID, then objectSid, then immutableId. The
// objects the round's group read taught are checked first, more cheaply.
func (r *Resolver) findMembers(ctx context.Context, b *batch) error {
	if err := r.checkLearned(ctx, b); err != nil {
		return err
	}
	if err := r.lookup(ctx, kindGUID, slices.Sorted(maps.Keys(b.guids)), r.directory().FindByGUIDs); err != nil {
		return fmt.Errorf("find users by objectGUID: %w", err)
	}
	b.guids = nil
	sids := map[string]bool{}
	for _, ref := range b.users {
		if ref.settled || !ref.eligible() {
			continue
		}
		if o := r.complete(kindGUID, ref.guid); o != nil {
			ref.obj, ref.via = o, viaOI
			continue
		}
		if ref.sid != "" {
			sids[ref.sid] = true
		}
	}
	for _, d := range b.devices {
		if d.eligible() {
			sids[d.sid] = true
		}
	}
	if err := r.lookup(ctx, kindSID, slices.Sorted(maps.Keys(sids)), r.directory().FindBySIDs); err != nil {
		return fmt.Errorf("find users and devices by objectSid: %w", err)
	}
	for _, d := range b.devices {
		if d.eligible() {
			d.obj = r.complete(kindSID, d.sid)
		}
	}
	return r.findByImmutableID(ctx, b)
}

// checkLearned reads the class of the objects this batch's users and
// devices name (by objectGUID, objectSid or immutableId) that the resolver
// has only learned from a group read (DN, objectGUID, objectSid; no class),
// for those of the DC's domain whose SID the read gave. A process's first
// full round learns every member AD already has that way; fetching them all
// back from the GC cost 2.3 s of a 7.4 s full round at M (9,953 objects;
// Samba's cost is per object returned, by objectSid as by objectGUID). Here
// the DC returns only the objects that are not plain users (NotPlainUsers:
// usually none), which are merged as any lookup's answer; the others are
// plain users, not critical and without adminCount for this generation, as
// Protected's absence means. The other objects are looked up as before.
func (r *Resolver) checkLearned(ctx context.Context, b *batch) error {
	dir := r.directory()
	if dir == nil || dir.Domain() == "" {
		return nil
	}
	domain := dir.Domain()
	want := map[string]*object{}
	r.mu.Lock()
	add := func(kind lookupKind, key string) {
		if key == "" {
			return
		}
		o := r.cache[cacheKey{kind, key}]
		// Without its SID (a member value that did not carry one) the
		// object's RID could not be judged: such an object is looked up.
		if o != nil && o.kind == kindUnknownClass && o.dn != "" && o.sid != "" && strings.EqualFold(ldapdn.DomainNC(o.dn), domain) {
			want[o.guid] = o
		}
	}
	for _, ref := range b.users {
		if !ref.settled && ref.eligible() {
			add(kindGUID, ref.guid)
			add(kindSID, ref.sid)
			add(kindGUID, ref.immutableID)
		}
	}
	for _, d := range b.devices {
		if d.eligible() {
			add(kindSID, d.sid)
		}
	}
	r.mu.Unlock()
	if len(want) == 0 {
		return nil
	}
	guids := slices.Sorted(maps.Keys(want))
	start := time.Now()
	got, err := dir.NotPlainUsers(ctx, guids)
	if err != nil {
		return fmt.Errorf("read the class of %d members found in the groups' read: %w", len(guids), err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count("learnedClass", len(guids), time.Since(start))
	for _, g := range guids {
		if ob, ok := got[g]; ok {
			r.merge(ob)
			continue
		}
		o := want[g]
		o.kind = classUser
		o.flags &^= fDC | fTrust | fCritical | fAdmin
		o.protGen, o.seen = r.gen, r.gen
	}
	return nil
}

// findByImmutableID finds the users neither objectGUID nor objectSid found.
// ImmutableId is the objectGUID (older Connect Sync) or the ms-DS-ConsistencyGuid.
func (r *Resolver) findByImmutableID(ctx context.Context, b *batch) error {
	immut := map[string]bool{}
	for _, ref := range b.users {
		if ref.obj != nil || ref.settled || !ref.eligible() {
			continue
		}
		if o := r.complete(kindSID, ref.sid); o != nil {
			ref.obj, ref.via = o, viaSID
		} else if ref.immutableID != "" {
			immut[ref.immutableID] = true
		}
	}
	if err := r.lookupImmutable(ctx, immut); err != nil {
		return err
	}
	for _, ref := range b.users {
		if ref.obj == nil && ref.immutableID != "" && !ref.settled {
			if o := r.complete(kindGUID, ref.immutableID); o != nil {
				ref.obj, ref.via = o, viaImmutable
			} else if o := r.complete(kindCGUID, ref.immutableID); o != nil {
				ref.obj, ref.via = o, viaImmutable
			}
		}
	}
	return nil
}

// checkOtherIdentifiers (pass 2b): an identifier that does not name the
// object found is looked up on its own (rare: a SID or immutableId that is
// not the object's); if it names another object, the member is refused.
func (r *Resolver) checkOtherIdentifiers(ctx context.Context, b *batch) error {
	sids, immut := map[string]bool{}, map[string]bool{}
	r.mu.Lock()
	for _, ref := range b.users {
		if ref.settled || ref.obj == nil {
			continue
		}
		if ref.sid != "" && ref.sid != ref.obj.sid {
			sids[ref.sid] = true
		}
		if ref.immutableID != "" && !ref.obj.hasImmutable(ref.immutableID) {
			immut[ref.immutableID] = true
		}
	}
	r.mu.Unlock()
	if err := r.lookup(ctx, kindSID, slices.Sorted(maps.Keys(sids)), r.directory().FindBySIDs); err != nil {
		return fmt.Errorf("find users by objectSid: %w", err)
	}
	return r.lookupImmutable(ctx, immut)
}

// findProtection (pass 2c) reads isCriticalSystemObject and adminCount of
// the users and devices found in the DC's domain, which the Global Catalog
// does not hold.
func (r *Resolver) findProtection(ctx context.Context, b *batch) error {
	prot := map[string]bool{}
	for _, ref := range b.users {
		if !ref.settled && ref.obj != nil && !r.protKnown(ref.obj) {
			prot[ref.obj.guid] = true
		}
	}
	for _, d := range b.devices {
		if d.obj != nil && !r.protKnown(d.obj) {
			prot[d.obj.guid] = true
		}
	}
	return r.lookupProtected(ctx, slices.Sorted(maps.Keys(prot)))
}

// assemble (pass 3) is group gid's result from its members' outcomes.
func (r *Resolver) assemble(b *batch, gid string, members []Member, src Source) Result {
	var res Result
	for _, m := range members {
		typ := normType(m.Type)
		switch typ {
		case "user":
			ref := b.users[m.ID]
			if ref.dn == "" {
				res.Unresolved = append(res.Unresolved, Unresolved{ID: m.ID, Type: typ, Name: ref.name, Reason: ref.reason})
				continue
			}
			res.addDN(ref.dn)
		case "group":
			r.assembleGroup(&res, gid, m, src)
		case "device":
			if !b.wantDevices {
				res.Unresolved = append(res.Unresolved, Unresolved{ID: m.ID, Type: typ, Reason: reasonDevicesOff})
				continue
			}
			d := b.devices[m.ID]
			if d.dn == "" {
				res.Unresolved = append(res.Unresolved, Unresolved{ID: m.ID, Type: typ, Name: d.name, Reason: d.reason})
				continue
			}
			res.addDN(d.dn)
		default:
			t := m.Type
			if t == "" {
				t = "unknown"
			}
			res.Unresolved = append(res.Unresolved, Unresolved{ID: m.ID, Type: t, Reason: "unsupported member type " + t + " (only synced users and devices and cloud security groups are written to AD)"})
		}
	}
	res.DNs = sortUniqueFold(res.DNs)
	sort.Strings(res.Groups)
	return res
}

// assembleGroup adds nested group m of group gid: by ID when it is in
// scope, by DN when it was provisioned earlier, else as unresolved.
func (r *Resolver) assembleGroup(res *Result, gid string, m Member, src Source) {
	const typ = "group"
	gi := src.Group(m.ID)
	if strings.EqualFold(m.ID, gid) {
		res.Unresolved = append(res.Unresolved, Unresolved{ID: m.ID, Type: typ, Name: gi.Name, Reason: "refused: a group cannot be a member of itself"})
		return
	}
	if gi.InScope {
		res.Groups = append(res.Groups, strings.ToLower(m.ID))
		return
	}
	if dn, why, ok := r.anchored("Group_" + strings.ToLower(m.ID)); ok {
		// Provisioned earlier and still in AD (left by policy): keep the reference.
		if why != "" {
			res.Unresolved = append(res.Unresolved, Unresolved{ID: m.ID, Type: typ, Name: gi.Name, Reason: why})
			return
		}
		res.addDN(dn)
		return
	}
	reason := "child group is out of scope and not provisioned"
	if !gi.Known {
		reason = "child group not known to writeback (not returned by Graph groups delta)"
	} else if gi.Why != "" {
		reason = "child group is out of scope (" + gi.Why + "); add it to the scope to provision it"
	}
	res.Unresolved = append(res.Unresolved, Unresolved{ID: m.ID, Type: typ, Name: gi.Name, Reason: reason})
}

// lookupImmutable looks immutableIds up as objectGUIDs, then those not found
// as mS-DS-ConsistencyGuid (on the DC, unindexed: see Resolver).
func (r *Resolver) lookupImmutable(ctx context.Context, immut map[string]bool) error {
	if len(immut) == 0 {
		return nil
	}
	if err := r.lookup(ctx, kindGUID, slices.Sorted(maps.Keys(immut)), r.directory().FindByGUIDs); err != nil {
		return fmt.Errorf("find users by onPremisesImmutableId as objectGUID: %w", err)
	}
	rest := map[string]bool{}
	for g := range immut {
		if r.get(kindGUID, g) == nil {
			rest[g] = true
		}
	}
	if err := r.lookup(ctx, kindCGUID, slices.Sorted(maps.Keys(rest)), r.directory().FindByConsistencyGUIDs); err != nil {
		return fmt.Errorf("find users by mS-DS-ConsistencyGuid: %w", err)
	}
	return nil
}

// lookupProtected asks the DC which of the objects (GUIDs) of its domain are
// critical or protected.
func (r *Resolver) lookupProtected(ctx context.Context, guids []string) error {
	if len(guids) == 0 {
		return nil
	}
	dir := r.directory()
	start := time.Now()
	got, err := dir.Protected(ctx, guids)
	if err != nil {
		return fmt.Errorf("read whether members are critical or protected: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count("protected", len(guids), time.Since(start))
	for _, g := range guids {
		o := r.known[g]
		if o == nil {
			continue
		}
		o.flags &^= fCritical | fAdmin
		switch got[g] {
		case "isCriticalSystemObject":
			o.flags |= fCritical
		case "adminCount":
			o.flags |= fAdmin
		}
		o.protGen = r.gen
	}
	return nil
}

// userRef is one distinct user member of a Resolve call, with only what
// resolution needs (a large round holds one per user of the tenant); dn or
// reason is settled once and shared by all its memberships.
type userRef struct {
	known, synced, anchored bool // in the cache; synced from AD; has any on-premises identifier
	name                    string
	guid, sid, immutableID  string // canonical lookup keys ("" if absent or malformed)
	rawOI, rawSID           string // as Graph spelled them, for the reason (only if not the canonical key)
	rawImmutableID          string
	obj                     *object // the object found
	via                     via     // by which identifier
	settled                 bool
	dn, reason              string
}

// via is the identifier an object was found by.
type via uint8

const (
	viaOI via = iota
	viaSID
	viaImmutable
)

func (v via) String() string {
	return [...]string{"onPremisesObjectIdentifier", "onPremisesSecurityIdentifier", "onPremisesImmutableId"}[v]
}

func newUserRef(u *User) *userRef {
	if u == nil {
		return &userRef{}
	}
	ref := &userRef{known: true, name: u.Name, synced: u.SyncEnabled != nil && *u.SyncEnabled,
		anchored: u.ObjectIdentifier != "" || u.SID != "" || u.ImmutableID != ""}
	if g, ok := canonGUID(u.ObjectIdentifier); ok {
		ref.guid = g
	}
	if g, ok := immutableGUID(u.ImmutableID); ok {
		if g == ref.guid {
			g = ref.guid // usually the same GUID: keep one copy
		}
		ref.immutableID = g
	}
	if s, ok := canonSID(u.SID); ok {
		ref.sid = s
	}
	if u.ObjectIdentifier != ref.guid {
		ref.rawOI = u.ObjectIdentifier
	}
	if u.SID != ref.sid {
		ref.rawSID = u.SID
	}
	ref.rawImmutableID = u.ImmutableID
	return ref
}

// eligible: the user's on-premises identifiers are worth looking up.
func (ref *userRef) eligible() bool { return ref.known && ref.synced && ref.anchored }

func (ref *userRef) dropIDs() {
	ref.guid, ref.sid, ref.immutableID, ref.rawOI, ref.rawSID, ref.rawImmutableID = "", "", "", "", "", ""
	ref.obj = nil
	if ref.dn != "" {
		ref.name = "" // only an unresolved member's report names it
	}
}

// Reasons shared by every member they apply to.
const (
	reasonUnknownUser = "user not known to writeback (not returned by Graph users delta)"
	reasonCloudOnly   = "cloud-only user: no onPremisesObjectIdentifier, onPremisesSecurityIdentifier or onPremisesImmutableId"
	reasonNotSynced   = "refused: cloud-only user (onPremisesSyncEnabled is not true): its on-premises identifiers are not trusted"
)

// settle gives ref its DN, or the reason it has none.
func (r *Resolver) settle(ref *userRef) {
	if ref.settled {
		return
	}
	ref.settled = true
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !ref.known:
		ref.reason = reasonUnknownUser
		return
	case !ref.anchored:
		ref.reason = reasonCloudOnly
		return
	case !ref.synced:
		ref.reason = reasonNotSynced
		return
	}
	o := ref.obj
	if o == nil || o.dn == "" {
		ref.reason = describeAfter("not found in the forest ", &User{ObjectIdentifier: cmp.Or(ref.rawOI, ref.guid), SID: cmp.Or(ref.rawSID, ref.sid), ImmutableID: ref.rawImmutableID})
		if ref.rawSID != "" {
			ref.reason += "; onPremisesSecurityIdentifier " + strconv.Quote(ref.rawSID) + " is not a valid SID"
		}
		return
	}
	if why := r.disagreement(ref); why != "" {
		ref.reason = why
		return
	}
	if why := r.userRefusal(o); why != "" {
		ref.reason = why
		return
	}
	ref.dn = o.dn
}

// agrees: no identifier of ref needs a lookup of its own to be checked
// against the object found.
func (r *Resolver) agrees(ref *userRef) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := ref.obj
	return (ref.sid == "" || ref.sid == o.sid) && (ref.immutableID == "" || o.hasImmutable(ref.immutableID))
}

// hasImmutable: id (an immutableId as a GUID) is o's objectGUID or its known
// mS-DS-ConsistencyGuid.
func (o *object) hasImmutable(id string) bool {
	return id == o.guid || o.flags&fCGUIDKnown != 0 && id == o.cguid
}

// disagreement says why ref's identifiers do not all name the object found:
// one of them names another object. An identifier that names nothing (a
// stale one, a malformed one) does not refuse the member; every identifier
// that names an object must name this one. r.mu is held.
func (r *Resolver) disagreement(ref *userRef) string {
	o := ref.obj
	other := func(kind lookupKind, key string) *object {
		if key == "" {
			return nil
		}
		if x := r.cache[cacheKey{kind, key}]; x != nil && x != o && x.dn != "" {
			return x
		}
		return nil
	}
	for _, c := range []struct {
		name, value string
		x           *object
	}{
		{"onPremisesObjectIdentifier", ref.guid, other(kindGUID, ref.guid)},
		{"onPremisesSecurityIdentifier", ref.sid, other(kindSID, ref.sid)},
		{"onPremisesImmutableId", ref.rawImmutableID, cmpOr(other(kindGUID, ref.immutableID), other(kindCGUID, ref.immutableID))},
	} {
		if c.x != nil {
			return fmt.Sprintf("refused: the user's identifiers name different AD objects: %s %s is %s, but %s names %s", c.name, c.value, c.x.dn, ref.via, o.dn)
		}
	}
	return ""
}

func cmpOr(a, b *object) *object {
	if a != nil {
		return a
	}
	return b
}

// protKnown: whether o is critical or protected is known for this
// generation, or cannot be known (o is not in the DC's domain: the GC does
// not hold those attributes), or does not matter (o is refused anyway).
func (r *Resolver) protKnown(o *object) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o.protGen == r.gen || o.kind != classUser && o.kind != classInetOrgPerson && o.kind != classComputer {
		return true
	}
	d := ""
	if r.dir != nil {
		d = r.dir.Domain()
	}
	return d != "" && !strings.EqualFold(ldapdn.DomainNC(o.dn), d)
}

// userRefusal says why a user member may not be o, or ""; r.mu is held.
func (r *Resolver) userRefusal(o *object) string {
	switch o.kind {
	case classUser:
	case classInetOrgPerson:
		if !r.inetOrg {
			return "refused: " + o.dn + " is an inetOrgPerson, not a user (set members.inetOrgPerson: true to allow them)"
		}
	case classComputer:
		return "refused: " + o.dn + " is a computer account, not a user"
	case classGroup:
		return "refused: " + o.dn + " is a group, not a user"
	case classContact:
		return "refused: " + o.dn + " is a contact, not a user"
	case kindUnknownClass:
		return "refused: the class of " + o.dn + " could not be read"
	default:
		return "refused: " + o.dn + " is not a user object"
	}
	return r.privileged(o)
}

// deviceRefusal says why a device member may not be o, or "": only a
// computer object that is not a domain controller, nor a well-known or
// critical principal (the rules users get); r.mu is held.
func (r *Resolver) deviceRefusal(o *object) string {
	switch o.kind {
	case classComputer:
		return r.privileged(o)
	case classUser, classInetOrgPerson:
		return "refused: " + o.dn + " is a user, not a computer"
	case classGroup:
		return "refused: " + o.dn + " is a group, not a computer"
	case classContact:
		return "refused: " + o.dn + " is a contact, not a computer"
	case kindUnknownClass:
		return "refused: the class of " + o.dn + " could not be read"
	}
	return "refused: " + o.dn + " is not a computer object"
}

// groupRefusal says why a group found by anchor may not be a member, or "";
// r.mu is held.
func (r *Resolver) groupRefusal(o *object) string {
	if o.kind != classGroup {
		return "refused: " + o.dn + " carries the group's anchor but is not a group"
	}
	return r.privileged(o)
}

// privileged says why o is a well-known or critical principal that no
// member may resolve to unless the configuration allows it; r.mu is held.
func (r *Resolver) privileged(o *object) string {
	if r.allowDN[ldapdn.Norm(o.dn)] || o.sid != "" && r.allowSID[o.sid] {
		return ""
	}
	const allow = " (name it in members.allow to permit it)"
	rid, domainSID := ad.RID(o.sid)
	rdn := strings.ToLower(ldapdn.RDNValue(o.dn))
	switch {
	case ad.InBuiltin(o.dn):
		return "refused: " + o.dn + " is a built-in principal (CN=Builtin)" + allow
	case o.sid != "" && !domainSID:
		return "refused: " + o.dn + " has the well-known SID " + o.sid + allow
	case rid == 502 || rdn == "krbtgt" || strings.HasPrefix(rdn, "krbtgt_"):
		return "refused: " + o.dn + " is a Kerberos krbtgt account" + allow
	case o.sid != "" && rid < ad.FirstUserRID:
		return "refused: " + o.dn + " is a well-known principal (RID " + strconv.FormatUint(uint64(rid), 10) + ")" + allow
	case o.flags&fDC != 0:
		return "refused: " + o.dn + " is a domain controller account" + allow
	case o.flags&fTrust != 0:
		return "refused: " + o.dn + " is an interdomain trust account" + allow
	case o.flags&fCritical != 0:
		return "refused: " + o.dn + " is a critical system object (isCriticalSystemObject=TRUE)" + allow
	case o.flags&fAdmin != 0:
		return "refused: " + o.dn + " is protected by AdminSDHolder (adminCount=1)" + allow
	}
	return ""
}

// canonSID validates an onPremisesSecurityIdentifier ("S-1-5-21-...") and
// upper-cases it; malformed values (D5: "garbage", "S-1-5-21-x", a trailing
// space, a sub-authority over 2^32) are that member's problem, never the
// lookup's.
func canonSID(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	b, err := ad.SIDToAD(s)
	if err != nil {
		return "", false
	}
	c, err := ad.SIDFromAD(b)
	if err != nil {
		return "", false
	}
	return strings.ToUpper(c), true
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

// anchored returns the DN of the object found by anchor, or why it may not
// be a member; ok is false when nothing carries the anchor.
func (r *Resolver) anchored(anchor string) (dn, why string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.cache[cacheKey{kindAnchor, anchor}]
	if o == nil || o.dn == "" {
		return "", "", false
	}
	return o.dn, r.groupRefusal(o), true
}

// Anchors finds groups by anchor (Group_<id>) through the cache and the
// directory; it returns anchor -> DN for those found. An object carrying the
// anchor that is not a group, or is a well-known or critical group, is left
// out (see docs/trust.md).
func (r *Resolver) Anchors(ctx context.Context, anchors []string) (map[string]string, error) {
	norm := make([]string, len(anchors))
	for i, a := range anchors {
		norm[i] = "Group_" + strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(a, "Group_"), "group_"))
	}
	if err := r.lookup(ctx, kindAnchor, norm, r.directory().FindByAnchors); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, a := range norm {
		if dn, why, ok := r.anchored(a); ok && why == "" {
			out[a] = dn
		}
	}
	return out, nil
}

// lookup asks the directory for the keys of want that are not cached (nor,
// for consistency GUIDs, remembered as misses) and files what it returns.
func (r *Resolver) lookup(ctx context.Context, kind lookupKind, want []string, find func(context.Context, []string) (map[string]Object, error)) error {
	var miss []string
	r.mu.Lock()
	for _, k := range want {
		if o := r.cache[cacheKey{kind, k}]; o != nil && o.kind != kindUnknownClass || r.missed[cacheKey{kind, k}] {
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
	r.count(kind.String(), len(miss), time.Since(start))
	if kind == kindCGUID && len(got) < len(miss) {
		for _, k := range miss {
			if _, ok := got[k]; !ok {
				r.missed[cacheKey{kind, k}] = true
			}
		}
		r.missedVer++
	}
	for k, ob := range got {
		o := r.merge(ob)
		if o == nil {
			continue
		}
		switch kind {
		case kindSID:
			k = strings.ToUpper(k)
		case kindAnchor:
			k = "Group_" + strings.TrimPrefix(strings.ToLower(k), "group_")
		default:
			k = strings.ToLower(k)
		}
		if kind == kindCGUID {
			o.cguid = k
			o.flags |= fCGUIDKnown
		}
		r.index(kind, k, o)
	}
	return nil
}

// count records a directory call; r.mu is held.
func (r *Resolver) count(kind string, n int, took time.Duration) {
	r.stats.Lookups++
	if r.stats.Asked == nil {
		r.stats.Asked, r.stats.Took = map[string]int{}, map[string]time.Duration{}
	}
	r.stats.Asked[kind] += n
	r.stats.Took[kind] += took
}

// get reads the cache.
func (r *Resolver) get(kind lookupKind, key string) *object {
	if key == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cache[cacheKey{kind, key}]
}

// complete returns the cached object under key if its class is known and it
// has a DN.
func (r *Resolver) complete(kind lookupKind, key string) *object {
	if key == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if o := r.cache[cacheKey{kind, key}]; o != nil && o.kind != kindUnknownClass && o.dn != "" {
		return o
	}
	return nil
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

// describeAfter is prefix + "(objectGUID …, objectSid …, immutableId …)" in one allocation: a large round
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

// deviceRef is one distinct device member of a Resolve call.
type deviceRef struct {
	known, synced bool
	unreadable    string
	name          string
	sid, rawSID   string // canonical lookup key; as Graph spelled it
	obj           *object
	dn, reason    string
}

func newDeviceRef(d *Device) *deviceRef {
	if d == nil {
		return &deviceRef{}
	}
	ref := &deviceRef{known: true, name: d.Name, synced: d.SyncEnabled != nil && *d.SyncEnabled, rawSID: d.SID, unreadable: d.Unreadable}
	if s, ok := canonSID(d.SID); ok {
		ref.sid = s
	}
	return ref
}

// eligible: the device's SID is worth looking up. A cloud-only device's
// SID, whoever wrote it, is never followed (docs/trust.md).
func (d *deviceRef) eligible() bool { return d.known && d.unreadable == "" && d.synced && d.sid != "" }

// Reasons for device members.
const (
	reasonDevicesOff      = "device members are not written (members.devices is false)"
	reasonUnknownDevice   = "device not known to writeback (not read from Graph)"
	reasonCloudOnlyDevice = "cloud-only device (onPremisesSyncEnabled is not true): it has no computer object in AD"
	reasonDeviceNoSID     = "device synced from AD without onPremisesSecurityIdentifier: its computer object cannot be found"
)

// settleDevice gives d its DN, or the reason it has none.
func (r *Resolver) settleDevice(d *deviceRef) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !d.known:
		d.reason = reasonUnknownDevice
	case d.unreadable != "":
		d.reason = "device could not be read from Graph: " + d.unreadable
	case !d.synced:
		d.reason = reasonCloudOnlyDevice
	case d.rawSID == "":
		d.reason = reasonDeviceNoSID
	case d.sid == "":
		d.reason = "not found in the forest; onPremisesSecurityIdentifier " + strconv.Quote(d.rawSID) + " is not a valid SID"
	case d.obj == nil || d.obj.dn == "":
		d.reason = "not found in the forest (objectSid " + d.sid + ")"
	default:
		if why := r.deviceRefusal(d.obj); why != "" {
			d.reason = why
			return
		}
		d.dn = d.obj.dn
	}
}

// Package emulator is writeback's Microsoft Graph emulator, a test instrument:
// an HTTPS server with an OAuth2 client-credentials token endpoint, the
// discovery documents MSAL reads, and the Graph v1.0 endpoints writeback uses
// (groups and users delta, groups, members, directoryObjects/getByIds), with
// Graph's JSON shapes, paging, errors and throttling, plus an admin API under
// /_emulator/ that lets tests and demos act as the tenant.
//
// Nothing in writeback's production path imports this package.
package emulator

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Group is a group as the tenant file and the admin API write it.
type Group struct {
	ID                    string   `json:"id"`
	DisplayName           string   `json:"displayName"`
	Description           string   `json:"description,omitempty"`
	MailNickname          string   `json:"mailNickname,omitempty"`
	Mail                  string   `json:"mail,omitempty"`
	SecurityEnabled       bool     `json:"securityEnabled"`
	MailEnabled           bool     `json:"mailEnabled"`
	GroupTypes            []string `json:"groupTypes,omitempty"`
	OnPremisesSyncEnabled *bool    `json:"onPremisesSyncEnabled,omitempty"`
	// IsCloudManaged is onPremisesSyncBehavior.isCloudManaged: the group's
	// source of authority was converted to the cloud (SOA). Such a group
	// keeps its on-premises identity (onPremisesSecurityIdentifier,
	// onPremisesSamAccountName, onPremisesDomainName, given in Extra).
	IsCloudManaged  bool           `json:"isCloudManaged,omitempty"`
	Visibility      string         `json:"visibility,omitempty"`
	CreatedDateTime string         `json:"createdDateTime,omitempty"`
	Extra           map[string]any `json:"extra,omitempty"` // more properties, served as given
	// Members are member object IDs (users, groups, other objects). In the
	// admin API's responses and in Snapshot they are filled; on PATCH ignored.
	Members []string `json:"members,omitempty"`
	// Owners are the object IDs of the group's owners (users, service
	// principals), in order; served by GET /groups/{id}/owners.
	Owners []string `json:"owners,omitempty"`
}

// User is a user as the tenant file and the admin API write it.
type User struct {
	ID                           string         `json:"id"`
	DisplayName                  string         `json:"displayName"`
	UserPrincipalName            string         `json:"userPrincipalName"`
	Mail                         string         `json:"mail,omitempty"`
	GivenName                    string         `json:"givenName,omitempty"`
	Surname                      string         `json:"surname,omitempty"`
	AccountEnabled               *bool          `json:"accountEnabled,omitempty"`
	OnPremisesSyncEnabled        *bool          `json:"onPremisesSyncEnabled,omitempty"`
	OnPremisesObjectIdentifier   string         `json:"onPremisesObjectIdentifier,omitempty"`
	OnPremisesSecurityIdentifier string         `json:"onPremisesSecurityIdentifier,omitempty"`
	OnPremisesImmutableId        string         `json:"onPremisesImmutableId,omitempty"`
	OnPremisesDistinguishedName  string         `json:"onPremisesDistinguishedName,omitempty"`
	OnPremisesDomainName         string         `json:"onPremisesDomainName,omitempty"`
	OnPremisesSamAccountName     string         `json:"onPremisesSamAccountName,omitempty"`
	OnPremisesUserPrincipalName  string         `json:"onPremisesUserPrincipalName,omitempty"`
	CreatedDateTime              string         `json:"createdDateTime,omitempty"`
	Extra                        map[string]any `json:"extra,omitempty"`
}

// Object is any other directory object that can be a member: a device, an
// orgContact or a servicePrincipal. writeback cannot provision these, which is
// why tenants carry a few.
type Object struct {
	ID          string `json:"id"`
	Type        string `json:"type"` // device, orgContact, servicePrincipal
	DisplayName string `json:"displayName"`
	// A device synced from AD (hybrid joined) carries its computer
	// object's objectSid and onPremisesSyncEnabled true; a cloud-only
	// (Entra joined or registered) device carries neither.
	OnPremisesSecurityIdentifier string `json:"onPremisesSecurityIdentifier,omitempty"`
	OnPremisesSyncEnabled        *bool  `json:"onPremisesSyncEnabled,omitempty"`
}

// TenantFile is the tenant file (JSON or YAML) and the export of the admin API.
type TenantFile struct {
	TenantID string   `json:"tenantId"`
	Users    []User   `json:"users,omitempty"`
	Groups   []Group  `json:"groups,omitempty"`
	Objects  []Object `json:"objects,omitempty"`
}

type kind uint8

const (
	kindUser kind = iota + 1
	kindGroup
	kindObject
)

type state uint8

const (
	live state = iota
	softDeleted
	hardDeleted
)

type memberChange struct {
	Seq    uint64 `json:"s"`
	Member int32  `json:"m"`
	Added  bool   `json:"a,omitempty"`
}

// entry is one directory object with its change bookkeeping. Members are
// indexes into Tenant.entries so a 500,000-membership tenant stays small.
type entry struct {
	idx   int32
	kind  kind
	user  *User
	group *Group
	obj   *Object
	state state
	// created: seq of creation or restore (a delta since before it sends all
	// members); changed: last property change; removed: seq of deletion.
	created, changed, removed, memberChanged uint64
	members                                  map[int32]struct{}
	sorted                                   []int32 // members in order; nil when stale
	// sortMu guards building sorted: readers holding only the tenant's read
	// lock may build it concurrently. Writers reset it under the write lock.
	sortMu   sync.Mutex
	log      []memberChange
	memberOf []int32 // groups it was in when soft-deleted, for restore
	// propChanged is the seq of each user property's last change, for
	// partial updates in incremental users delta (Options.PartialUserUpdates).
	propChanged map[string]uint64
}

func (e *entry) id() string {
	switch e.kind {
	case kindUser:
		return e.user.ID
	case kindGroup:
		return e.group.ID
	}
	return e.obj.ID
}

func (e *entry) odataType() string {
	switch e.kind {
	case kindUser:
		return "#microsoft.graph.user"
	case kindGroup:
		return "#microsoft.graph.group"
	}
	return "#microsoft.graph." + e.obj.Type
}

func (e *entry) sortedMembers() []int32 {
	e.sortMu.Lock()
	defer e.sortMu.Unlock()
	if e.sorted == nil {
		s := make([]int32, 0, len(e.members))
		for m := range e.members {
			s = append(s, m)
		}
		slices.Sort(s)
		e.sorted = s
	}
	return e.sorted
}

// lastChange is the newest seq that a delta must report for this entry.
func (e *entry) lastChange() uint64 {
	return max(e.created, e.changed, e.removed, e.memberChanged)
}

// Tenant is the emulated directory. All methods are safe for concurrent use.
type Tenant struct {
	mu       sync.RWMutex
	tenantID string
	epoch    string // identifies this tenant's change history in delta tokens
	seq      uint64 // last change
	minSeq   uint64 // delta tokens older than this are expired
	entries  []*entry
	byID     map[string]int32
	groups   []int32 // creation order, all states
	users    []int32
	onChange func() // persistence hook, called with mu held for writing
}

// Errors of admin operations.
var (
	ErrNotFound = errors.New("no such object")
	ErrExists   = errors.New("object ID already exists")
	ErrState    = errors.New("object is in the wrong state for this")
)

// NewTenant builds a tenant from a file's content. Members must name objects
// in the file (a member ID not found is an error naming group and member).
func NewTenant(f TenantFile) (*Tenant, error) {
	t := &Tenant{tenantID: f.TenantID, byID: make(map[string]int32), epoch: newID()[:8]}
	if t.tenantID == "" {
		t.tenantID = newID()
	}
	t.seq = 1
	for _, u := range f.Users {
		if _, err := t.addUser(u); err != nil {
			return nil, err
		}
	}
	for _, o := range f.Objects {
		if _, err := t.addObject(o); err != nil {
			return nil, err
		}
	}
	created := make([]*entry, len(f.Groups))
	for i, g := range f.Groups {
		e, err := t.addGroup(g, nil)
		if err != nil {
			return nil, err
		}
		created[i] = e
	}
	// Members after all groups exist, so nested groups may come in any order.
	for i, g := range f.Groups {
		e := created[i]
		for _, m := range g.Members {
			mi, ok := t.byID[strings.ToLower(m)]
			if !ok {
				return nil, fmt.Errorf("group %s (%q): member %s is not a user, group or object in the tenant file", e.id(), g.DisplayName, m)
			}
			if mi == e.idx {
				return nil, fmt.Errorf("group %s (%q) lists itself as a member", e.id(), g.DisplayName)
			}
			e.members[mi] = struct{}{}
		}
	}
	// Initial load is the state at seq 1, with no logged member changes.
	for _, e := range t.entries {
		e.created, e.changed = 1, 1
	}
	return t, nil
}

// TenantID is the directory (tenant) ID.
func (t *Tenant) TenantID() string { return t.tenantID }

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (t *Tenant) bump() uint64 {
	t.seq++
	return t.seq
}

func (t *Tenant) changed() {
	if t.onChange != nil {
		t.onChange()
	}
}

func (t *Tenant) newEntry(k kind, id string) (*entry, error) {
	key := strings.ToLower(id)
	if _, dup := t.byID[key]; dup {
		return nil, fmt.Errorf("%w: %s", ErrExists, id)
	}
	e := &entry{idx: int32(len(t.entries)), kind: k}
	t.entries = append(t.entries, e)
	t.byID[key] = e.idx
	return e, nil
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

func (t *Tenant) addUser(u User) (*entry, error) {
	if u.ID == "" {
		u.ID = newID()
	}
	if u.CreatedDateTime == "" {
		u.CreatedDateTime = now()
	}
	e, err := t.newEntry(kindUser, u.ID)
	if err != nil {
		return nil, err
	}
	e.user = &u
	t.users = append(t.users, e.idx)
	return e, nil
}

func (t *Tenant) addObject(o Object) (*entry, error) {
	if o.ID == "" {
		o.ID = newID()
	}
	switch o.Type {
	case "device", "orgContact", "servicePrincipal":
	default:
		return nil, fmt.Errorf("object %s: type %q: want device, orgContact or servicePrincipal", o.ID, o.Type)
	}
	e, err := t.newEntry(kindObject, o.ID)
	if err != nil {
		return nil, err
	}
	e.obj = &o
	return e, nil
}

func (t *Tenant) addGroup(g Group, members []string) (*entry, error) {
	if g.ID == "" {
		g.ID = newID()
	}
	if g.CreatedDateTime == "" {
		g.CreatedDateTime = now()
	}
	if g.DisplayName == "" {
		return nil, fmt.Errorf("group %s: displayName is required", g.ID)
	}
	idx := make([]int32, 0, len(members))
	for _, m := range members {
		mi, ok := t.byID[strings.ToLower(m)]
		if !ok || t.entries[mi].state != live {
			return nil, fmt.Errorf("group %s: member %s: %w", g.ID, m, ErrNotFound)
		}
		idx = append(idx, mi)
	}
	g.Members = nil
	e, err := t.newEntry(kindGroup, g.ID)
	if err != nil {
		return nil, err
	}
	e.group = &g
	e.members = make(map[int32]struct{}, len(idx))
	for _, m := range idx {
		e.members[m] = struct{}{}
	}
	t.groups = append(t.groups, e.idx)
	return e, nil
}

// AddUser creates a user (ID generated when empty) and returns it.
func (t *Tenant) AddUser(u User) (User, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.addUser(u)
	if err != nil {
		return User{}, err
	}
	s := t.bump()
	e.created, e.changed = s, s
	t.changed()
	return *e.user, nil
}

// AddObject creates a device, orgContact or servicePrincipal.
func (t *Tenant) AddObject(o Object) (Object, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.addObject(o)
	if err != nil {
		return Object{}, err
	}
	s := t.bump()
	e.created, e.changed = s, s
	t.changed()
	return *e.obj, nil
}

// AddGroup creates a group with g.Members as its members and returns it.
func (t *Tenant) AddGroup(g Group) (Group, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.addGroup(g, g.Members)
	if err != nil {
		return Group{}, err
	}
	s := t.bump()
	e.created, e.changed = s, s
	t.changed()
	return t.groupSnapshot(e), nil
}

func (t *Tenant) lookup(id string, k kind) (*entry, error) {
	i, ok := t.byID[strings.ToLower(id)]
	if !ok || t.entries[i].kind != k {
		return nil, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	return t.entries[i], nil
}

// UpdateGroup changes a live group's properties: fn gets a copy to edit.
// ID and Members changes are ignored (use AddMembers/RemoveMembers).
func (t *Tenant) UpdateGroup(id string, fn func(*Group)) (Group, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.lookup(id, kindGroup)
	if err != nil {
		return Group{}, err
	}
	if e.state != live {
		return Group{}, fmt.Errorf("update group %s: %w (deleted)", id, ErrState)
	}
	g := *e.group
	fn(&g)
	g.ID, g.Members = e.group.ID, nil
	e.group = &g
	e.changed = t.bump()
	t.changed()
	return t.groupSnapshot(e), nil
}

// UpdateUser changes a live user's properties: fn gets a copy to edit.
func (t *Tenant) UpdateUser(id string, fn func(*User)) (User, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.lookup(id, kindUser)
	if err != nil {
		return User{}, err
	}
	if e.state != live {
		return User{}, fmt.Errorf("update user %s: %w (deleted)", id, ErrState)
	}
	before := e.render(nil, false)
	for k, v := range e.user.Extra {
		before[k] = v
	}
	u := *e.user
	fn(&u)
	u.ID = e.user.ID
	e.user = &u
	e.changed = t.bump()
	after := e.render(nil, false)
	for k, v := range e.user.Extra {
		after[k] = v
	}
	if e.propChanged == nil {
		e.propChanged = map[string]uint64{}
	}
	for k := range mergeKeys(before, after) {
		if fmt.Sprint(before[k]) != fmt.Sprint(after[k]) {
			e.propChanged[k] = e.changed
		}
	}
	t.changed()
	return u, nil
}

func (t *Tenant) setMember(g *entry, m int32, add bool, seq uint64) bool {
	_, has := g.members[m]
	if has == add {
		return false
	}
	if add {
		g.members[m] = struct{}{}
	} else {
		delete(g.members, m)
	}
	g.sorted = nil
	g.log = append(g.log, memberChange{Seq: seq, Member: m, Added: add})
	g.memberChanged = seq
	return true
}

func mergeKeys(a, b map[string]any) map[string]bool {
	out := make(map[string]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// AddMembers adds members (users, groups or objects) to a group. Members
// already present are ignored.
func (t *Tenant) AddMembers(groupID string, memberIDs ...string) error {
	return t.changeMembers(groupID, memberIDs, true)
}

// RemoveMembers removes members from a group. Absent members are ignored.
func (t *Tenant) RemoveMembers(groupID string, memberIDs ...string) error {
	return t.changeMembers(groupID, memberIDs, false)
}

func (t *Tenant) changeMembers(groupID string, memberIDs []string, add bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, err := t.lookup(groupID, kindGroup)
	if err != nil {
		return err
	}
	if g.state != live {
		return fmt.Errorf("group %s: %w (deleted)", groupID, ErrState)
	}
	idx := make([]int32, 0, len(memberIDs))
	for _, m := range memberIDs {
		mi, ok := t.byID[strings.ToLower(m)]
		if !ok || (add && t.entries[mi].state != live) {
			return fmt.Errorf("group %s: member %s: %w", groupID, m, ErrNotFound)
		}
		if mi == g.idx {
			return fmt.Errorf("group %s cannot be a member of itself", groupID)
		}
		idx = append(idx, mi)
	}
	s := t.bump()
	for _, mi := range idx {
		t.setMember(g, mi, add, s)
	}
	t.changed()
	return nil
}

// DeleteGroup deletes a group. Like Entra, only a Microsoft 365 (Unified)
// group can be soft-deleted (restorable; delta reports "@removed":
// {"reason": "changed"}); a security group is deleted permanently at once
// ("reason": "deleted"), whatever permanent says. A soft-deleted group can be
// deleted permanently afterwards.
func (t *Tenant) DeleteGroup(id string, permanent bool) error { return t.del(id, kindGroup, permanent) }

// DeleteUser deletes a user, soft or permanently, removing it from its groups
// (a soft-deleted user's memberships come back on restore).
func (t *Tenant) DeleteUser(id string, permanent bool) error { return t.del(id, kindUser, permanent) }

// RestoreGroup restores a soft-deleted group with its members and memberships.
func (t *Tenant) RestoreGroup(id string) error { return t.restore(id, kindGroup) }

// RestoreUser restores a soft-deleted user and its memberships.
func (t *Tenant) RestoreUser(id string) error { return t.restore(id, kindUser) }

func (t *Tenant) del(id string, k kind, permanent bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.lookup(id, k)
	if err != nil {
		return err
	}
	switch {
	case e.state == hardDeleted, e.state == softDeleted && !permanent:
		return fmt.Errorf("delete %s: %w (already deleted)", id, ErrState)
	}
	if k == kindGroup && !slices.ContainsFunc(e.group.GroupTypes, func(t string) bool { return strings.EqualFold(t, "Unified") }) {
		permanent = true // no recycle bin for security groups
	}
	s := t.bump()
	if e.state == live {
		// Graph drops a deleted object from every group it was in.
		e.memberOf = e.memberOf[:0]
		for _, gi := range t.groups {
			g := t.entries[gi]
			if g.state == live && t.setMember(g, e.idx, false, s) {
				e.memberOf = append(e.memberOf, gi)
			}
		}
	}
	if permanent {
		e.state = hardDeleted
		e.memberOf = nil
		if e.members != nil {
			clear(e.members)
			e.sorted = nil
		}
	} else {
		e.state = softDeleted
	}
	e.removed = s
	t.changed()
	return nil
}

func (t *Tenant) restore(id string, k kind) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.lookup(id, k)
	if err != nil {
		return err
	}
	if e.state != softDeleted {
		return fmt.Errorf("restore %s: %w (only a soft-deleted object can be restored)", id, ErrState)
	}
	s := t.bump()
	e.state = live
	e.created, e.changed = s, s
	for _, gi := range e.memberOf {
		if g := t.entries[gi]; g.state == live {
			t.setMember(g, e.idx, true, s)
		}
	}
	e.memberOf = nil
	t.changed()
	return nil
}

// ExpireDeltaTokens makes every delta and skip token issued so far invalid,
// as Graph does after its retention period; clients must do a full round.
func (t *Tenant) ExpireDeltaTokens() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.minSeq = t.bump()
	t.changed()
}

// Group returns a live or soft-deleted group with its member IDs.
func (t *Tenant) Group(id string) (Group, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, err := t.lookup(id, kindGroup)
	if err != nil || e.state == hardDeleted {
		return Group{}, false
	}
	return t.groupSnapshot(e), true
}

// User returns a live or soft-deleted user.
func (t *Tenant) User(id string) (User, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, err := t.lookup(id, kindUser)
	if err != nil || e.state == hardDeleted {
		return User{}, false
	}
	return *e.user, true
}

func (t *Tenant) groupSnapshot(e *entry) Group {
	g := *e.group
	g.Members = make([]string, 0, len(e.members))
	for _, m := range e.sortedMembers() {
		g.Members = append(g.Members, t.entries[m].id())
	}
	return g
}

// Counts summarizes the tenant.
type Counts struct {
	TenantID    string `json:"tenantId"`
	Users       int    `json:"users"`
	Groups      int    `json:"groups"`
	Memberships int    `json:"memberships"`
	Deleted     int    `json:"softDeleted"`
	Seq         uint64 `json:"changeSeq"`
}

// Counts returns object counts (live objects; soft-deleted counted apart).
func (t *Tenant) Counts() Counts {
	t.mu.RLock()
	defer t.mu.RUnlock()
	c := Counts{TenantID: t.tenantID, Seq: t.seq}
	for _, e := range t.entries {
		switch {
		case e.state == softDeleted:
			c.Deleted++
		case e.state != live:
		case e.kind == kindUser:
			c.Users++
		case e.kind == kindGroup:
			c.Groups++
			c.Memberships += len(e.members)
		}
	}
	return c
}

// Export writes the live tenant as a tenant file.
func (t *Tenant) Export() TenantFile {
	t.mu.RLock()
	defer t.mu.RUnlock()
	f := TenantFile{TenantID: t.tenantID}
	for _, e := range t.entries {
		if e.state != live {
			continue
		}
		switch e.kind {
		case kindUser:
			f.Users = append(f.Users, *e.user)
		case kindGroup:
			f.Groups = append(f.Groups, t.groupSnapshot(e))
		case kindObject:
			f.Objects = append(f.Objects, *e.obj)
		}
	}
	return f
}

// sortedIndex returns the position of the first element of list greater than after.
func sortedIndex(list []int32, after int32) int {
	return sort.Search(len(list), func(i int) bool { return list[i] > after })
}

package resolve

import (
	"context"
	"encoding/base64"
	"hash/fnv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeDir is an in-memory forest that counts its calls. Objects are users
// unless objs says otherwise; an object's GUID and SID are the keys that
// name it in guid and sid.
type fakeDir struct {
	guid, sid, anchor, cguid map[string]string // key -> DN
	objs                     map[string]Object // DN -> what differs from a plain user
	prot                     map[string]string // GUID -> isCriticalSystemObject / adminCount
	domain                   string
	calls, cguidCalls        int
	protAsked                []string
	plainAsked               []string // NotPlainUsers
	batchSizes               []int
	mu                       sync.Mutex // TestConcurrentResolve
}

func (f *fakeDir) object(dn string) Object {
	o, ok := f.objs[dn]
	if !ok {
		o.Classes = []string{"top", "person", "organizationalPerson", "user"}
	}
	o.DN = dn
	for k, d := range f.guid {
		if d == dn && o.GUID == "" {
			o.GUID = k
		}
	}
	if o.GUID == "" {
		o.GUID = fakeGUID(dn)
	}
	for k, d := range f.sid {
		if d == dn && o.SID == "" {
			o.SID = strings.ToUpper(k)
		}
	}
	return o
}

// fakeGUID makes a GUID for an object known by DN only.
func fakeGUID(dn string) string {
	h := fnv.New128a()
	h.Write([]byte(strings.ToLower(dn)))
	return GUIDFromBytes(h.Sum(nil))
}

func (f *fakeDir) find(m map[string]string, keys []string) (map[string]Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.batchSizes = append(f.batchSizes, len(keys))
	out := map[string]Object{}
	for _, k := range keys {
		if dn, ok := m[k]; ok {
			out[k] = f.object(dn)
		}
	}
	return out, nil
}
func (f *fakeDir) FindByGUIDs(_ context.Context, k []string) (map[string]Object, error) {
	return f.find(f.guid, k)
}
func (f *fakeDir) FindBySIDs(_ context.Context, k []string) (map[string]Object, error) {
	return f.find(f.sid, k)
}
func (f *fakeDir) FindByAnchors(_ context.Context, k []string) (map[string]Object, error) {
	return f.find(f.anchor, k)
}
func (f *fakeDir) FindByConsistencyGUIDs(_ context.Context, k []string) (map[string]Object, error) {
	f.mu.Lock()
	f.cguidCalls++
	f.mu.Unlock()
	return f.find(f.cguid, k)
}
func (f *fakeDir) Protected(_ context.Context, guids []string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.protAsked = append(f.protAsked, guids...)
	out := map[string]string{}
	for _, g := range guids {
		if a, ok := f.prot[g]; ok {
			out[g] = a
		}
	}
	return out, nil
}
func (f *fakeDir) Domain() string { return f.domain }

// NotPlainUsers answers as the DC does: of the objects it holds by those
// GUIDs, those that are not plain users.
func (f *fakeDir) NotPlainUsers(_ context.Context, guids []string) (map[string]Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.plainAsked = append(f.plainAsked, guids...)
	var dns []string
	for _, m := range []map[string]string{f.guid, f.sid, f.anchor, f.cguid} {
		for _, dn := range m {
			dns = append(dns, dn)
		}
	}
	want := map[string]bool{}
	for _, g := range guids {
		want[g] = true
	}
	out := map[string]Object{}
	for _, dn := range dns {
		o := f.object(dn)
		if !want[o.GUID] {
			continue
		}
		no, yes := false, true
		o.Critical, o.AdminCount = &no, &no
		switch f.prot[o.GUID] {
		case "isCriticalSystemObject":
			o.Critical = &yes
		case "adminCount":
			o.AdminCount = &yes
		}
		plain := classify(o.Classes) == classUser && o.UserAccountControl&(uacServerTrust|uacInterdomainTrust) == 0 &&
			o.PrimaryGroupID != ridDomainControllers && o.PrimaryGroupID != ridReadOnlyControllers && f.prot[o.GUID] == ""
		if !plain {
			o.ConsistencyGUIDKnown = true
			out[o.GUID] = o
		}
	}
	return out, nil
}

// fakeSrc is the cloud cache. Its users are synced from AD unless they say
// otherwise (SyncEnabled set).
type fakeSrc struct {
	users  map[string]*User
	groups map[string]GroupInfo
}

func (s fakeSrc) User(id string) (*User, error) {
	u := s.users[id]
	if u != nil && u.SyncEnabled == nil {
		c := *u
		on := true
		c.SyncEnabled = &on
		u = &c
	}
	return u, nil
}
func (s fakeSrc) Group(id string) GroupInfo { return s.groups[id] }

func TestResolve(t *testing.T) {
	const (
		g1 = "11111111-2222-3333-4444-555555555555"
		g3 = "0a0b0c0d-0e0f-1011-1213-141516171819"
	)
	// Immutable ID = base64 of the AD byte layout of g3.
	raw := []byte{0x0d, 0x0c, 0x0b, 0x0a, 0x0f, 0x0e, 0x11, 0x10, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19}
	if GUIDFromBytes(raw) != g3 {
		t.Fatalf("GUIDFromBytes = %s", GUIDFromBytes(raw))
	}
	dir := &fakeDir{
		guid:   map[string]string{g1: "CN=byGUID,DC=x"},
		sid:    map[string]string{"S-1-5-21-1-2-3-1001": "CN=bySID,DC=x"},
		cguid:  map[string]string{g3: "CN=byConsistency,DC=x"},
		anchor: map[string]string{"Group_old": "CN=OldGroup,DC=x"},
		objs:   map[string]Object{"CN=OldGroup,DC=x": {SID: "S-1-5-21-1-2-3-1400", Classes: []string{"top", "group"}}},
	}
	src := fakeSrc{
		users: map[string]*User{
			"u1": {ID: "u1", ObjectIdentifier: strings.ToUpper(g1)},
			"u2": {ID: "u2", ObjectIdentifier: "99999999-9999-9999-9999-999999999999", SID: "s-1-5-21-1-2-3-1001"},
			"u3": {ID: "u3", ImmutableID: base64.StdEncoding.EncodeToString(raw)},
			"u4": {ID: "u4", Name: "cloud@x"},
			"u5": {ID: "u5", SID: "S-1-5-21-9-9-9-9"},
		},
		groups: map[string]GroupInfo{
			"child": {Known: true, InScope: true},
			"old":   {Known: true, Why: "not a security group"},
			"out":   {Known: true, Why: "not selected"},
		},
	}
	r := New(dir)
	got, err := r.Resolve(context.Background(), map[string][]Member{
		"g": {
			{ID: "u1", Type: "user"}, {ID: "u2", Type: "user"}, {ID: "u3", Type: "#microsoft.graph.user"},
			{ID: "u4", Type: "user"}, {ID: "u5", Type: "user"}, {ID: "nobody", Type: "user"},
			{ID: "child", Type: "group"}, {ID: "old", Type: "group"}, {ID: "out", Type: "group"},
			{ID: "d1", Type: "device"},
		},
	}, src)
	if err != nil {
		t.Fatal(err)
	}
	res := got["g"]
	if diff := cmp.Diff([]string{"CN=OldGroup,DC=x", "CN=byConsistency,DC=x", "CN=byGUID,DC=x", "CN=bySID,DC=x"}, res.DNs); diff != "" {
		t.Errorf("DNs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"child"}, res.Groups); diff != "" {
		t.Errorf("Groups (-want +got):\n%s", diff)
	}
	reasons := map[string]string{}
	for _, u := range res.Unresolved {
		reasons[u.ID] = u.Reason
	}
	for id, want := range map[string]string{
		"u4": "cloud-only user", "u5": "not found in the forest", "nobody": "not known",
		"out": "out of scope (not selected)", "d1": "device members are not written",
	} {
		if !strings.Contains(reasons[id], want) {
			t.Errorf("reason for %s = %q, want it to contain %q", id, reasons[id], want)
		}
	}
	if len(res.Unresolved) != 5 {
		t.Errorf("%d unresolved, want 5: %+v", len(res.Unresolved), res.Unresolved)
	}

	// Second resolution of the found user hits the cache: no directory call.
	before := dir.calls
	if _, err := r.Resolve(context.Background(), map[string][]Member{"g": {{ID: "u1", Type: "user"}}}, src); err != nil {
		t.Fatal(err)
	}
	if dir.calls != before {
		t.Errorf("cached lookup made %d directory calls", dir.calls-before)
	}
}

func TestResolveBatchesAcrossGroups(t *testing.T) {
	dir := &fakeDir{guid: map[string]string{}}
	src := fakeSrc{users: map[string]*User{}}
	groups := map[string][]Member{}
	for g := 0; g < 50; g++ {
		for u := 0; u < 20; u++ {
			id := "u" + string(rune('a'+g%26)) + string(rune('a'+u))
			guid := "00000000-0000-0000-0000-0000000000" + string("0123456789abcdef"[g%16]) + string("0123456789abcdef"[u%16])
			src.users[id] = &User{ID: id, ObjectIdentifier: guid}
			dir.guid[guid] = "CN=" + id
			groups[string(rune('A'+g))] = append(groups[string(rune('A'+g))], Member{ID: id, Type: "user"})
		}
	}
	if _, err := New(dir).Resolve(context.Background(), groups, src); err != nil {
		t.Fatal(err)
	}
	if dir.calls != 1 {
		t.Fatalf("%d directory calls for 50 groups, want 1 batched call", dir.calls)
	}
}

// TestConsistencyGUIDMissesAreRemembered: mS-DS-ConsistencyGuid is not
// indexed, so each lookup scans the domain's users; a member no lookup finds
// is not looked up that way again until Forget (the next full round), while
// the indexed lookups are still made every time.
func TestConsistencyGUIDMissesAreRemembered(t *testing.T) {
	const g = "0a0b0c0d-0e0f-1011-1213-141516171819"
	immutable := base64.StdEncoding.EncodeToString([]byte{0x0d, 0x0c, 0x0b, 0x0a, 0x0f, 0x0e, 0x11, 0x10, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19})
	dir := &fakeDir{guid: map[string]string{}, sid: map[string]string{}, cguid: map[string]string{}}
	src := fakeSrc{users: map[string]*User{"u": {ID: "u", ObjectIdentifier: "99999999-0000-0000-0000-000000000000", ImmutableID: immutable}}}
	r := New(dir)
	in := map[string][]Member{"grp": {{ID: "u", Type: "user"}}}
	resolveOnce := func() Result {
		t.Helper()
		res, err := r.Resolve(context.Background(), in, src)
		if err != nil {
			t.Fatal(err)
		}
		return res["grp"]
	}
	if res := resolveOnce(); len(res.Unresolved) != 1 || dir.cguidCalls != 1 {
		t.Fatalf("first round: %+v, %d consistency lookups, want 1 unresolved and 1 lookup", res, dir.cguidCalls)
	}
	calls := dir.calls
	if res := resolveOnce(); len(res.Unresolved) != 1 || dir.cguidCalls != 1 {
		t.Errorf("second round: %+v, %d consistency lookups, want the miss remembered", res, dir.cguidCalls)
	}
	if dir.calls == calls {
		t.Error("second round made no indexed lookup: only consistency GUID misses may be remembered")
	}
	// The next process (the daemon restarted) starts from the saved misses
	// and does not scan for them either.
	saved, ver := r.Misses()
	if len(saved) != 1 || saved[0] != g {
		t.Fatalf("Misses = %v, want [%s]", saved, g)
	}
	next := New(dir)
	next.SetMisses(saved)
	if res, err := next.Resolve(context.Background(), in, src); err != nil || len(res["grp"].Unresolved) != 1 || dir.cguidCalls != 1 {
		t.Errorf("new resolver from saved misses: %+v, %v, %d consistency lookups, want no new scan", res, err, dir.cguidCalls)
	}
	// The user appears in AD by its consistency GUID: found after Forget.
	dir.cguid[g] = "CN=later,DC=x"
	r.Forget()
	if got, v := r.Misses(); len(got) != 0 || v == ver {
		t.Errorf("after Forget: Misses = %v, version %d (was %d), want none and a new version so the state is rewritten", got, v, ver)
	}
	if res := resolveOnce(); len(res.DNs) != 1 || res.DNs[0] != "CN=later,DC=x" || dir.cguidCalls != 2 {
		t.Errorf("after Forget: %+v, %d consistency lookups, want CN=later found by a second lookup", res, dir.cguidCalls)
	}
}

// doneSrc records when Resolve says it has read its users.
type doneSrc struct {
	fakeSrc
	reads, readsAtDone, done int
}

func (s *doneSrc) User(id string) (*User, error) { s.reads++; return s.fakeSrc.User(id) }
func (s *doneSrc) ReadDone()                     { s.done++; s.readsAtDone = s.reads }

// TestReadDoneAfterEveryUser: a source holding users in a mapped file is told
// once, after the last user it is asked for and before the directory lookups,
// so it can let go of the pages while the lookups wait on the directory.
func TestReadDoneAfterEveryUser(t *testing.T) {
	dir := &fakeDir{guid: map[string]string{}, sid: map[string]string{}, cguid: map[string]string{}}
	src := &doneSrc{fakeSrc: fakeSrc{users: map[string]*User{
		"u1": {ID: "u1", ObjectIdentifier: "11111111-2222-3333-4444-555555555555"},
		"u2": {ID: "u2", ObjectIdentifier: "11111111-2222-3333-4444-555555555556"},
	}}}
	in := map[string][]Member{"a": {{ID: "u1", Type: "user"}}, "b": {{ID: "u2", Type: "user"}, {ID: "u1", Type: "user"}}}
	if _, err := New(dir).Resolve(context.Background(), in, src); err != nil {
		t.Fatal(err)
	}
	if src.done != 1 || src.readsAtDone != 2 || src.reads != 2 {
		t.Errorf("ReadDone called %d times after %d of %d user reads, want once after both", src.done, src.readsAtDone, src.reads)
	}
}

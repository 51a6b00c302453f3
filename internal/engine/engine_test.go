package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/state"
)

// memDir is an in-memory directory whose searches parse the engine's filters
// with regular expressions. The engine's unit tests run on the in-process
// LDAP server instead (ldapdir_test.go); memDir remains for
// TestProtectedChildIsNotNested only, whose assertion relies on a Global
// Catalog that returns DNs without the objects' protection.
type memDir struct {
	groups   map[string]*ad.Group // lower DN -> group (Anchor "" = foreign)
	users    map[string]string    // GUID string -> DN
	failOn   map[string]bool      // lower DN -> CreateGroup fails
	searches int
	filters  []string   // of Search, in order
	mu       sync.Mutex // the engine applies in parallel
}

func newMemDir() *memDir {
	return &memDir{groups: map[string]*ad.Group{}, users: map[string]string{}, failOn: map[string]bool{}}
}

func (d *memDir) BaseDN(context.Context) (string, error) { return "DC=test", nil }

var samRE = regexp.MustCompile(`\(sAMAccountName=([^)]+)\)`)

var anchorRE = regexp.MustCompile(`msDS-ExternalDirectoryObjectId=([^)]+)\)`)

func (d *memDir) Search(_ context.Context, base string, s ad.Scope, filter string, _ []string, fn func(*ldap.Entry) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.searches++
	d.filters = append(d.filters, filter)
	if m := samRE.FindAllStringSubmatch(filter, -1); m != nil {
		for _, x := range m {
			for _, g := range d.groups {
				if strings.EqualFold(g.SAMAccountName, x[1]) {
					if err := fn(ldap.NewEntry(g.DN, map[string][]string{"sAMAccountName": {g.SAMAccountName}})); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	switch s {
	case ad.ScopeBase:
		g, ok := d.groups[strings.ToLower(base)]
		if !ok {
			return &ad.OpError{Op: "search", DN: base, Code: ad.CodeNoSuchObject, Err: errors.New("no such object")}
		}
		return fn(ldap.NewEntry(g.DN, map[string][]string{ad.AttrExternalDirectoryObjectID: {g.Anchor}}))
	case ad.ScopeOne:
		for _, g := range d.groups {
			if ldapdn.Norm(ldapdn.Parent(g.DN)) == ldapdn.Norm(base) {
				if err := fn(ldap.NewEntry(g.DN, map[string][]string{ad.AttrExternalDirectoryObjectID: {g.Anchor}})); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (d *memDir) Groups(_ context.Context, _ string, filter string, _ ad.GroupQuery, fn func(ad.Group) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.searches++
	want := map[string]bool{}
	for _, m := range anchorRE.FindAllStringSubmatch(filter, -1) {
		want[strings.ToLower(m[1])] = true
	}
	for _, k := range sortedKeys(d.groups) {
		g := d.groups[k]
		if g.Anchor == "" || !(want["group_*"] || want[strings.ToLower(g.Anchor)]) {
			continue
		}
		c := *g
		c.Members = append([]string(nil), g.Members...)
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

func (d *memDir) GroupByAnchor(_ context.Context, _, anchor string, _ bool) (*ad.Group, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.searches++
	for _, g := range d.groups {
		if strings.EqualFold(g.Anchor, anchor) {
			c := *g
			return &c, nil
		}
	}
	return nil, nil
}

func (d *memDir) CreateGroup(_ context.Context, dn string, attrs map[string][]string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := strings.ToLower(dn)
	if d.failOn[k] {
		return &ad.OpError{Op: "create group", DN: dn, Code: ad.CodeConstraintViolation, Err: errors.New("constraint violation")}
	}
	if _, ok := d.groups[k]; ok {
		return &ad.OpError{Op: "create group", DN: dn, Code: ad.CodeEntryAlreadyExists, Err: errors.New("exists")}
	}
	g := &ad.Group{DN: dn, CN: ldapdn.RDNValue(dn), GroupType: ad.GroupTypeUniversalSecurity, USNChanged: 1}
	d.groups[k] = g
	d.set(g, attrs)
	return nil
}

func (d *memDir) set(g *ad.Group, attrs map[string][]string) {
	one := func(v []string) string {
		if len(v) == 0 {
			return ""
		}
		return v[0]
	}
	for k, v := range attrs {
		switch strings.ToLower(k) {
		case "msds-externaldirectoryobjectid":
			g.Anchor = one(v)
		case "admindescription":
			g.AdminDescription = one(v)
		case "samaccountname":
			g.SAMAccountName = one(v)
		case "description":
			g.Description = one(v)
		case "displayname":
			g.DisplayName = one(v)
		case "grouptype":
			var n int32
			fmt.Sscan(one(v), &n)
			g.GroupType = n
		}
	}
	g.USNChanged++
}

func (d *memDir) Modify(_ context.Context, dn string, r map[string][]string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.groups[strings.ToLower(dn)]
	if !ok {
		return &ad.OpError{Code: ad.CodeNoSuchObject, Err: errors.New("no such object")}
	}
	d.set(g, r)
	return nil
}

func (d *memDir) AddMembers(_ context.Context, dn string, m []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.groups[strings.ToLower(dn)]
	g.Members = append(g.Members, m...)
	g.USNChanged++
	return nil
}

func (d *memDir) RemoveMembers(_ context.Context, dn string, m []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.groups[strings.ToLower(dn)]
	drop := map[string]bool{}
	for _, x := range m {
		drop[strings.ToLower(x)] = true
	}
	var keep []string
	for _, x := range g.Members {
		if !drop[strings.ToLower(x)] {
			keep = append(keep, x)
		}
	}
	g.Members = keep
	g.USNChanged++
	return nil
}

func (d *memDir) Move(_ context.Context, dn, rdn, parent string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.groups[strings.ToLower(dn)]
	delete(d.groups, strings.ToLower(dn))
	g.DN = rdn + "," + parent
	g.CN = ldapdn.RDNValue(g.DN)
	d.groups[strings.ToLower(g.DN)] = g
	for _, o := range d.groups { // AD rewrites references to a moved object
		for i, m := range o.Members {
			if strings.EqualFold(m, dn) {
				o.Members[i] = g.DN
			}
		}
	}
	return g.DN, nil
}

func (d *memDir) Delete(_ context.Context, dn string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.groups, strings.ToLower(dn))
	return nil
}

func (d *memDir) FindByAnchors(_ context.Context, anchors []string) (map[string]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]string{}
	for _, a := range anchors {
		for _, g := range d.groups {
			if strings.EqualFold(g.Anchor, a) {
				out[a] = g.DN
			}
		}
	}
	return out, nil
}

func (d *memDir) FindByGUIDs(_ context.Context, guids []ad.GUID) (map[ad.GUID]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[ad.GUID]string{}
	for _, g := range guids {
		if dn, ok := d.users[g.String()]; ok {
			out[g] = dn
		}
	}
	return out, nil
}

func (d *memDir) FindBySIDs(context.Context, []string) (map[string]string, error) {
	return map[string]string{}, nil
}

// memSource is an in-memory Graph: a log of delta items; a delta link is an
// index into it.
type memSource struct {
	groups map[string]entra.Group
	users  []entra.User
	events []entra.Group
	calls  int
}

func (s *memSource) GroupsDelta(_ context.Context, link string, fn func(entra.Group) error) (string, bool, error) {
	s.calls++
	if link == "" {
		for _, k := range sortedKeys(s.groups) {
			if err := fn(s.groups[k]); err != nil {
				return "", true, err
			}
		}
		return fmt.Sprint(len(s.events)), true, nil
	}
	var from int
	fmt.Sscan(link, &from)
	for _, e := range s.events[from:] {
		if err := fn(e); err != nil {
			return "", false, err
		}
	}
	return fmt.Sprint(len(s.events)), false, nil
}

func (s *memSource) UsersDelta(_ context.Context, link string, fn func(entra.User) error) (string, bool, error) {
	if link == "" {
		for _, u := range s.users {
			if err := fn(u); err != nil {
				return "", true, err
			}
		}
		return "u", true, nil
	}
	return "u", false, nil
}

// change records a delta item and updates the full view.
func (s *memSource) change(g entra.Group) {
	s.events = append(s.events, g)
	cur := s.groups[g.ID]
	if g.DisplayName != "" {
		cur.ID, cur.DisplayName, cur.SecurityEnabled = g.ID, g.DisplayName, g.SecurityEnabled
	}
	for _, m := range g.MembersDelta {
		if !m.Removed {
			cur.MembersDelta = append(cur.MembersDelta, m)
		}
	}
	s.groups[g.ID] = cur
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

const (
	uGUID = "11111111-2222-3333-4444-555555555555"
	uDN   = "CN=alice,OU=Users,DC=test"
	idA   = "aaaaaaaa-0000-0000-0000-00000000000a"
	idB   = "aaaaaaaa-0000-0000-0000-00000000000b"
)

func newMemEngine(t *testing.T) (*Engine, *memDir, *memSource, *state.DB) {
	t.Helper()
	dir := newMemDir()
	dir.users[uGUID] = uDN
	src := &memSource{groups: map[string]entra.Group{}}
	src.users = []entra.User{{ID: "u1", UserPrincipalName: "alice@test", OnPremisesObjectIdentifier: uGUID, OnPremisesSyncEnabled: yes()}}
	for _, id := range []string{idA, idB} {
		src.groups[id] = entra.Group{ID: id, DisplayName: "G " + id[len(id)-1:], SecurityEnabled: true, MembersDelta: []entra.MemberRef{{ID: "u1", Type: "user"}}}
	}
	cfg, err := config.Parse([]byte(`
ad: {url: "ldaps://dc.test", bindDN: x, password: {env: X}, targetOU: "OU=G,DC=test"}
entra: {tenantId: t, clientId: c, credential: {kind: secret, secret: {env: Y}}}
safety: {deleteThreshold: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	db, err := state.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	eng, err := New(context.Background(), Options{Config: cfg, State: db, DC: dir, GC: dir, Source: src, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return eng, dir, src, db
}

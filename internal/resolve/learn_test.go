package resolve

import (
	"context"
	"testing"
)

// TestLearnAvoidsLookupsAndWinsOverStaleCache: objects learned from a fresh
// AD read resolve without a directory call once their class is known, and
// their DN replaces a cached one (a user moved in AD since it was resolved),
// also after Forget (a full round): class and SID never change.
func TestLearnAvoidsLookupsAndWinsOverStaleCache(t *testing.T) {
	const (
		ga = "11111111-2222-3333-4444-555555555555"
		gb = "21111111-2222-3333-4444-555555555555"
	)
	dir := &fakeDir{guid: map[string]string{ga: "CN=a,OU=Old", gb: "CN=b,OU=X"}, sid: map[string]string{"S-1-5-21-1-2-3-1000": "CN=b,OU=X"}}
	src := fakeSrc{users: map[string]*User{
		"ua": {ID: "ua", ObjectIdentifier: ga},
		"ub": {ID: "ub", ObjectIdentifier: gb, SID: "S-1-5-21-1-2-3-1000"},
	}}
	r := New(dir)
	both := map[string][]Member{"g": {{ID: "ua", Type: "user"}, {ID: "ub", Type: "user"}}}
	if _, err := r.Resolve(context.Background(), both, src); err != nil {
		t.Fatal(err)
	}
	for round, forget := range []bool{false, true} {
		if forget {
			r.Forget()
		}
		dir.calls = 0
		r.Learn([]Known{
			{GUID: "11111111-2222-3333-4444-555555555555", DN: "CN=a,OU=New"},
			{GUID: gb, SID: "s-1-5-21-1-2-3-1000", DN: "CN=b,OU=X"},
		})
		res, err := r.Resolve(context.Background(), both, src)
		if err != nil {
			t.Fatal(err)
		}
		if dir.calls != 0 {
			t.Errorf("round %d: %d directory calls for learned objects", round, dir.calls)
		}
		if got := res["g"].DNs; len(got) != 2 || got[0] != "CN=a,OU=New" || got[1] != "CN=b,OU=X" {
			t.Errorf("round %d: DNs = %q, want the learned ones", round, got)
		}
	}
}

// TestLearnedObjectOfUnknownClassIsLookedUp: a member value says nothing of
// the object's class; a user whose objectGUID names an object the resolver
// has only learned is looked up once, and refused when it is a group.
func TestLearnedObjectOfUnknownClassIsLookedUp(t *testing.T) {
	const gg = "31111111-2222-3333-4444-555555555555"
	dir := &fakeDir{guid: map[string]string{gg: "CN=Some Group,OU=X"}, objs: map[string]Object{"CN=Some Group,OU=X": {Classes: []string{"top", "group"}}}}
	src := fakeSrc{users: map[string]*User{"u": {ID: "u", ObjectIdentifier: gg}}}
	r := New(dir)
	r.Learn([]Known{{GUID: gg, SID: "S-1-5-21-1-2-3-1200", DN: "CN=Some Group,OU=X"}})
	res, err := r.Resolve(context.Background(), map[string][]Member{"g": {{ID: "u", Type: "user"}}}, src)
	if err != nil {
		t.Fatal(err)
	}
	if dir.calls != 1 || len(res["g"].DNs) != 0 || len(res["g"].Unresolved) != 1 {
		t.Errorf("%d calls, result %+v: want one lookup and the member refused", dir.calls, res["g"])
	}
}

package resolve

import (
	"context"
	"testing"
)

// TestLearnAvoidsLookupsAndWinsOverStaleCache: objects learned from a fresh
// AD read resolve without a directory call, and their DN replaces a cached
// one (a user moved in AD since it was resolved).
func TestLearnAvoidsLookupsAndWinsOverStaleCache(t *testing.T) {
	const (
		ga = "11111111-2222-3333-4444-555555555555"
		gb = "21111111-2222-3333-4444-555555555555"
	)
	dir := &fakeDir{guid: map[string]string{ga: "CN=a,OU=Old", gb: "CN=b,OU=X"}}
	src := fakeSrc{users: map[string]*User{
		"ua": {ID: "ua", ObjectIdentifier: ga},
		"ub": {ID: "ub", ObjectIdentifier: gb},
		"uc": {ID: "uc", SID: "S-1-5-21-1-2-3-1000"},
	}}
	r := New(dir)
	groups := map[string][]Member{"g": {{ID: "ua", Type: "user"}}}
	if _, err := r.Resolve(context.Background(), groups, src); err != nil {
		t.Fatal(err)
	}
	dir.calls = 0
	r.Learn([]Known{
		{GUID: "11111111-2222-3333-4444-555555555555", DN: "CN=a,OU=New"},
		{GUID: gb, DN: "CN=b,OU=X"},
		{SID: "s-1-5-21-1-2-3-1000", DN: "CN=c,OU=X"},
	})
	res, err := r.Resolve(context.Background(), map[string][]Member{"g": {{ID: "ua", Type: "user"}, {ID: "ub", Type: "user"}, {ID: "uc", Type: "user"}}}, src)
	if err != nil {
		t.Fatal(err)
	}
	if dir.calls != 0 {
		t.Errorf("%d directory calls for learned objects", dir.calls)
	}
	if got := res["g"].DNs; len(got) != 3 || got[0] != "CN=a,OU=New" || got[2] != "CN=c,OU=X" {
		t.Errorf("DNs = %q, want the learned ones", got)
	}
}

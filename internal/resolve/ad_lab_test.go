package resolve

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/ldapdn"
)

// TestLabConsistencyGUIDLookups: users are found by mS-DS-ConsistencyGuid
// both through OR filters (few values) and through one pass over the users
// carrying it (many values).
func TestLabConsistencyGUIDLookups(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 2, "cg")
	c := l.AdminConn(t)
	ctx := context.Background()
	var cg [2]ad.GUID
	for i, u := range users {
		_, _ = rand.Read(cg[i][:])
		if err := c.Modify(ctx, u.DN, map[string][]string{"mS-DS-ConsistencyGuid": {string(cg[i].AD())}}); err != nil {
			t.Fatal(err)
		}
	}
	d := &ADDirectory{GC: l.GC(t), DC: c, Base: l.BaseDN}
	for _, n := range []int{3, 450} {
		want := []string{cg[0].String(), cg[1].String()}
		for len(want) < n {
			var g ad.GUID
			_, _ = rand.Read(g[:])
			want = append(want, g.String())
		}
		got, err := d.FindByConsistencyGUIDs(ctx, want)
		if err != nil || len(got) != 2 || !ldapdn.Equal(got[cg[0].String()].DN, users[0].DN) || !ldapdn.Equal(got[cg[1].String()].DN, users[1].DN) {
			t.Errorf("%d values: FindByConsistencyGUIDs = %v, %v", n, got, err)
		}
	}
}

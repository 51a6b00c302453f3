package engine

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab/labtest"
)

// A nested group whose create fails (here: its mapped OU does not exist) must
// not take its parent down with it: the parent is created with its other
// members, and only the child is reported failed.
func TestLabFailedChildLeftOutOfParent(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 1, "wbf")
	tf := sampleTenant(users)
	tf.Groups = []emulator.Group{
		{ID: gSales, DisplayName: "Sales", SecurityEnabled: true, Members: []string{tf.Users[0].ID}},
		{ID: gParent, DisplayName: "All Staff", SecurityEnabled: true, Members: []string{gSales, tf.Users[0].ID}},
	}
	f := newFixtureOn(t, l, tf, func(c *config.Config) {
		c.Mappings.Attributes = map[string]config.Mapping{"parentDistinguishedName": {
			Expression: `IIF([displayName]="Sales", "OU=Nowhere,` + l.OU + `", "` + l.OU + `")`}}
	})
	res, err := f.eng.RunOnce(context.Background(), RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied == nil || res.Applied.Failed != 1 || len(res.Applied.Errors) != 1 || res.Applied.Errors[0].GroupID != gSales {
		t.Fatalf("applied = %+v, want only Sales failed", res.Applied)
	}
	groups := f.adGroups()
	var parent []string
	for _, g := range groups {
		if strings.HasPrefix(g.DN, "CN=All Staff_") {
			parent = rdns(g.Members)
		}
	}
	if want := []string{cn(users[0])}; !slices.Equal(parent, want) {
		t.Errorf("All Staff members = %v, want %v (created, with the user, without the failed child)", parent, want)
	}
	st, err := f.db.Status(gParent)
	if err != nil || st.Failures != 0 || st.DN == "" {
		t.Errorf("All Staff status = %+v, %v: want provisioned, no failure", st, err)
	}
}

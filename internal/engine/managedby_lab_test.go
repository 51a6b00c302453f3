package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/plan"
)

// mappings.managedByOwner writes the first owner that resolves to an AD user
// (a cloud-only owner is passed over) to managedBy, read back from AD; off
// by default.
func TestLabOwnerToManagedBy(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 6, "wbown")
	tf := sampleTenant(users)
	tf.Groups[0].Owners = []string{"cccccccc-0000-4000-8000-000000000001", tf.Users[2].ID, tf.Users[3].ID} // cloud-only first
	managedBy := func(f *fixture) string {
		t.Helper()
		g := f.adGroups()[plan.Anchor(gSales)]
		var v string
		if err := f.dc.Search(context.Background(), g.DN, ad.ScopeBase, "(objectClass=group)", []string{"managedBy"}, func(e *ldap.Entry) error {
			v = e.GetAttributeValue("managedBy")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return v
	}

	off := newFixtureOn(t, l, tf, nil)
	off.round(RoundOptions{})
	if v := managedBy(off); v != "" {
		t.Errorf("managedBy written without mappings.managedByOwner: %q", v)
	}

	// Turned on: the configuration change compares every group.
	on := off
	on.reconfigure(func(c *config.Config) { c.Mappings.ManagedByOwner = true })
	on.round(RoundOptions{})
	if v := managedBy(on); !strings.EqualFold(v, users[2].DN) {
		t.Errorf("managedBy = %q, want the first resolvable owner %s", v, users[2].DN)
	}
	// The owner changes in Entra; the next full round follows it.
	if _, err := on.env.Admin.UpdateGroup(gSales, func(g *emulator.Group) { g.Owners = []string{tf.Users[3].ID} }); err != nil {
		t.Fatal(err)
	}
	on.round(RoundOptions{PlanOptions: PlanOptions{Full: true}})
	if v := managedBy(on); !strings.EqualFold(v, users[3].DN) {
		t.Errorf("after the owner changed: managedBy = %q, want %s", v, users[3].DN)
	}
}

package ad_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
)

// The engine's questions, asked of an LDAP server: who holds a DN, which
// names are taken, which groups carry which anchors or Connect Sync's mark.
func TestQueriesInDomainTerms(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{BaseDN: "DC=test"})
	srv.Put("OU=G,DC=test", map[string][]string{"objectClass": {"top", "organizationalUnit"}})
	group := func(dn string, attrs map[string][]string) {
		attrs["objectClass"] = []string{"top", "group"}
		srv.Put(dn, attrs)
	}
	group("CN=Ours,OU=G,DC=test", map[string][]string{ad.AttrExternalDirectoryObjectID: {"Group_a"}, "sAMAccountName": {"Ours"}})
	group("CN=Theirs,OU=G,DC=test", map[string][]string{"sAMAccountName": {"Theirs"}})
	group("CN=Synced,OU=G,DC=test", map[string][]string{"adminDescription": {"Group_b"}, "sAMAccountName": {"Synced"}})
	c, err := ad.Dial(t.Context(), adconfig.Options(srv.Config()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()

	if a, ok, err := c.HolderOf(ctx, "CN=Ours,OU=G,DC=test"); err != nil || !ok || a != "Group_a" {
		t.Errorf("HolderOf(Ours) = %q, %v, %v", a, ok, err)
	}
	if a, ok, err := c.HolderOf(ctx, "CN=Free,OU=G,DC=test"); err != nil || ok || a != "" {
		t.Errorf("HolderOf(free DN) = %q, %v, %v; want not held, no error", a, ok, err)
	}
	held, err := c.HoldersUnder(ctx, "OU=G,DC=test")
	if err != nil || len(held) != 3 || held["CN=Theirs,OU=G,DC=test"] != "" || held["CN=Ours,OU=G,DC=test"] != "Group_a" {
		t.Errorf("HoldersUnder = %v, %v", held, err)
	}
	if held, err := c.HoldersUnder(ctx, "OU=Gone,DC=test"); err != nil || len(held) != 0 {
		t.Errorf("HoldersUnder(missing OU) = %v, %v; want nothing, no error", held, err)
	}
	taken, err := c.TakenSAMAccountNames(ctx, "DC=test", []string{"ours", "Free", "THEIRS"})
	if got := slices.Sorted(maps.Keys(taken)); err != nil || strings.Join(got, ",") != "ours,theirs" {
		t.Errorf("TakenSAMAccountNames = %v, %v", got, err)
	}
	var anchored []string
	if err := c.GroupsWithAnchors(ctx, "DC=test", []string{"Group_a", "Group_z"}, ad.GroupQuery{}, func(g ad.Group) error {
		anchored = append(anchored, g.DN)
		return nil
	}); err != nil || len(anchored) != 1 {
		t.Errorf("GroupsWithAnchors = %v, %v", anchored, err)
	}
	var marked []string
	collect := func(m ad.Marked) error { marked = append(marked, m.DN+"="+m.Anchor+m.AdminDescription); return nil }
	if err := c.MarkedGroups(ctx, "DC=test", []string{"Group_b"}, collect); err != nil || len(marked) != 1 || marked[0] != "CN=Synced,OU=G,DC=test=Group_b" {
		t.Errorf("MarkedGroups(b) = %v, %v", marked, err)
	}
	marked = nil
	if err := c.MarkedGroups(ctx, "DC=test", nil, collect); err != nil || len(marked) != 2 {
		t.Errorf("MarkedGroups(every) = %v, %v", marked, err)
	}
	marked = nil
	if err := c.MarkedGroups(ctx, "DC=test", []string{}, collect); err != nil || len(marked) != 0 {
		t.Errorf("MarkedGroups(none) = %v, %v; want no search, nothing", marked, err)
	}
}

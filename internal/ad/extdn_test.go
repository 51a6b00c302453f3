package ad_test

import (
	"slices"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/ldapdn"
)

func TestParseExtendedDN(t *testing.T) {
	g, _ := ad.ParseGUID("9d1b2f3c-4a5b-4c6d-8e7f-0a1b2c3d4e5f")
	for _, tc := range []struct {
		in, dn string
		guid   ad.GUID
		sid    string
	}{
		{"<GUID=9d1b2f3c-4a5b-4c6d-8e7f-0a1b2c3d4e5f>;<SID=S-1-5-21-1-2-3-1105>;CN=a\\,b,OU=x,DC=y", "CN=a\\,b,OU=x,DC=y", g, "S-1-5-21-1-2-3-1105"},
		{"<GUID=9d1b2f3c-4a5b-4c6d-8e7f-0a1b2c3d4e5f>;OU=x,DC=y", "OU=x,DC=y", g, ""},
		// hex form (flag 0): GUID bytes in AD's order, SID binary
		{"<GUID=3c2f1b9d5b4a6d4c8e7f0a1b2c3d4e5f>;<SID=010500000000000515000000010000000200000003000000510400000>;CN=z", "", ad.GUID{}, ""},
		{"<GUID=3c2f1b9d5b4a6d4c8e7f0a1b2c3d4e5f>;CN=z", "CN=z", g, ""},
		{"CN=plain,DC=y", "CN=plain,DC=y", ad.GUID{}, ""},
		{"<not a dn", "<not a dn", ad.GUID{}, ""},
		{"<GUID=zz>;CN=x", "<GUID=zz>;CN=x", ad.GUID{}, ""},
	} {
		dn, guid, sid := ad.ParseExtendedDN(tc.in)
		if tc.dn == "" {
			tc.dn = tc.in // malformed: returned unchanged
		}
		if dn != tc.dn || guid != tc.guid || sid != tc.sid {
			t.Errorf("ParseExtendedDN(%q) = %q, %v, %q; want %q, %v, %q", tc.in, dn, guid, sid, tc.dn, tc.guid, tc.sid)
		}
	}
}

func FuzzParseExtendedDN(f *testing.F) {
	f.Add("<GUID=9d1b2f3c-4a5b-4c6d-8e7f-0a1b2c3d4e5f>;<SID=S-1-5-21-1-2-3-1105>;CN=a,DC=y")
	f.Add("<SID=0105>;CN=x")
	f.Fuzz(func(t *testing.T, v string) {
		dn, guid, sid := ad.ParseExtendedDN(v)
		if guid == (ad.GUID{}) && sid == "" && dn != v && len(dn) >= len(v) {
			t.Fatalf("ParseExtendedDN(%q) = %q without identifiers", v, dn)
		}
		if len(dn) > len(v) {
			t.Fatalf("ParseExtendedDN(%q) grew to %q", v, dn)
		}
	})
}

// TestGroupsMemberIDs: with MemberIDs the group read returns each member's
// objectGUID and objectSid beside its plain DN, and every other DN (the
// group's own, DN-valued extra attributes) stays plain.
func TestGroupsMemberIDs(t *testing.T) {
	l := labtest.AD(t)
	c := l.Conn(t)
	ctx := t.Context()
	users := l.CreateUsers(t, 3, "xdn")
	child, _ := ad.JoinDN("CN", "xdn child", l.OU)
	if err := c.CreateGroup(ctx, child, nil); err != nil {
		t.Fatal(err)
	}
	parent, _ := ad.JoinDN("CN", "xdn, parent", l.OU)
	err := c.CreateGroup(ctx, parent, map[string][]string{"managedBy": {users[0].DN}, "member": {users[0].DN, users[1].DN, users[2].DN, child}})
	if err != nil {
		t.Fatal(err)
	}
	// Members come in ranges (50,000 a request; here 3 and 1 too: a
	// range that ends inside the attribute, and one value a request).
	for _, step := range []int{0, 3, 1} {
		if step > 0 {
			defer ad.SetMemberIDRange(step)()
		}
		checkMemberIDs(t, c, l.OU, parent, users)
	}
	// without MemberIDs nothing changes
	plain, err := c.GroupByAnchor(ctx, l.OU, "none", true)
	if err != nil || plain != nil {
		t.Errorf("GroupByAnchor = %v, %v", plain, err)
	}
}

func checkMemberIDs(t *testing.T, c *ad.Conn, ou, parent string, users []labtest.User) {
	t.Helper()
	var got []ad.Group
	err := c.Groups(t.Context(), ou, "(cn=xdn, parent)", ad.GroupQuery{WithMembers: true, MemberIDs: true, ExtraAttrs: []string{"managedBy"}}, func(g ad.Group) error {
		got = append(got, g)
		return nil
	})
	if err != nil || len(got) != 1 {
		t.Fatalf("Groups = %d groups, %v", len(got), err)
	}
	g := got[0]
	if !ldapdn.Equal(g.DN, parent) || !ldapdn.Equal(g.Attrs["managedby"][0], users[0].DN) {
		t.Errorf("DN %q, managedBy %q: want plain DNs", g.DN, g.Attrs["managedby"])
	}
	if len(g.Members) != 4 || len(g.MemberIDs) != 4 {
		t.Fatalf("members %q ids %v", g.Members, g.MemberIDs)
	}
	for _, u := range users {
		i := slices.IndexFunc(g.Members, func(m string) bool { return ldapdn.Equal(m, u.DN) })
		if i < 0 {
			t.Errorf("member %s missing from %q", u.DN, g.Members)
			continue
		}
		if g.MemberIDs[i].GUID != u.GUID || g.MemberIDs[i].SID != u.SID {
			t.Errorf("member %s: ids %+v, want %v %s", u.DN, g.MemberIDs[i], u.GUID, u.SID)
		}
	}
}

package ad_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/ldapdn"
)

// Integration tests against the real Samba AD DC of the lab (see package labtest).

func TestRootDSEFindsSchemaAttribute(t *testing.T) {
	l := labtest.AD(t)
	r, err := l.Conn(t).RootDSE(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if r.DefaultNamingContext != l.BaseDN || r.SchemaNamingContext == "" || r.DomainFunctionality < 2 {
		t.Errorf("RootDSE = %+v", r)
	}
	if !r.HasExternalDirectoryObjectID || !r.ExternalDirectoryObjectIDInGC {
		t.Errorf("lab schema has msDS-ExternalDirectoryObjectId in GC, RootDSE says %v/%v", r.HasExternalDirectoryObjectID, r.ExternalDirectoryObjectIDInGC)
	}
}

func TestBindForms(t *testing.T) {
	l := labtest.AD(t)
	// Administrator's three forms of name with its password (l.Admin), and
	// the service account as l.Config names it.
	for _, name := range []string{l.Env["LAB_BIND_DN"], l.Env["LAB_BIND_UPN"], l.Env["LAB_BIND_NT"], ""} {
		cfg := l.Admin
		if name == "" {
			cfg, name = l.Config, l.Config.BindDN
		}
		cfg.BindDN = name
		c, err := ad.Dial(t.Context(), adconfig.Options(cfg))
		if err != nil {
			t.Errorf("bind as %s: %v", name, err)
			continue
		}
		c.Close()
	}
	cfg := l.Config
	cfg.Password = config.Secret{File: writeFile(t, "wrong-password")}
	_, err := ad.Dial(t.Context(), adconfig.Options(cfg))
	if !ad.IsInvalidCredentials(err) || !strings.Contains(err.Error(), "bind as "+cfg.BindDN) {
		t.Errorf("wrong password: err = %v, want invalid credentials naming the account", err)
	}
}

func writeFile(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTLSModes(t *testing.T) {
	l := labtest.AD(t)
	ctx := t.Context()
	startTLS := l.Config
	startTLS.URL = l.Env["LAB_LDAP_URL"]
	c, err := ad.Dial(ctx, adconfig.Options(startTLS))
	if err != nil {
		t.Fatalf("ldap:// + StartTLS: %v", err)
	}
	if !c.Encrypted() {
		t.Error("ldap:// without insecure must use StartTLS")
	}
	c.Close()

	plain := startTLS
	plain.Insecure = true
	c, err = ad.Dial(ctx, adconfig.Options(plain))
	if err != nil {
		t.Fatalf("insecure ldap://: %v", err)
	}
	if c.Encrypted() {
		t.Error("insecure: expected a plain connection")
	}
	c.Close()

	// a CA that did not sign the lab's certificate
	otherCA := filepath.Join(t.TempDir(), "ca.pem")
	pemFromOtherLab(t, otherCA)
	for _, u := range []string{l.Env["LAB_LDAPS_URL"], l.Env["LAB_LDAP_URL"]} {
		bad := l.Config
		bad.URL, bad.CAFile = u, otherCA
		_, err := ad.Dial(ctx, adconfig.Options(bad))
		var te *ad.TLSError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s with the wrong CA: err = %v, want a TLSError about the certificate", u, err)
		}
	}
	wrongName := l.Config
	wrongName.ServerName = "dc9.elsewhere.test"
	var te *ad.TLSError
	if _, err := ad.Dial(ctx, adconfig.Options(wrongName)); !errors.As(err, &te) {
		t.Errorf("wrong server name: err = %v, want TLSError", err)
	}
}

// pemFromOtherLab writes a freshly generated self-signed CA certificate: one
// that certainly did not sign the lab's.
func pemFromOtherLab(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Some Other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCreateModifyDelete(t *testing.T) {
	l := labtest.AD(t)
	c := l.Conn(t)
	ctx := t.Context()
	dn, err := ad.JoinDN("CN", "Sales EMEA_0123456789ab", l.OU)
	if err != nil {
		t.Fatal(err)
	}
	anchor := "Group_0aa1bb2c-0000-4000-8000-0123456789ab"
	err = c.CreateGroup(ctx, dn, map[string][]string{
		"sAMAccountName":                 {"Sales EMEA_" + l.Tag},
		ad.AttrExternalDirectoryObjectID: {anchor},
		"adminDescription":               {anchor},
		"description":                    {"from Entra"},
		"displayName":                    {"Sales EMEA"},
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.GroupByAnchor(ctx, l.OU, anchor, false)
	if err != nil || g == nil {
		t.Fatalf("GroupByAnchor = %v, %v", g, err)
	}
	if g.GroupType != ad.GroupTypeUniversalSecurity || g.Description != "from Entra" || g.AdminDescription != anchor || g.GUID.IsZero() || g.SID == "" {
		t.Errorf("created group = %+v", g)
	}

	err = c.CreateGroup(ctx, dn, nil)
	if !ad.IsAlreadyExists(err) || !strings.Contains(err.Error(), "create group "+dn+": entry already exists (LDAP 68)") {
		t.Errorf("second create: %v", err)
	}

	if err := c.Modify(ctx, dn, map[string][]string{"description": {"changed"}, "displayName": nil, "mail": {}}); err != nil {
		t.Fatal(err)
	}
	g2, _ := c.GroupByDN(ctx, dn, false)
	if g2.Description != "changed" || g2.DisplayName != "" || g2.USNChanged <= g.USNChanged {
		t.Errorf("after modify: %+v", g2)
	}

	if err := c.Delete(ctx, dn); err != nil {
		t.Fatal(err)
	}
	if g, err := c.GroupByAnchor(ctx, l.OU, anchor, false); g != nil || err != nil {
		t.Errorf("after delete: %v, %v", g, err)
	}
	err = c.Delete(ctx, dn)
	if !ad.IsNoSuchObject(err) || !strings.Contains(err.Error(), "delete "+dn) {
		t.Errorf("second delete: %v", err)
	}
	err = c.Modify(ctx, dn, map[string][]string{"description": {"x"}})
	if !ad.IsNoSuchObject(err) || !strings.HasPrefix(err.Error(), "modify "+dn+": no such object (LDAP 32)") {
		t.Errorf("modify missing: %v", err)
	}
}

// TestGUIDMatchesServer: our objectGUID conversion agrees with the DC's own
// string form, which it accepts in <GUID=...> DNs.
func TestGUIDMatchesServer(t *testing.T) {
	l := labtest.AD(t)
	c := l.Conn(t)
	users := l.CreateUsers(t, 3, "guid")
	for _, u := range users {
		e, err := c.SearchOne(t.Context(), "<GUID="+u.GUID.String()+">", []string{"objectGUID"})
		if err != nil || e == nil {
			t.Fatalf("<GUID=%s>: %v %v", u.GUID, e, err)
		}
		if !ldapdn.Equal(e.DN, u.DN) {
			t.Errorf("<GUID=%s> is %s, want %s", u.GUID, e.DN, u.DN)
		}
	}
}

// TestNastyNames: display names with DN specials, spaces, non-ASCII and emoji
// become CNs that round-trip exactly; NUL and over-long names are refused
// with a clear error before anything is sent.
func TestNastyNames(t *testing.T) {
	l := labtest.AD(t)
	c := l.Conn(t)
	ctx := t.Context()
	names := []string{
		`comma, plus+ quote" back\slash`,
		`<angle> semi; equals= #hash`,
		`#leading hash`,
		` leading space`,
		`trailing space `,
		`  both  `,
		`Ünïcødé Grüppe ÆØÅ 日本語`,
		`party 🎉🎉 time`,
		// No line feed: Windows refuses it in a CN (Samba accepts it), so
		// JoinDN does too (TestJoinDN).
		`all , + " \ < > ; = # in one`,
		strings.Repeat("x", 62) + "🎉", // 64 UTF-16 units exactly
	}
	for i, name := range names {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			dn, err := ad.JoinDN("CN", name, l.OU)
			if err != nil {
				t.Fatal(err)
			}
			anchor := fmt.Sprintf("Group_nasty-%d", i)
			if err := c.CreateGroup(ctx, dn, map[string][]string{ad.AttrExternalDirectoryObjectID: {anchor}, "sAMAccountName": {fmt.Sprintf("nasty-%s-%d", l.Tag, i)}}); err != nil {
				t.Fatalf("create %q as %q: %v", name, dn, err)
			}
			g, err := c.GroupByAnchor(ctx, l.OU, anchor, false)
			if err != nil || g == nil {
				t.Fatalf("read back: %v %v", g, err)
			}
			if g.CN != name {
				t.Errorf("cn = %q, want %q", g.CN, name)
			}
			if got := ldapdn.RDNValue(g.DN); got != name {
				t.Errorf("server DN %q has RDN value %q, want %q", g.DN, got, name)
			}
			if !ldapdn.Equal(g.DN, dn) {
				t.Errorf("server DN %q != our DN %q", g.DN, dn)
			}
			// find it by its DN as the server spells it and as we do
			for _, d := range []string{g.DN, dn} {
				if got, err := c.GroupByDN(ctx, d, false); err != nil || got == nil {
					t.Errorf("GroupByDN(%q) = %v, %v", d, got, err)
				}
			}
			// and by cn through a filter
			n := 0
			if err := c.Groups(ctx, l.OU, "(cn="+ad.EscapeFilter(name)+")", ad.GroupQuery{}, func(ad.Group) error { n++; return nil }); err != nil || n != 1 {
				t.Errorf("filter on cn found %d, err %v", n, err)
			}
			// rename it to another nasty name and back
			newRDN := "CN=" + ldapdn.Escape(name+"!")
			if len(name) > 60 {
				newRDN = "CN=" + ldapdn.Escape("r"+name[1:])
			}
			newDN, err := c.Move(ctx, g.DN, newRDN, "")
			if err != nil {
				t.Fatal(err)
			}
			g2, err := c.GroupByAnchor(ctx, l.OU, anchor, false)
			if err != nil || g2 == nil || !ldapdn.Equal(g2.DN, newDN) || g2.GUID != g.GUID {
				t.Errorf("after rename: %+v (%v), want DN %s", g2, err, newDN)
			}
		})
	}
	for _, bad := range []string{"nul\x00inside", strings.Repeat("y", 65), strings.Repeat("z", 63) + "🎉"} {
		if _, err := ad.JoinDN("CN", bad, l.OU); err == nil {
			t.Errorf("JoinDN accepted %q", bad)
		}
	}
}

func TestMoveAndRename(t *testing.T) {
	l := labtest.AD(t)
	c := l.Conn(t)
	ctx := t.Context()
	other := "OU=moved," + l.OU
	if err := l.AdminConn(t).CreateOU(ctx, other); err != nil { // the service account creates groups only
		t.Fatal(err)
	}
	dn, _ := ad.JoinDN("CN", "before", l.OU)
	if err := c.CreateGroup(ctx, dn, map[string][]string{ad.AttrExternalDirectoryObjectID: {"Group_move"}}); err != nil {
		t.Fatal(err)
	}
	before, _ := c.GroupByDN(ctx, dn, false)
	renamed, err := c.Move(ctx, dn, "CN=after", "")
	if err != nil || renamed != "CN=after,"+l.OU {
		t.Fatalf("rename = %q, %v", renamed, err)
	}
	moved, err := c.Move(ctx, renamed, "", other)
	if err != nil || moved != "CN=after,"+other {
		t.Fatalf("move = %q, %v", moved, err)
	}
	g, err := c.GroupByAnchor(ctx, l.OU, "Group_move", false)
	if err != nil || g == nil || !ldapdn.Equal(g.DN, moved) || g.GUID != before.GUID {
		t.Errorf("after move: %+v %v", g, err)
	}
	_, err = c.Move(ctx, moved, "", "OU=missing,"+l.OU)
	if err == nil || !strings.Contains(err.Error(), "move "+moved) {
		t.Errorf("move to a missing OU: %v", err)
	}
}

// TestTenThousandMembers: batched add of 10,000 members, idempotent re-adds
// (LDAP 68 on Samba) and removes of absent members (LDAP 53) count as done,
// and reading back returns exactly the expected set.
func TestTenThousandMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 members: skipped in -short")
	}
	l := labtest.AD(t)
	users := l.SharedUsers(t, 10000)
	c := l.Conn(t)
	ctx := t.Context()
	dn, _ := ad.JoinDN("CN", "big", l.OU)
	if err := c.CreateGroup(ctx, dn, nil); err != nil {
		t.Fatal(err)
	}
	dns := make([]string, len(users))
	for i, u := range users {
		dns[i] = u.DN
	}
	start := time.Now()
	if err := c.AddMembers(ctx, dn, dns); err != nil {
		t.Fatal(err)
	}
	t.Logf("added 10,000 members in batches of %d: %s", l.Config.MemberBatch, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	got, err := c.Members(ctx, dn)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("read 10,000 members: %s", time.Since(start).Round(time.Millisecond))
	if add, rm := ad.DiffMembers(got, dns); len(got) != 10000 || len(add)+len(rm) != 0 {
		t.Fatalf("read back %d members; %d missing, %d extra", len(got), len(add), len(rm))
	}

	// a batch where some members are already there: 68 on those is success
	start = time.Now()
	if err := c.AddMembers(ctx, dn, dns[9990:]); err != nil {
		t.Fatalf("re-adding existing members: %v", err)
	}
	t.Logf("re-add 10 existing members: %s", time.Since(start).Round(time.Millisecond))

	// remove the first half, then remove a range straddling removed and present ones
	start = time.Now()
	if err := c.RemoveMembers(ctx, dn, dns[:5000]); err != nil {
		t.Fatal(err)
	}
	t.Logf("removed 5,000 members: %s", time.Since(start).Round(time.Millisecond))
	if err := c.RemoveMembers(ctx, dn, dns[4990:5010]); err != nil {
		t.Fatalf("removing partly absent members: %v", err)
	}
	got, err = c.Members(ctx, dn)
	if err != nil {
		t.Fatal(err)
	}
	if add, rm := ad.DiffMembers(got, dns[5010:]); len(add)+len(rm) != 0 {
		t.Fatalf("after removals: %d members; %d missing, %d extra", len(got), len(add), len(rm))
	}

	// SetMembers writes exact differences only
	added, removed, err := c.SetMembers(ctx, dn, dns[:100])
	if err != nil || added != 100 || removed != 4990 {
		t.Errorf("SetMembers = +%d -%d, %v; want +100 -4990", added, removed, err)
	}
}

// TestMemberErrorsNameTheMember: a member DN that does not exist fails alone,
// the rest of the batch still lands, and the error names group and member.
func TestMemberErrorsNameTheMember(t *testing.T) {
	l := labtest.AD(t)
	c := l.Conn(t)
	ctx := t.Context()
	users := l.CreateUsers(t, 5, "m")
	dn, _ := ad.JoinDN("CN", "g", l.OU)
	if err := c.CreateGroup(ctx, dn, nil); err != nil {
		t.Fatal(err)
	}
	missing := "CN=ghost," + l.OU
	vals := []string{users[0].DN, users[1].DN, missing, users[2].DN}
	err := c.AddMembers(ctx, dn, vals)
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), dn) {
		t.Errorf("err = %v, want one naming %s and %s", err, dn, missing)
	}
	got, _ := c.Members(ctx, dn)
	if len(got) != 3 {
		t.Errorf("members = %v, want the 3 existing users", got)
	}
	err = c.AddMembers(ctx, "CN=nogroup,"+l.OU, []string{users[0].DN, users[1].DN})
	if !ad.IsNoSuchObject(err) {
		t.Errorf("add to a missing group: %v", err)
	}
}

func TestGroupsPaged(t *testing.T) {
	l := labtest.AD(t)
	cfg := l.Config
	cfg.PageSize = 7
	c, err := ad.Dial(t.Context(), adconfig.Options(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	users := l.CreateUsers(t, 3, "p")
	for i := 0; i < 30; i++ {
		dn, _ := ad.JoinDN("CN", fmt.Sprintf("paged-%02d", i), l.OU)
		if err := c.CreateGroup(t.Context(), dn, map[string][]string{
			ad.AttrExternalDirectoryObjectID: {fmt.Sprintf("Group_paged-%02d", i)},
			"member":                         {users[i%3].DN},
		}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	err = c.Groups(t.Context(), l.OU, "(msDS-ExternalDirectoryObjectId=Group_paged-*)", ad.GroupQuery{WithMembers: true, ExtraAttrs: []string{"whenCreated"}}, func(g ad.Group) error {
		if len(g.Members) != 1 || len(g.Attrs["whencreated"]) != 1 {
			t.Errorf("%s: members %v attrs %v", g.DN, g.Members, g.Attrs)
		}
		seen = append(seen, g.Anchor)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(seen)
	if len(seen) != 30 || seen[0] != "Group_paged-00" || seen[29] != "Group_paged-29" {
		t.Errorf("paged search saw %d groups: %v", len(seen), seen)
	}
	// stopping early is fine and reported
	stop := errors.New("stop")
	n := 0
	err = c.Groups(t.Context(), l.OU, "", ad.GroupQuery{}, func(ad.Group) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("early stop: n=%d err=%v", n, err)
	}
	// the connection is still usable after abandoning the paged search
	if _, err := c.Members(t.Context(), "CN=paged-00,"+l.OU); err != nil {
		t.Errorf("after early stop: %v", err)
	}
}

func TestGlobalCatalogLookups(t *testing.T) {
	l := labtest.AD(t)
	c := l.Conn(t)
	gc := l.GC(t)
	ctx := t.Context()
	users := l.CreateUsers(t, 5, "gc")
	var anchors []string
	for i := 0; i < 250; i++ { // more than one OR batch
		a := fmt.Sprintf("Group_gc-%s-%03d", l.Tag, i)
		anchors = append(anchors, a)
		if i%50 != 0 {
			continue
		}
		dn, _ := ad.JoinDN("CN", a, l.OU)
		if err := c.CreateGroup(ctx, dn, map[string][]string{ad.AttrExternalDirectoryObjectID: {a}}); err != nil {
			t.Fatal(err)
		}
	}
	found, err := gc.FindByAnchors(ctx, anchors)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 5 || found[anchors[200]] != "CN="+anchors[200]+","+l.OU {
		t.Errorf("FindByAnchors found %d: %v", len(found), found)
	}
	guids := []ad.GUID{users[0].GUID, users[4].GUID, {1, 2, 3}}
	byGUID, err := gc.FindByGUIDs(ctx, guids)
	if err != nil || len(byGUID) != 2 || !ldapdn.Equal(byGUID[users[4].GUID], users[4].DN) {
		t.Errorf("FindByGUIDs = %v, %v", byGUID, err)
	}
	bySID, err := gc.FindBySIDs(ctx, []string{users[1].SID, "S-1-5-21-1-2-3-4"})
	if err != nil || len(bySID) != 1 || !ldapdn.Equal(bySID[users[1].SID], users[1].DN) {
		t.Errorf("FindBySIDs = %v, %v", bySID, err)
	}
	// the DC connection answers the same lookups within its domain
	if m, err := c.FindByGUIDs(ctx, guids[:1]); err != nil || len(m) != 1 {
		t.Errorf("DC FindByGUIDs = %v, %v", m, err)
	}

	// Past one batch: every user is still found, each once, and every
	// batch's search is counted.
	many := make([]ad.GUID, 0, 1805)
	for i := range 1800 {
		many = append(many, ad.GUID{0xee, byte(i >> 8), byte(i)})
	}
	for _, u := range users {
		many = append(many, u.GUID)
	}
	before := gc.Searches()
	byGUID, err = gc.FindByGUIDs(ctx, many)
	if err != nil || len(byGUID) != len(users) {
		t.Fatalf("FindByGUIDs of %d values found %d, %v; want the %d users", len(many), len(byGUID), err, len(users))
	}
	for _, u := range users {
		if !ldapdn.Equal(byGUID[u.GUID], u.DN) {
			t.Errorf("FindByGUIDs(%s) = %q, want %q", u.GUID, byGUID[u.GUID], u.DN)
		}
	}
	if n := gc.Searches() - before; n != 10 {
		t.Errorf("FindByGUIDs of %d values counted %d searches, want 10 (one per batch of 200)", len(many), n)
	}
}

func TestContextCancel(t *testing.T) {
	l := labtest.AD(t)
	c := l.Conn(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := c.Search(ctx, l.OU, ad.ScopeSubtree, "(objectClass=*)", nil, func(*ldap.Entry) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled search: %v", err)
	}
}

// TestSwapValue: the swap writes only over the value it was given; any other
// value makes the whole modify fail and leaves the attribute as it was.
func TestSwapValue(t *testing.T) {
	l := labtest.AD(t)
	c := l.Conn(t)
	ctx := t.Context()
	dn := "CN=Swap " + l.Tag + "," + l.OU
	if err := c.CreateGroup(ctx, dn, map[string][]string{"sAMAccountName": {"swap-" + l.Tag}}); err != nil {
		t.Fatal(err)
	}
	attr := ad.AttrExternalDirectoryObjectID
	read := func() string {
		t.Helper()
		g, err := c.GroupByDN(ctx, dn, false)
		if err != nil || g == nil {
			t.Fatalf("read %s: %v", dn, err)
		}
		return g.Anchor
	}
	s := func(v string) *string { return &v }
	a, b := "Group_"+l.Tag+"-a", "Group_"+l.Tag+"-b"

	if err := c.SwapValue(ctx, dn, attr, nil, s(a)); err != nil || read() != a {
		t.Fatalf("absent -> a: %v, now %q", err, read())
	}
	// Expecting absent, but a is there.
	err := c.SwapValue(ctx, dn, attr, nil, s(b))
	if code := ad.Code(err); code != ad.CodeAttributeOrValueExists && code != ad.CodeConstraintViolation {
		t.Errorf("absent -> b over a: %v (code %d), want LDAP 19 or 20", err, code)
	}
	// Expecting b, but a is there.
	err = c.SwapValue(ctx, dn, attr, s(b), s("Group_"+l.Tag+"-c"))
	if ad.Code(err) != ad.CodeNoSuchAttribute || !strings.Contains(err.Error(), "swap "+attr+" of "+dn) {
		t.Errorf("b -> c over a: %v, want LDAP 16 naming the DN", err)
	}
	if got := read(); got != a {
		t.Fatalf("a failed swap changed the value to %q", got)
	}
	if err := c.SwapValue(ctx, dn, attr, s(a), s(b)); err != nil || read() != b {
		t.Fatalf("a -> b: %v, now %q", err, read())
	}
	if err := c.SwapValue(ctx, dn, attr, s(b), nil); err != nil || read() != "" {
		t.Fatalf("b -> absent: %v, now %q", err, read())
	}
}

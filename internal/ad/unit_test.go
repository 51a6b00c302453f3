package ad

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/writeback/writeback/internal/ldapdn"
)

// Known pairs: schemaIDGUID and attributeSecurityGUID of
// ms-DS-External-Directory-Object-Id as the Windows schema ships them (base64 of
// the stored bytes) and as Microsoft documents them (canonical string).
func TestGUIDKnownPairs(t *testing.T) {
	tests := []struct{ b64, canonical string }{
		{"kL8pva1m4UCIexDfBwQZpg==", "bd29bf90-66ad-40e1-887b-10df070419a6"},
		{"hri1d0qU0RGuvQAA+ANnwQ==", "77b5b886-944a-11d1-aebd-0000f80367c1"},
	}
	for _, tt := range tests {
		raw, _ := base64.StdEncoding.DecodeString(tt.b64)
		g, err := GUIDFromAD(raw)
		if err != nil {
			t.Fatal(err)
		}
		if g.String() != tt.canonical {
			t.Errorf("GUIDFromAD(%s) = %s, want %s", tt.b64, g, tt.canonical)
		}
		p, err := ParseGUID(strings.ToUpper(tt.canonical))
		if err != nil {
			t.Fatal(err)
		}
		if got := base64.StdEncoding.EncodeToString(p.AD()); got != tt.b64 {
			t.Errorf("ParseGUID(%s).AD() = %s, want %s", tt.canonical, got, tt.b64)
		}
		if p != g {
			t.Errorf("ParseGUID and GUIDFromAD disagree: %s vs %s", p, g)
		}
	}
}

func TestParseGUIDRejects(t *testing.T) {
	for _, s := range []string{"", "bd29bf90-66ad-40e1-887b-10df070419a", "bd29bf9066ad40e1887b10df070419a6", "zd29bf90-66ad-40e1-887b-10df070419a6"} {
		if _, err := ParseGUID(s); err == nil {
			t.Errorf("ParseGUID(%q) accepted", s)
		}
	}
	if _, err := GUIDFromAD([]byte{1, 2, 3}); err == nil {
		t.Error("GUIDFromAD of 3 bytes accepted")
	}
}

func TestSIDRoundTrip(t *testing.T) {
	for _, s := range []string{"S-1-5-21-3299956472-4209382109-3799050459-1102", "S-1-5-32-544", "S-1-1-0"} {
		b, err := SIDToAD(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := SIDFromAD(b)
		if err != nil || got != s {
			t.Errorf("SID round trip %s -> %s, %v", s, got, err)
		}
	}
	// S-1-5-32-544 (BUILTIN\Administrators) as AD stores it
	b, _ := SIDToAD("S-1-5-32-544")
	if want := "\x01\x02\x00\x00\x00\x00\x00\x05\x20\x00\x00\x00\x20\x02\x00\x00"; string(b) != want {
		t.Errorf("SIDToAD = %x, want %x", b, want)
	}
	for _, bad := range []string{"", "S-1", "X-1-5-1", "S-1-5-x", "S-1-5-4294967296"} {
		if _, err := SIDToAD(bad); err == nil {
			t.Errorf("SIDToAD(%q) accepted", bad)
		}
	}
}

func TestJoinDN(t *testing.T) {
	dn, err := JoinDN("CN", `Sales, "EMEA" <all>`, "OU=Groups,DC=contoso,DC=test")
	if err != nil || dn != `CN=Sales\, \"EMEA\" \<all\>,OU=Groups,DC=contoso,DC=test` {
		t.Errorf("JoinDN = %q, %v", dn, err)
	}
	// 64 UTF-16 units is the limit; an emoji counts 2.
	if _, err := JoinDN("CN", strings.Repeat("a", 64), "DC=x"); err != nil {
		t.Errorf("64 chars rejected: %v", err)
	}
	_, err = JoinDN("CN", strings.Repeat("a", 63)+"🎉", "DC=x")
	if err == nil || !strings.Contains(err.Error(), "65") || !strings.Contains(err.Error(), "at most 64") {
		t.Errorf("63 chars + emoji: err = %v, want a message naming 65 and the limit 64", err)
	}
	// Windows refuses a line feed or any control character in a CN.
	for _, bad := range []string{"", "nul\x00", "bad\xffutf8", "line\nfeed", "cr\r", "tab\t", "del\x7f", "c1\u0085"} {
		if _, err := JoinDN("CN", bad, "DC=x"); err == nil {
			t.Errorf("JoinDN(%q) accepted", bad)
		}
	}
}

func TestEscapeFilter(t *testing.T) {
	if got := EscapeFilter(`a*(b)\c` + "\x00é"); got != `a\2a\28b\29\5cc\00é` {
		t.Errorf("EscapeFilter = %q", got)
	}
	if got := EscapeFilterBytes([]byte{0, 0xff, 'a'}); got != `\00\ff\61` {
		t.Errorf("EscapeFilterBytes = %q", got)
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		in        string
		attr      string
		low, high int
		ok        bool
	}{
		{"member", "member", 0, 0, false},
		{"member;range=0-1499", "member", 0, 1499, true},
		{"member;Range=1500-*", "member", 1500, -1, true},
		{"member;range=bad", "member", 0, 0, false},
	}
	for _, tt := range tests {
		a, l, h, ok := parseRange(tt.in)
		if a != tt.attr || l != tt.low || h != tt.high || ok != tt.ok {
			t.Errorf("parseRange(%q) = %q %d %d %v", tt.in, a, l, h, ok)
		}
	}
}

func TestDiffMembers(t *testing.T) {
	cur := []string{"CN=a,DC=t", "CN=b,DC=t", `CN=c\,x,DC=t`}
	want := []string{"cn=A,dc=t", `CN=c\2Cx,DC=t`, "CN=d,DC=t", "CN=d,DC=t"}
	add, rm := DiffMembers(cur, want)
	if diff := cmp.Diff([]string{"CN=d,DC=t"}, add); diff != "" {
		t.Errorf("add (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"CN=b,DC=t"}, rm); diff != "" {
		t.Errorf("remove (-want +got):\n%s", diff)
	}
}

func TestOpErrorMessage(t *testing.T) {
	err := opErr("create group", "CN=x,OU=y", &ldap.Error{ResultCode: 68, Err: errNew("")})
	if got := err.Error(); got != "create group CN=x,OU=y: entry already exists (LDAP 68)" {
		t.Errorf("message = %q", got)
	}
	if !IsAlreadyExists(err) || IsNoSuchObject(err) {
		t.Error("IsAlreadyExists/IsNoSuchObject wrong")
	}
}

type strErr string

func (e strErr) Error() string { return string(e) }
func errNew(s string) error    { return strErr(s) }

// FuzzJoinDN: any value JoinDN accepts parses back to exactly that value, and
// the parent is preserved.
func FuzzJoinDN(f *testing.F) {
	for _, s := range []string{"Sales", `, + " \ < > ; = #`, " lead", "trail ", "#x", "a\x00b", "Ünï 🎉", "\\", "x\\", "=", "\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		dn, err := JoinDN("CN", v, "OU=Groups,DC=contoso,DC=test")
		if err != nil {
			return
		}
		rdns, err := ldapdn.Parse(dn)
		if err != nil {
			t.Fatalf("JoinDN(%q) = %q, which does not parse: %v", v, dn, err)
		}
		if len(rdns) != 4 || len(rdns[0]) != 1 || rdns[0][0].Value != v {
			t.Fatalf("JoinDN(%q) = %q parses to %+v", v, dn, rdns)
		}
		if ldapdn.Parent(dn) != "OU=Groups,DC=contoso,DC=test" || ldapdn.RDNValue(dn) != v {
			t.Fatalf("ParentDN/RDNValue of %q wrong", dn)
		}
		// go-ldap must agree with our escaping too, as it is what the server-side tests use.
		if ld, err := ldap.ParseDN(dn); err == nil && utf8.ValidString(v) && ld.RDNs[0].Attributes[0].Value != v {
			t.Fatalf("go-ldap parses %q to %q, want %q", dn, ld.RDNs[0].Attributes[0].Value, v)
		}
	})
}

// FuzzEscapeFilter: an escaped value embedded in a filter compiles, and the
// server would see exactly the original bytes.
func FuzzEscapeFilter(f *testing.F) {
	for _, s := range []string{"Group_1", "*)(objectClass=*", `\`, "\x00", "é🎉"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		filter := "(cn=" + EscapeFilter(v) + ")"
		p, err := ldap.CompileFilter(filter)
		if err != nil {
			if !utf8.ValidString(v) {
				return // go-ldap refuses invalid UTF-8 in filters; so would AD
			}
			t.Fatalf("CompileFilter(%q): %v", filter, err)
		}
		if p.Tag != ldap.FilterEqualityMatch || len(p.Children) != 2 {
			t.Fatalf("%q compiled to tag %d with %d children, want one equality match", filter, p.Tag, len(p.Children))
		}
		if got := p.Children[1].Data.String(); got != v {
			t.Fatalf("value %q came out as %q", v, got)
		}
	})
}

func TestChangedSinceFilter(t *testing.T) {
	if got, want := ChangedSinceFilter(41), "(&(msDS-ExternalDirectoryObjectId=Group_*)(uSNChanged>=42))"; got != want {
		t.Errorf("ChangedSinceFilter(41) = %s, want %s", got, want)
	}
	e := ldap.NewEntry("CN=x", map[string][]string{"uSNChanged": {"12345"}, "bad": {"x"}})
	if n, err := ParseUSN(e, "usnchanged"); n != 12345 || err != nil {
		t.Errorf("ParseUSN = %d, %v", n, err)
	}
	if _, err := ParseUSN(e, "bad"); err == nil {
		t.Error("ParseUSN of a non-number: no error")
	}
}

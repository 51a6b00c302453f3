package ldapdn

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		dn   string
		want []RDN
	}{
		{"CN=a\\,b,OU=x,DC=t", []RDN{{{"CN", "a,b"}}, {{"OU", "x"}}, {{"DC", "t"}}}},
		{`CN=\ lead\20 and trail\ ,DC=t`, []RDN{{{"CN", " lead  and trail "}}, {{"DC", "t"}}}},
		{`CN = spaced , DC=t`, []RDN{{{"CN", "spaced"}}, {{"DC", "t"}}}},
		{`CN=\C3\BC,DC=t`, []RDN{{{"CN", "ü"}}, {{"DC", "t"}}}},
		{`CN="quoted, value";DC=t`, []RDN{{{"CN", "quoted, value"}}, {{"DC", "t"}}}},
		{`CN=a+SN=b,DC=t`, []RDN{{{"CN", "a"}, {"SN", "b"}}, {{"DC", "t"}}}},
		{`CN=#04024869 ,DC=t`, []RDN{{{"CN", "Hi"}}, {{"DC", "t"}}}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.dn)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.dn, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", tt.dn, diff)
		}
	}
	for _, bad := range []string{"CN", "CN=a,", "=a", `CN=a\`, `CN=a\0`, `CN="open`, `CN=#zz`, `CN=#0402`} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// The review's case: the two old implementations disagreed on the parent of
// a quoted value and on ';'.
func TestParentAndFirstRDN(t *testing.T) {
	tests := []struct{ dn, parent, first, value string }{
		{`CN="a,b",OU=X,DC=t`, "OU=X,DC=t", `CN="a,b"`, "a,b"},
		{`CN=a;OU=X,DC=t`, "OU=X,DC=t", "CN=a", "a"},
		{`CN=a\,b,OU=x\+y,DC=contoso,DC=test`, `OU=x\+y,DC=contoso,DC=test`, `CN=a\,b`, "a,b"},
		{`CN=Sales , OU=X`, "OU=X", "CN=Sales", "Sales"},
		{"DC=test", "", "DC=test", "test"},
		{"", "", "", ""},
	}
	for _, tt := range tests {
		if got := Parent(tt.dn); got != tt.parent {
			t.Errorf("Parent(%q) = %q, want %q", tt.dn, got, tt.parent)
		}
		if got := FirstRDN(tt.dn); got != tt.first {
			t.Errorf("FirstRDN(%q) = %q, want %q", tt.dn, got, tt.first)
		}
		if got := RDNValue(tt.dn); got != tt.value {
			t.Errorf("RDNValue(%q) = %q, want %q", tt.dn, got, tt.value)
		}
	}
}

func TestNormAndEqual(t *testing.T) {
	same := [][]string{
		{`CN="a,b",OU=X,DC=t`, `cn=a\,b,ou=x,dc=t`, `CN=a\2Cb, OU=X ,DC=T`, `CN=a\2cb;OU=x;DC=t`},
		{`CN=Équipe,DC=x`, `cn=équipe,dc=x`, `CN=\C3\89quipe,DC=x`},
		{`CN=a+SN=b,DC=t`, `sn=B+cn=A,dc=t`},
		{`CN=#04024869,DC=t`, `cn=hi,dc=t`},
	}
	for _, group := range same {
		for _, d := range group[1:] {
			if !Equal(group[0], d) {
				t.Errorf("Equal(%q, %q) = false; Norm %q vs %q", group[0], d, Norm(group[0]), Norm(d))
			}
		}
	}
	if Equal("CN=a,DC=t", "CN=b,DC=t") || Equal(`CN=a\,b,DC=t`, "CN=a,CN=b,DC=t") {
		t.Error("different DNs compare equal")
	}
	if got := Norm("CN=Builtin,DC=x"); !strings.Contains(got, ",dc=x") || got != "cn=builtin,dc=x" {
		t.Errorf("Norm = %q, want lower-case types and values", got)
	}
	if got := Norm(" Not A DN "); got != "not a dn" {
		t.Errorf("Norm of an unparsable DN = %q", got)
	}
}

func TestWithin(t *testing.T) {
	for _, tt := range []struct {
		dn, base string
		want     bool
	}{
		{"CN=a,OU=X,DC=t", "ou=x,dc=T", true},
		{"OU=X,DC=t", "OU=X,DC=t", true},
		{"CN=a,OU=XY,DC=t", "OU=Y,DC=t", false},
		{"CN=a,DC=u", "", true},
	} {
		if got := Within(tt.dn, tt.base); got != tt.want {
			t.Errorf("Within(%q, %q) = %v", tt.dn, tt.base, got)
		}
	}
}

func TestNormPlainMatchesParser(t *testing.T) {
	for _, d := range []string{
		"CN=Sales Team_0123456789ab,OU=Groups,DC=corp,DC=example",
		" CN = Sales , OU=X ,DC=y ",
		"cn=Équipe Montréal,ou=Grüppen,dc=x",
		"CN=a=b,DC=x",
		"CN=,DC=x",
		"CN=(weird) [name] {x} & 100%,DC=x",
	} {
		got, ok := normPlain(d)
		if !ok {
			t.Errorf("normPlain(%q) took the slow path", d)
			continue
		}
		if want := normParsed(d); got != want {
			t.Errorf("normPlain(%q) = %q, parser gives %q", d, got, want)
		}
	}
	for _, d := range []string{`CN=a\,b,DC=x`, `CN=a+UID=b,DC=x`, `CN=#41,DC=x`, `CN="q",DC=x`, "CN=a,,DC=x", "CN=a,", ""} {
		if _, ok := normPlain(d); ok {
			t.Errorf("normPlain(%q) should leave it to the parser", d)
		}
	}
}

func TestEscape(t *testing.T) {
	if got := Escape(`#a,b+c"d\e<f>g;h=i ` + "\x00"); got != `\#a\,b\+c\"d\\e\<f\>g\;h\=i \00` {
		t.Errorf("Escape = %q", got)
	}
	if got := Escape(" x "); got != `\ x\ ` {
		t.Errorf("Escape of spaces = %q", got)
	}
}

// FuzzParse: Parse never panics; what it returns re-formats into a DN that
// parses to the same RDNs; Parent and FirstRDN split where Parse does.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"CN=a,DC=b", `CN=a\,b+SN=c;DC=d`, `CN="q,\"x",DC=e`, `CN=\e2\82\ac`, "CN= ", "CN=#04", `CN="a,b",OU=X,DC=t`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, d string) {
		rdns, err := Parse(d)
		if err != nil {
			return
		}
		for _, r := range rdns {
			for _, a := range r {
				if strings.ContainsAny(a.Type, "=,+;") {
					t.Fatalf("type %q from %q", a.Type, d)
				}
			}
		}
		again, err := Parse(Format(rdns))
		if err != nil {
			t.Fatalf("Format(%q) = %q does not parse: %v", d, Format(rdns), err)
		}
		if diff := cmp.Diff(emptyNil(rdns), emptyNil(again)); diff != "" {
			t.Fatalf("round trip of %q (-first +second):\n%s", d, diff)
		}
		if len(rdns) > 1 {
			p, err := Parse(Parent(d))
			if err != nil {
				t.Fatalf("Parent(%q) = %q does not parse: %v", d, Parent(d), err)
			}
			if diff := cmp.Diff(rdns[1:], p); diff != "" {
				t.Fatalf("Parent(%q) = %q (-want +got):\n%s", d, Parent(d), diff)
			}
		}
		if len(rdns) == 0 {
			return
		}
		if fr, err := Parse(FirstRDN(d)); err != nil || len(fr) != 1 || !cmp.Equal(fr[0], rdns[0]) {
			t.Fatalf("FirstRDN(%q) = %q parses to %v, %v", d, FirstRDN(d), fr, err)
		}
	})
}

// FuzzNorm: Norm is idempotent, its parser-free path gives the parser's
// answer, and escaping any value yields a DN whose value and parent survive.
func FuzzNorm(f *testing.F) {
	for _, s := range []string{`CN=a\,b,OU=x,DC=y`, `cn=a\2cb, ou=X`, " cn = é , dc=X ", "CN=a=b,,DC=x", `CN="a,b",OU=X`, "Ünï 🎉", "#x", " lead"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, d string) {
		n := Norm(d)
		if Norm(n) != n {
			t.Fatalf("Norm not idempotent: %q -> %q -> %q", d, n, Norm(n))
		}
		if got, ok := normPlain(d); ok && got != normParsed(d) {
			t.Fatalf("normPlain(%q) = %q, parser gives %q", d, got, normParsed(d))
		}
		// d as a value
		joined := "CN=" + Escape(d) + ",OU=Groups,DC=t"
		if RDNValue(joined) != d || Parent(joined) != "OU=Groups,DC=t" {
			t.Fatalf("Escape(%q) = %q: value %q, parent %q", d, Escape(d), RDNValue(joined), Parent(joined))
		}
		// go-ldap, which the in-process test server uses, must agree with our escaping.
		if ld, err := ldap.ParseDN(joined); err == nil && utf8.ValidString(d) && ld.RDNs[0].Attributes[0].Value != d {
			t.Fatalf("go-ldap parses %q to %q, want %q", joined, ld.RDNs[0].Attributes[0].Value, d)
		}
	})
}

func TestEscapeTable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Sales", "Sales"},
		{"a,b", `a\,b`},
		{`x+y"z\w<v>;u=t`, `x\+y\"z\\w\<v\>\;u\=t`},
		{"#hash", `\#hash`},
		{"mid#dle", "mid#dle"},
		{" lead", `\ lead`},
		{"trail ", `trail\ `},
		{" ", `\ `},
		{"a\x00b", `a\00b`},
		{"line\nbreak", `line\0Abreak`},
		{"Ünïcødé 🎉", "Ünïcødé 🎉"},
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestParentAndRDN is ad's former test of its DN helpers (its parse cases
// are in TestParse).
func TestParentAndRDN(t *testing.T) {
	dn := `CN=a\,b,OU=x\+y,DC=contoso,DC=test`
	if p := Parent(dn); p != `OU=x\+y,DC=contoso,DC=test` {
		t.Errorf("ParentDN = %q", p)
	}
	if v := RDNValue(dn); v != "a,b" {
		t.Errorf("RDNValue = %q", v)
	}
	if p := Parent("DC=test"); p != "" {
		t.Errorf("ParentDN of a single RDN = %q", p)
	}
	if r := FirstRDN(dn); r != `CN=a\,b` {
		t.Errorf("firstRDN = %q", r)
	}
	if !Equal(`cn=A\2Cb,ou=X\+Y,dc=Contoso,dc=test`, dn) {
		t.Error("EqualDN: case and escaping style should not matter")
	}
}

func emptyNil(r []RDN) []RDN {
	if len(r) == 0 {
		return nil
	}
	return r
}

func TestDomainNCAndDNSName(t *testing.T) {
	for _, tt := range []struct{ dn, nc, dns string }{
		{"CN=alice,OU=Users,DC=Contoso,DC=com", "DC=Contoso,DC=com", "contoso.com"},
		{"CN=x\\,DC=evil,DC=child,DC=x", "DC=child,DC=x", "child.x"}, // an escaped comma is not a separator
		{"CN=a, DC=x", "DC=x", "x"},
		{"DC=x", "DC=x", "x"},
		{"CN=no domain", "", ""},
	} {
		if got := DomainNC(tt.dn); got != tt.nc {
			t.Errorf("DomainNC(%q) = %q, want %q", tt.dn, got, tt.nc)
		}
		if got := DNSName(DomainNC(tt.dn)); got != tt.dns {
			t.Errorf("DNSName(DomainNC(%q)) = %q, want %q", tt.dn, got, tt.dns)
		}
	}
}

// An escaped space at the end of an RDN is the value's: FirstRDN, Parent
// and DomainNC keep it (the fuzzer found FirstRDN(`0=\ \ ,0=`) = `0=\ \`).
func TestEscapedTrailingSpaceKept(t *testing.T) {
	if got := FirstRDN(`CN=a\ ,DC=x`); got != `CN=a\ ` {
		t.Errorf("FirstRDN = %q", got)
	}
	if got := Parent(`CN=a,DC=x\ `); got != `DC=x\ ` {
		t.Errorf("Parent = %q", got)
	}
	if got := FirstRDN(`CN=a\\ ,DC=x`); got != `CN=a\\` { // an escaped backslash, then a space to trim
		t.Errorf("FirstRDN (escaped backslash) = %q", got)
	}
	if got := DomainNC(`CN=a,DC=x\ `); got != `DC=x\ ` {
		t.Errorf("DomainNC = %q", got)
	}
}

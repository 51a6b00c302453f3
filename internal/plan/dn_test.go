package plan

import "testing"

func TestNormDNPlainMatchesParser(t *testing.T) {
	for _, dn := range []string{
		"CN=Sales Team_0123456789ab,OU=Groups,DC=corp,DC=example",
		" CN = Sales , OU=X ,DC=y ",
		"cn=Équipe Montréal,ou=Grüppen,dc=x",
		"CN=a=b,DC=x",
		"CN=,DC=x",
		"CN=(weird) [name] {x} & 100%,DC=x",
	} {
		got, ok := normPlainDN(dn)
		if !ok {
			t.Errorf("normPlainDN(%q) took the slow path", dn)
			continue
		}
		if want := normParsedDN(dn); got != want {
			t.Errorf("normPlainDN(%q) = %q, parser gives %q", dn, got, want)
		}
	}
	for _, dn := range []string{`CN=a\,b,DC=x`, `CN=a+UID=b,DC=x`, `CN=#41,DC=x`, `CN="q",DC=x`, "CN=a,,DC=x", "CN=a,", ""} {
		if _, ok := normPlainDN(dn); ok {
			t.Errorf("normPlainDN(%q) should leave it to the parser", dn)
		}
	}
}

// FuzzNormPlainDN checks that the parser-free path gives the parser's result
// whenever it answers.
func FuzzNormPlainDN(f *testing.F) {
	f.Add("CN=Sales,OU=Groups,DC=corp,DC=example")
	f.Add(" cn = é , dc=X ")
	f.Add("CN=a=b,,DC=x")
	f.Fuzz(func(t *testing.T, dn string) {
		got, ok := normPlainDN(dn)
		if !ok {
			return
		}
		if want := normParsedDN(dn); got != want {
			t.Fatalf("normPlainDN(%q) = %q, parser gives %q", dn, got, want)
		}
	})
}

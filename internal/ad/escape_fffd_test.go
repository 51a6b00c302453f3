package ad

import (
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// A value with U+FFFD (or invalid UTF-8) compiles as a filter and keeps its
// bytes; go-ldap refuses the literal rune (reliability review D14).
func TestEscapeFilterReplacementCharacter(t *testing.T) {
	for _, v := range []string{"bad\uFFFDx", "Zürich \uFFFD東京", "raw\xffbyte", "a*(b)\\c"} {
		f := "(sAMAccountName=" + EscapeFilter(v) + ")"
		p, err := ldap.CompileFilter(f)
		if err != nil {
			t.Errorf("%q: %v", f, err)
			continue
		}
		back, err := ldap.DecompileFilter(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Children[1].Data.String(); got != v {
			t.Errorf("%q: value %q, want %q (decompiled %q)", f, got, v, back)
		}
	}
	if got := EscapeFilter("bad\uFFFDx"); got != `bad\ef\bf\bdx` {
		t.Errorf("EscapeFilter = %q", got)
	}
}

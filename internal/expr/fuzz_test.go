package expr

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// seedFuzz adds every documented example (and a few hostile shapes) as seeds.
func seedFuzz(f *testing.F, add func(src string)) {
	for _, d := range loadExamples(f) {
		add(d.Expr)
	}
	for _, s := range []string{
		defaultCN,
		`Append("Group_", [objectId])`,
		`IIF([a] >= 1, "x" & [b], Error("e"))`,
		`Replace([a], , "^(a+)+$", , "", , )`,
		`Replace(Replace([a], "x", , , , , "xxxx"), "x", , , , , "xxxx")`,
		strings.Repeat("Trim(", 120) + "[a]" + strings.Repeat(")", 120),
		`Mid([a], 2147483647, 2147483647)`,
		`DateAdd("yyyy", -99999999999, Now())`,
		`FormatDateTime([a], "%d'x'\\y", "dddd MMMM yyyyy fffffff zzz K")`,
	} {
		add(s)
	}
}

// fuzzAttrs gives the fuzzer's expressions something to chew on: single,
// multi-valued, empty and non-ASCII values under common names.
func fuzzAttrs(v string) map[string][]string {
	return map[string][]string{
		"a":           {v},
		"b":           {v, "x", ""},
		"displayName": {v},
		"objectId":    {"00aa00aa-bb11-cc22-dd33-44ee44ee44ee"},
		"empty":       {""},
	}
}

// FuzzParse checks that no input crashes or hangs the parser, that the
// canonical form of anything accepted parses back to itself, and that
// evaluation of anything accepted terminates without a panic.
func FuzzParse(f *testing.F) {
	seedFuzz(f, func(s string) { f.Add(s) })
	f.Fuzz(func(t *testing.T, src string) {
		defer watchdog(t, src)()
		e, err := Parse(src)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "position ") && !strings.HasPrefix(err.Error(), "expression ") {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		canon := e.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, src, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form not stable: %q -> %q", canon, again.String())
		}
		_, _ = e.Eval(Context{Attrs: fuzzAttrs("Zoë 😀 x"), Now: time.Unix(1700000000, 0)})
	})
}

// FuzzEval varies the attribute value under the documented expressions.
func FuzzEval(f *testing.F) {
	seedFuzz(f, func(s string) { f.Add(s, "  Sales Team 😀 é ") })
	f.Fuzz(func(t *testing.T, src, value string) {
		defer watchdog(t, src)()
		e, err := Parse(src)
		if err != nil {
			return
		}
		v, err := e.Eval(Context{Attrs: fuzzAttrs(value), Now: time.Unix(1700000000, 0)})
		if err != nil {
			return
		}
		if v.size() > MaxValueLen {
			t.Fatalf("value of %d bytes escaped the limit", v.size())
		}
	})
}

// watchdog fails the fuzz input if parsing and evaluating it takes more than a
// few seconds: a mapping must never hang the daemon.
func watchdog(t *testing.T, src string) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			panic(fmt.Sprintf("expression %q took more than 5s", src))
		}
	}()
	return func() { close(done) }
}

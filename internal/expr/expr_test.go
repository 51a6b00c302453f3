package expr

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const defaultCN = `Append(Append(Left(Trim([displayName]), 51), "_"), Mid([objectId], 25, 12))`

func eval(t *testing.T, src string, attrs map[string][]string) Value {
	t.Helper()
	e, err := Parse(src)
	if err != nil {
		t.Fatalf("Parse(%s): %v", src, err)
	}
	v, err := e.Eval(Context{Attrs: attrs, Now: time.Date(2024, 2, 29, 13, 5, 9, 0, time.UTC)})
	if err != nil {
		t.Fatalf("Eval(%s): %v", src, err)
	}
	return v
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src, want string
	}{
		{``, "position 1: expected an expression"},
		{`   `, "position 4: expected an expression"},
		{`Append([a] "x")`, `position 12: expected ',' or ')', found '"'`},
		{`Append(Append(Left(Trim([displayName]), 51), "_" Mid([objectId], 25, 12))`, `position 50: expected ',' or ')', found 'M'`},
		{`Append([a], "x"`, "position 16: expected ',' or ')', found end of expression"},
		{`Append([a], "x`, `position 13: expected '"' to close the string`},
		{`Append([a, "x")`, "position 8: expected ']' to close the attribute name"},
		{`Append([], "x")`, "position 8: expected an attribute name"},
		{`Apend([a], "x")`, `position 1: unknown function "Apend"`},
		{`Concat([a], "x")`, `position 1: unknown function "Concat"; use Append or Join`},
		{`Left([a])`, "position 1: Left takes 2 arguments, got 1"},
		{`Left([a], 1, 2)`, "position 1: Left takes 2 arguments, got 3"},
		{`Mid([a])`, "position 1: Mid takes 2 to 3 arguments, got 1"},
		{`Join(",")`, "position 1: Join takes at least 2 arguments, got 1"},
		{`Switch([a], "d", "k")`, "position 1: Switch takes source, defaultValue and key/value pairs"},
		{`Left(, 3)`, "position 6: expected an attribute, a string, a number or a function, the String argument of Left"},
		{`Trim`, "position 5: expected '(' after function name Trim"},
		{`Append([a], "x") Append([b], "y")`, "position 18: expected end of expression, found 'A'"},
		{`ToUpper(SelectUniqueValue([a], [b]))`, "position 9: SelectUniqueValue must be the outermost function"},
		{`Replace([a], , "(unclosed", , "", , )`, `position 16: regexPattern "(unclosed" is not a valid regular expression`},
		{`DateAdd("fortnight", 1, Now())`, `position 9: interval "fortnight" is not one of`},
		{`InStr("a", "b", 1, vbSometimesCompare)`, `position 20: compareType "vbSometimesCompare"`},
		{`ConvertFromBase64("eA==", EBCDIC)`, `position 27: encoding "EBCDIC"`},
		{`IIF([a] = "x" = "y", "1", "2")`, "comparisons cannot be chained"},
		{`Left([a], 3x)`, "position 12: expected ',' or ')' after the number 3"},
		{`&HFFFFFFFFFFFFFFFFF`, "position 1: hex number &HFFFFFFFFFFFFFFFFF is too large"},
		{`Replace([a], , , , "x")`, "Replace needs oldValue or regexPattern"},
		{`ToLower([a], "not a culture!")`, `culture "not a culture!"`},
		// Positions count characters, not bytes.
		{`Append("Zoë", "x" "y")`, `position 19: expected ',' or ')'`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%s) error = %v, want it to contain %q", tt.src, err, tt.want)
		}
	}
}

func TestParseLimits(t *testing.T) {
	deep := strings.Repeat("Trim(", MaxDepth+1) + "[a]" + strings.Repeat(")", MaxDepth+1)
	if _, err := Parse(deep); err == nil || !strings.Contains(err.Error(), "nested deeper than") {
		t.Errorf("deep nesting: err = %v", err)
	}
	ok := strings.Repeat("Trim(", MaxDepth) + "[a]" + strings.Repeat(")", MaxDepth)
	if _, err := Parse(ok); err != nil {
		t.Errorf("nesting at the limit: %v", err)
	}
	long := `"` + strings.Repeat("x", MaxSourceLen) + `"`
	if _, err := Parse(long); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("long source: err = %v", err)
	}
	if _, err := Parse("Append(\"\xff\", \"x\")"); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
}

func TestCanonicalForm(t *testing.T) {
	tests := []struct{ src, want string }{
		{defaultCN, defaultCN},
		{`append( [a] ,"x" )`, `Append([a], "x")`},
		{`Replace([mail], "@contoso.com", , ,"", ,)`, `Replace([mail], "@contoso.com",,, "",,)`},
		{`IIF([c]="USA",[c],[d])`, `IIF([c] = "USA", [c], [d])`},
		{`"a\\b\"c"`, `"a\\b\"c"`},
		{`BitAnd(&hf, &HF7)`, `BitAnd(&HF, &HF7)`},
		{`InStr("a","b",1,vbTextCompare)`, `InStr("a", "b", 1, vbTextCompare)`},
		{`IIF([t]="I","t-" & [a],[a])`, `IIF([t] = "I", "t-" & [a], [a])`},
		{"Switch([a], ,\n \"1\", \"x\")", `Switch([a],, "1", "x")`},
		{`cstr(guid())`, `CStr(Guid())`},
		{`"\d+"`, `"\\d+"`}, // a lone backslash is kept literally, and printed escaped
	}
	for _, tt := range tests {
		e, err := Parse(tt.src)
		if err != nil {
			t.Fatalf("Parse(%s): %v", tt.src, err)
		}
		if got := e.String(); got != tt.want {
			t.Errorf("String(%s) = %s, want %s", tt.src, got, tt.want)
		}
	}
}

func TestAttributes(t *testing.T) {
	e := MustParse(`IIF([country]="USA", Join(",", [Country], [dept], [city]), Coalesce([mail], [dept]))`)
	if diff := cmp.Diff([]string{"country", "dept", "city", "mail"}, e.Attributes()); diff != "" {
		t.Errorf("Attributes (-want +got):\n%s", diff)
	}
}

func TestAttributeNamesAreCaseInsensitive(t *testing.T) {
	v := eval(t, `Append([DisplayName], "!")`, map[string][]string{"displayName": {"Sales"}})
	if v.Text() != "Sales!" {
		t.Errorf("got %q", v.Text())
	}
	// An exact-case key wins over a case-insensitive one.
	v = eval(t, `[Name]`, map[string][]string{"name": {"lower"}, "Name": {"exact"}})
	if v.Text() != "exact" {
		t.Errorf("got %q, want exact", v.Text())
	}
}

func TestDefaultCN(t *testing.T) {
	id := "00aa00aa-bb11-cc22-dd33-44ee44ee44ee"
	tests := []struct{ name, displayName, want string }{
		{"plain", "Sales", "Sales_44ee44ee44ee"},
		{"trimmed", "  Sales\t", "Sales_44ee44ee44ee"},
		{"cut at 51 ASCII", strings.Repeat("a", 60), strings.Repeat("a", 51) + "_44ee44ee44ee"},
		// .NET counts UTF-16 units: é is one unit, so 51 of them survive.
		{"cut at 51 accented", strings.Repeat("é", 60), strings.Repeat("é", 51) + "_44ee44ee44ee"},
		// An emoji is two UTF-16 units: 25 fit in 50 units, the 26th would straddle 51.
		{"cut at a surrogate pair", strings.Repeat("😀", 30), strings.Repeat("😀", 25) + "_44ee44ee44ee"},
		{"mixed", "x" + strings.Repeat("😀", 30), "x" + strings.Repeat("😀", 25) + "_44ee44ee44ee"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := eval(t, defaultCN, map[string][]string{"displayName": {tt.displayName}, "objectId": {id}})
			if v.Text() != tt.want {
				t.Errorf("got %q, want %q", v.Text(), tt.want)
			}
		})
	}
}

func TestSemantics(t *testing.T) {
	attrs := map[string][]string{
		"one":   {"Ab c"},
		"empty": {""},
		"multi": {"  x ", "y", "x"},
		"num":   {"42"},
		"emoji": {"a😀b"},
		"sid":   {"AQUAAAAAAAUVAAAAoGXPfnhLm1/nfIdwUAQAAA=="},
	}
	tests := []struct {
		src  string
		want any // string, []string or nil
	}{
		{`Append([missing], "x")`, "x"},
		{`Append([one], [missing])`, "Ab c"},
		{`Append([missing], [missing2])`, nil},
		{`Append([multi], "!")`, []string{"  x !", "y!", "x!"}},
		{`Left([missing], 3)`, ""},
		{`Left([one], -1)`, "Ab c"},
		{`Left([one], 0)`, ""},
		{`Left([one], 99)`, "Ab c"},
		{`Mid([one], 3)`, " c"},
		{`Mid([one], 9, 2)`, ""},
		{`Mid([emoji], 2, 2)`, "😀"},
		{`Mid([emoji], 3, 2)`, "b"}, // starts inside the surrogate pair: the half character is dropped
		{`Mid([missing], 1, 2)`, nil},
		{`Trim([multi])`, []string{"x", "y", "x"}},
		{`Trim([missing])`, nil},
		{`RemoveDuplicates(Trim([multi]))`, []string{"x", "y"}},
		{`Count([multi])`, "3"},
		{`Count([missing])`, "0"},
		{`Item([multi], 2)`, "y"},
		{`Item([missing], 1)`, nil},
		{`Join("|", [missing], [empty], [one], [multi])`, "Ab c|  x |y|x"},
		{`Join("|", [missing])`, nil},
		{`Coalesce([missing], [empty], [one])`, ""},
		{`Coalesce([missing], , "d")`, "d"},
		{`Coalesce([missing])`, nil},
		{`IsPresent([empty])`, "False"},
		{`IsPresent([one])`, "True"},
		{`IsString([multi])`, "False"},
		{`IsString([one])`, "True"},
		{`Not(IsNull([one]))`, "True"},
		{`Not("false")`, "True"},
		{`Not("anything")`, "True"},
		{`Not("TRUE")`, "False"},
		{`CBool([num])`, "True"},
		{`CBool("0")`, "False"},
		{`IIF([num] > 5, "big", "small")`, "big"},
		{`IIF([num] > "100", "big", "small")`, "small"}, // numbers compare as numbers
		{`IIF("b" > "a", "yes", "no")`, "yes"},
		{`IIF([missing] <> "x", "yes", "no")`, "no"}, // a null operand fails the condition
		{`IIF([one] = "ab c", "yes", "no")`, "no"},   // case-sensitive
		{`IIF(IsNullOrEmpty([missing]), "Other", [missing])`, "Other"},
		{`IIF([num], "yes", "no")`, "yes"},
		{`IIF("True", "yes", Error("never evaluated"))`, "yes"},
		{`Switch([missing], "d", "", "was empty")`, "was empty"},
		{`Switch([one], , "x", "y")`, nil},
		{`Switch([one], "", "x", "y")`, ""},
		{`StripSpaces([one])`, "Abc"},
		{`ToUpper("istanbul", "tr-TR")`, "İSTANBUL"},
		{`ToLower("İSTANBUL", "tr-TR")`, "istanbul"},
		{`ToUpper("straße")`, "STRAßE"}, // invariant culture keeps ß
		{`NormalizeDiacritics("Łukasz Søren Æsa Straße Ĳsbrand ő ń")`, "Lukasz Soeren AEsa Strasse Ĳsbrand o n"},
		{`NormalizeDiacritics("がぎ")`, "がぎ"}, // Japanese voicing marks are not diacritics
		{`PCase("o'NEIL mcdonald-SMITH 2nd")`, "O'neil Mcdonald-Smith 2Nd"},
		{`Word("a,,b", 2, ",")`, "b"},
		{`Word("a b", 0, " ")`, ""},
		{`Word([missing], 1, " ")`, ""},
		{`Split("a;b;;c", ";")`, []string{"a", "b", "", "c"}},
		{`Split([missing], ";")`, nil},
		{`InStr("abc", "C", 1, vbTextCompare)`, "3"},
		{`InStr("abc", "C")`, "0"},
		{`InStr("a😀b", "b")`, "4"},
		{`InStr("abc", "")`, "1"},
		{`InStr("abc", "c", 4)`, "0"},
		{`BitAnd([num], 10)`, "10"},
		{`BitAnd(&H80000000, 2147483648)`, "2147483648"},
		{`Replace("a.b.c", ".", , , "-", , )`, "a-b-c"},
		{`Replace("aaa", "", , , "b", , )`, "aaa"},
		{`Replace("John Smith", , "(?<first>\\w+) (?<last>\\w+)", , "${last}, ${first}", , )`, "Smith, John"},
		{`Replace("2021-08-24", , "(?<=-)0", , "", , )`, "2021-8-24"}, // lookbehind: .NET, not RE2
		{`Replace([missing], "a", , , "b", , )`, nil},
		{`Replace([multi], "x", , , "z", , )`, []string{"  z ", "y", "z"}},
		{`DNComponent("CN=Smith\\, John,OU=Sales,DC=contoso,DC=com", 1)`, "Smith, John"},
		{`DNComponent("CN=a,OU=Sales,DC=contoso", 2)`, "Sales"},
		{`DNComponent("CN=a", 5)`, nil},
		{`StringFromSid([sid])`, "S-1-5-21-2127521184-1604012920-1887927527-1104"},
		{`ConvertFromBase64(ConvertToBase64("Zoë 😀"))`, "Zoë 😀"},
		{`ConvertFromBase64("SGVsbG8=", ASCII)`, "Hello"},
		{`ConvertToUTF8Hex("é")`, "C3A9"},
		{`CDate("2021-08-24")`, "8/24/2021 12:00:00 AM"},
		{`CDate("8/24/2021 1:02:03 PM")`, "8/24/2021 1:02:03 PM"},
		{`CDate("2021-08-24T23:30:00.1234567-01:00")`, "8/25/2021 12:30:00 AM"},
		{`DateAdd("m", 1, "2021-01-31")`, "2/28/2021 12:00:00 AM"}, // .NET AddMonths clamps the day
		{`DateAdd("yyyy", 1, "2024-02-29")`, "2/28/2025 12:00:00 AM"},
		{`DateAdd("h", -1, "2021-01-01")`, "12/31/2020 11:00:00 PM"},
		{`DateAdd("q", 1, "2021-01-15")`, "4/15/2021 12:00:00 AM"},
		{`DateDiff("d", "2021-08-24T23:00:00Z", "2021-08-25T01:00:00Z")`, "1"}, // one midnight crossed
		{`DateDiff("d", "2021-08-24T01:00:00Z", "2021-08-24T23:00:00Z")`, "0"},
		{`DateDiff("h", "2021-08-24T10:59:00Z", "2021-08-24T11:01:00Z")`, "1"},
		{`DateDiff("yyyy", "2021-12-31", "2022-01-01")`, "1"},
		{`DateDiff("m", "2021-01-31", "2021-02-01")`, "1"},
		{`DateDiff("ww", "2021-08-21", "2021-08-22")`, "1"}, // Saturday to Sunday crosses a week start
		{`DateDiff("w", "2021-08-21", "2021-08-27")`, "0"},
		{`DateDiff("d", [missing], Now())`, nil},
		{`NumFromDate("1601-01-01T00:00:00Z")`, "0"},
		{`DateFromNum(NumFromDate("2024-02-29T13:05:09Z"))`, "2/29/2024 1:05:09 PM"},
		{`Now()`, "2/29/2024 1:05:09 PM"},
		{`FormatDateTime("2024-02-29 13:05", "yyyy-MM-dd HH:mm", "dddd d MMMM yy, h tt")`, "Thursday 29 February 24, 1 PM"},
		{`FormatDateTime("20240229130509.0Z", , "yyyyMMddHHmmss.fZ", "o")`, "2024-02-29T13:05:09.0000000Z"},
		{`FormatDateTime("29/02/2024", "RoundtripKind, AllowLeadingWhite", "dd/MM/yyyy", "yyyy\\-MM\\-dd")`, "2024-02-29"},
		{`FormatDateTime([missing], "yyyy", "yy")`, nil},
		{`Redact([one])`, "Ab c"},
		{`SingleAppRoleAssignment([multi])`, "  x "},
		{`CStr(42)`, "42"},
		{`(Append("a", "b"))`, "ab"},
		{`"x" & [missing] & 1`, "x1"},
		{`vbTextCompare`, "vbTextCompare"},
		{`-1.5`, "-1.5"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			v := eval(t, tt.src, attrs)
			var got any
			switch v.Kind() {
			case KindSingle:
				got = v.Text()
			case KindMulti:
				got = v.Values()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	attrs := map[string][]string{"multi": {"a", "b"}, "one": {"x"}, "date": {"yesterday"}}
	tests := []struct{ src, want string }{
		{`Item([multi], 3)`, "position 1: Item: index 3 is out of range: the attribute has 2 values"},
		{`Item([multi], 0)`, "index 0 is out of range"},
		{`Mid([one], 0, 1)`, "position 1: Mid: start is 0; the first character is 1"},
		{`Append("a", Left([one], [one]))`, `position 13: Left: NumChars "x" is not a whole number`},
		{`Left([one], [missing])`, "NumChars is empty"},
		{`IIF([multi] = "a", "1", "2")`, "must be single-valued, got 2 values"},
		{`IIF([one], "1", "2")`, `condition evaluated to "x", which is neither True nor False`},
		{`CBool("maybe")`, `"maybe" is neither True, False nor a number`},
		{`CDate([date])`, `"yesterday" is not a date and time`},
		{`FormatDateTime("2024-13-01", "yyyy-MM-dd", "d")`, "does not match inputFormat"},
		{`Error("Department is required")`, "position 1: Error: Department is required"},
		{`AppRoleAssignmentsComplex([appRoleAssignments])`, "do not apply to groups"},
		{`RandomString(300, 1, 1, 1, 1)`, "Length is 300; the maximum is 256"},
		{`RandomString(3, 1, 1, 1, 1)`, "the minimums add up to 4, more than Length 3"},
		{`RandomString(4, 4, 0, 0, 0, "0123456789")`, "CharactersToAvoid excludes every character MinimumNumbers needs"},
		{`DateFromNum("-1")`, "is not an AD date"},
		{`ConvertFromBase64("%%%")`, "is not base64"},
		{`StringFromSid("nonsense")`, "is not a binary security identifier"},
		{`Replace([one], , [one], "nogroup", "x", , )`, `regexGroupName "nogroup" is not a group`},
		{`Replace([one], , Append("(", ""), , "x", , )`, "is not a valid regular expression"},
	}
	for _, tt := range tests {
		e, err := Parse(tt.src)
		if err != nil {
			t.Fatalf("Parse(%s): %v", tt.src, err)
		}
		_, err = e.Eval(Context{Attrs: attrs})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Eval(%s) error = %v, want it to contain %q", tt.src, err, tt.want)
		}
	}
	_, err := MustParse(`Error("stop")`).Eval(Context{})
	var ee *EvalError
	if !errors.As(err, &ee) || !ee.User {
		t.Errorf("Error() should give a user EvalError, got %#v", err)
	}
}

// A hostile mapping must fail fast instead of eating memory or CPU.
func TestEvalBounds(t *testing.T) {
	// Each Replace multiplies the value by 16: 6 levels would be 16 MiB.
	src := `[a]`
	for range 6 {
		src = `Replace(` + src + `, "x", , , , , "xxxxxxxxxxxxxxxx")`
	}
	_, err := MustParse(src).Eval(Context{Attrs: map[string][]string{"a": {"x"}}})
	if err == nil || !strings.Contains(err.Error(), "value longer than") {
		t.Errorf("exponential Replace: err = %v", err)
	}

	// Catastrophic backtracking is cut off by the match timeout.
	start := time.Now()
	_, err = MustParse(`Replace([a], , "^(a+)+$", , "", , )`).Eval(Context{Attrs: map[string][]string{"a": {strings.Repeat("a", 40) + "!"}}})
	if err == nil || !strings.Contains(err.Error(), "timed out") && !strings.Contains(err.Error(), "timeout") {
		t.Errorf("backtracking regex: err = %v", err)
	}
	if d := time.Since(start); d > 10*RegexTimeout {
		t.Errorf("backtracking regex took %v", d)
	}
}

func TestSelectUniqueValue(t *testing.T) {
	e := MustParse(`SelectUniqueValue(Join(".", [first], [last]), Join(".", Mid([first], 1, 1), [last]), [missing], "fallback")`)
	attrs := map[string][]string{"first": {"John"}, "last": {"Smith"}}
	var asked []string
	v, err := e.Eval(Context{Attrs: attrs, Unique: func(c string) (bool, error) {
		asked = append(asked, c)
		return c == "fallback", nil
	}})
	if err != nil || v.Text() != "fallback" {
		t.Fatalf("got %q, %v", v.Text(), err)
	}
	if diff := cmp.Diff([]string{"John.Smith", "J.Smith", "fallback"}, asked); diff != "" {
		t.Errorf("candidates asked (-want +got):\n%s", diff)
	}
	_, err = e.Eval(Context{Attrs: attrs, Unique: func(string) (bool, error) { return false, nil }})
	if !errors.Is(err, ErrNotUnique) {
		t.Errorf("all taken: err = %v, want ErrNotUnique", err)
	}
	lookup := errors.New("ldap down")
	_, err = e.Eval(Context{Attrs: attrs, Unique: func(string) (bool, error) { return false, lookup }})
	if !errors.Is(err, lookup) {
		t.Errorf("lookup failure: err = %v", err)
	}
}

func TestIgnoreFlow(t *testing.T) {
	for _, attrs := range []map[string][]string{nil, {"d": {""}}} {
		v := eval(t, `IgnoreFlowIfNullOrEmpty([d])`, attrs)
		if !v.IgnoreFlow || !v.IsNull() {
			t.Errorf("attrs %v: got %+v, want IgnoreFlow", attrs, v)
		}
	}
	v := eval(t, `Redact(IgnoreFlowIfNullOrEmpty([d]))`, nil)
	if !v.IgnoreFlow || !v.Redacted {
		t.Errorf("Redact should keep IgnoreFlow: %+v", v)
	}
}

func TestConcurrentEval(t *testing.T) {
	e := MustParse(`Replace(Append(Left(Trim([displayName]), 51), "_"), , "(?<x>a)", "x", "b", , )`)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				v, err := e.Eval(Context{Attrs: map[string][]string{"displayName": {strings.Repeat("a", i)}}})
				if err != nil || v.Text() != strings.Repeat("b", i)+"_" {
					t.Errorf("got %q, %v", v.Text(), err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkDefaultCN(b *testing.B) {
	e := MustParse(defaultCN)
	ctx := Context{Attrs: map[string][]string{
		"displayName": {"  Finance - Accounts Payable (EMEA) "},
		"objectId":    {"00aa00aa-bb11-cc22-dd33-44ee44ee44ee"},
	}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Eval(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDefaultCN(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(defaultCN); err != nil {
			b.Fatal(err)
		}
	}
}

func TestExprProperties(t *testing.T) {
	tests := []struct {
		src              string
		unique, volatile bool
	}{
		{defaultCN, false, false},
		{`SelectUniqueValue([a], [b])`, true, false},
		{`(SelectUniqueValue([a], Append([b], RandomString(3, 1, 0, 0, 0))))`, true, true},
		{`DateDiff("d", Now(), [hire])`, false, true},
		{`Append("x", guid())`, false, true},
	}
	for _, tt := range tests {
		e := MustParse(tt.src)
		if e.SelectsUniqueValue() != tt.unique || e.Volatile() != tt.volatile {
			t.Errorf("%s: SelectsUniqueValue=%v Volatile=%v, want %v %v", tt.src, e.SelectsUniqueValue(), e.Volatile(), tt.unique, tt.volatile)
		}
	}
}

package expr

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"github.com/writeback/writeback/internal/ldapdn"
	"golang.org/x/text/language"
)

// funcSpec describes one function: its documented name and parameters, which
// arguments may be left empty, parse-time checks and the evaluator.
type funcSpec struct {
	name     string
	params   []string // documented parameter names; the last repeats when variadic
	min      int
	variadic bool
	optional []int // argument positions that may be omitted (besides trailing optional ones)
	prepare  func(n *node, p *parser) error
	eval     func(ev *evaluator, n *node) (Value, error)
}

func (f *funcSpec) param(i int) string {
	if i < len(f.params) {
		return f.params[i]
	}
	if f.variadic && len(f.params) > 0 {
		return f.params[len(f.params)-1]
	}
	return fmt.Sprintf("argument %d", i+1)
}

func (f *funcSpec) check(n *node, p *parser) error {
	got := len(n.args)
	max := len(f.params)
	switch {
	case f.variadic && got < f.min:
		return p.errAt(n.pos, "%s takes at least %d arguments, got %d", f.name, f.min, got)
	case !f.variadic && (got < f.min || got > max):
		if f.min == max {
			return p.errAt(n.pos, "%s takes %d argument%s, got %d", f.name, max, plural(max), got)
		}
		return p.errAt(n.pos, "%s takes %d to %d arguments, got %d", f.name, f.min, max, got)
	}
	for i, a := range n.args {
		if a.kind == nOmitted && i < f.min && !slices.Contains(f.optional, i) {
			return p.errAt(a.pos, "expected %s, the %s argument of %s", expectedOperand, f.param(i), f.name)
		}
	}
	if f.prepare != nil {
		return f.prepare(n, p)
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

var funcTable = map[string]*funcSpec{}

func lookupFunc(name string) *funcSpec { return funcTable[strings.ToLower(name)] }

// suggest helps with the common slip of a wrong-case or Connect Sync-only name.
func suggest(name string) string {
	switch strings.ToLower(name) {
	case "concat", "concatenate":
		return "; use Append or Join"
	case "if":
		return "; use IIF"
	case "len", "length":
		return "; there is no length function"
	case "lcase":
		return "; use ToLower"
	case "ucase":
		return "; use ToUpper"
	}
	return ""
}

func register(specs ...*funcSpec) {
	for _, s := range specs {
		funcTable[strings.ToLower(s.name)] = s
	}
}

func init() {
	register(
		&funcSpec{name: "Append", params: []string{"source", "suffix"}, min: 2, eval: fnAppend},
		&funcSpec{name: "AppRoleAssignmentsComplex", params: []string{"appRoleAssignments"}, min: 1, eval: fnAppRoleComplex},
		&funcSpec{name: "BitAnd", params: []string{"value1", "value2"}, min: 2, eval: fnBitAnd},
		&funcSpec{name: "CBool", params: []string{"expression"}, min: 1, eval: fnCBool},
		&funcSpec{name: "CDate", params: []string{"expression"}, min: 1, eval: fnCDate},
		&funcSpec{name: "Coalesce", params: []string{"source"}, min: 1, variadic: true, optional: []int{}, eval: fnCoalesce},
		&funcSpec{name: "Contains", params: []string{"attribute", "search", "casetype"}, min: 2, prepare: prepContains, eval: fnContains},
		&funcSpec{name: "ConvertFromBase64", params: []string{"source", "encoding"}, min: 1, prepare: prepEncoding, eval: fnConvertFromBase64},
		&funcSpec{name: "ConvertToBase64", params: []string{"source"}, min: 1, eval: fnConvertToBase64},
		&funcSpec{name: "ConvertToUTF8Hex", params: []string{"source"}, min: 1, eval: fnConvertToUTF8Hex},
		&funcSpec{name: "Count", params: []string{"attribute"}, min: 1, eval: fnCount},
		&funcSpec{name: "CRef", params: []string{"dn"}, min: 1, eval: fnIdentity},
		&funcSpec{name: "CStr", params: []string{"value"}, min: 1, eval: fnIdentity},
		&funcSpec{name: "DateAdd", params: []string{"interval", "value", "dateTime"}, min: 3, prepare: prepInterval, eval: fnDateAdd},
		&funcSpec{name: "DateDiff", params: []string{"interval", "date1", "date2"}, min: 3, prepare: prepInterval, eval: fnDateDiff},
		&funcSpec{name: "DateFromNum", params: []string{"value"}, min: 1, eval: fnDateFromNum},
		&funcSpec{name: "DNComponent", params: []string{"dn", "ComponentNumber"}, min: 2, eval: fnDNComponent},
		&funcSpec{name: "Error", params: []string{"ErrorMessage"}, min: 1, eval: fnError},
		&funcSpec{name: "FormatDateTime", params: []string{"source", "dateTimeStyles", "inputFormat", "outputFormat"}, min: 3, optional: []int{1}, prepare: prepFormatDateTime, eval: fnFormatDateTime},
		&funcSpec{name: "Guid", min: 0, eval: fnGuid},
		&funcSpec{name: "IgnoreFlowIfNullOrEmpty", params: []string{"expression"}, min: 1, eval: fnIgnoreFlow},
		&funcSpec{name: "IIF", params: []string{"condition", "valueIfTrue", "valueIfFalse"}, min: 3, eval: fnIIF},
		&funcSpec{name: "InStr", params: []string{"value1", "value2", "start", "compareType"}, min: 2, prepare: prepCompare(3), eval: fnInStr},
		&funcSpec{name: "IsNull", params: []string{"expression"}, min: 1, eval: fnIsNull},
		&funcSpec{name: "IsNullOrEmpty", params: []string{"expression"}, min: 1, eval: fnIsNullOrEmpty},
		&funcSpec{name: "IsPresent", params: []string{"expression"}, min: 1, eval: fnIsPresent},
		&funcSpec{name: "IsString", params: []string{"expression"}, min: 1, eval: fnIsString},
		&funcSpec{name: "Item", params: []string{"attribute", "index"}, min: 2, eval: fnItem},
		&funcSpec{name: "Join", params: []string{"separator", "source"}, min: 2, variadic: true, eval: fnJoin},
		&funcSpec{name: "Left", params: []string{"String", "NumChars"}, min: 2, eval: fnLeft},
		&funcSpec{name: "Mid", params: []string{"source", "start", "length"}, min: 2, eval: fnMid},
		&funcSpec{name: "NormalizeDiacritics", params: []string{"source"}, min: 1, eval: fnNormalizeDiacritics},
		&funcSpec{name: "Not", params: []string{"source"}, min: 1, eval: fnNot},
		&funcSpec{name: "Now", min: 0, eval: fnNow},
		&funcSpec{name: "NumFromDate", params: []string{"value"}, min: 1, eval: fnNumFromDate},
		&funcSpec{name: "PCase", params: []string{"source", "wordSeparators"}, min: 1, eval: fnPCase},
		&funcSpec{name: "RandomString", params: []string{"Length", "MinimumNumbers", "MinimumSpecialCharacters", "MinimumCapital", "MinimumLowerCase", "CharactersToAvoid"}, min: 5, eval: fnRandomString},
		&funcSpec{name: "Redact", params: []string{"value"}, min: 1, eval: fnRedact},
		&funcSpec{name: "RemoveDuplicates", params: []string{"attribute"}, min: 1, eval: fnRemoveDuplicates},
		&funcSpec{name: "Replace", params: []string{"source", "oldValue", "regexPattern", "regexGroupName", "replacementValue", "replacementAttributeName", "template"}, min: 2, optional: []int{1}, prepare: prepReplace, eval: fnReplace},
		&funcSpec{name: "SelectUniqueValue", params: []string{"uniqueValueRule"}, min: 2, variadic: true, eval: fnSelectUniqueValue},
		&funcSpec{name: "SingleAppRoleAssignment", params: []string{"appRoleAssignments"}, min: 1, eval: fnSingleAppRole},
		&funcSpec{name: "Split", params: []string{"source", "delimiter"}, min: 2, eval: fnSplit},
		&funcSpec{name: "StringFromSid", params: []string{"ObjectSID"}, min: 1, eval: fnStringFromSid},
		&funcSpec{name: "StripSpaces", params: []string{"source"}, min: 1, eval: fnStripSpaces},
		&funcSpec{name: "Switch", params: []string{"source", "defaultValue", "key", "value"}, min: 2, variadic: true, optional: []int{1}, prepare: prepSwitch, eval: fnSwitch},
		&funcSpec{name: "ToLower", params: []string{"source", "culture"}, min: 1, prepare: prepCulture, eval: fnToLower},
		&funcSpec{name: "ToUpper", params: []string{"source", "culture"}, min: 1, prepare: prepCulture, eval: fnToUpper},
		&funcSpec{name: "Trim", params: []string{"value"}, min: 1, eval: fnTrim},
		&funcSpec{name: "Word", params: []string{"String", "WordNumber", "Delimiters"}, min: 3, eval: fnWord},
	)
}

// constArg returns argument i's text when it is a literal, for parse-time checks.
func constArg(n *node, i int) (string, bool) {
	if i >= len(n.args) {
		return "", false
	}
	switch a := n.args[i]; a.kind {
	case nString, nEnum:
		return a.text, true
	case nNumber:
		return a.val, true
	}
	return "", false
}

// ---- strings

func fnIdentity(ev *evaluator, n *node) (Value, error) { return ev.arg(n, 0) }

func fnAppend(ev *evaluator, n *node) (Value, error) {
	src, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	sv, err := ev.arg(n, 1)
	if err != nil {
		return Null(), err
	}
	suffix, err := ev.scalar(n, sv, "suffix")
	if err != nil {
		return Null(), err
	}
	if src.IsNull() {
		if sv.IsNull() {
			return Null(), nil
		}
		return Single(suffix), nil
	}
	return mapValues(src, func(s string) (string, error) { return s + suffix, nil })
}

func fnLeft(ev *evaluator, n *node) (Value, error) {
	src, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	k, err := ev.intArg(n, 1)
	if err != nil {
		return Null(), err
	}
	if src.IsNull() {
		return Single(""), nil // documented: "If string is null, return empty string."
	}
	return mapValues(src, func(s string) (string, error) {
		if k < 0 {
			return s, nil // documented: "If numChars < 0, return input string."
		}
		return substr16(s, 0, int(min(k, MaxValueLen))), nil
	})
}

func fnMid(ev *evaluator, n *node) (Value, error) {
	src, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	start, err := ev.intArg(n, 1)
	if err != nil {
		return Null(), err
	}
	length := int64(MaxValueLen)
	if present(n, 2) {
		if length, err = ev.intArg(n, 2); err != nil {
			return Null(), err
		}
	}
	if start < 1 {
		return Null(), ev.fail(n, "start is %d; the first character is 1", start)
	}
	if length < 0 {
		return Null(), ev.fail(n, "length is %d; it cannot be negative", length)
	}
	return mapValues(src, func(s string) (string, error) {
		return substr16(s, int(min(start-1, MaxValueLen)), int(min(length, MaxValueLen))), nil
	})
}

func fnTrim(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	return mapValues(v, func(s string) (string, error) { return strings.TrimFunc(s, unicode.IsSpace), nil })
}

func fnStripSpaces(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	return mapValues(v, func(s string) (string, error) { return strings.ReplaceAll(s, " ", ""), nil })
}

func fnNormalizeDiacritics(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	return mapValues(v, func(s string) (string, error) { return normalizeDiacritics(s), nil })
}

func prepCulture(n *node, p *parser) error {
	if c, ok := constArg(n, 1); ok && c != "" {
		if _, err := language.Parse(c); err != nil {
			return p.errAt(n.args[1].pos, "culture %q is not a culture name like en-US or tr-TR", c)
		}
	}
	return nil
}

func (ev *evaluator) culture(n *node) (language.Tag, error) {
	c, err := ev.strArg(n, 1)
	if err != nil || c == "" {
		return language.Und, err
	}
	t, err := language.Parse(c)
	if err != nil {
		return language.Und, ev.fail(n, "culture %q is not a culture name like en-US or tr-TR", c)
	}
	return t, nil
}

func isTurkic(t language.Tag) bool {
	b, _ := t.Base()
	return b.String() == "tr" || b.String() == "az"
}

func fnToLower(ev *evaluator, n *node) (Value, error) {
	return changeCase(ev, n, strings.ToLower, func(s string) string { return strings.ToLowerSpecial(unicode.TurkishCase, s) })
}

func fnToUpper(ev *evaluator, n *node) (Value, error) {
	return changeCase(ev, n, strings.ToUpper, func(s string) string { return strings.ToUpperSpecial(unicode.TurkishCase, s) })
}

// changeCase applies plain or, for Turkic cultures (dotted and dotless i),
// Turkish case mapping, as .NET's culture-aware ToLower/ToUpper do.
func changeCase(ev *evaluator, n *node, plain, turkic func(string) string) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	t, err := ev.culture(n)
	if err != nil {
		return Null(), err
	}
	f := plain
	if isTurkic(t) {
		f = turkic
	}
	return mapValues(v, func(s string) (string, error) { return f(s), nil })
}

func fnPCase(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	seps, err := ev.strArg(n, 1)
	if err != nil {
		return Null(), err
	}
	custom := present(n, 1)
	return mapValues(v, func(s string) (string, error) { return properCase(s, seps, custom), nil })
}

func fnWord(ev *evaluator, n *node) (Value, error) {
	src, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	num, err := ev.intArg(n, 1)
	if err != nil {
		return Null(), err
	}
	delims, err := ev.strArg(n, 2)
	if err != nil {
		return Null(), err
	}
	if src.IsNull() {
		return Single(""), nil // documented: "If string is null, returns empty string."
	}
	return mapValues(src, func(s string) (string, error) {
		if num < 1 {
			return "", nil
		}
		words := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(delims, r) })
		if int64(len(words)) < num {
			return "", nil
		}
		return words[num-1], nil
	})
}

func fnSplit(ev *evaluator, n *node) (Value, error) {
	src, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	delim, err := ev.strArg(n, 1)
	if err != nil {
		return Null(), err
	}
	var out []string
	for _, s := range src.Values() {
		if delim == "" {
			out = append(out, s)
			continue
		}
		out = append(out, strings.Split(s, delim)...)
	}
	return Multi(out), nil
}

func fnJoin(ev *evaluator, n *node) (Value, error) {
	sep, err := ev.strArg(n, 0)
	if err != nil {
		return Null(), err
	}
	var b strings.Builder
	any, first := false, true
	for i := 1; i < len(n.args); i++ {
		v, err := ev.eval(n.args[i])
		if err != nil {
			return Null(), err
		}
		for _, s := range v.Values() {
			any = true
			// Microsoft's example Join(", ", "", [surname], [givenName]) gives
			// "Doe, John": empty sources are skipped, not joined.
			if s == "" {
				continue
			}
			if !first {
				b.WriteString(sep)
			}
			first = false
			b.WriteString(s)
			if b.Len() > MaxValueLen {
				return Null(), ev.fail(n, "value longer than %d bytes", MaxValueLen)
			}
		}
	}
	if !any {
		return Null(), nil
	}
	return Single(b.String()), nil
}

func fnCoalesce(ev *evaluator, n *node) (Value, error) {
	for _, a := range n.args {
		v, err := ev.eval(a)
		if err != nil {
			return Null(), err
		}
		if !v.IsNull() {
			return v, nil
		}
	}
	return Null(), nil
}

func fnConvertToBase64(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	return mapValues(v, func(s string) (string, error) {
		u := utf16.Encode([]rune(s))
		b := make([]byte, 2*len(u))
		for i, c := range u {
			binary.LittleEndian.PutUint16(b[2*i:], c)
		}
		return base64.StdEncoding.EncodeToString(b), nil
	})
}

func fnConvertToUTF8Hex(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	return mapValues(v, func(s string) (string, error) { return strings.ToUpper(hex.EncodeToString([]byte(s))), nil })
}

var encodings = []string{"Unicode", "ASCII", "UTF8"}

func canonicalEncoding(s string) (string, bool) {
	switch strings.ToLower(strings.ReplaceAll(s, "-", "")) {
	case "", "unicode", "utf16":
		return "Unicode", true
	case "ascii":
		return "ASCII", true
	case "utf8":
		return "UTF8", true
	}
	return "", false
}

func prepEncoding(n *node, p *parser) error {
	if c, ok := constArg(n, 1); ok {
		if _, ok := canonicalEncoding(c); !ok {
			return p.errAt(n.args[1].pos, "encoding %q is not one of %s", c, strings.Join(encodings, ", "))
		}
	}
	return nil
}

func fnConvertFromBase64(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	encName, err := ev.strArg(n, 1)
	if err != nil {
		return Null(), err
	}
	enc, ok := canonicalEncoding(encName)
	if !ok {
		return Null(), ev.fail(n, "encoding %q is not one of %s", encName, strings.Join(encodings, ", "))
	}
	return mapValues(v, func(s string) (string, error) {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil {
			return "", ev.fail(n, "%q is not base64: %v", s, err)
		}
		switch enc {
		case "Unicode":
			if len(b)%2 != 0 {
				return "", ev.fail(n, "decoded %d bytes, an odd count for UTF-16 text; pass UTF8 or ASCII as the encoding", len(b))
			}
			u := make([]uint16, len(b)/2)
			for i := range u {
				u[i] = binary.LittleEndian.Uint16(b[2*i:])
			}
			return string(utf16.Decode(u)), nil
		case "ASCII":
			// .NET's ASCII decoder turns bytes above 0x7F into '?'.
			r := make([]byte, len(b))
			for i, c := range b {
				if c > 0x7f {
					c = '?'
				}
				r[i] = c
			}
			return string(r), nil
		}
		return strings.ToValidUTF8(string(b), "\uFFFD"), nil
	})
}

// ---- predicates and logic

func fnIsNull(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	return boolValue(v.IsNull()), err
}

func fnIsNullOrEmpty(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	return boolValue(v.isEmpty()), err
}

func fnIsPresent(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	return boolValue(!v.isEmpty()), err
}

func fnIsString(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	return boolValue(v.kind == KindSingle), err
}

func fnNot(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	s, err := ev.scalar(n, v, "source")
	if err != nil {
		return Null(), err
	}
	// Documented: "If source value is True, returns False. Otherwise, returns True."
	return boolValue(!strings.EqualFold(strings.TrimSpace(s), "true")), nil
}

func fnCBool(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	if v.IsNull() {
		return boolValue(false), nil
	}
	s, err := ev.scalar(n, v, "expression")
	if err != nil {
		return Null(), err
	}
	b, ok := parseBool(s)
	if !ok {
		return Null(), ev.fail(n, "%q is neither True, False nor a number", s)
	}
	return boolValue(b), nil
}

// condition evaluates an IIF condition: null is false.
func (ev *evaluator) condition(n *node, i int) (bool, error) {
	v, err := ev.arg(n, i)
	if err != nil || v.IsNull() {
		return false, err
	}
	s, err := ev.scalar(n, v, "condition")
	if err != nil {
		return false, err
	}
	b, ok := parseBool(s)
	if !ok {
		return false, ev.fail(n, "condition evaluated to %q, which is neither True nor False", s)
	}
	return b, nil
}

func fnIIF(ev *evaluator, n *node) (Value, error) {
	c, err := ev.condition(n, 0)
	if err != nil {
		return Null(), err
	}
	// Only the chosen branch is evaluated, so Error("…") in the other one is harmless.
	if c {
		return ev.arg(n, 1)
	}
	return ev.arg(n, 2)
}

func prepSwitch(n *node, p *parser) error {
	if len(n.args)%2 != 0 {
		return p.errAt(n.pos, "Switch takes source, defaultValue and key/value pairs (an even number of arguments), got %d", len(n.args))
	}
	for i := 2; i < len(n.args); i++ {
		if n.args[i].kind == nOmitted {
			what := "key"
			if i%2 == 1 {
				what = "value"
			}
			return p.errAt(n.args[i].pos, "expected %s, the %s argument of Switch", expectedOperand, what)
		}
	}
	return nil
}

func fnSwitch(ev *evaluator, n *node) (Value, error) {
	src, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	// A null source matches the "" key: Microsoft documents
	// Switch([country],[country],"","Other") as the way to test for null/empty.
	s, err := ev.scalar(n, src, "source")
	if err != nil {
		return Null(), err
	}
	for i := 2; i+1 < len(n.args); i += 2 {
		k, err := ev.arg(n, i)
		if err != nil {
			return Null(), err
		}
		ks, err := ev.scalar(n, k, "key")
		if err != nil {
			return Null(), err
		}
		if ks == s {
			return ev.arg(n, i+1)
		}
	}
	return ev.arg(n, 1)
}

func fnIgnoreFlow(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	if v.isEmpty() {
		return Value{IgnoreFlow: true}, nil
	}
	return v, nil
}

func fnRedact(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	v.Redacted = true
	return v, err
}

func fnError(ev *evaluator, n *node) (Value, error) {
	msg, err := ev.strArg(n, 0)
	if err != nil {
		return Null(), err
	}
	e := ev.fail(n, "%s", msg).(*EvalError)
	e.User = true
	return Null(), e
}

// ---- multi-valued

func fnCount(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	return Single(strconv.Itoa(len(v.Values()))), err
}

func fnItem(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	i, err := ev.intArg(n, 1)
	if err != nil {
		return Null(), err
	}
	vs := v.Values()
	if v.IsNull() {
		return Null(), nil
	}
	if i < 1 || i > int64(len(vs)) {
		return Null(), ev.fail(n, "index %d is out of range: the attribute has %d value%s (the first is 1)", i, len(vs), plural(len(vs)))
	}
	return Single(vs[i-1]), nil
}

func fnRemoveDuplicates(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil || v.kind != KindMulti {
		return v, err
	}
	seen := make(map[string]bool, len(v.vs))
	out := make([]string, 0, len(v.vs))
	for _, s := range v.vs {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return Multi(out), nil
}

func prepContains(n *node, p *parser) error {
	if c, ok := constArg(n, 2); ok {
		if _, ok := caseSensitive(c); !ok {
			return p.errAt(n.args[2].pos, "casetype %q is not CaseSensitive or CaseInsensitive", c)
		}
	}
	return nil
}

func caseSensitive(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "", "casesensitive":
		return true, true
	case "caseinsensitive":
		return false, true
	}
	return false, false
}

// fnContains is Connect Sync's Contains, which Microsoft's Cloud Sync Item
// example uses: the 1-based index of the first value containing search, 0 if none.
func fnContains(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	search, err := ev.strArg(n, 1)
	if err != nil {
		return Null(), err
	}
	ct, err := ev.strArg(n, 2)
	if err != nil {
		return Null(), err
	}
	cs, ok := caseSensitive(ct)
	if !ok {
		return Null(), ev.fail(n, "casetype %q is not CaseSensitive or CaseInsensitive", ct)
	}
	for i, s := range v.Values() {
		if cs && strings.Contains(s, search) || !cs && strings.Contains(strings.ToLower(s), strings.ToLower(search)) {
			return Single(strconv.Itoa(i + 1)), nil
		}
	}
	return Single("0"), nil
}

// ---- numbers

func fnBitAnd(ev *evaluator, n *node) (Value, error) {
	a, err := ev.intArg(n, 0)
	if err != nil {
		return Null(), err
	}
	b, err := ev.intArg(n, 1)
	if err != nil {
		return Null(), err
	}
	return Single(strconv.FormatInt(a&b, 10)), nil
}

func prepCompare(i int) func(n *node, p *parser) error {
	return func(n *node, p *parser) error {
		if c, ok := constArg(n, i); ok {
			if _, ok := textCompare(c); !ok {
				return p.errAt(n.args[i].pos, "compareType %q is not vbBinaryCompare or vbTextCompare", c)
			}
		}
		return nil
	}
}

func textCompare(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "vbbinarycompare", "0":
		return false, true
	case "vbtextcompare", "1":
		return true, true
	}
	return false, false
}

func fnInStr(ev *evaluator, n *node) (Value, error) {
	v1, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	s, err := ev.scalar(n, v1, "value1")
	if err != nil {
		return Null(), err
	}
	sub, err := ev.strArg(n, 1)
	if err != nil {
		return Null(), err
	}
	start := int64(1)
	if present(n, 2) {
		if start, err = ev.intArg(n, 2); err != nil {
			return Null(), err
		}
		if start < 1 {
			return Null(), ev.fail(n, "start is %d; the first character is 1", start)
		}
	}
	ct, err := ev.strArg(n, 3)
	if err != nil {
		return Null(), err
	}
	text, ok := textCompare(ct)
	if !ok {
		return Null(), ev.fail(n, "compareType %q is not vbBinaryCompare or vbTextCompare", ct)
	}
	if v1.IsNull() {
		return Null(), nil
	}
	return Single(strconv.Itoa(instr16(s, sub, int(min(start, MaxValueLen)), text))), nil
}

// ---- identity-ish

func fnGuid(ev *evaluator, n *node) (Value, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Null(), ev.fail(n, "read random bytes: %v", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return Single(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])), nil
}

const (
	rsDigits  = "0123456789"
	rsUpper   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	rsLower   = "abcdefghijklmnopqrstuvwxyz"
	rsSpecial = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/"
)

func fnRandomString(ev *evaluator, n *node) (Value, error) {
	var k [5]int64
	for i := range k {
		x, err := ev.intArg(n, i)
		if err != nil {
			return Null(), err
		}
		if x < 0 {
			return Null(), ev.fail(n, "%s is %d; it cannot be negative", n.fn.param(i), x)
		}
		k[i] = x
	}
	avoid, err := ev.strArg(n, 5)
	if err != nil {
		return Null(), err
	}
	length := k[0]
	if length > 256 {
		return Null(), ev.fail(n, "Length is %d; the maximum is 256", length)
	}
	if sum := k[1] + k[2] + k[3] + k[4]; sum > length {
		return Null(), ev.fail(n, "the minimums add up to %d, more than Length %d", sum, length)
	}
	keep := func(set string) []rune {
		var r []rune
		for _, c := range set {
			if !strings.ContainsRune(avoid, c) {
				r = append(r, c)
			}
		}
		return r
	}
	sets := [][]rune{keep(rsDigits), keep(rsSpecial), keep(rsUpper), keep(rsLower)}
	all := slices.Concat(sets...)
	if len(all) == 0 {
		return Null(), ev.fail(n, "CharactersToAvoid excludes every allowed character")
	}
	pick := func(set []rune) (rune, error) {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return 0, err
		}
		return set[i.Int64()], nil
	}
	var out []rune
	for si, set := range sets {
		if k[si+1] > 0 && len(set) == 0 {
			return Null(), ev.fail(n, "CharactersToAvoid excludes every character %s needs", n.fn.param(si+1))
		}
		for j := int64(0); j < k[si+1]; j++ {
			c, err := pick(set)
			if err != nil {
				return Null(), ev.fail(n, "random: %v", err)
			}
			out = append(out, c)
		}
	}
	for int64(len(out)) < length {
		c, err := pick(all)
		if err != nil {
			return Null(), ev.fail(n, "random: %v", err)
		}
		out = append(out, c)
	}
	for i := len(out) - 1; i > 0; i-- { // shuffle so the required classes are not in a fixed order
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return Null(), ev.fail(n, "random: %v", err)
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return Single(string(out)), nil
}

func fnAppRoleComplex(ev *evaluator, n *node) (Value, error) {
	return Null(), ev.fail(n, "app role assignments belong to user provisioning to SaaS apps; they do not apply to groups provisioned into Active Directory")
}

// fnSingleAppRole returns the first value given; groups have no app roles,
// but a value passed in (e.g. from the CLI) flows through.
func fnSingleAppRole(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil || v.IsNull() {
		return Null(), err
	}
	return Single(v.Values()[0]), nil
}

func fnSelectUniqueValue(ev *evaluator, n *node) (Value, error) {
	var tried []string
	for _, a := range n.args {
		v, err := ev.eval(a)
		if err != nil {
			return Null(), err
		}
		if v.isEmpty() {
			continue
		}
		s, err := ev.scalar(n, v, "uniqueValueRule")
		if err != nil {
			return Null(), err
		}
		if ev.ctx.Unique == nil {
			return Single(s), nil
		}
		ok, err := ev.ctx.Unique(s)
		if err != nil {
			return Null(), fmt.Errorf("SelectUniqueValue: check whether %q is unique: %w", s, err)
		}
		if ok {
			return Single(s), nil
		}
		tried = append(tried, s)
	}
	return Null(), fmt.Errorf("SelectUniqueValue: every candidate is already taken (%s): %w", strings.Join(quoteAll(tried), ", "), ErrNotUnique)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// ---- Replace

type replaceExt struct {
	re *regexp2.Regexp
}

func compileRegex(pattern string) (*regexp2.Regexp, error) {
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, err
	}
	re.MatchTimeout = RegexTimeout
	return re, nil
}

func prepReplace(n *node, p *parser) error {
	if !present(n, 1) && !present(n, 2) {
		return p.errAt(n.pos, "Replace needs oldValue or regexPattern (its 2nd or 3rd argument)")
	}
	if pat, ok := constArg(n, 2); ok && present(n, 2) {
		re, err := compileRegex(pat)
		if err != nil {
			return p.errAt(n.args[2].pos, "regexPattern %q is not a valid regular expression: %v", pat, err)
		}
		n.ext = &replaceExt{re: re}
	}
	return nil
}

func fnReplace(ev *evaluator, n *node) (Value, error) {
	src, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	str := func(i int) (string, error) { return ev.strArg(n, i) }

	switch {
	case present(n, 1) && present(n, 6): // oldValue + template: put source into the template
		old, err := str(1)
		if err != nil {
			return Null(), err
		}
		tmpl, err := str(6)
		if err != nil {
			return Null(), err
		}
		if src.IsNull() {
			return Null(), nil
		}
		return mapValues(src, func(s string) (string, error) { return replaceAll(ev, n, tmpl, old, s) })

	case present(n, 1): // oldValue + replacementValue
		old, err := str(1)
		if err != nil {
			return Null(), err
		}
		repl, err := str(4)
		if err != nil {
			return Null(), err
		}
		return mapValues(src, func(s string) (string, error) { return replaceAll(ev, n, s, old, repl) })
	}

	re, err := ev.regex(n)
	if err != nil {
		return Null(), err
	}
	group, err := str(3)
	if err != nil {
		return Null(), err
	}
	if present(n, 3) && re.GroupNumberFromName(group) < 0 {
		return Null(), ev.fail(n, "regexGroupName %q is not a group of the pattern", group)
	}

	if present(n, 3) && present(n, 5) {
		// Documented (app provisioning): if source has a value it is returned;
		// otherwise the group is extracted from replacementAttributeName.
		if !src.isEmpty() {
			return src, nil
		}
		from, err := ev.arg(n, 5)
		if err != nil {
			return Null(), err
		}
		fs, err := ev.scalar(n, from, "replacementAttributeName")
		if err != nil || from.IsNull() {
			return Null(), err
		}
		m, err := re.FindStringMatch(fs)
		if err != nil {
			return Null(), ev.fail(n, "regexPattern: %v", err)
		}
		if m == nil {
			return Null(), nil
		}
		g := m.GroupByName(group)
		if g == nil || len(g.Captures) == 0 {
			return Null(), nil
		}
		return Single(g.String()), nil
	}

	repl, err := str(4)
	if err != nil {
		return Null(), err
	}
	if present(n, 3) { // replace only the named group's text in every match
		return mapValues(src, func(s string) (string, error) { return replaceGroup(ev, n, re, s, group, repl) })
	}
	return mapValues(src, func(s string) (string, error) {
		out, err := re.Replace(s, repl, -1, -1)
		if err != nil {
			return "", ev.fail(n, "regexPattern: %v", err)
		}
		return out, nil
	})
}

func replaceAll(ev *evaluator, n *node, s, old, repl string) (string, error) {
	if old == "" {
		return s, nil
	}
	if c := strings.Count(s, old); c > 0 && len(s)+c*(len(repl)-len(old)) > MaxValueLen {
		return "", ev.fail(n, "value longer than %d bytes", MaxValueLen)
	}
	return strings.ReplaceAll(s, old, repl), nil
}

func (ev *evaluator) regex(n *node) (*regexp2.Regexp, error) {
	if x, ok := n.ext.(*replaceExt); ok {
		return x.re, nil
	}
	pat, err := ev.strArg(n, 2)
	if err != nil {
		return nil, err
	}
	re, err := compileRegex(pat)
	if err != nil {
		return nil, ev.fail(n, "regexPattern %q is not a valid regular expression: %v", pat, err)
	}
	return re, nil
}

// replaceGroup replaces the text captured by group in every match of re.
// regexp2 indexes in UTF-16 code units (runes for Go strings), so work in runes.
func replaceGroup(ev *evaluator, n *node, re *regexp2.Regexp, s, group, repl string) (string, error) {
	rs := []rune(s)
	var b strings.Builder
	last := 0
	m, err := re.FindRunesMatch(rs)
	for ; m != nil && err == nil; m, err = re.FindNextMatch(m) {
		g := m.GroupByName(group)
		if g == nil || len(g.Captures) == 0 {
			continue
		}
		if g.Index < last {
			continue
		}
		b.WriteString(string(rs[last:g.Index]))
		b.WriteString(repl)
		last = g.Index + g.Length
		if b.Len() > MaxValueLen {
			return "", ev.fail(n, "value longer than %d bytes", MaxValueLen)
		}
	}
	if err != nil {
		return "", ev.fail(n, "regexPattern: %v", err)
	}
	b.WriteString(string(rs[last:]))
	return b.String(), nil
}

// ---- DN and SID

func fnDNComponent(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	k, err := ev.intArg(n, 1)
	if err != nil {
		return Null(), err
	}
	if v.IsNull() {
		return Null(), nil
	}
	dn, err := ev.scalar(n, v, "dn")
	if err != nil {
		return Null(), err
	}
	rdns, err := splitDN(dn)
	if err != nil {
		return Null(), ev.fail(n, "%v", err)
	}
	if k < 1 || k > int64(len(rdns)) {
		return Null(), nil
	}
	return Single(rdns[k-1]), nil
}

// splitDN returns the unescaped value of each RDN, left to right (each
// value of a multi-valued RDN in turn).
func splitDN(dn string) ([]string, error) {
	rdns, err := ldapdn.Parse(dn)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rdns {
		for _, a := range r {
			out = append(out, a.Value)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q is not a distinguished name", dn)
	}
	return out, nil
}

// fnStringFromSid accepts the SID as base64 (how Graph and JSON carry
// binary), as raw bytes, or already in S-1-… form.
func fnStringFromSid(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	return mapValues(v, func(s string) (string, error) {
		if strings.HasPrefix(strings.ToUpper(s), "S-1-") {
			return s, nil
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			b = []byte(s)
		}
		sid, ok := sidString(b)
		if !ok {
			return "", ev.fail(n, "value is not a binary security identifier (pass it base64-encoded)")
		}
		return sid, nil
	})
}

func sidString(b []byte) (string, bool) {
	if len(b) < 8 || b[0] != 1 || len(b) != 8+4*int(b[1]) {
		return "", false
	}
	var auth uint64
	for _, x := range b[2:8] {
		auth = auth<<8 | uint64(x)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "S-%d-%d", b[0], auth)
	for i := 0; i < int(b[1]); i++ {
		fmt.Fprintf(&sb, "-%d", binary.LittleEndian.Uint32(b[8+4*i:]))
	}
	return sb.String(), true
}

// ---- UTF-16 helpers (.NET strings are UTF-16; so are Microsoft's lengths)

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// substr16 returns length UTF-16 units starting at unit start (0-based),
// clipped to the string. A cut through a surrogate pair drops the half character.
func substr16(s string, start, length int) string {
	if isASCII(s) {
		if start >= len(s) {
			return ""
		}
		end := len(s)
		if length < end-start {
			end = start + length
		}
		return s[start:end]
	}
	u := 0
	from, to := len(s), len(s)
	end := start + length
	if length > MaxValueLen {
		end = MaxValueLen * 2
	}
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if from == len(s) && u >= start {
			from = i
		}
		if u+w > end {
			to = i
			break
		}
		u += w
	}
	if from > to {
		return ""
	}
	return s[from:to]
}

// instr16 is InStr: the 1-based UTF-16 position of sub in s at or after start, or 0.
func instr16(s, sub string, start int, text bool) int {
	if text {
		s, sub = strings.ToLower(s), strings.ToLower(sub)
	}
	// Walk to the byte offset of UTF-16 unit start-1, search from there, and
	// count the units before the match.
	u, off := 0, len(s)
	for i, r := range s {
		if u >= start-1 {
			off = i
			break
		}
		u += utf16.RuneLen(r)
	}
	if u < start-1 {
		return 0
	}
	if off == len(s) && u == start-1 {
		off = len(s)
	}
	j := strings.Index(s[off:], sub)
	if j < 0 {
		return 0
	}
	return u + utf16Len(s[off:off+j]) + 1
}

func utf16Len(s string) int {
	if isASCII(s) {
		return len(s)
	}
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

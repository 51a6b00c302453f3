package expr

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// letterFold maps the letters Microsoft's NormalizeDiacritics table lists that
// are letters in their own right rather than a base letter plus a combining
// mark, so canonical decomposition alone cannot strip them.
var letterFold = map[rune]string{
	'ß': "ss",
	'æ': "ae", 'Æ': "AE",
	'ø': "oe", 'Ø': "OE",
	'œ': "oe", 'Œ': "OE",
	'ł': "l", 'Ł': "L",
	'ı': "i",
	'đ': "d", 'Đ': "D",
}

// normalizeDiacritics follows Microsoft's documented table: decompose, drop
// the combining diacritical marks (U+0300–U+036F), recompose, then fold the
// multi-letter cases (ß→ss, æ→ae, ø→oe …). Marks outside that block (such as
// Japanese voicing marks) are kept, so non-Latin text is left alone.
func normalizeDiacritics(s string) string {
	if isASCII(s) {
		return s
	}
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if r >= 0x300 && r <= 0x36f {
			continue
		}
		b.WriteRune(r)
	}
	c := norm.NFC.String(b.String())
	b.Reset()
	for _, r := range c {
		if f, ok := letterFold[r]; ok {
			b.WriteString(f)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isWordSeparator is the set of Unicode categories .NET's ToTitleCase treats
// as word separators: everything except letters, marks and numbers.
func isWordSeparator(r rune) bool {
	return !(unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsNumber(r))
}

// properCase is PCase. Without explicit separators it follows .NET
// ToTitleCase's word rules (a word starts at a letter; digits, marks and an
// apostrophe continue it), but lower-cases the rest of every word as
// Microsoft documents — .NET alone would leave all-caps words untouched, and
// the documented "PABLO GONSALVES (SECOND)" → "Pablo Gonsalves (Second)"
// shows it does not.
func properCase(s, seps string, custom bool) string {
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	if custom {
		start := true
		for _, r := range rs {
			if strings.ContainsRune(seps, r) {
				b.WriteRune(r)
				start = true
				continue
			}
			if start {
				b.WriteRune(unicode.ToTitle(r))
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
			start = false
		}
		return b.String()
	}
	for i := 0; i < len(rs); {
		r := rs[i]
		if !unicode.IsLetter(r) {
			b.WriteRune(r)
			i++
			continue
		}
		b.WriteRune(unicode.ToTitle(r))
		i++
		for i < len(rs) {
			r = rs[i]
			switch {
			case unicode.IsLetter(r):
				b.WriteRune(unicode.ToLower(r))
			case r == '\'' || !isWordSeparator(r):
				b.WriteRune(r)
			default:
				goto next
			}
			i++
		}
	next:
	}
	return b.String()
}

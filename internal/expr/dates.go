package expr

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// dateLayout is the documented output of CDate, DateAdd, DateFromNum and Now.
const dateLayout = "M/d/yyyy h:mm:ss tt"

// parseLayouts is what CDate and the other date functions accept, tried in
// order; together they cover the forms .NET's DateTime.Parse accepts in
// Microsoft's examples (ISO 8601 with or without time and offset, the
// engine's own M/d/yyyy h:mm:ss tt, RFC 1123, LDAP generalized time).
var parseLayouts = []string{
	"yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK",
	"yyyy-MM-dd'T'HH:mm:ssK",
	"yyyy-MM-dd'T'HH:mmK",
	"yyyy-MM-dd HH:mm:ss.FFFFFFFK",
	"yyyy-MM-dd HH:mm:ssK",
	"yyyy-MM-dd HH:mmK",
	"yyyy-MM-ddK",
	"yyyy-M-d H:mm:ssK",
	"yyyy-M-dK",
	"yyyy/M/d H:mm:ssK",
	"yyyy/M/dK",
	"M/d/yyyy h:mm:ss tt",
	"M/d/yyyy h:mm tt",
	"M/d/yyyy H:mm:ssK",
	"M/d/yyyy H:mmK",
	"M/d/yyyyK",
	"ddd, d MMM yyyy H:mm:ss 'GMT'",
	"d MMM yyyy H:mm:ssK",
	"d MMM yyyyK",
	"MMMM d, yyyy h:mm:ss tt",
	"MMMM d, yyyy",
	"yyyyMMddHHmmss.FFFFFFFK",
	"yyyyMMddHHmmssK",
}

var parsedLayouts = func() [][]fmtTok {
	out := make([][]fmtTok, len(parseLayouts))
	for i, l := range parseLayouts {
		out[i] = tokenizeFormat(l)
	}
	return out
}()

var outLayout = tokenizeFormat(dateLayout)

// parseDate reads a date/time string; the result is in UTC (a string without
// an offset is taken as UTC, as the provisioning service runs in UTC).
func parseDate(s string) (time.Time, error) {
	t := strings.TrimSpace(s)
	for _, toks := range parsedLayouts {
		if d, err := parseExact(t, toks); err == nil {
			return d, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time Microsoft's engine would recognise (try ISO 8601, like 2021-06-30T08:00:00Z)", s)
}

func formatDate(t time.Time) string { return formatTokens(t, outLayout) }

func (ev *evaluator) dateArg(n *node, i int) (time.Time, bool, error) {
	v, err := ev.arg(n, i)
	if err != nil || v.IsNull() {
		return time.Time{}, false, err
	}
	s, err := ev.scalar(n, v, n.fn.param(i))
	if err != nil {
		return time.Time{}, false, err
	}
	t, err := parseDate(s)
	if err != nil {
		return time.Time{}, false, ev.fail(n, "%s: %v", n.fn.param(i), err)
	}
	return t, true, nil
}

func fnNow(ev *evaluator, n *node) (Value, error) { return Single(formatDate(ev.now())), nil }

func fnCDate(ev *evaluator, n *node) (Value, error) {
	return mapDates(ev, n, func(t time.Time, _ string) (string, error) { return formatDate(t), nil })
}

// mapDates parses every value of the first argument as a date and maps it.
func mapDates(ev *evaluator, n *node, f func(t time.Time, s string) (string, error)) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	return mapValues(v, func(s string) (string, error) {
		t, err := parseDate(s)
		if err != nil {
			return "", ev.fail(n, "%v", err)
		}
		return f(t, s)
	})
}

var intervals = []string{"yyyy", "q", "m", "y", "d", "w", "ww", "h", "n", "s"}

func canonicalInterval(s string) (string, bool) {
	l := strings.ToLower(strings.TrimSpace(s))
	for _, iv := range intervals {
		if l == iv {
			return iv, true
		}
	}
	return "", false
}

func prepInterval(n *node, p *parser) error {
	if c, ok := constArg(n, 0); ok {
		if _, ok := canonicalInterval(c); !ok {
			return p.errAt(n.args[0].pos, "interval %q is not one of %s", c, strings.Join(intervals, ", "))
		}
	}
	return nil
}

func (ev *evaluator) interval(n *node) (string, error) {
	s, err := ev.strArg(n, 0)
	if err != nil {
		return "", err
	}
	iv, ok := canonicalInterval(s)
	if !ok {
		return "", ev.fail(n, "interval %q is not one of %s", s, strings.Join(intervals, ", "))
	}
	return iv, nil
}

// addMonths is .NET's AddMonths: the day is clamped to the target month's end.
func addMonths(t time.Time, months int) time.Time {
	y, m, d := t.Date()
	total := int(m) - 1 + months
	ny := y + total/12
	nm := total % 12
	if nm < 0 {
		nm += 12
		ny--
	}
	last := time.Date(ny, time.Month(nm+2), 0, 0, 0, 0, 0, time.UTC).Day()
	if d > last {
		d = last
	}
	return time.Date(ny, time.Month(nm+1), d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

const maxYearsShift = 10000

func fnDateAdd(ev *evaluator, n *node) (Value, error) {
	iv, err := ev.interval(n)
	if err != nil {
		return Null(), err
	}
	vs, err := ev.strArg(n, 1)
	if err != nil {
		return Null(), err
	}
	f, ok := parseNumber(vs)
	if !ok {
		return Null(), ev.fail(n, "value %q is not a number", vs)
	}
	k := math.Trunc(f) // fractions are dropped, as VB's DateAdd does for calendar intervals
	if math.Abs(k) > maxYearsShift*366*86400 {
		return Null(), ev.fail(n, "value %s is out of range", vs)
	}
	t, ok, err := ev.dateArg(n, 2)
	if err != nil || !ok {
		return Null(), err
	}
	x := int(k)
	var r time.Time
	switch iv {
	case "yyyy":
		r = addMonths(t, 12*clampInt(x, maxYearsShift))
	case "q":
		r = addMonths(t, 3*clampInt(x, 4*maxYearsShift))
	case "m":
		r = addMonths(t, clampInt(x, 12*maxYearsShift))
	case "y", "d", "w":
		r = t.AddDate(0, 0, clampInt(x, 366*maxYearsShift))
	case "ww":
		r = t.AddDate(0, 0, 7*clampInt(x, 53*maxYearsShift))
	case "h":
		r = t.Add(time.Duration(x) * time.Hour)
	case "n":
		r = t.Add(time.Duration(x) * time.Minute)
	case "s":
		r = t.Add(time.Duration(x) * time.Second)
	}
	if r.Year() < 1 || r.Year() > 9999 {
		return Null(), ev.fail(n, "the result is outside the years 1 to 9999")
	}
	return Single(formatDate(r)), nil
}

func clampInt(x, lim int) int { return max(-lim, min(lim, x)) }

// fnDateDiff counts interval boundaries crossed between date1 and date2, as
// Visual Basic's DateDiff does: "d" counts midnights, "m" month changes,
// "yyyy" year changes, "ww" Sundays (week starts), "w" whole 7-day spans.
func fnDateDiff(ev *evaluator, n *node) (Value, error) {
	iv, err := ev.interval(n)
	if err != nil {
		return Null(), err
	}
	d1, ok1, err := ev.dateArg(n, 1)
	if err != nil {
		return Null(), err
	}
	d2, ok2, err := ev.dateArg(n, 2)
	if err != nil {
		return Null(), err
	}
	if !ok1 || !ok2 {
		return Null(), nil
	}
	days := func(t time.Time) int64 {
		y, m, d := t.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
	}
	var r int64
	switch iv {
	case "yyyy":
		r = int64(d2.Year() - d1.Year())
	case "q":
		r = int64((d2.Year()-d1.Year())*4 + (int(d2.Month())-1)/3 - (int(d1.Month())-1)/3)
	case "m":
		r = int64((d2.Year()-d1.Year())*12 + int(d2.Month()) - int(d1.Month()))
	case "d", "y":
		r = days(d2) - days(d1)
	case "w":
		r = int64(d2.Sub(d1)/time.Hour) / 24 / 7
	case "ww":
		sunday := func(t time.Time) int64 { return days(t) - int64(t.Weekday()) }
		r = (sunday(d2) - sunday(d1)) / 7
	case "h":
		r = floorDiv(d2.Unix(), 3600) - floorDiv(d1.Unix(), 3600)
	case "n":
		r = floorDiv(d2.Unix(), 60) - floorDiv(d1.Unix(), 60)
	case "s":
		r = d2.Unix() - d1.Unix()
	}
	return Single(strconv.FormatInt(r, 10)), nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// FILETIME: 100-nanosecond intervals since 1601-01-01 UTC (AD's date format).
var fileTimeEpoch = time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)

const maxFileTime = 2650467743999999999 // 9999-12-31 23:59:59.9999999

func fnDateFromNum(ev *evaluator, n *node) (Value, error) {
	v, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	return mapValues(v, func(s string) (string, error) {
		x, ok := parseInt(s)
		if !ok || x < 0 || x > maxFileTime {
			return "", ev.fail(n, "%q is not an AD date (100-nanosecond intervals since 1601-01-01, up to year 9999)", s)
		}
		t := time.Unix(fileTimeEpoch.Unix()+x/10_000_000, x%10_000_000*100).UTC()
		return formatDate(t), nil
	})
}

func fnNumFromDate(ev *evaluator, n *node) (Value, error) {
	return mapDates(ev, n, func(t time.Time, s string) (string, error) {
		if t.Before(fileTimeEpoch) {
			return "", ev.fail(n, "%q is before 1601, which AD cannot store", s)
		}
		secs := t.Unix() - fileTimeEpoch.Unix()
		return strconv.FormatInt(secs*10_000_000+int64(t.Nanosecond()/100), 10), nil
	})
}

var dateTimeStyles = []string{"None", "AllowLeadingWhite", "AllowTrailingWhite", "AllowInnerWhite", "AllowWhiteSpaces", "NoCurrentDateDefault", "AdjustToUniversal", "AssumeLocal", "AssumeUniversal", "RoundtripKind"}

func checkStyles(s string) error {
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '|' || r == ' ' }) {
		part = strings.TrimPrefix(part, "DateTimeStyles.")
		found := false
		for _, st := range dateTimeStyles {
			if strings.EqualFold(part, st) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("dateTimeStyles %q is not one of %s", part, strings.Join(dateTimeStyles, ", "))
		}
	}
	return nil
}

func prepFormatDateTime(n *node, p *parser) error {
	if len(n.args) == 3 && n.args[1].kind == nOmitted {
		return p.errAt(n.args[1].pos, "expected %s, the inputFormat argument of FormatDateTime", expectedOperand)
	}
	if len(n.args) == 4 {
		if c, ok := constArg(n, 1); ok {
			if err := checkStyles(c); err != nil {
				return p.errAt(n.args[1].pos, "%v", err)
			}
		}
	}
	return nil
}

// fnFormatDateTime accepts both documented forms: app provisioning's
// (source, dateTimeStyles, inputFormat, outputFormat) and Cloud Sync's
// (source, inputFormat, outputFormat). A parsed offset is converted to UTC.
func fnFormatDateTime(ev *evaluator, n *node) (Value, error) {
	src, err := ev.arg(n, 0)
	if err != nil {
		return Null(), err
	}
	in, out := 1, 2
	if len(n.args) == 4 {
		in, out = 2, 3
		styles, err := ev.strArg(n, 1)
		if err != nil {
			return Null(), err
		}
		if err := checkStyles(styles); err != nil {
			return Null(), ev.fail(n, "%v", err)
		}
	}
	inFmt, err := ev.strArg(n, in)
	if err != nil {
		return Null(), err
	}
	outFmt, err := ev.strArg(n, out)
	if err != nil {
		return Null(), err
	}
	inToks, outToks := tokenizeFormat(expandStandard(inFmt)), tokenizeFormat(expandStandard(outFmt))
	return mapValues(src, func(s string) (string, error) {
		t, err := parseExact(strings.TrimSpace(s), inToks)
		if err != nil {
			return "", ev.fail(n, "%q does not match inputFormat %q: %v", s, inFmt, err)
		}
		return formatTokens(t, outToks), nil
	})
}

// ---- .NET custom date and time format strings (invariant culture)

type fmtTok struct {
	c   byte   // specifier letter, or 0 for a literal
	n   int    // repeat count
	lit string // literal text
}

var specifiers = "dfFghHKmMstyz"

// expandStandard turns a one-letter .NET standard format into its invariant pattern.
func expandStandard(f string) string {
	if len(f) != 1 {
		return f
	}
	switch f {
	case "d":
		return "MM/dd/yyyy"
	case "D":
		return "dddd, dd MMMM yyyy"
	case "f":
		return "dddd, dd MMMM yyyy HH:mm"
	case "F", "U":
		return "dddd, dd MMMM yyyy HH:mm:ss"
	case "g":
		return "MM/dd/yyyy HH:mm"
	case "G":
		return "MM/dd/yyyy HH:mm:ss"
	case "m", "M":
		return "MMMM dd"
	case "o", "O":
		return "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK"
	case "r", "R":
		return "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'"
	case "s":
		return "yyyy'-'MM'-'dd'T'HH':'mm':'ss"
	case "t":
		return "HH:mm"
	case "T":
		return "HH:mm:ss"
	case "u":
		return "yyyy'-'MM'-'dd HH':'mm':'ss'Z'"
	case "y", "Y":
		return "yyyy MMMM"
	}
	return f
}

func tokenizeFormat(f string) []fmtTok {
	var toks []fmtTok
	lit := func(s string) {
		if k := len(toks); k > 0 && toks[k-1].c == 0 {
			toks[k-1].lit += s
			return
		}
		toks = append(toks, fmtTok{lit: s})
	}
	for i := 0; i < len(f); {
		c := f[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			var b strings.Builder
			for j < len(f) && f[j] != c {
				if f[j] == '\\' && j+1 < len(f) {
					j++
				}
				b.WriteByte(f[j])
				j++
			}
			lit(b.String())
			i = j + 1
		case c == '\\' && i+1 < len(f):
			lit(f[i+1 : i+2])
			i += 2
		case c == '%' && i+1 < len(f):
			i++ // "%d" is the single specifier d
		case strings.IndexByte(specifiers, c) >= 0:
			j := i
			for j < len(f) && f[j] == c {
				j++
			}
			toks = append(toks, fmtTok{c: c, n: j - i})
			i = j
		default:
			lit(f[i : i+1])
			i++
		}
	}
	return toks
}

var (
	monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	dayNames   = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
)

func pad(x, w int) string {
	s := strconv.Itoa(x)
	for len(s) < w {
		s = "0" + s
	}
	return s
}

func formatTokens(t time.Time, toks []fmtTok) string {
	var b strings.Builder
	for _, tk := range toks {
		switch tk.c {
		case 0:
			b.WriteString(tk.lit)
		case 'd':
			switch {
			case tk.n <= 2:
				b.WriteString(pad(t.Day(), tk.n))
			case tk.n == 3:
				b.WriteString(dayNames[t.Weekday()][:3])
			default:
				b.WriteString(dayNames[t.Weekday()])
			}
		case 'M':
			switch {
			case tk.n <= 2:
				b.WriteString(pad(int(t.Month()), tk.n))
			case tk.n == 3:
				b.WriteString(monthNames[t.Month()-1][:3])
			default:
				b.WriteString(monthNames[t.Month()-1])
			}
		case 'y':
			switch {
			case tk.n == 1:
				b.WriteString(strconv.Itoa(t.Year() % 100))
			case tk.n == 2:
				b.WriteString(pad(t.Year()%100, 2))
			default:
				b.WriteString(pad(t.Year(), tk.n))
			}
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			b.WriteString(pad(h, min(tk.n, 2)))
		case 'H':
			b.WriteString(pad(t.Hour(), min(tk.n, 2)))
		case 'm':
			b.WriteString(pad(t.Minute(), min(tk.n, 2)))
		case 's':
			b.WriteString(pad(t.Second(), min(tk.n, 2)))
		case 'f', 'F':
			k := min(tk.n, 7)
			frac := pad(t.Nanosecond()/100, 7)[:k]
			if tk.c == 'F' {
				frac = strings.TrimRight(frac, "0")
			}
			b.WriteString(frac)
		case 't':
			ampm := "AM"
			if t.Hour() >= 12 {
				ampm = "PM"
			}
			b.WriteString(ampm[:min(tk.n, 2)])
		case 'z':
			_, off := t.Zone()
			sign := '+'
			if off < 0 {
				sign, off = '-', -off
			}
			b.WriteRune(sign)
			switch tk.n {
			case 1:
				b.WriteString(strconv.Itoa(off / 3600))
			case 2:
				b.WriteString(pad(off/3600, 2))
			default:
				b.WriteString(pad(off/3600, 2) + ":" + pad(off%3600/60, 2))
			}
		case 'K':
			b.WriteString("Z") // every date here is UTC
		case 'g':
			b.WriteString("A.D.")
		}
	}
	return b.String()
}

// parseExact is DateTime.ParseExact for the tokens, invariant culture. The
// result is UTC: a parsed offset is applied, no offset means UTC.
func parseExact(s string, toks []fmtTok) (time.Time, error) {
	p := &exactParser{s: s, year: 1, month: 1, day: 1}
	for _, tk := range toks {
		if err := p.token(tk); err != nil {
			return time.Time{}, err
		}
	}
	if p.i != len(s) {
		return time.Time{}, fmt.Errorf("unexpected %q at %d", s[p.i:], p.i+1)
	}
	return p.time()
}

// exactParser reads a date from s, token by token, at i.
type exactParser struct {
	s                       string
	i                       int
	year, month, day        int
	hour, minute, sec, nsec int
	pm, hasAMPM, h12        bool
	offset                  int
	hasOffset               bool
}

// num reads minD to maxD digits.
func (p *exactParser) num(minD, maxD int) (int, error) {
	j := p.i
	for j < len(p.s) && j-p.i < maxD && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	if j-p.i < minD {
		return 0, fmt.Errorf("expected %d digits at %d", minD, p.i+1)
	}
	x, _ := strconv.Atoi(p.s[p.i:j])
	p.i = j
	return x, nil
}

// name reads one of names (or of their three-letter abbreviations) and
// returns its index.
func (p *exactParser) name(names []string, abbr bool) (int, error) {
	for k, nm := range names {
		if abbr {
			nm = nm[:3]
		}
		if len(p.s)-p.i >= len(nm) && strings.EqualFold(p.s[p.i:p.i+len(nm)], nm) {
			p.i += len(nm)
			return k, nil
		}
	}
	return 0, fmt.Errorf("expected a name at %d", p.i+1)
}

// token reads what one format token stands for.
func (p *exactParser) token(tk fmtTok) error {
	var err error
	switch tk.c {
	case 0:
		if !strings.HasPrefix(p.s[p.i:], tk.lit) {
			return fmt.Errorf("expected %q at %d", tk.lit, p.i+1)
		}
		p.i += len(tk.lit)
	case 'd':
		switch {
		case tk.n <= 2:
			p.day, err = p.num(tk.n, 2)
		case tk.n == 3:
			_, err = p.name(dayNames, true)
		default:
			_, err = p.name(dayNames, false)
		}
	case 'M':
		switch {
		case tk.n <= 2:
			p.month, err = p.num(tk.n, 2)
		default:
			var k int
			k, err = p.name(monthNames, tk.n == 3)
			p.month = k + 1
		}
	case 'y':
		err = p.yearToken(tk)
	case 'h':
		p.hour, err = p.num(min(tk.n, 2), 2)
		p.h12 = true
	case 'H':
		p.hour, err = p.num(min(tk.n, 2), 2)
	case 'm':
		p.minute, err = p.num(min(tk.n, 2), 2)
	case 's':
		p.sec, err = p.num(min(tk.n, 2), 2)
	case 'f', 'F':
		err = p.fraction(tk)
	case 't':
		err = p.ampm(tk)
	case 'z', 'K':
		err = p.utcOffset(tk)
	case 'g':
		for _, era := range []string{"A.D.", "AD"} {
			if strings.HasPrefix(p.s[p.i:], era) {
				p.i += len(era)
				break
			}
		}
	}
	return err
}

// yearToken reads y, yy (a two-digit year: .NET's invariant TwoDigitYearMax
// is 2029) or yyyy.
func (p *exactParser) yearToken(tk fmtTok) error {
	var err error
	if tk.n > 2 {
		p.year, err = p.num(tk.n, max(tk.n, 4))
		return err
	}
	p.year, err = p.num(tk.n, 2)
	if p.year < 30 {
		p.year += 2000
	} else {
		p.year += 1900
	}
	return err
}

// fraction reads f (exactly n digits) or F (up to n) of a second.
func (p *exactParser) fraction(tk fmtTok) error {
	k := min(tk.n, 7)
	j := p.i
	for j < len(p.s) && j-p.i < k && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	if tk.c == 'f' && j-p.i != k {
		return fmt.Errorf("expected %d fraction digits at %d", k, p.i+1)
	}
	if j > p.i {
		x, _ := strconv.Atoi(p.s[p.i:j])
		for d := j - p.i; d < 9; d++ {
			x *= 10
		}
		p.nsec = x
	}
	p.i = j
	return nil
}

// ampm reads t (A or P) or tt (AM or PM).
func (p *exactParser) ampm(tk fmtTok) error {
	s, i := p.s, p.i
	switch {
	case len(s)-i >= 2 && tk.n >= 2 && strings.EqualFold(s[i:i+2], "PM"):
		p.pm, p.i = true, i+2
	case len(s)-i >= 2 && tk.n >= 2 && strings.EqualFold(s[i:i+2], "AM"):
		p.i += 2
	case len(s)-i >= 1 && tk.n == 1 && (s[i] == 'P' || s[i] == 'p'):
		p.pm, p.i = true, i+1
	case len(s)-i >= 1 && tk.n == 1 && (s[i] == 'A' || s[i] == 'a'):
		p.i++
	default:
		return fmt.Errorf("expected AM or PM at %d", i+1)
	}
	p.hasAMPM = true
	return nil
}

// utcOffset reads z, zz, zzz (+hh, +hh:mm) or K (also Z, or nothing).
func (p *exactParser) utcOffset(tk fmtTok) error {
	s := p.s
	if tk.c == 'K' && p.i == len(s) {
		return nil
	}
	if p.i < len(s) && (s[p.i] == 'Z' || s[p.i] == 'z') && tk.c == 'K' {
		p.i++
		p.hasOffset = true
		return nil
	}
	if p.i >= len(s) || s[p.i] != '+' && s[p.i] != '-' {
		return fmt.Errorf("expected a UTC offset at %d", p.i+1)
	}
	sign := 1
	if s[p.i] == '-' {
		sign = -1
	}
	p.i++
	oh, err := p.num(1, 2)
	if err != nil {
		return err
	}
	var om int
	if p.i < len(s) && s[p.i] == ':' {
		p.i++
		if om, err = p.num(2, 2); err != nil {
			return err
		}
	} else if tk.c == 'K' || tk.n >= 3 {
		if om, err = p.num(2, 2); err != nil {
			return err
		}
	}
	if oh > 14 || om > 59 {
		return fmt.Errorf("UTC offset out of range")
	}
	p.offset, p.hasOffset = sign*(oh*3600+om*60), true
	return nil
}

// time is the instant read, checked.
func (p *exactParser) time() (time.Time, error) {
	hour := p.hour
	if p.h12 || p.hasAMPM {
		if hour > 12 || p.h12 && hour == 0 {
			return time.Time{}, fmt.Errorf("hour %d is not a 12-hour clock hour", hour)
		}
		if p.hasAMPM {
			hour %= 12
			if p.pm {
				hour += 12
			}
		}
	}
	if p.month < 1 || p.month > 12 || p.day < 1 || hour > 23 || p.minute > 59 || p.sec > 59 || p.year < 1 || p.year > 9999 {
		return time.Time{}, fmt.Errorf("date or time out of range")
	}
	t := time.Date(p.year, time.Month(p.month), p.day, hour, p.minute, p.sec, p.nsec, time.UTC)
	if t.Day() != p.day {
		return time.Time{}, fmt.Errorf("day %d does not exist in %s %d", p.day, monthNames[p.month-1], p.year)
	}
	if p.hasOffset {
		t = t.Add(-time.Duration(p.offset) * time.Second)
	}
	return t, nil
}

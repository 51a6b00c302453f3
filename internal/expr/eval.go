package expr

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// EvalError is an evaluation failure, with the position of the function that failed.
type EvalError struct {
	Pos  int    // 1-based character position of the call in the source
	Func string // the function's documented name
	Msg  string
	// User is true when the mapping itself raised the error with Error("…").
	User bool
}

func (e *EvalError) Error() string {
	if e.User {
		return fmt.Sprintf("position %d: Error: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("position %d: %s: %s", e.Pos, e.Func, e.Msg)
}

// ErrNotUnique is wrapped by the error SelectUniqueValue returns when every
// candidate is already taken (Microsoft escrows the object in that case).
var ErrNotUnique = errors.New("no unique value")

type evaluator struct {
	e   *Expr
	ctx *Context
}

// Eval evaluates the expression against ctx.
func (e *Expr) Eval(ctx Context) (Value, error) {
	ev := evaluator{e: e, ctx: &ctx}
	return ev.eval(e.root)
}

func (ev *evaluator) fail(n *node, format string, args ...any) error {
	name := ""
	if n.fn != nil {
		name = n.fn.name
	}
	return &EvalError{Pos: utf8.RuneCountInString(ev.e.src[:n.pos]) + 1, Func: name, Msg: fmt.Sprintf(format, args...)}
}

func (ev *evaluator) now() time.Time {
	if ev.ctx.Now.IsZero() {
		return time.Now().UTC()
	}
	return ev.ctx.Now.UTC()
}

func (ev *evaluator) eval(n *node) (Value, error) {
	switch n.kind {
	case nString, nEnum:
		return Single(n.text), nil
	case nNumber:
		return Single(n.val), nil
	case nOmitted:
		return Null(), nil
	case nParen:
		return ev.eval(n.args[0])
	case nAttr:
		vs, ok := ev.ctx.lookup(n.text)
		if !ok || len(vs) == 0 {
			return Null(), nil
		}
		if len(vs) == 1 {
			return Single(vs[0]), nil
		}
		return Multi(vs), nil
	case nConcat:
		var b strings.Builder
		for _, a := range n.args {
			v, err := ev.eval(a)
			if err != nil {
				return Null(), err
			}
			s, err := ev.scalar(n, v, "operand of &")
			if err != nil {
				return Null(), err
			}
			b.WriteString(s)
			if b.Len() > MaxValueLen {
				return Null(), ev.fail(n, "value longer than %d bytes", MaxValueLen)
			}
		}
		return Single(b.String()), nil
	case nCompare:
		return ev.compare(n)
	case nCall:
		v, err := n.fn.eval(ev, n)
		if err != nil {
			return Null(), err
		}
		if v.size() > MaxValueLen {
			return Null(), ev.fail(n, "value longer than %d bytes", MaxValueLen)
		}
		return v, nil
	}
	return Null(), ev.fail(n, "internal error: unknown node kind %d", n.kind)
}

// compare evaluates a = b and friends. A null operand makes the condition
// false, as Microsoft documents for IIF ("the condition check fails").
// Numbers compare numerically, everything else as case-sensitive strings.
func (ev *evaluator) compare(n *node) (Value, error) {
	l, err := ev.eval(n.args[0])
	if err != nil {
		return Null(), err
	}
	r, err := ev.eval(n.args[1])
	if err != nil {
		return Null(), err
	}
	if l.IsNull() || r.IsNull() {
		return boolValue(false), nil
	}
	ls, err := ev.scalar(n, l, "left side of "+n.text)
	if err != nil {
		return Null(), err
	}
	rs, err := ev.scalar(n, r, "right side of "+n.text)
	if err != nil {
		return Null(), err
	}
	var c int
	lf, lok := parseNumber(ls)
	rf, rok := parseNumber(rs)
	switch {
	case lok && rok:
		switch {
		case lf < rf:
			c = -1
		case lf > rf:
			c = 1
		}
	default:
		c = strings.Compare(ls, rs)
	}
	var res bool
	switch n.text {
	case "=":
		res = c == 0
	case "<>":
		res = c != 0
	case "<":
		res = c < 0
	case "<=":
		res = c <= 0
	case ">":
		res = c > 0
	case ">=":
		res = c >= 0
	}
	return boolValue(res), nil
}

func boolValue(b bool) Value {
	if b {
		return Single("True")
	}
	return Single("False")
}

// arg evaluates argument i; an omitted or missing argument is null.
func (ev *evaluator) arg(n *node, i int) (Value, error) {
	if i >= len(n.args) {
		return Null(), nil
	}
	return ev.eval(n.args[i])
}

// present reports whether argument i was written (not omitted).
func present(n *node, i int) bool {
	return i < len(n.args) && n.args[i].kind != nOmitted
}

// scalar turns v into one string: null is "", multi-valued is an error.
func (ev *evaluator) scalar(n *node, v Value, what string) (string, error) {
	switch v.kind {
	case KindSingle:
		return v.s, nil
	case KindMulti:
		return "", ev.fail(n, "%s must be single-valued, got %d values", what, len(v.vs))
	}
	return "", nil
}

// strArg evaluates argument i as one string (null → "").
func (ev *evaluator) strArg(n *node, i int) (string, error) {
	v, err := ev.arg(n, i)
	if err != nil {
		return "", err
	}
	return ev.scalar(n, v, n.fn.param(i))
}

// intArg evaluates argument i as an integer.
func (ev *evaluator) intArg(n *node, i int) (int64, error) {
	v, err := ev.arg(n, i)
	if err != nil {
		return 0, err
	}
	if v.IsNull() {
		return 0, ev.fail(n, "%s is empty; a number is required", n.fn.param(i))
	}
	s, err := ev.scalar(n, v, n.fn.param(i))
	if err != nil {
		return 0, err
	}
	x, ok := parseInt(s)
	if !ok {
		return 0, ev.fail(n, "%s %q is not a whole number", n.fn.param(i), s)
	}
	return x, nil
}

// parseInt accepts decimal integers, integral decimals ("7.0") and &H hex.
func parseInt(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if isHexPrefix(s) {
		u, err := strconv.ParseUint(s[2:], 16, 64)
		return int64(u), err == nil
	}
	if x, err := strconv.ParseInt(s, 10, 64); err == nil {
		return x, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
		return 0, false
	}
	return int64(f), true
}

// parseNumber accepts what parseInt accepts plus decimals.
func parseNumber(s string) (float64, bool) {
	if x, ok := parseInt(s); ok {
		return float64(x), true
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// parseBool is CBool's conversion: True/False words, or a number (non-zero is true).
func parseBool(s string) (bool, bool) {
	t := strings.TrimSpace(s)
	switch {
	case strings.EqualFold(t, "true"):
		return true, true
	case strings.EqualFold(t, "false"):
		return false, true
	}
	if f, ok := parseNumber(t); ok {
		return f != 0, true
	}
	return false, false
}

// mapValues applies fn to every value of v (Microsoft applies string functions
// element-wise to multi-valued attributes, as documented for Trim).
func mapValues(v Value, fn func(string) (string, error)) (Value, error) {
	switch v.kind {
	case KindSingle:
		s, err := fn(v.s)
		return Single(s), err
	case KindMulti:
		out := make([]string, len(v.vs))
		for i, s := range v.vs {
			r, err := fn(s)
			if err != nil {
				return Null(), err
			}
			out[i] = r
		}
		return Multi(out), nil
	}
	return Null(), nil
}

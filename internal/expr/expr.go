// Package expr owns Microsoft's attribute-mapping expression language: the
// syntax administrators already use in Entra provisioning and Cloud Sync
// mappings (Append, IIF, Switch, Replace, …), parsed once into an Expr and
// evaluated against one object's attributes.
//
// Values follow Microsoft's model: an attribute is absent (null), single-valued
// or multi-valued, and every scalar is a string — booleans flow as "True" and
// "False", numbers as decimal text, dates as "M/d/yyyy h:mm:ss tt" in UTC.
// String lengths and positions count UTF-16 code units, as .NET does, so Left
// and Mid cut a non-ASCII name where Microsoft's engine cuts it.
//
// Attribute names are matched case-insensitively ([displayName] and
// [DisplayName] are the same attribute; an exact-case key wins if both exist),
// because Microsoft treats directory attribute names that way. Function names
// are matched case-insensitively too (Microsoft's own Cloud Sync list spells
// "Cstr", "GUID" and "StringFromSID") and printed in their documented spelling.
package expr

import (
	"strings"
	"time"
)

// Limits that keep a hostile or broken mapping from hurting the daemon.
const (
	// MaxSourceLen is the longest expression Parse accepts, in bytes.
	MaxSourceLen = 64 << 10
	// MaxDepth is the deepest nesting of calls and parentheses Parse accepts.
	MaxDepth = 100
	// MaxValueLen is the largest total size, in bytes, of any intermediate value;
	// nested Replace templates could otherwise grow a value exponentially.
	MaxValueLen = 1 << 20
	// RegexTimeout bounds one regular-expression match (.NET patterns can backtrack).
	RegexTimeout = 200 * time.Millisecond
)

// Context is what an expression is evaluated against.
type Context struct {
	// Attrs holds the source object's attributes. An absent key is null; one
	// value is single-valued; several values are multi-valued.
	Attrs map[string][]string
	// Now is returned by Now() and used by date functions; zero means the wall clock.
	Now time.Time
	// Unique reports whether a SelectUniqueValue candidate is free in the target
	// directory. Nil means every candidate is free (no target to ask).
	Unique func(candidate string) (bool, error)
}

// lookup finds an attribute, exact case first, then case-insensitively.
func (c *Context) lookup(name string) ([]string, bool) {
	if v, ok := c.Attrs[name]; ok {
		return v, true
	}
	for k, v := range c.Attrs {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// Kind says whether a Value is null, single- or multi-valued.
type Kind uint8

const (
	KindNull Kind = iota
	KindSingle
	KindMulti
)

// Value is the result of evaluating an expression or one of its parts.
type Value struct {
	kind Kind
	s    string
	vs   []string
	// IgnoreFlow is set when IgnoreFlowIfNullOrEmpty asks for the target
	// attribute to be left out of the flow entirely (not cleared).
	IgnoreFlow bool
	// Redacted is set when Redact wrapped the value: logs must show "[Redact]".
	Redacted bool
}

// Null is the absent value.
func Null() Value { return Value{} }

// Single is a one-string value.
func Single(s string) Value { return Value{kind: KindSingle, s: s} }

// Multi is a multi-valued value; no values at all is null.
func Multi(vs []string) Value {
	if len(vs) == 0 {
		return Value{}
	}
	return Value{kind: KindMulti, vs: vs}
}

// Kind reports the shape of v.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is absent.
func (v Value) IsNull() bool { return v.kind == KindNull }

// Values returns v's strings: nil for null, one element for single.
func (v Value) Values() []string {
	switch v.kind {
	case KindSingle:
		return []string{v.s}
	case KindMulti:
		return v.vs
	}
	return nil
}

// Text returns a single value's string; "" for null; the values joined by
// newlines for a multi-valued value.
func (v Value) Text() string {
	switch v.kind {
	case KindSingle:
		return v.s
	case KindMulti:
		return strings.Join(v.vs, "\n")
	}
	return ""
}

// isEmpty is Microsoft's "null or empty string".
func (v Value) isEmpty() bool {
	switch v.kind {
	case KindSingle:
		return v.s == ""
	case KindMulti:
		for _, s := range v.vs {
			if s != "" {
				return false
			}
		}
		return true
	}
	return true
}

func (v Value) size() int {
	switch v.kind {
	case KindSingle:
		return len(v.s)
	case KindMulti:
		n := 0
		for _, s := range v.vs {
			n += len(s) + 1
		}
		return n
	}
	return 0
}

// Expr is a parsed expression, safe for concurrent Eval calls.
type Expr struct {
	src   string
	root  *node
	attrs []string
}

// Attributes returns the attribute names the expression references, in order
// of first appearance, each once (compared case-insensitively).
func (e *Expr) Attributes() []string {
	return append([]string(nil), e.attrs...)
}

// String returns the expression in canonical form: documented function
// spelling, ", " between arguments, omitted arguments left empty.
func (e *Expr) String() string {
	var b strings.Builder
	e.root.format(&b)
	return b.String()
}

// Source returns the text the expression was parsed from.
func (e *Expr) Source() string { return e.src }

// SelectsUniqueValue reports whether the expression is a SelectUniqueValue,
// which Microsoft applies only when the target object is created.
func (e *Expr) SelectsUniqueValue() bool {
	n := e.root
	for n.kind == nParen {
		n = n.args[0]
	}
	return n.kind == nCall && n.fn.name == "SelectUniqueValue"
}

// Volatile reports whether the expression can give a different result for the
// same attributes (it calls Now, Guid or RandomString), so a planner should
// not treat a changed result as drift.
func (e *Expr) Volatile() bool {
	var walk func(n *node) bool
	walk = func(n *node) bool {
		if n.kind == nCall {
			switch n.fn.name {
			case "Now", "Guid", "RandomString":
				return true
			}
		}
		for _, a := range n.args {
			if walk(a) {
				return true
			}
		}
		return false
	}
	return walk(e.root)
}

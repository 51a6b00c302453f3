package expr

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

type nodeKind uint8

const (
	nString  nodeKind = iota // "text"
	nNumber                  // 42, -10, &HF7
	nAttr                    // [name]
	nEnum                    // vbTextCompare, UTF8, …
	nCall                    // Name(args)
	nCompare                 // a = b, a <> b, …
	nConcat                  // a & b (Connect Sync's operator, used in a Cloud Sync example)
	nOmitted                 // an empty argument position
	nParen                   // ( expr )
)

type node struct {
	kind nodeKind
	pos  int    // byte offset in the source
	text string // string value, number lexeme, attribute name, enum word or operator
	val  string // number's decimal value
	fn   *funcSpec
	args []*node
	ext  any // per-function data prepared at parse time (compiled regex, …)
}

// SyntaxError is a parse error at a position (1-based, counted in characters).
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("position %d: %s", e.Pos, e.Msg) }

type parser struct {
	src   string
	i     int
	depth int
	attrs []string
	seen  map[string]bool
}

// Parse parses a mapping expression. Unknown functions, wrong argument counts
// and malformed constant arguments (a bad regular expression, an unknown
// interval) are reported here rather than at sync time.
func Parse(src string) (*Expr, error) {
	if len(src) > MaxSourceLen {
		return nil, fmt.Errorf("expression is %d bytes long; the limit is %d", len(src), MaxSourceLen)
	}
	if !utf8.ValidString(src) {
		return nil, fmt.Errorf("expression is not valid UTF-8")
	}
	p := &parser{src: src, seen: map[string]bool{}}
	p.skipSpace()
	if p.i == len(src) {
		return nil, p.errAt(p.i, "expected an expression")
	}
	root, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i < len(src) {
		return nil, p.errAt(p.i, "expected end of expression, found %s", p.describe())
	}
	if err := p.checkTopLevel(root, true); err != nil {
		return nil, err
	}
	return &Expr{src: src, root: root, attrs: p.attrs}, nil
}

// MustParse is Parse for expressions known to be valid; it panics otherwise.
func MustParse(src string) *Expr {
	e, err := Parse(src)
	if err != nil {
		panic(err)
	}
	return e
}

func (p *parser) charPos(byteOff int) int {
	if byteOff > len(p.src) {
		byteOff = len(p.src)
	}
	return utf8.RuneCountInString(p.src[:byteOff]) + 1
}

func (p *parser) errAt(off int, format string, args ...any) error {
	return &SyntaxError{Pos: p.charPos(off), Msg: fmt.Sprintf(format, args...)}
}

// describe names what is at the cursor, for "found …" in errors.
func (p *parser) describe() string {
	if p.i >= len(p.src) {
		return "end of expression"
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.i:])
	return strconv.QuoteRune(r)
}

func (p *parser) skipSpace() {
	for p.i < len(p.src) {
		switch p.src[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) peek() byte {
	if p.i < len(p.src) {
		return p.src[p.i]
	}
	return 0
}

func (p *parser) enter(off int) error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errAt(off, "expression nested deeper than %d levels", MaxDepth)
	}
	return nil
}

// parseExpr: concat [compareOp concat]
func (p *parser) parseExpr() (*node, error) {
	left, err := p.parseConcat()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	start := p.i
	op := p.compareOp()
	if op == "" {
		return left, nil
	}
	p.skipSpace()
	right, err := p.parseConcat()
	if err != nil {
		return nil, err
	}
	n := &node{kind: nCompare, pos: start, text: op, args: []*node{left, right}}
	p.skipSpace()
	if p.compareOp() != "" {
		return nil, p.errAt(start, "comparisons cannot be chained; nest IIF instead")
	}
	return n, nil
}

func (p *parser) compareOp() string {
	rest := p.src[p.i:]
	for _, op := range []string{"<>", "<=", ">=", "=", "<", ">"} {
		if strings.HasPrefix(rest, op) {
			p.i += len(op)
			return op
		}
	}
	return ""
}

// parseConcat: primary { '&' primary }; "&H" starts a hex number, not a concatenation.
func (p *parser) parseConcat() (*node, error) {
	first, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	var parts []*node
	for {
		p.skipSpace()
		if p.peek() != '&' || isHexPrefix(p.src[p.i:]) {
			break
		}
		p.i++
		p.skipSpace()
		next, err := p.parsePrimary()
		if err != nil {
			return nil, err
		}
		if parts == nil {
			parts = []*node{first}
		}
		parts = append(parts, next)
	}
	if parts == nil {
		return first, nil
	}
	return &node{kind: nConcat, pos: first.pos, args: parts}, nil
}

func isHexPrefix(s string) bool {
	return len(s) >= 3 && s[0] == '&' && (s[1] == 'H' || s[1] == 'h') && isHexDigit(s[2])
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isIdentPart(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '-'
}

const expectedOperand = "an attribute, a string, a number or a function"

func (p *parser) parsePrimary() (*node, error) {
	p.skipSpace()
	start := p.i
	c := p.peek()
	switch {
	case p.i >= len(p.src):
		return nil, p.errAt(p.i, "expected %s, found end of expression", expectedOperand)
	case c == '"':
		return p.parseString()
	case c == '[':
		end := strings.IndexAny(p.src[p.i+1:], "]\n")
		if end < 0 || p.src[p.i+1+end] != ']' {
			return nil, p.errAt(p.i, "expected ']' to close the attribute name")
		}
		name := p.src[p.i+1 : p.i+1+end]
		if strings.TrimSpace(name) == "" {
			return nil, p.errAt(p.i, "expected an attribute name between '[' and ']'")
		}
		p.i += end + 2
		key := strings.ToLower(name)
		if !p.seen[key] {
			p.seen[key] = true
			p.attrs = append(p.attrs, name)
		}
		return &node{kind: nAttr, pos: start, text: name}, nil
	case c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.':
		return p.parseNumber()
	case isHexPrefix(p.src[p.i:]):
		j := p.i + 2
		for j < len(p.src) && isHexDigit(p.src[j]) {
			j++
		}
		digits := p.src[p.i+2 : j]
		v, err := strconv.ParseUint(digits, 16, 64)
		if err != nil {
			return nil, p.errAt(p.i, "hex number &H%s is too large", digits)
		}
		p.i = j
		return &node{kind: nNumber, pos: start, text: "&H" + strings.ToUpper(digits), val: strconv.FormatInt(int64(v), 10)}, nil
	case c == '(':
		if err := p.enter(start); err != nil {
			return nil, err
		}
		p.i++
		inner, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.peek() != ')' {
			return nil, p.errAt(p.i, "expected ')', found %s", p.describe())
		}
		p.i++
		p.depth--
		return &node{kind: nParen, pos: start, args: []*node{inner}}, nil
	case isIdentStart(c):
		j := p.i
		for j < len(p.src) && isIdentPart(p.src[j]) {
			j++
		}
		name := p.src[p.i:j]
		p.i = j
		p.skipSpace()
		if p.peek() != '(' {
			if spec := lookupFunc(name); spec != nil {
				return nil, p.errAt(p.i, "expected '(' after function name %s", spec.name)
			}
			return &node{kind: nEnum, pos: start, text: name}, nil
		}
		return p.parseCall(start, name)
	}
	return nil, p.errAt(p.i, "expected %s, found %s", expectedOperand, p.describe())
}

func (p *parser) parseString() (*node, error) {
	start := p.i
	p.i++ // opening quote
	var b strings.Builder
	for {
		if p.i >= len(p.src) {
			return nil, p.errAt(start, "expected '\"' to close the string")
		}
		c := p.src[p.i]
		switch c {
		case '"':
			p.i++
			return &node{kind: nString, pos: start, text: b.String()}, nil
		case '\\':
			// Microsoft escapes only \" and \\; any other backslash is kept as
			// written, so an unescaped regex like "\d" still means what it says.
			if p.i+1 < len(p.src) && (p.src[p.i+1] == '"' || p.src[p.i+1] == '\\') {
				b.WriteByte(p.src[p.i+1])
				p.i += 2
				continue
			}
			b.WriteByte(c)
			p.i++
		default:
			b.WriteByte(c)
			p.i++
		}
	}
}

func (p *parser) parseNumber() (*node, error) {
	start := p.i
	j := p.i
	if p.src[j] == '-' || p.src[j] == '+' {
		j++
	}
	digits := j
	for j < len(p.src) && p.src[j] >= '0' && p.src[j] <= '9' {
		j++
	}
	if j < len(p.src) && p.src[j] == '.' {
		j++
		for j < len(p.src) && p.src[j] >= '0' && p.src[j] <= '9' {
			j++
		}
	}
	lex := p.src[start:j]
	if j == digits || lex[len(lex)-1] == '.' && j-digits == 1 {
		p.i = start
		return nil, p.errAt(start, "expected %s, found %s", expectedOperand, p.describe())
	}
	if j < len(p.src) && isIdentStart(p.src[j]) {
		return nil, p.errAt(j, "expected ',' or ')' after the number %s", lex)
	}
	p.i = j
	val := strings.TrimPrefix(lex, "+")
	if _, err := strconv.ParseFloat(val, 64); err != nil {
		return nil, p.errAt(start, "number %s is out of range", lex)
	}
	return &node{kind: nNumber, pos: start, text: lex, val: val}, nil
}

func (p *parser) parseCall(start int, name string) (*node, error) {
	spec := lookupFunc(name)
	if spec == nil {
		return nil, p.errAt(start, "unknown function %q%s", name, suggest(name))
	}
	if err := p.enter(start); err != nil {
		return nil, err
	}
	p.i++ // '('
	n := &node{kind: nCall, pos: start, text: spec.name, fn: spec}
	p.skipSpace()
	if p.peek() == ')' {
		p.i++
	} else {
		for {
			p.skipSpace()
			if c := p.peek(); c == ',' || c == ')' {
				n.args = append(n.args, &node{kind: nOmitted, pos: p.i})
			} else {
				arg, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				n.args = append(n.args, arg)
			}
			p.skipSpace()
			if p.peek() == ',' {
				p.i++
				continue
			}
			if p.peek() == ')' {
				p.i++
				break
			}
			return nil, p.errAt(p.i, "expected ',' or ')', found %s", p.describe())
		}
	}
	p.depth--
	if err := spec.check(n, p); err != nil {
		return nil, err
	}
	return n, nil
}

// checkTopLevel enforces Microsoft's rule that SelectUniqueValue cannot be nested.
func (p *parser) checkTopLevel(n *node, top bool) error {
	if n.kind == nCall && n.fn.name == "SelectUniqueValue" && !top {
		return p.errAt(n.pos, "SelectUniqueValue must be the outermost function; it cannot be nested")
	}
	for _, a := range n.args {
		if err := p.checkTopLevel(a, top && n.kind == nParen); err != nil {
			return err
		}
	}
	return nil
}

// format writes the canonical form of n.
func (n *node) format(b *strings.Builder) {
	switch n.kind {
	case nString:
		b.WriteString(quote(n.text))
	case nNumber, nEnum:
		b.WriteString(n.text)
	case nAttr:
		b.WriteByte('[')
		b.WriteString(n.text)
		b.WriteByte(']')
	case nOmitted:
	case nParen:
		b.WriteByte('(')
		n.args[0].format(b)
		b.WriteByte(')')
	case nCompare:
		n.args[0].format(b)
		b.WriteString(" " + n.text + " ")
		n.args[1].format(b)
	case nConcat:
		for i, a := range n.args {
			if i > 0 {
				b.WriteString(" & ")
			}
			a.format(b)
		}
	case nCall:
		b.WriteString(n.fn.name)
		b.WriteByte('(')
		for i, a := range n.args {
			if i > 0 {
				b.WriteByte(',')
				if a.kind != nOmitted {
					b.WriteByte(' ')
				}
			}
			a.format(b)
		}
		b.WriteByte(')')
	}
}

// quote writes s as a string constant with Microsoft's escapes.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/writeback/writeback/internal/expr"
)

const exprUsage = `Usage:
  writeback expr eval [--attr NAME=VALUE]... [--now RFC3339] [--taken VALUE]... [--json] EXPRESSION
  writeback expr check EXPRESSION

Evaluate or check an attribute-mapping expression written in Microsoft's
expression language (the one Entra provisioning and Cloud Sync use), before
putting it in the configuration.

eval  evaluates EXPRESSION against the attributes given with --attr.
      An attribute given once is single-valued; the same NAME repeated is
      multi-valued, in order; --attr NAME= is the empty string; an attribute
      not given is absent (null). Plain output prints the value, one line per
      value when multi-valued, nothing for null. --json prints one object:
      {"result": "text"}, {"result": ["a","b"]} or {"result": null}, plus
      "flow": false when IgnoreFlowIfNullOrEmpty drops the attribute.
check parses EXPRESSION and prints it back in canonical form.

Examples:
  writeback expr eval --attr displayName="Sales Team" \
    --attr objectId=00aa00aa-bb11-cc22-dd33-44ee44ee44ee \
    'Append(Append(Left(Trim([displayName]), 51), "_"), Mid([objectId], 25, 12))'
  writeback expr eval --json --attr proxyAddresses=SMTP:a@contoso.com \
    --attr proxyAddresses=smtp:b@contoso.com 'Count([proxyAddresses])'
  writeback expr eval --now 2021-08-25T17:41:18Z 'DateAdd("d", 7, Now())'
  writeback expr eval --taken John.Smith@contoso.com --attr first=John --attr last=Smith \
    'SelectUniqueValue(Join("@", Join(".", [first], [last]), "contoso.com"), Join("@", Join(".", Mid([first], 1, 1), [last]), "contoso.com"))'
  writeback expr check 'replace([mail], "@contoso.com", , ,"", ,)'

Flags (eval):
`

// exprAttrFlag collects repeated --attr NAME=VALUE in order.
type exprAttrFlag struct {
	names []string
	vals  map[string][]string
}

func (a *exprAttrFlag) String() string { return "" }

func (a *exprAttrFlag) Set(s string) error {
	name, val, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("%q is not NAME=VALUE (use NAME= for an empty string)", s)
	}
	if a.vals == nil {
		a.vals = map[string][]string{}
	}
	// Attribute names are case-insensitive: --attr mail=a --attr Mail=b is one
	// multi-valued attribute.
	for _, n := range a.names {
		if strings.EqualFold(n, name) {
			name = n
		}
	}
	if _, seen := a.vals[name]; !seen {
		a.names = append(a.names, name)
	}
	a.vals[name] = append(a.vals[name], val)
	return nil
}

type exprListFlag []string

func (l *exprListFlag) String() string     { return strings.Join(*l, ",") }
func (l *exprListFlag) Set(s string) error { *l = append(*l, s); return nil }

func runExpr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printExprUsage(stderr)
		return errUsage
	}
	switch args[0] {
	case "eval":
		return inStep("eval", runExprEval(args[1:], stdout, stderr))
	case "check":
		return inStep("check", runExprCheck(args[1:], stdout, stderr))
	case "-h", "-help", "--help", "help":
		printExprUsage(stdout)
		return nil
	}
	fmt.Fprintf(stderr, "writeback expr: unknown subcommand %q; expected eval or check\n\n", args[0])
	printExprUsage(stderr)
	return errUsage
}

func printExprUsage(w io.Writer) {
	fmt.Fprint(w, exprUsage)
	fs, _ := newExprEvalFlags(w)
	printFlags(fs, w)
}

// exprEvalArgs are expr eval's flags and expression.
type exprEvalArgs struct {
	attrs map[string][]string // --attr, in the case first given; nil for none
	now   time.Time           // zero: the clock
	json  bool
	taken []string
	expr  string
	// nowFlag is --now as given, parsed into now.
	nowFlag string
}

// exprCheckArgs is expr check's expression.
type exprCheckArgs struct {
	expr string
}

// newExprEvalFlags registers eval's flags; the returned func fills the
// typed arguments once fs is parsed.
func newExprEvalFlags(out io.Writer) (*flag.FlagSet, func(*exprEvalArgs)) {
	var (
		attrs exprAttrFlag
		taken exprListFlag
	)
	fs := flag.NewFlagSet("expr eval", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Var(&attrs, "attr", "`NAME=VALUE` of a source attribute; repeat NAME for a multi-valued attribute")
	now := fs.String("now", "", "pin Now() to this `RFC3339` time, e.g. 2021-08-25T17:41:18Z (default: the clock)")
	asJSON := jsonFlags(fs, `print {"result": …} instead of plain lines`)
	fs.Var(&taken, "taken", "a `VALUE` SelectUniqueValue must treat as already used in AD; repeatable")
	return fs, func(a *exprEvalArgs) {
		a.attrs, a.json, a.taken = attrs.vals, *asJSON, taken
		a.nowFlag = *now
	}
}

// parseExprEvalArgs lets flags come before or after the expression
// (`writeback expr eval 'Left([a], 3)' --attr a=xyz` reads naturally).
// A --now that is no RFC3339 time is an error of the expression's inputs
// (exit 1), as an expression that does not parse.
func parseExprEvalArgs(args []string, stderr io.Writer) (exprEvalArgs, error) {
	var a exprEvalArgs
	fs, fill := newExprEvalFlags(stderr)
	fs.Usage = func() { printExprUsage(fs.Output()) }
	if err := parseFlags(fs, args); err != nil {
		return a, err
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(fs.Output(), "writeback expr eval: expected one EXPRESSION (quote it for the shell), got %d arguments\n\n", fs.NArg())
		fs.Usage()
		return a, errUsage
	}
	fill(&a)
	a.expr = fs.Arg(0)
	if a.nowFlag != "" {
		t, err := time.Parse(time.RFC3339, a.nowFlag)
		if err != nil {
			return a, fmt.Errorf("--now %q: expected an RFC3339 time like 2021-08-25T17:41:18Z", a.nowFlag)
		}
		a.now = t
	}
	return a, nil
}

func parseExprCheckArgs(args []string, stderr io.Writer) (exprCheckArgs, error) {
	var a exprCheckArgs
	fs := flag.NewFlagSet("expr check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printExprUsage(fs.Output()) }
	if err := parseFlags(fs, args); err != nil {
		return a, err
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(fs.Output(), "writeback expr check: expected one EXPRESSION (quote it for the shell), got %d arguments\n\n", fs.NArg())
		fs.Usage()
		return a, errUsage
	}
	a.expr = fs.Arg(0)
	return a, nil
}

func runExprEval(args []string, stdout, stderr io.Writer) error {
	a, err := parseExprEvalArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	return exprEval(a, stdout, stderr)
}

// exprEval evaluates a.expr and prints its value.
func exprEval(a exprEvalArgs, stdout, stderr io.Writer) error {
	e, err := expr.Parse(a.expr)
	if err != nil {
		return exprPointAt(a.expr, err)
	}
	ectx := expr.Context{Attrs: a.attrs, Now: a.now}
	if len(a.taken) > 0 {
		ectx.Unique = func(c string) (bool, error) { return !slices.Contains(a.taken, c), nil }
	}
	v, err := e.Eval(ectx)
	if err != nil {
		return exprPointAt(a.expr, err)
	}
	if a.json {
		return exprWriteJSON(stdout, v)
	}
	for _, s := range v.Values() {
		fmt.Fprintln(stdout, s)
	}
	if v.IgnoreFlow {
		fmt.Fprintln(stderr, "(IgnoreFlowIfNullOrEmpty: the target attribute is left out of the flow)")
	}
	return nil
}

// exprWriteJSON prints {"result": …} with every scalar as a string, and
// "flow": false when the attribute is dropped from the flow.
func exprWriteJSON(w io.Writer, v expr.Value) error {
	var result any
	switch v.Kind() {
	case expr.KindSingle:
		result = v.Text()
	case expr.KindMulti:
		result = v.Values()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<username>@contoso.com" should print as written
	if err := enc.Encode(result); err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	flow := ""
	if v.IgnoreFlow {
		flow = `, "flow": false`
	}
	_, err := fmt.Fprintf(w, "{\"result\": %s%s}\n", bytes.TrimSpace(buf.Bytes()), flow)
	return err
}

func runExprCheck(args []string, stdout, stderr io.Writer) error {
	a, err := parseExprCheckArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	e, err := expr.Parse(a.expr)
	if err != nil {
		return exprPointAt(a.expr, err)
	}
	fmt.Fprintln(stdout, e.String())
	return nil
}

// exprPointAt adds the offending line of the expression and a caret under the
// position to a parse or evaluation error.
func exprPointAt(src string, err error) error {
	pos := 0
	var se *expr.SyntaxError
	var ee *expr.EvalError
	switch {
	case errors.As(err, &se):
		pos = se.Pos
	case errors.As(err, &ee):
		pos = ee.Pos
	default:
		return err
	}
	// Find the line holding character pos (1-based).
	line, col := src, pos
	for i := 0; i < len(src); {
		j := strings.IndexByte(src[i:], '\n')
		end := len(src)
		if j >= 0 {
			end = i + j
		}
		n := utf8.RuneCountInString(src[i:end]) + 1 // +1 for the newline
		if col <= n || j < 0 {
			line = src[i:end]
			break
		}
		col -= n
		i = end + 1
	}
	line = strings.TrimRight(line, "\r")
	if utf8.RuneCountInString(line) > 200 || col < 1 {
		return err
	}
	pad := strings.Map(func(r rune) rune {
		if r == '\t' {
			return '\t'
		}
		return ' '
	}, string([]rune(line)[:min(col-1, utf8.RuneCountInString(line))]))
	return fmt.Errorf("%w\n  %s\n  %s^", err, line, pad)
}

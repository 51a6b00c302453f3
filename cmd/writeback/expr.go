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
		return runExprEval(args[1:], stdout, stderr)
	case "check":
		return runExprCheck(args[1:], stdout, stderr)
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
	printFlags(newExprEvalFlags(w, new(exprAttrFlag), new(string), new(bool), new(exprListFlag)), w)
}

func newExprEvalFlags(out io.Writer, attrs *exprAttrFlag, now *string, asJSON *bool, taken *exprListFlag) *flag.FlagSet {
	fs := flag.NewFlagSet("expr eval", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Var(attrs, "attr", "`NAME=VALUE` of a source attribute; repeat NAME for a multi-valued attribute")
	fs.StringVar(now, "now", "", "pin Now() to this `RFC3339` time, e.g. 2021-08-25T17:41:18Z (default: the clock)")
	fs.BoolVar(asJSON, "json", false, `print {"result": …} instead of plain lines`)
	fs.Var(outputFlag{asJSON}, "output", "output `FORMAT`: text or json (json is --json)")
	fs.Var(outputFlag{asJSON}, "o", "short for --output")
	fs.Var(taken, "taken", "a `VALUE` SelectUniqueValue must treat as already used in AD; repeatable")
	return fs
}

// exprParseArgs lets flags come before or after the expression
// (`writeback expr eval 'Left([a], 3)' --attr a=xyz` reads naturally).
func exprParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	return fs.Args(), nil
}

func runExprEval(args []string, stdout, stderr io.Writer) error {
	var (
		attrs  exprAttrFlag
		now    string
		asJSON bool
		taken  exprListFlag
	)
	fs := newExprEvalFlags(stderr, &attrs, &now, &asJSON, &taken)
	fs.Usage = func() { printExprUsage(stderr) }
	pos, err := exprParseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "writeback expr eval: expected one EXPRESSION (quote it for the shell), got %d arguments\n\n", len(pos))
		fs.Usage()
		return errUsage
	}
	src := pos[0]
	e, err := expr.Parse(src)
	if err != nil {
		return exprPointAt(src, err)
	}
	ectx := expr.Context{Attrs: attrs.vals}
	if now != "" {
		t, err := time.Parse(time.RFC3339, now)
		if err != nil {
			return fmt.Errorf("--now %q: expected an RFC3339 time like 2021-08-25T17:41:18Z", now)
		}
		ectx.Now = t
	}
	if len(taken) > 0 {
		ectx.Unique = func(c string) (bool, error) { return !slices.Contains(taken, c), nil }
	}
	v, err := e.Eval(ectx)
	if err != nil {
		return exprPointAt(src, err)
	}
	if asJSON {
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
	fs := flag.NewFlagSet("expr check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printExprUsage(stderr) }
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "writeback expr check: expected one EXPRESSION (quote it for the shell), got %d arguments\n\n", fs.NArg())
		fs.Usage()
		return errUsage
	}
	src := fs.Arg(0)
	e, err := expr.Parse(src)
	if err != nil {
		return exprPointAt(src, err)
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

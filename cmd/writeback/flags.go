package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// parseFlags parses a command's flags wherever they stand among its
// arguments (`writeback apply p.plan --config x` as well as `apply --config x
// p.plan`); "--" ends the flags. Afterwards fs.Args() holds the positional
// arguments in order. Its errors are errUsage (the flag package has printed
// the problem and the usage); -h also matches flag.ErrHelp, which exits 0.
//
// The flag package prints the usage before saying why, so it is held until
// the error tells: help asked for goes to stdout, a usage error to stderr
// (see usageTo). A flag set's Usage must therefore print to fs.Output().
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	var held bytes.Buffer
	fs.SetOutput(&held)
	err := parseInterspersed(fs, args)
	fs.SetOutput(out)
	w := out
	if isHelp(err) {
		w = helpOut(out)
	}
	_, _ = w.Write(held.Bytes())
	return err
}

func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	// Parsing "--" alone leaves the flags set and the positionals as Args.
	return fs.Parse(append([]string{"--"}, pos...))
}

// usageOut is the writer a command's flag set prints to: usage errors go to
// stderr, the help asked for (-h, --help, 'writeback help CMD') to stdout,
// where 'writeback plan -h | less' looks for it.
type usageOut struct {
	stderr, stdout io.Writer
}

func (u usageOut) Write(p []byte) (int, error) { return u.stderr.Write(p) }

// usageTo is what a command hands its parse function as the flag set's
// output; parseFlags sends help asked for to stdout. Parse functions given a
// plain writer (the tests' io.Discard) print everything there.
func usageTo(stdout, stderr io.Writer) io.Writer { return usageOut{stderr: stderr, stdout: stdout} }

// helpOut is where help asked for goes when w is a flag set's output.
func helpOut(w io.Writer) io.Writer {
	if u, ok := w.(usageOut); ok {
		return u.stdout
	}
	return w
}

// isHelp reports whether err is a request for help (-h, --help).
func isHelp(err error) bool { return errors.Is(err, flag.ErrHelp) }

// printFlags lists fs's flags as the docs write them (--config FILE), one
// per line with its usage and default.
func printFlags(fs *flag.FlagSet, w io.Writer) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		line := "  " + dash + f.Name
		if name != "" {
			line += " " + name
		}
		if len(line) <= 4 {
			line += "\t"
		} else {
			line += "\n    \t"
		}
		line += strings.ReplaceAll(usage, "\n", "\n    \t")
		if _, isOutput := f.Value.(outputFlag); isOutput {
			// no default: text unless asked
		} else if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			line += fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintln(w, line)
	})
}

// outputFlag is -o/--output json|text, the conventional spelling of --json.
type outputFlag struct{ json *bool }

func (o outputFlag) String() string {
	if o.json != nil && *o.json {
		return "json"
	}
	return "text"
}

func (o outputFlag) Set(v string) error {
	switch v {
	case "json":
		*o.json = true
	case "text":
		*o.json = false
	default:
		return fmt.Errorf("want json or text")
	}
	return nil
}

// jsonFlags registers --json (what it prints is usage) and its synonym
// -o/--output json|text on fs.
func jsonFlags(fs *flag.FlagSet, usage string) *bool {
	asJSON := fs.Bool("json", false, usage)
	o := outputFlag{asJSON}
	fs.Var(o, "output", "output `FORMAT`: text or json (json is --json)")
	fs.Var(o, "o", "short for --output `FORMAT`")
	return asJSON
}

// newFlagSet starts a subcommand's flags; usage is printed above the flag list
// on -h and on bad arguments.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output() // stdout for -h: see parseFlags
		fmt.Fprint(w, usage)
		fmt.Fprint(w, "\nFlags:\n")
		printFlags(fs, w)
	}
	return fs
}

// parseNoArgs parses the flags of a subcommand that takes no positional
// arguments. Its errors are errUsage; a -h also matches flag.ErrHelp, for the
// commands that treat asking for help as success.
func parseNoArgs(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "writeback %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// defaultConfig is $WRITEBACK_CONFIG, else writeback.yaml.
func defaultConfig() string {
	if def := os.Getenv("WRITEBACK_CONFIG"); def != "" {
		return def
	}
	return "writeback.yaml"
}

// listFlag is a repeatable (or comma-separated) string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

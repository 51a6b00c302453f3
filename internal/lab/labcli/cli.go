// Package labcli holds the commands of writeback-lab, the test instruments
// kept out of the production writeback binary: the throwaway Samba AD DC lab
// and the Microsoft Graph emulator. Tests of cmd/writeback use it to bring a
// lab up the way a user would.
package labcli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// ErrUsage means the command already printed a usage message for bad arguments.
var ErrUsage = errors.New("usage")

// Main runs writeback-lab with args (without the program name) and returns
// the process exit code: the lab's actions directly (writeback-lab up), the
// emulator as 'writeback-lab emulator'.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var err error
	name := "writeback-lab"
	switch {
	case len(args) > 0 && args[0] == "emulator":
		name += " emulator"
		err = Emulator(ctx, args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "lab":
		// 'writeback-lab lab up' reads as the old 'writeback lab up'.
		err = Lab(ctx, args[1:], stdout, stderr)
	default:
		err = Lab(ctx, args, stdout, stderr)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}

// newFlagSet starts a command's flags; usage is printed above the flag list
// on -h and on bad arguments.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fmt.Fprint(stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseNoArgs parses the flags of a command that takes no positional
// arguments; a -h matches flag.ErrHelp.
func parseNoArgs(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "writeback-lab %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return ErrUsage
	}
	return nil
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// newRoot builds the command tree on cobra: conventional help (-h exits 0,
// 'writeback help CMD'), --version and shell completion. Each command keeps
// its own flag set and help text (the functions in commands): cobra hands it
// the arguments unparsed, and parseFlags lets flags follow arguments.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "writeback",
		Short:         "writeback provisions Entra ID cloud security groups into Active Directory.",
		Version:       buildInfo().String(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			usage(stdout)
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	// writeback's own command list for itself; cobra's help for what cobra
	// adds (completion). Each of writeback's commands has its own (below).
	cobraHelp := root.HelpFunc()
	root.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		if cmd == root {
			usage(stdout)
			return
		}
		cobraHelp(cmd, args)
	})
	for _, c := range commands {
		root.AddCommand(subcommand(c, stdout, stderr))
	}
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "help about any command",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, rest, err := root.Find(args)
			if err == nil && c != nil && len(rest) == 1 {
				// 'writeback help migrate assess' is 'writeback migrate assess -h'.
				if wc, ok := lookup(c.Name()); ok && slices.Contains(wc.steps, rest[0]) {
					if err := wc.run(cmd.Context(), []string{rest[0], "-h"}, stdout, stderr); err != nil && !isHelp(err) {
						return err
					}
					return nil
				}
			}
			if err != nil || c == nil || len(rest) > 0 {
				fmt.Fprintf(stderr, "writeback help: unknown command %q; run 'writeback help' for the list\n", strings.Join(args, " "))
				return errUsage
			}
			return c.Help()
		},
	})
	root.InitDefaultCompletionCmd()
	return root
}

// lookup finds one of writeback's commands by name.
func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// subcommand wraps one of writeback's commands for cobra.
func subcommand(c command, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:                c.name,
		Short:              c.summary,
		DisableFlagParsing: true,
		Hidden:             c.hidden,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.run(cmd.Context(), args, stdout, stderr)
		},
		// With DisableFlagParsing cobra asks this for flags too.
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return completeFlags(cmd.Context(), c, args, toComplete)
		},
	}
	// 'writeback help plan' is 'writeback plan -h'.
	cmd.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		_ = c.run(context.Background(), []string{"-h"}, stdout, stderr)
	})
	return cmd
}

var flagLine = regexp.MustCompile(`(?m)^\s+(--?[A-Za-z][\w-]*)`)

// completeFlags offers the flags a command lists in its help (and, for
// commands with steps, the step names), filtered by what was typed.
func completeFlags(ctx context.Context, c command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if ctx == nil {
		ctx = context.Background()
	}
	var help bytes.Buffer
	helpArgs := []string{"-h"}
	if len(args) > 0 && len(c.steps) > 0 {
		helpArgs = []string{args[0], "-h"}
	}
	_ = c.run(ctx, helpArgs, &help, &help)
	var out []cobra.Completion
	if len(args) == 0 && !strings.HasPrefix(toComplete, "-") {
		for _, s := range c.steps {
			if strings.HasPrefix(s, toComplete) {
				out = append(out, s)
			}
		}
		if len(c.steps) > 0 {
			return out, cobra.ShellCompDirectiveNoFileComp
		}
	}
	if !strings.HasPrefix(toComplete, "-") {
		return nil, cobra.ShellCompDirectiveDefault
	}
	seen := map[string]bool{}
	for _, m := range flagLine.FindAllStringSubmatch(help.String(), -1) {
		f := m[1]
		if len(f) > 2 && !strings.HasPrefix(f, "--") {
			f = "-" + f // a long flag written -name in an older help text
		}
		if !seen[f] && strings.HasPrefix(f, toComplete) {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

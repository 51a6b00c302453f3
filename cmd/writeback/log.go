package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/writeback/writeback/internal/state"
	"github.com/writeback/writeback/internal/wire"
)

// logArgs are log's flags.
type logArgs struct {
	config string
	group  string
	n      int
	json   bool
}

func parseLogArgs(args []string, stderr io.Writer) (logArgs, error) {
	var a logArgs
	fs := newFlagSet("log", `Usage: writeback log [flags]

Shows the provisioning log: what each round did to which group, newest first,
with attribute values before and after, members added and removed, errors and
deletes staged by the threshold. Works while 'writeback run' (or apply,
plan) holds the state: that process answers on a socket beside the state
file; otherwise the file is read read-only.

Examples:
  writeback log
  writeback log --group 3f2a...-... -n 0
  writeback log --json | jq .
`, stderr)
	fs.StringVar(&a.config, "config", defaultConfig(), "configuration `FILE` (env WRITEBACK_CONFIG)")
	fs.StringVar(&a.group, "group", "", "only entries for this Entra group `ID`")
	fs.IntVar(&a.n, "n", 50, "show at most `N` entries (newest first; 0 = all)")
	asJSON := jsonFlags(fs, "print JSON lines")
	if err := parseNoArgs(fs, args, stderr); err != nil {
		return a, err
	}
	a.json = *asJSON
	return a, nil
}

func runLog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseLogArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	cfg, _, err := wire.Load(a.config, stderr)
	if err != nil {
		return err
	}
	return queryState(ctx, cfg, stateQuery{Cmd: "log", N: a.n, JSON: a.json, Group: strings.ToLower(a.group)}, stdout)
}

func showLog(db *state.DB, q stateQuery, stdout io.Writer) error {
	count := 0
	enc := json.NewEncoder(stdout)
	err := db.Log(q.Group, func(e state.Entry) error {
		if q.N > 0 && count >= q.N {
			return state.ErrStop
		}
		count++
		if q.JSON {
			return enc.Encode(e)
		}
		name := e.Name
		if name == "" {
			name = e.GroupID
		}
		fmt.Fprintf(stdout, "%s  %-14s %q (%s)\n", e.Time.Local().Format(time.DateTime), e.Action, name, e.GroupID)
		if e.DN != "" {
			fmt.Fprintf(stdout, "    dn: %s\n", e.DN)
		}
		if e.NewDN != "" {
			fmt.Fprintf(stdout, "    new dn: %s\n", e.NewDN)
		}
		keys := make([]string, 0, len(e.After))
		for k := range e.After {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(stdout, "    %s: %s -> %s\n", k, show(e.Before[k]), show(e.After[k]))
		}
		if len(e.Members) > 0 {
			fmt.Fprintf(stdout, "    members (%d): %s\n", len(e.Members), strings.Join(first(e.Members, 5), "; "))
		}
		if e.Repair != "" {
			fmt.Fprintf(stdout, "    repair: %s\n", e.Repair)
		}
		if e.Error != "" {
			fmt.Fprintf(stdout, "    error: %s\n", e.Error)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if count == 0 && !q.JSON {
		fmt.Fprintln(stdout, "No log entries.")
	}
	return nil
}

func show(v []string) string {
	if len(v) == 0 {
		return "null"
	}
	return fmt.Sprintf("%q", strings.Join(v, ", "))
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("… %d more", len(s)-n))
	}
	return s
}

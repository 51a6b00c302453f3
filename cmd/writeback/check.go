package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/writeback/writeback/internal/preflight"
	"github.com/writeback/writeback/internal/wire"
)

// checkArgs are check's flags.
type checkArgs struct {
	config  string // required; - for stdin
	noWrite bool
	json    bool
}

func parseCheckArgs(args []string, stderr io.Writer) (checkArgs, error) {
	var a checkArgs
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a.config, "config", "", "configuration file (YAML; - for stdin)")
	fs.BoolVar(&a.noWrite, "no-write", false, "skip the probe that creates, modifies and deletes a group in the target OU")
	asJSON := jsonFlags(fs, "print the results as JSON")
	fs.Usage = func() {
		w := fs.Output() // stdout for -h: see parseFlags
		fmt.Fprint(w, `Usage: writeback check --config FILE [--no-write] [--json]

Preflight: checks, in order, that writeback can use Active Directory as
configured: the bind password can be read, the DC is reachable, its TLS
certificate verifies, the bind works, the schema has msDS-ExternalDirectoryObjectId,
the Global Catalog answers and replicates that attribute, the target OU exists,
and the bind account may create, modify, rename and delete a group there, and
move it to safety.moveTo when a policy moves groups (a probe group it removes
again; a missing right is named with the dsacls or samba-tool command). With an entra section it then checks Microsoft Graph: a
token can be acquired, then every call writeback makes, each with the
application permission it needs (groups, members, groups delta: Group.Read.All;
users with their on-premises anchors, users delta: User.Read.All); a 403 names
the permission missing, and the users line says when Graph refused
onPremisesObjectIdentifier and members are resolved by SID instead.
Each line says ok, WARN (with the fix; it does not fail the run), fail (with
the fix) or skip. The exit code is 1 if any
check failed.

Flags:
`)
		printFlags(fs, w)
		fmt.Fprint(w, `
Examples:
  writeback check --config /etc/writeback/writeback.yaml
  writeback check --config <(writeback-lab config)     # the lab AD and Graph emulator
  writeback check --config writeback.yaml --no-write --json
`)
	}
	if err := parseFlags(fs, args); err != nil {
		return a, err
	}
	if a.config == "" || fs.NArg() != 0 {
		fs.Usage()
		return a, errUsage
	}
	a.json = *asJSON
	return a, nil
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseCheckArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	return checkCmd(ctx, a, stdout, stderr)
}

// checkCmd runs the preflight checks and prints each result as it comes.
func checkCmd(ctx context.Context, a checkArgs, stdout, stderr io.Writer) error {
	var results []preflight.Result
	print := func(r preflight.Result) {
		if a.json {
			return
		}
		label := map[preflight.Status]string{preflight.OK: "ok", preflight.Fail: "FAIL", preflight.Skip: "skip", preflight.Warn: "WARN"}[r.Status]
		line := fmt.Sprintf("%-5s %-17s %s", label, r.Name, r.Detail)
		if r.Fix != "" {
			line += " -> fix: " + r.Fix
		}
		fmt.Fprintln(stdout, line)
	}
	cfg, log, err := wire.Load(a.config, stderr)
	if err != nil {
		r := preflight.Result{Name: "config", Status: preflight.Fail, Detail: err.Error(),
			Fix: "correct the fields named above ('writeback init' writes a commented example)"}
		print(r)
		results = append(results, r)
	} else {
		env := &preflight.Env{Config: cfg, NoWrite: a.noWrite, Log: log}
		defer env.Close()
		r := preflight.Result{Name: "config", Status: preflight.OK, Detail: a.config + " is valid"}
		print(r)
		results = append(results, r)
		checks := preflight.ADChecks()
		if cfg.Entra != nil {
			checks = append(checks, preflight.EntraChecks()...)
		}
		results = append(results, preflight.Run(ctx, env, checks, print)...)
	}
	failed := preflight.Failed(results)
	if a.json {
		if err := writeJSON(stdout, struct {
			OK     bool               `json:"ok"`
			Checks []preflight.Result `json:"checks"`
		}{!failed, results}); err != nil {
			return err
		}
	}
	if failed {
		return withExitCode(1, nil)
	}
	return nil
}

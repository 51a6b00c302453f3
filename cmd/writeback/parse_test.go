package main

import (
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/migrate"
)

// The typed arguments of the commands with steps and of version, parsed
// without AD: what each command line sets, and which are usage errors.
func TestParseStepArgs(t *testing.T) {
	t.Setenv("WRITEBACK_CONFIG", "/etc/wb.yaml")
	base := "OU=Writeback,DC=contoso,DC=com"
	tests := []struct {
		name  string
		parse func([]string) (any, error)
		args  []string
		want  any
		usage bool // a usage error (exit 2)
		err   bool // another error (exit 1)
	}{
		{"assess defaults", p(parseMigrateAssessArgs), nil,
			migrateAssessArgs{migrateArgs: migrateArgs{config: "/etc/wb.yaml"}}, false, false},
		{"assess flags", p(parseMigrateAssessArgs),
			[]string{"--base", base, "-o", "json", "--html", "a.html", "--no-entra", "--accept-removals", "CN=G,OU=X,DC=y", "--accept-removals", "a,b", "--config", "c.yaml"},
			migrateAssessArgs{migrateArgs: migrateArgs{config: "c.yaml", base: base, accept: []string{"CN=G,OU=X,DC=y", "a", "b"}}, json: true, html: "a.html", noEntra: true}, false, false},
		{"assess stray argument", p(parseMigrateAssessArgs), []string{"extra"}, nil, true, false},
		{"assess bad base", p(parseMigrateAssessArgs), []string{"--base", "Writeback"}, nil, false, true},
		{"prepare defaults", p(parseMigratePrepareArgs), nil,
			migratePrepareArgs{migrateArgs: migrateArgs{config: "/etc/wb.yaml"}, journal: "writeback-prepare.journal", connections: 1, workers: 4, batch: 200}, false, false},
		{"prepare flags", p(parseMigratePrepareArgs), []string{"--dry-run", "--journal", "j", "--connections", "2", "--workers", "8", "--batch", "50", "--json", "--no-entra"},
			migratePrepareArgs{migrateArgs: migrateArgs{config: "/etc/wb.yaml"}, dryRun: true, journal: "j", connections: 2, workers: 8, batch: 50, json: true, noEntra: true}, false, false},
		{"prepare workers out of range", p(parseMigratePrepareArgs), []string{"--workers", "65"}, nil, false, true},
		{"verify", p(parseMigrateVerifyArgs), []string{"--json", "--accept-removals", "G"},
			migrateVerifyArgs{migrateArgs: migrateArgs{config: "/etc/wb.yaml", accept: []string{"G"}}, json: true}, false, false},
		{"rollback", p(parseMigrateRollbackArgs), []string{"--journal", "j", "--dry-run"},
			migrateRollbackArgs{migrateArgs: migrateArgs{config: "/etc/wb.yaml"}, journal: "j", dryRun: true}, false, false},
		{"rollback without journal", p(parseMigrateRollbackArgs), []string{"--dry-run"}, nil, true, false},
		{"handover defaults", p(parseMigrateHandoverArgs), nil,
			migrateHandoverArgs{migrateArgs: migrateArgs{config: "/etc/wb.yaml"}, out: "writeback.migrated.yaml"}, false, false},
		{"handover flags", p(parseMigrateHandoverArgs), []string{"--out", "m.yaml", "--force", "--no-plan"},
			migrateHandoverArgs{migrateArgs: migrateArgs{config: "/etc/wb.yaml"}, out: "m.yaml", force: true, noPlan: true}, false, false},
		{"connect-sync-script", p(parseMigrateScriptArgs), []string{"--ad-connector", "contoso.com", "--inbound-precedence", "50", "--out", "s.ps1"},
			migrateScriptArgs{params: migrate.ScriptParams{ADConnector: "contoso.com", InboundPrecedence: 50, OutboundPrecedence: 89}, out: "s.ps1"}, false, false},
		{"expr eval", p(parseExprEvalArgs), []string{"Left([a], 3)", "--attr", "a=xyz", "--attr", "A=w", "--now", "2021-08-25T17:41:18Z", "-o", "json", "--taken", "x"},
			exprEvalArgs{attrs: map[string][]string{"a": {"xyz", "w"}}, now: time.Date(2021, 8, 25, 17, 41, 18, 0, time.UTC), json: true, taken: []string{"x"},
				expr: "Left([a], 3)", nowFlag: "2021-08-25T17:41:18Z"}, false, false},
		{"expr eval two expressions", p(parseExprEvalArgs), []string{"a", "b"}, nil, true, false},
		{"expr eval bad --now", p(parseExprEvalArgs), []string{"--now", "yesterday", "Now()"}, nil, false, true},
		{"expr check", p(parseExprCheckArgs), []string{"[a]"}, exprCheckArgs{expr: "[a]"}, false, false},
		{"expr check nothing", p(parseExprCheckArgs), nil, nil, true, false},
		{"state migrate defaults", p(parseStateMigrateArgs), nil, stateMigrateArgs{config: "/etc/wb.yaml", to: "postgres"}, false, false},
		{"state migrate flags", p(parseStateMigrateArgs), []string{"--from", "s.db", "--to", "postgres", "--config", "c.yaml"},
			stateMigrateArgs{config: "c.yaml", from: "s.db", to: "postgres"}, false, false},
		{"version", p(parseVersionArgs), []string{"--json"}, versionArgs{json: true}, false, false},
		{"version stray argument", p(parseVersionArgs), []string{"now"}, nil, true, false},
		{"init", p(parseInitArgs), []string{"--force", "x.yaml"}, initArgs{force: true, path: "x.yaml"}, false, false},
		{"init nothing", p(parseInitArgs), nil, initArgs{}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(tt.args)
			switch {
			case tt.usage:
				if !errors.Is(err, errUsage) {
					t.Errorf("%q: %v, want a usage error", tt.args, err)
				}
			case tt.err:
				if err == nil || errors.Is(err, errUsage) {
					t.Errorf("%q: %v, want an error that is not a usage error", tt.args, err)
				}
			case err != nil:
				t.Errorf("%q: %v", tt.args, err)
			case !reflect.DeepEqual(got, tt.want):
				t.Errorf("%q:\n got %+v\nwant %+v", tt.args, got, tt.want)
			}
		})
	}
}

// p adapts a parse function to the table.
func p[T any](parse func([]string, io.Writer) (T, error)) func([]string) (any, error) {
	return func(args []string) (any, error) { return parse(args, io.Discard) }
}

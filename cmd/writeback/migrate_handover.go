package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/writeback/writeback/internal/engine"
	"github.com/writeback/writeback/internal/migrate"
)

// migrateScriptArgs are migrate connect-sync-script's flags.
type migrateScriptArgs struct {
	params migrate.ScriptParams
	out    string // "" for stdout
}

func parseMigrateScriptArgs(args []string, stderr io.Writer) (migrateScriptArgs, error) {
	var a migrateScriptArgs
	fs := newFlagSet("migrate connect-sync-script", `Usage: writeback migrate connect-sync-script --ad-connector NAME [flags]

Writes the PowerShell for steps 2 to 6 of the migration, to run on the Connect
Sync server after prepare and verify: staging-mode check, scheduler off, the
inbound cloudNoFlow rule on the Microsoft Entra connector, the outbound
JoinNoFlow rule on the AD connector, the sync cycles, and the irreversible
Set-ADSyncAADCompanyFeature -GroupWritebackV2 $false behind a typed
confirmation. Check that both precedences are unused first:
  Get-ADSyncRule | Sort-Object Precedence | Format-Table Precedence, Name

Examples:
  writeback migrate connect-sync-script --ad-connector contoso.com --out migrate-connect-sync.ps1
  writeback migrate connect-sync-script --ad-connector contoso.com --inbound-precedence 50 --outbound-precedence 51
`, stderr)
	p := &a.params
	fs.StringVar(&p.ADConnector, "ad-connector", "", "`NAME` of the Active Directory connector that wrote the groups (Get-ADSyncConnector)")
	fs.IntVar(&p.InboundPrecedence, "inbound-precedence", 88, "precedence `N` (0..99, unused) of the inbound cloudNoFlow rule")
	fs.IntVar(&p.OutboundPrecedence, "outbound-precedence", 89, "precedence `N` (0..99, unused, not the inbound one) of the outbound JoinNoFlow rule")
	fs.StringVar(&a.out, "out", "", "write the script to `FILE` (UTF-8 with BOM, for Windows PowerShell 5.1) instead of stdout")
	if err := parseNoArgs(fs, args, stderr); err != nil {
		return a, err
	}
	return a, nil
}

func migrateScript(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseMigrateScriptArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	p := a.params
	s, err := migrate.ConnectSyncScript(p)
	if err != nil {
		// Bad flag values are usage errors (exit 2, as documented).
		fmt.Fprintf(stderr, "writeback migrate connect-sync-script: %v\n", err)
		return errUsage
	}
	if a.out == "" {
		_, err = io.WriteString(stdout, s)
		return err
	}
	if err := os.WriteFile(a.out, append([]byte("\ufeff"), s...), 0o644); err != nil {
		return fmt.Errorf("write script: %w", err)
	}
	fmt.Fprintf(stdout, "Wrote %s. Reminder: check precedences %d and %d are unused (Get-ADSyncRule) before running it.\n", a.out, p.InboundPrecedence, p.OutboundPrecedence)
	return nil
}

// migrateHandoverArgs are migrate handover's flags.
type migrateHandoverArgs struct {
	migrateArgs
	out    string
	force  bool
	noPlan bool
}

func parseMigrateHandoverArgs(args []string, stderr io.Writer) (migrateHandoverArgs, error) {
	var a migrateHandoverArgs
	m := newMigrateFlags("handover", `Usage: writeback migrate handover [flags]

Writes the writeback configuration that takes the migrated groups over with no
change users can see: the cn mapping that matches the naming Connect Sync used
(applied on create only if any group would otherwise be renamed), the existing
writeback OU as target, and scope 'selected' listing exactly the groups whose
anchor is in place. The ad, entra and state sections are copied from --config.
Then it runs 'writeback plan --full' with the new file, which must show no
rename, no delete and no member removal.

Examples:
  writeback migrate handover --config writeback.yaml --out writeback.migrated.yaml
  writeback migrate handover --no-plan --out writeback.migrated.yaml
`, stderr, &a.migrateArgs)
	m.fs.StringVar(&a.out, "out", "writeback.migrated.yaml", "write the configuration to `FILE` (refuses to overwrite unless --force)")
	m.fs.BoolVar(&a.force, "force", false, "write even if assess has blockers (the blocked groups are left out) or FILE exists")
	m.fs.BoolVar(&a.noPlan, "no-plan", false, "do not run 'writeback plan' afterwards; print the command instead")
	m.acceptFlag()
	if err := m.parse(args); err != nil {
		return a, err
	}
	return a, nil
}

func migrateHandover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseMigrateHandoverArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	e, err := openMigrate(ctx, a.migrateArgs, stderr, true, true)
	if err != nil {
		return err
	}
	r, err := e.assess(ctx, a.accept)
	e.Close()
	if err != nil {
		return err
	}
	if e.cloud == nil {
		return errors.New("handover needs the entra section in the configuration: the takeover is checked against the cloud groups")
	}
	if !r.Verdict.Ready && !a.force {
		migrate.WriteText(stdout, r)
		return withExitCode(exitAttention, errors.New("assess has blockers (above); fix them, or pass --force to leave the blocked groups out"))
	}
	h, err := migrate.BuildHandover(e.cfg, r)
	if err != nil {
		return err
	}
	b, err := h.YAML(r)
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if a.force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(a.out, flags, 0o600)
	if err != nil {
		return fmt.Errorf("write handover configuration: %w (pass --force to overwrite)", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write handover configuration: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write handover configuration: %w", err)
	}
	fmt.Fprintf(stdout, "Wrote %s: %d groups taken over in %s, cn mapping %s", a.out, len(h.Groups), h.TargetOU, r.Recommended.Name)
	if r.Recommended.OnCreate {
		fmt.Fprint(stdout, " (on create only)")
	}
	fmt.Fprintf(stdout, ", %d left out.\n", len(h.Excluded))
	for _, x := range h.Excluded {
		fmt.Fprintf(stdout, "  left out %s: %s\n", x.DN, x.Reason)
	}
	if a.noPlan {
		fmt.Fprintf(stdout, "Next: writeback plan --full --config %s  (expect no rename, delete or member removal)\n", a.out)
		return nil
	}
	fmt.Fprintf(stdout, "\nwriteback plan --full --config %s\n", a.out)
	s, err := openSession(ctx, "migrate handover", a.out, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.eng.RunOnce(ctx, engine.RoundOptions{DryRun: true, PlanOptions: engine.PlanOptions{Full: true}})
	if err != nil {
		return err
	}
	if err := writePlanned(stdout, res.Planned); err != nil {
		return err
	}
	if v := migrate.TakeoverViolations(res.Planned.Plan, migrate.AcceptedDNs(r)...); len(v) > 0 {
		fmt.Fprintf(stdout, "\nThe takeover would change what users see (%d):\n", len(v))
		for _, x := range v {
			fmt.Fprintf(stdout, "  %s\n", x)
		}
		return withExitCode(exitAttention, errors.New("do not apply this configuration yet: fix the groups above (run assess) and run handover again"))
	}
	if acc := migrate.AcceptedDNs(r); len(acc) > 0 {
		fmt.Fprintf(stdout, "\nTakeover check passed: no rename, move, delete or create; member removals only from the %d groups accepted with --accept-removals. Next: writeback apply --config %s\n", len(acc), a.out)
		return nil
	}
	fmt.Fprintf(stdout, "\nTakeover check passed: no rename, move, delete, create or member removal. Next: writeback apply --config %s\n", a.out)
	return nil
}

package labcli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/writeback/writeback/internal/emulator"
)

// runEmulator runs the Microsoft Graph emulator, a test instrument, or
// generates a synthetic tenant for it.
func Emulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "generate" {
		return emulatorGenerate(args[1:], stdout, stderr)
	}
	fs := newFlagSet("emulator", `Usage: writeback-lab emulator [flags]
       writeback-lab emulator generate [flags] > tenant.json

Runs an emulator of Microsoft Graph and its OAuth2 token endpoint over HTTPS on
loopback, for tests and demos. It is a test instrument: writeback never needs it
against a real tenant. It prints the CA file, token URL and Graph URL, and writes
DIR/emulator.env and DIR/entra.yaml (an entra: config section pointing at it).
Change the tenant and inject faults while it runs through /_emulator/ (docs/emulator.md).

Examples:
  writeback-lab emulator --dir /tmp/wbemu
  writeback-lab emulator generate --groups 2000 --users 10000 --memberships 50000 > big.json
  writeback-lab emulator --dir /tmp/wbemu --tenant big.json --reset --throttle-rate 0.05
`, stderr)
	var (
		c          emulator.RunConfig
		faults     emulator.Faults
		latency    time.Duration
		logLevel   string
		tokenLife  time.Duration
		pageSize   int
		membersPer int
		assertions bool
		serveOI    bool
		partial    bool
		roles      string
	)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8443", "loopback `host:port` to listen on (port 0: any free port)")
	fs.StringVar(&c.Dir, "dir", "writeback-emulator", "`directory` for the CA, client credentials, tenant state and emulator.env")
	fs.StringVar(&c.TenantFile, "tenant", "", "tenant `file` (JSON or YAML) to load when dir has no saved state (default: a small sample tenant)")
	fs.BoolVar(&c.Reset, "reset", false, "discard the saved tenant state and start from --tenant")
	fs.StringVar(&c.ClientID, "client-id", "", "application (client) `ID` the token endpoint accepts (default: generated once, kept in dir/client-id)")
	fs.StringVar(&c.ClientSecretFile, "client-secret-file", "", "`file` holding the client secret (default: dir/client-secret, generated once)")
	fs.DurationVar(&tokenLife, "token-lifetime", time.Hour, "access token lifetime")
	fs.IntVar(&pageSize, "page-size", 100, "objects per page when the client asks for no page size")
	fs.IntVar(&membersPer, "members-per-page", 1000, "members@delta entries per delta page (larger groups span pages)")
	fs.BoolVar(&assertions, "accept-assertions", false, "accept any client assertion (certificate / workload identity credentials) without checking its signature")
	fs.Float64Var(&faults.ThrottleRate, "throttle-rate", 0, "`fraction` of Graph requests answered 429 Too Many Requests")
	fs.Float64Var(&faults.ErrorRate, "error-rate", 0, "`fraction` of Graph requests answered with --error-status")
	fs.IntVar(&faults.ErrorStatus, "error-status", 503, "HTTP `status` of injected errors: 500, 502, 503 or 504")
	fs.Float64Var(&faults.RetryAfterSeconds, "retry-after", 1.128, "Retry-After `seconds` on 429 and 503/504 (fractional, like Graph's)")
	fs.BoolVar(&serveOI, "serve-object-identifier", false, "serve users' onPremisesObjectIdentifier (not declared in Graph v1.0, which refuses it in $select with 400; the real service often serves it)")
	fs.BoolVar(&partial, "partial-user-updates", false, "incremental users delta carries only the properties that changed")
	fs.StringVar(&roles, "roles", strings.Join(emulator.DefaultRoles, ","), "comma-separated application `permissions` in the access tokens")
	fs.DurationVar(&latency, "latency", 0, "added latency on every Graph response")
	fs.BoolVar(&faults.TokenEndpointDown, "token-endpoint-down", false, "token endpoint answers 503")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	if err := parseNoArgs(fs, args, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	switch faults.ErrorStatus {
	case 500, 502, 503, 504:
	default:
		return fmt.Errorf("--error-status %d: want 500, 502, 503 or 504", faults.ErrorStatus)
	}
	if faults.ThrottleRate < 0 || faults.ThrottleRate > 1 || faults.ErrorRate < 0 || faults.ErrorRate > 1 {
		return fmt.Errorf("--throttle-rate and --error-rate are fractions between 0 and 1")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	faults.LatencyMillis = int(latency / time.Millisecond)
	c.Logger = log
	c.Options = emulator.Options{TokenLifetime: tokenLife, PageSize: pageSize, MembersPerPage: membersPer,
		AcceptAssertions: assertions, Faults: faults, Logger: log,
		ServeObjectIdentifier: serveOI, PartialUserUpdates: partial, Roles: splitList(roles)}

	r, err := emulator.Run(ctx, c)
	if err != nil {
		return err
	}
	counts := r.Server.Tenant().Counts()
	fmt.Fprintf(stdout, `writeback Graph emulator (test instrument) listening on %s
  CA file:       %s
  token URL:     %s
  Graph URL:     %s/v1.0
  admin API:     %s/_emulator/
  tenant ID:     %s
  client ID:     %s
  client secret: %s (file)
  tenant:        %d groups, %d users, %d memberships
  env file:      %s   (. %s)
  config:        %s
Stop with Ctrl-C; the tenant state is kept in %s.
`, r.URL, r.CAFile, r.TokenURL(), r.URL, r.URL, r.TenantID, r.ClientID, r.ClientSecretFile,
		counts.Groups, counts.Users, counts.Memberships, r.EnvFile, r.EnvFile, r.ConfigFile, c.Dir)
	return r.Wait()
}

// splitList splits a comma-separated flag value, dropping empty items; an
// empty value is an empty (not a nil) list: no permissions at all.
func splitList(v string) []string {
	out := []string{}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func emulatorGenerate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("emulator generate", `Usage: writeback-lab emulator generate [flags] > tenant.json

Writes a synthetic tenant for the emulator: groups with non-ASCII, DN-special,
duplicate and very long names; users synced from AD (with onPremises* anchors)
and cloud-only users; nested groups; a few devices and contacts as members.

Examples:
  writeback-lab emulator generate --groups 50 --users 200 --memberships 800 > small.json
  writeback-lab emulator generate --groups 20000 --users 300000 --memberships 500000 --largest 250000 --nested 500 > bench.json
  writeback-lab emulator generate --anchors lab-users.csv --cloud-only-ratio 0 > lab.json
`, stderr)
	var (
		o       emulator.GenOptions
		anchors string
		out     string
		seed    int64
	)
	fs.IntVar(&o.Groups, "groups", 100, "number of groups")
	fs.IntVar(&o.Users, "users", 500, "number of users")
	fs.IntVar(&o.Memberships, "memberships", 2000, "direct memberships in all (including --largest and --nested)")
	fs.IntVar(&o.Nested, "nested", 10, "group-in-group memberships (never cyclic)")
	fs.IntVar(&o.Largest, "largest", 200, "members of the largest group (users)")
	fs.Float64Var(&o.CloudOnlyRatio, "cloud-only-ratio", 0.2, "fraction of users that are cloud-only (not synced from AD)")
	fs.Int64Var(&seed, "seed", 1, "random seed; the same flags and seed give the same tenant")
	fs.StringVar(&o.TenantID, "tenant-id", "", "tenant ID (default: derived from the seed)")
	fs.StringVar(&o.Domain, "domain", "contoso.com", "AD DNS domain of synced users")
	fs.StringVar(&anchors, "anchors", "", "`file` of existing AD users (JSON array or CSV with guid,sid,sAMAccountName,dn columns) that the first synced users point to")
	fs.StringVar(&out, "out", "-", "output `file` (- for stdout)")
	if err := parseNoArgs(fs, args, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	o.Seed = uint64(seed)
	if anchors != "" {
		a, err := emulator.LoadAnchors(anchors)
		if err != nil {
			return err
		}
		o.Anchors = a
	}
	f, err := emulator.Generate(o)
	if err != nil {
		return err
	}
	w := stdout
	if out != "-" {
		fh, err := os.Create(out)
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		defer fh.Close()
		w = fh
	}
	if err := emulator.WriteTenant(w, f); err != nil {
		return fmt.Errorf("write tenant: %w", err)
	}
	return nil
}

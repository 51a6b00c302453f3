package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/writeback/writeback/internal/config"
)

// configTemplate is the commented configuration 'writeback init' writes. It
// must parse (a test checks it) once the placeholders' secrets exist.
const configTemplate = `# writeback configuration. Reference: docs/configuration.md
# Secrets are never written here: point to a file or an environment variable.

# Active Directory: where groups are written (docs/ad.md).
ad:
  url: ldaps://dc1.contoso.com:636        # a writable DC; ldap://...:389 uses StartTLS
  # gcUrl: ldaps://dc1.contoso.com:3269   # Global Catalog (default: the DC's host, port 3269/3268)
  # caFile: /etc/writeback/ad-ca.pem      # CA bundle for the DC certificate (default: system roots)
  bindDN: svc-writeback@contoso.com       # DN, user@domain or DOMAIN\user
  password:
    env: WRITEBACK_AD_PASSWORD            # or: file: /run/secrets/ad-password
  targetOU: OU=Cloud Groups,DC=contoso,DC=com   # where new groups are created
  # pageSize: 1000
  # memberBatch: 1000                     # member values per LDAP modify
  # timeout: 30s

# Microsoft Entra ID: where groups come from (docs/entra.md).
# App registration with application permissions Group.Read.All and User.Read.All.
entra:
  tenantId: 00000000-0000-0000-0000-000000000000
  clientId: 00000000-0000-0000-0000-000000000000
  credential:
    kind: secret                          # secret, certificate, managedIdentity, workloadIdentity
    secret:
      env: WRITEBACK_CLIENT_SECRET        # or: file: /run/secrets/client-secret
  # cloud: public                         # public, usgov, china

# Which cloud groups are provisioned. Microsoft's default clause always applies
# first: securityEnabled true, mailEnabled false, not synced from AD.
scope:
  mode: all                               # all | selected
  # groups: [ <objectId>, ... ]           # mode selected: these groups
  # memberOf: <objectId>                  # mode selected: the groups that are members of this group
  # filters:                              # filters are ORed, clauses inside one filter ANDed
  #   - clauses:
  #       - attribute: displayName
  #         operator: REGEX MATCH         # EQUALS, NOT EQUALS, IS TRUE, IS FALSE, IS NULL, IS NOT NULL,
  #         value: "^APP-"                # REGEX MATCH, NOT REGEX MATCH, GREATER_THAN, GREATER_THAN_OR_EQUALS

# Attribute mappings, in Microsoft's expression language (docs/expressions.md).
# Unset entries keep Cloud Sync's defaults; adminDescription and
# msDS-ExternalDirectoryObjectId are fixed to Append("Group_", [objectId]).
mappings:
  groupType: universalSecurity            # universalSecurity, globalSecurity, domainLocalSecurity
  attributes: {}
  #   cn:
  #     expression: Append(Append(Left(Trim([displayName]), 51), "_"), Mid([objectId], 25, 12))
  #     # Taking over groups written by Connect Sync? Keep their names:
  #     # expression: Append("Group_", [objectId])
  #   description:
  #     expression: Left(Trim([description]), 448)
  #   parentDistinguishedName:
  #     expression: '"OU=Cloud Groups,DC=contoso,DC=com"'   # default: ad.targetOU
  #     apply: onCreate                  # default onCreate: existing groups are not moved
  #   sAMAccountName:                    # default: the display name, <= 20 characters, made unique
  #     expression: Join("_", [displayName], "Cloud")
  #     apply: onCreate
  #   info:
  #     expression: Append("Provisioned from Entra group ", [objectId])

# Safety: deletes are guarded by the threshold; a round past it stops and
# changes nothing until 'writeback apply --allow-deletes'.
safety:
  deleteThreshold: 500 or 5%              # a count, a share of the owned groups, or both (the stricter applies)
  onDelete: delete                        # group deleted in Entra: delete, move, convert, leave
  onOutOfScope: leave                     # group left the scope: leave, delete, move, convert
  # moveTo: OU=Deprovisioned,DC=contoso,DC=com   # for move

# State: delta tokens, cloud cache, per-group status, provisioning log.
state:
  path: writeback.db                      # relative to this file's directory

# The daemon (writeback run).
sync:
  interval: 15s                           # incremental rounds
  fullReconcile: 24h                      # full rounds that also repair changes made by hand in AD
  # searchBase: OU=Cloud Groups,DC=contoso,DC=com   # where to look for writeback's groups (default: the domain)
  # Operations listener: /metrics, /healthz, /readyz and a status page (docs/operations.md).
  # listen: 127.0.0.1:9464                # off when unset; beyond loopback it needs listenToken
  # listenToken:
  #   credential: listen-token            # a systemd credential (LoadCredential=), or file:/env:
  # listenTls: {certFile: /etc/writeback/tls.crt, keyFile: /etc/writeback/tls.key}

# Members: a cloud user resolves only to the AD user it was synced from, never
# to a group, computer, built-in or critical principal (docs/trust.md).
# members:
#   allow:                                # privileged principals still allowed, by SID or DN
#     - S-1-5-21-1004336348-1177238915-682003330-1105
#   inetOrgPerson: false                  # let users of class inetOrgPerson resolve

log:
  format: text                            # text or json
  level: info                             # debug, info, warn, error
`

// initArgs are init's flags and argument.
type initArgs struct {
	force bool
	path  string // "" for none given; "-" for stdout
}

// defaultInitFile is what 'writeback init' writes on a terminal.
const defaultInitFile = "writeback.yaml"

func parseInitArgs(args []string, stderr io.Writer) (initArgs, error) {
	var a initArgs
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&a.force, "force", false, "overwrite an existing file")
	fs.Usage = func() {
		w := fs.Output() // stdout for -h: see parseFlags
		fmt.Fprint(w, `Usage: writeback init [--force] [FILE]

Writes a commented configuration with every section and its defaults. Edit
the marked values, then run 'writeback check' and 'writeback plan'.

  writeback init FILE   writes FILE (not over an existing one unless --force)
  writeback init        on a terminal: writes writeback.yaml, as above;
                        redirected or piped: prints the template, writes no file
  writeback init -      prints the template

Examples:
  writeback init
  writeback init > writeback.yaml
  writeback init /etc/writeback/writeback.yaml
  writeback init | less

Flags:
`)
		printFlags(fs, w)
	}
	if err := parseFlags(fs, args); err != nil {
		return a, err
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return a, errUsage
	}
	a.path = fs.Arg(0)
	return a, nil
}

func runInit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseInitArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	return writeInit(a, stdout, stderr, isTerminal(stdout))
}

// writeInit writes the template where the conventions of a command line
// say: into the FILE named; to stdout for "-" and whenever stdout is
// redirected or piped and no FILE is named ('writeback init > other.yaml',
// 'writeback init | less' write no file of their own); on a terminal into
// writeback.yaml. What it wrote is said on stderr, so stdout carries the
// template or nothing.
func writeInit(a initArgs, stdout, stderr io.Writer, terminal bool) error {
	path := a.path
	switch {
	case path == "-", path == "" && !terminal:
		_, err := io.WriteString(stdout, configTemplate)
		return err
	case path == "":
		path = defaultInitFile
	case isFile(stdout, path):
		// 'writeback init x.yaml > x.yaml': the shell has made x.yaml, empty,
		// as stdout already; the template goes there.
		_, err := io.WriteString(stdout, configTemplate)
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if a.force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if os.IsExist(err) {
		return fmt.Errorf("%s already exists (use --force to overwrite, or give another file name)", path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := io.WriteString(f, configTemplate); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(stderr, "Wrote %s. Edit the ad and entra sections, then: writeback check --config %s\n", path, path)
	return nil
}

// isFile reports whether w is an open file that is path (the same inode).
func isFile(w io.Writer, path string) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	a, err := f.Stat()
	if err != nil || !a.Mode().IsRegular() {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// parseTemplate is used by the tests: the template must be a valid config.
func parseTemplate() (*config.Config, error) { return config.Parse([]byte(configTemplate)) }

// Package config owns writeback's configuration file: its YAML shape, defaults,
// validation, and how secrets are referenced (by file or environment variable,
// never inline, never on the command line).
//
// Each section lives in its own file (ad.go, entra.go, sync.go) next to the
// defaults and checks that belong to it.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration file.
type Config struct {
	AD       AD       `yaml:"ad"`
	Entra    *Entra   `yaml:"entra,omitempty"` // nil: AD-only commands (check, migrate assess without cloud data)
	Scope    Scope    `yaml:"scope,omitempty"`
	Mappings Mappings `yaml:"mappings,omitempty"`
	Safety   Safety   `yaml:"safety,omitempty"`
	State    State    `yaml:"state,omitempty"`
	Sync     Sync     `yaml:"sync,omitempty"`
	Log      Log      `yaml:"log,omitempty"`
	Members  Members  `yaml:"members,omitempty"` // members.go
	SOA      SOA      `yaml:"soa,omitempty"`     // soa.go: groups converted to the cloud

	// Path is the file the config was read from ("" for stdin or inline); used to
	// resolve relative paths and in error messages.
	Path string `yaml:"-"`
}

// Secret references a secret without containing it.
type Secret struct {
	File string `yaml:"file,omitempty"` // path of a file holding the secret (trailing newline trimmed)
	Env  string `yaml:"env,omitempty"`  // name of an environment variable holding the secret
	// Credential is the name of a systemd credential (LoadCredential=NAME:path
	// in the unit): the file NAME in $CREDENTIALS_DIRECTORY, which systemd
	// makes readable by the service alone, outside the configuration's directory.
	Credential string `yaml:"credential,omitempty"`

	// inlineLine is the line of a value written inline (0: none). The value
	// itself is dropped at once: it must not reach any message.
	inlineLine int
}

// UnmarshalYAML accepts {file: ...} or {env: ...}. A plain value is a
// secret written into the config: it is not kept and not echoed (yaml's own
// error would quote its first characters); validate reports it with the
// field's name.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!null" {
			s.inlineLine = n.Line
		}
		return nil
	case yaml.MappingNode:
	default:
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a secret is a mapping with file: or env:", n.Line)}}
	}
	var errs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var dst *string
		switch k.Value {
		case "file":
			dst = &s.File
		case "env":
			dst = &s.Env
		case "credential":
			dst = &s.Credential
		default:
			errs = append(errs, fmt.Sprintf("line %d: field %s not found in a secret (want file, env or credential)", k.Line, k.Value))
			continue
		}
		if v.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Sprintf("line %d: %s: want a string", v.Line, k.Value))
			continue
		}
		*dst = v.Value
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// check reports an inline secret, naming the field; nil otherwise.
func (s Secret) check(what string) error {
	if s.inlineLine == 0 {
		return nil
	}
	return fmt.Errorf("%s (line %d): secrets are not accepted inline, and the value is not shown; put it in a file readable only by writeback (%s: {file: /etc/writeback/secret}, chmod 600) or an environment variable (%s: {env: NAME})",
		what, s.inlineLine, what, what)
}

// SecretFile is one secret file of the configuration.
type SecretFile struct {
	Field string // "ad.password"
	Path  string
}

// SecretFiles lists the secret files the configuration reads, for
// permission checks.
func (c *Config) SecretFiles() []SecretFile {
	var out []SecretFile
	add := func(field, path string) {
		if path != "" {
			out = append(out, SecretFile{field, path})
		}
	}
	add("ad.password.file", c.AD.Password.File)
	if c.State.Postgres != nil {
		add("state.postgres.password.file", c.State.Postgres.Password.File)
	}
	if c.Entra != nil {
		add("entra.credential.secret.file", c.Entra.Credential.Secret.File)
		add("entra.credential.certificateFile", c.Entra.Credential.CertificateFile)
		add("entra.credential.certificatePassword.file", c.Entra.Credential.CertificatePassword.File)
	}
	return out
}

// LooseSecretFiles returns a warning for each secret file that group or
// others may read or write, saying what to do.
func (c *Config) LooseSecretFiles() []string {
	var out []string
	for _, f := range c.SecretFiles() {
		fi, err := os.Stat(f.Path)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s has mode %04o: other users can read or change the secret; run chmod 600 %s (owned by the account writeback runs as)",
			f.Field, f.Path, fi.Mode().Perm(), f.Path))
	}
	return out
}

// IsSet reports whether the secret references anything.
func (s Secret) IsSet() bool { return s.File != "" || s.Env != "" || s.Credential != "" }

// Value reads the secret. what names it in errors ("ad.password").
func (s Secret) Value(what string) (string, error) {
	n := 0
	for _, v := range []string{s.File, s.Env, s.Credential} {
		if v != "" {
			n++
		}
	}
	switch {
	case n > 1:
		return "", fmt.Errorf("%s: set one of file, env or credential, not several", what)
	case s.Credential != "":
		dir := os.Getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return "", fmt.Errorf("%s: credential %q: $CREDENTIALS_DIRECTORY is not set: run writeback under systemd with LoadCredential=%s:/path/to/secret in its unit, or use %s.file", what, s.Credential, s.Credential, what)
		}
		if strings.ContainsAny(s.Credential, "/\\") || s.Credential == "." || s.Credential == ".." {
			return "", fmt.Errorf("%s: credential %q: want a credential name, not a path", what, s.Credential)
		}
		return Secret{File: filepath.Join(dir, s.Credential)}.Value(what)
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("%s: read secret file: %w (set %s.file to a readable file)", what, err, what)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%s: secret file %s is empty", what, s.File)
		}
		return v, nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("%s: environment variable %s is not set or empty (export it, or use %s.file)", what, s.Env, what)
		}
		return v, nil
	}
	return "", fmt.Errorf("%s: no secret configured (set %s.file or %s.env)", what, what, what)
}

// Load reads and validates a config file. "-" reads stdin.
func Load(path string) (*Config, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.Path = path
	return c, nil
}

// Parse decodes YAML, rejects unknown fields, applies defaults and validates.
func Parse(b []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	// Type errors (a word where a number belongs, unknown fields) do not stop
	// decoding: yaml collects them all, and validation runs as well, so one
	// run reports every problem.
	var errs []error
	if err := dec.Decode(&c); err != nil {
		var te *yaml.TypeError
		switch {
		case errors.Is(err, io.EOF):
			return nil, errors.New("empty configuration (run 'writeback init' for a commented example)")
		case errors.As(err, &te):
			structural := false
			for _, e := range te.Errors {
				errs = append(errs, errors.New(e))
				// A key given twice stops yaml before it fills the
				// structure: validating what is left would report
				// settings the file does have as missing.
				structural = structural || strings.Contains(e, "already defined")
			}
			if structural {
				return nil, errors.Join(errs...)
			}
		default:
			return nil, err
		}
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) applyDefaults() {
	c.AD.applyDefaults()
	if c.Entra != nil {
		c.Entra.applyDefaults()
	}
	c.Scope.applyDefaults()
	c.Mappings.applyDefaults()
	c.Safety.applyDefaults()
	c.State.applyDefaults()
	c.Sync.applyDefaults()
	c.Log.applyDefaults()
}

// Validate checks every section and returns all problems at once, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, c.AD.validate()...)
	if c.Entra != nil {
		errs = append(errs, c.Entra.validate()...)
	}
	errs = append(errs, c.Scope.validate()...)
	errs = append(errs, c.Mappings.validate()...)
	errs = append(errs, c.Safety.validate()...)
	errs = append(errs, c.State.validate()...)
	errs = append(errs, c.Sync.validate()...)
	errs = append(errs, c.Log.validate()...)
	errs = append(errs, c.searchBaseErrors()...)
	errs = append(errs, c.Members.validate()...)
	errs = append(errs, c.SOA.validate()...)
	return errors.Join(errs...)
}

// Describe names the secret and where it comes from, for logs and errors; it
// never includes the value.
func (s Secret) Describe(what string) string {
	switch {
	case s.File != "":
		return what + " (file " + s.File + ")"
	case s.Env != "":
		return what + " (environment variable " + s.Env + ")"
	case s.Credential != "":
		return what + " (systemd credential " + s.Credential + ")"
	}
	return what
}

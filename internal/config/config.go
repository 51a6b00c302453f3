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

	// Path is the file the config was read from ("" for stdin or inline); used to
	// resolve relative paths and in error messages.
	Path string `yaml:"-"`
}

// Secret references a secret without containing it.
type Secret struct {
	File string `yaml:"file,omitempty"` // path of a file holding the secret (trailing newline trimmed)
	Env  string `yaml:"env,omitempty"`  // name of an environment variable holding the secret
}

// IsSet reports whether the secret references anything.
func (s Secret) IsSet() bool { return s.File != "" || s.Env != "" }

// Value reads the secret. what names it in errors ("ad.password").
func (s Secret) Value(what string) (string, error) {
	switch {
	case s.File != "" && s.Env != "":
		return "", fmt.Errorf("%s: set either file or env, not both", what)
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
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty configuration (run 'writeback init' for a commented example)")
		}
		return nil, err
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
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
	errs = append(errs, c.Members.validate()...)
	return errors.Join(errs...)
}

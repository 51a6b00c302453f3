package config

import (
	"strings"
	"testing"
)

func TestStatePostgresValidation(t *testing.T) {
	base := "ad: {url: ldaps://dc.test, bindDN: x, password: {env: P}}\n"
	for _, c := range []struct{ yaml, want string }{
		{"state: {postgres: {url: 'postgres://wb@db/wb', password: {env: PGPW}}}", ""},
		{"state: {postgres: {password: {env: PGPW}}}", "state.postgres.url is required"},
		{"state: {postgres: {url: 'postgres://wb:hunter2@db/wb'}}", "a password in the URL is not accepted"},
		{"state: {postgres: {url: 'postgres://wb@db/wb', password: hunter2}}", "secrets are not accepted inline"},
		{"state: {postgres: {url: 'postgres://wb@db/wb', takeover: 1s}}", "at least 3s"},
	} {
		_, err := Parse([]byte(base + c.yaml))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.yaml, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.yaml, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", c.yaml, err)
		}
	}
}

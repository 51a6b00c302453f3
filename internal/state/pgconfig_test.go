package state

import (
	"strings"
	"testing"
)

// A connection that does not verify the server is refused beyond loopback;
// without sslmode the server is verified.
func TestPostgresTLSPolicy(t *testing.T) {
	for _, c := range []struct {
		url  string
		want string // "" = accepted
	}{
		{"postgres://wb@db.example.com/wb", ""},
		{"postgres://wb@db.example.com/wb?sslmode=verify-ca", ""},
		{"postgres://wb@db.example.com/wb?sslmode=require", "does not verify the server"},
		{"postgres://wb@db.example.com/wb?sslmode=disable", "does not verify the server"},
		{"postgres://wb@db.example.com/wb?sslmode=prefer", "does not verify the server"},
		{"postgres://wb@127.0.0.23:5432/wb?sslmode=disable", ""},
		{"postgres://wb@localhost/wb?sslmode=disable", ""},
		{"postgres://wb@[::1]/wb?sslmode=disable", ""},
		{"postgres:///wb?host=/run/postgresql&sslmode=disable", ""},
		{"postgres://wb@db.example.com/wb?sslmode=bogus", "unknown sslmode"},
		{"mysql://wb@db/wb", "want postgres://"},
	} {
		cfg, _, err := pgConfig(PostgresOptions{URL: c.url, Password: "pw"})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.url, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error with %q", c.url, err, c.want)
		case c.want == "" && strings.Contains(c.url, "example.com"):
			tc := cfg.ConnConfig.TLSConfig
			if tc == nil || len(cfg.ConnConfig.Fallbacks) > 0 {
				t.Errorf("%s: TLS %v, %d fallbacks: want TLS and no plain fallback", c.url, tc != nil, len(cfg.ConnConfig.Fallbacks))
			} else if c.url == "postgres://wb@db.example.com/wb" && (tc.InsecureSkipVerify || tc.ServerName != "db.example.com") {
				t.Errorf("%s: default is not verify-full (skip %v, name %q)", c.url, tc.InsecureSkipVerify, tc.ServerName)
			}
		}
		if err == nil && cfg.ConnConfig.Password != "pw" {
			t.Errorf("%s: password not applied", c.url)
		}
	}
}

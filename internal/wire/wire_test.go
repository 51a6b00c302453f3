package wire_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/wire"
)

// The AD connection's reconnect message goes through the configured logger:
// JSON with log.format json, and not at all below log.level.
func TestADLogsThroughTheConfiguredLogger(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{})
	for _, tc := range []struct {
		log  config.Log
		want bool
	}{{config.Log{Format: "json", Level: "info"}, true}, {config.Log{Format: "json", Level: "warn"}, false}} {
		var buf bytes.Buffer
		c, err := wire.DC(t.Context(), srv.Config(), wire.Logger(tc.log, &buf))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.RootDSE(t.Context()); err != nil {
			t.Fatal(err)
		}
		srv.DropConnections()
		if _, err := c.RootDSE(t.Context()); err != nil {
			t.Fatalf("after a dropped connection: %v", err)
		}
		c.Close()
		got := strings.Contains(buf.String(), "reconnected to AD")
		if got != tc.want {
			t.Errorf("level %s: logged %q; want the reconnect logged: %v", tc.log.Level, buf.String(), tc.want)
		}
		if !got {
			continue
		}
		var line map[string]any
		if err := json.Unmarshal([]byte(strings.SplitN(buf.String(), "\n", 2)[0]), &line); err != nil || line["msg"] == nil {
			t.Errorf("log.format json: not a JSON line: %q (%v)", buf.String(), err)
		}
	}
}

func TestStatePathRelativeToTheConfig(t *testing.T) {
	cfg := &config.Config{Path: "/etc/writeback/writeback.yaml"}
	cfg.State.Path = "state.db"
	if p := wire.StatePath(cfg); p != "/etc/writeback/state.db" {
		t.Errorf("StatePath = %q", p)
	}
	cfg.State.Path = "/var/lib/wb.db"
	if p := wire.StatePath(cfg); p != "/var/lib/wb.db" {
		t.Errorf("StatePath = %q", p)
	}
}

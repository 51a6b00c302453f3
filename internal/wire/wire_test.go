package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/state"
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

// Load gives the configuration and the logger it configures.
func TestLoadBuildsTheConfiguredLogger(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "writeback.yaml")
	yaml := "ad:\n  url: ldaps://dc1.contoso.com:636\n  bindDN: svc@contoso.com\n  password: {env: WB_TEST_PW}\n  targetOU: OU=X,DC=contoso,DC=com\nlog:\n  format: json\n  level: warn\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	cfg, log, err := wire.Load(path, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != path || cfg.AD.URL != "ldaps://dc1.contoso.com:636" {
		t.Errorf("config: %+v", cfg.AD)
	}
	log.Info("below the level")
	log.Warn("at the level")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["msg"] != "at the level" {
		t.Errorf("log.format json, level warn: logged %q (%v)", buf.String(), err)
	}
	if _, _, err := wire.Load(filepath.Join(dir, "absent.yaml"), &buf); err == nil {
		t.Error("a missing configuration file loaded")
	}
}

// OpenState claims a state file for one writer: a second is refused until
// the first releases it; readers open it read-only.
func TestOpenStateFile(t *testing.T) {
	cfg := &config.Config{Path: filepath.Join(t.TempDir(), "writeback.yaml")}
	cfg.State.Path = "state.db"
	if _, err := wire.OpenStateReadOnly(t.Context(), cfg, time.Second); !errors.Is(err, state.ErrNoState) {
		t.Errorf("read-only before any state: %v, want state.ErrNoState", err)
	}
	db, lock, err := wire.OpenState(t.Context(), cfg, "apply")
	if err != nil {
		t.Fatal(err)
	}
	if db.Path() != wire.StatePath(cfg) || lock == nil {
		t.Errorf("state at %q (lock %v), want %q", db.Path(), lock, wire.StatePath(cfg))
	}
	if _, _, err := wire.OpenState(t.Context(), cfg, "run"); err == nil || !strings.Contains(err.Error(), "apply") {
		t.Errorf("a second writer: %v, want a refusal naming apply", err)
	}
	db.Close()
	lock.Release()
	ro, err := wire.OpenStateReadOnly(t.Context(), cfg, time.Second)
	if err != nil {
		t.Fatalf("read-only after the writer: %v", err)
	}
	ro.Close()
	db, lock, err = wire.OpenState(t.Context(), cfg, "run")
	if err != nil {
		t.Fatalf("a writer after the first released it: %v", err)
	}
	db.Close()
	lock.Release()
}

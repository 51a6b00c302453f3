package labcli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestMainUsageAndExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-h"}, 0, "Usage: writeback-lab [flags] up|down|reset|replicate|env|config"},
		{[]string{"lab", "-h"}, 0, "Usage: writeback-lab"},
		{[]string{"emulator", "-h"}, 0, "Usage: writeback-lab emulator"},
		{nil, 2, "Usage: writeback-lab"},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
		{[]string{"bogus"}, 2, `unknown action "bogus"`},
		{[]string{"--no-emulator", "--connect-sync", "up"}, 2, "--connect-sync goes with up or reset"},
	} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), tc.args, &out, &errb); code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("writeback-lab %q: exit %d, want %d; stderr lacks %q:\n%s", tc.args, code, tc.code, tc.want, errb.String())
		}
	}
}

func TestEmulatorGenerate(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"emulator", "generate", "--groups", "3", "--users", "5", "--memberships", "6", "--largest", "2", "--nested", "1"}, &out, &errb); code != 0 {
		t.Fatalf("generate: exit %d: %s", code, errb.String())
	}
	var tenant struct {
		Groups []json.RawMessage `json:"groups"`
	}
	if err := json.Unmarshal(out.Bytes(), &tenant); err != nil || len(tenant.Groups) != 3 {
		t.Errorf("generated tenant: %d groups, %v\n%.300s", len(tenant.Groups), err, out.String())
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// `writeback lab up --dcs N` accepts 1 or 2, after the action as the issue
// spells it; anything else is a usage error before any lab is touched.
func TestLabUpDCsFlag(t *testing.T) {
	for _, args := range [][]string{{"up", "--dcs", "3"}, {"up", "--dcs", "0"}, {"up", "--dcs", "2", "extra"}, {"down", "now"}} {
		var out, errb bytes.Buffer
		if err := runLab(context.Background(), append([]string{"--dir", t.TempDir()}, args...), &out, &errb); !errors.Is(err, errUsage) {
			t.Errorf("lab %v: %v, want a usage error", args, err)
		}
	}
}

package migrate

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Durations in JSON are seconds, like every other writeback JSON output.
func TestResultsPrintElapsedInSeconds(t *testing.T) {
	for _, v := range []any{PrepareResult{Changed: 2, Elapsed: 2500 * time.Millisecond}, &RollbackResult{Restored: 1, Elapsed: 2500 * time.Millisecond}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"elapsedSeconds":2.5`) || strings.Contains(string(b), "elapsedNs") {
			t.Errorf("%T as JSON: %s", v, b)
		}
	}
}

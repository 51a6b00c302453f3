package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A round's result in JSON gives durations in seconds, like status --json.
func TestResultJSONDurationsInSeconds(t *testing.T) {
	b, err := json.Marshal(&Result{Duration: 1500 * time.Millisecond, Applied: &Applied{Applied: 3, Duration: 250 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"durationSeconds":1.5`, `"durationSeconds":0.25`, `"applied":3`} {
		if !strings.Contains(s, want) {
			t.Errorf("result JSON lacks %s: %s", want, s)
		}
	}
	if strings.Contains(s, `"Duration"`) || strings.Contains(s, `"duration"`) {
		t.Errorf("result JSON still has a nanosecond duration: %s", s)
	}
}

package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// UnmarshalYAML parses Go duration syntax. Its errors are yaml type errors,
// so they are reported together with all other problems of the file. Zero
// and negative durations are refused: no setting means "never" or "at once"
// by 0, and leaving a setting out gives its default.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	bad := func(why string) error {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: duration %q: %s (e.g. 15s, 5m, 24h)", n.Line, n.Value, why)}}
	}
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!int") {
		return bad("want a duration")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return bad(strings.TrimPrefix(err.Error(), "time: "))
	}
	if v <= 0 {
		return bad("want more than 0 (leave the setting out for its default)")
	}
	*d = Duration(v)
	return nil
}

package config

import (
	"strings"
	"testing"
)

// A key given twice is reported alone: yaml stops before filling the
// structure, so the settings the file does have must not be called missing.
func TestDuplicateKeyReportedAlone(t *testing.T) {
	_, err := Parse([]byte(`
ad:
  url: ldaps://dc1.contoso.test:636
log:
  level: info
log:
  level: debug
`))
	if err == nil || !strings.Contains(err.Error(), `mapping key "log" already defined`) {
		t.Fatalf("err = %v; want the duplicate key named", err)
	}
	if strings.Contains(err.Error(), "ad.url is required") {
		t.Errorf("err = %v; reports ad.url missing though the file sets it", err)
	}
}

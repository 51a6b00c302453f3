package config

import (
	"strings"
	"testing"
)

const syncTestBase = `
ad: {url: "ldaps://dc.test", bindDN: x, password: {env: X}}
`

func TestSyncSectionErrorsNameTheSetting(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"mappings: {attributes: {cn: {expression: 'Append([displayName]'}}}", "mappings.attributes.cn: position"},
		{"mappings: {attributes: {msDS-ExternalDirectoryObjectId: {expression: '\"x\"'}}}", "anchor attribute is fixed"},
		{"mappings: {attributes: {member: {expression: '\"x\"'}}}", "mappings.attributes.member cannot be mapped"},
		{"mappings: {attributes: {info: {apply: onCreate}}}", "mappings.attributes.info: expression is required"},
		{"scope: {filters: [{clauses: [{attribute: displayName, operator: LIKE, value: x}]}]}", `scope.filters[0].clauses[0]: operator "LIKE"`},
		{"scope: {filters: [{clauses: [{attribute: displayName, operator: REGEX MATCH, value: '(('}]}]}", "scope.filters[0].clauses[0]: regular expression"},
		{"safety: {onDelete: move}", "safety.onDelete move needs safety.moveTo"},
		{"sync: {workers: 0, interval: 1h, fullReconcile: 1m}", "sync.fullReconcile 1m0s: want at least sync.interval"},
		{"sync: {memoryLimit: 400MB}", `sync.memoryLimit "400MB": want a size such as 400MiB`},
		{"sync: {memoryLimit: 10MiB}", `sync.memoryLimit "10MiB": want at least 64MiB`},
	} {
		_, err := Parse([]byte(syncTestBase + tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s\n  error = %v\n  want it to contain %q", tt.yaml, err, tt.want)
		}
	}
}

func TestSyncDefaults(t *testing.T) {
	c, err := Parse([]byte(syncTestBase))
	if err != nil {
		t.Fatal(err)
	}
	if c.Scope.Mode != "all" || c.Safety.DeleteThreshold != (Threshold{Count: 500, Percent: 5}) || c.Safety.OnDelete != "delete" || c.Safety.OnOutOfScope != "leave" ||
		c.Mappings.GroupType != "universalSecurity" || c.Sync.Workers != 4 || c.State.Path != "writeback.db" ||
		c.Sync.MemoryLimitBytes != 300<<20 {
		t.Errorf("defaults: %+v %+v %+v %+v", c.Scope, c.Safety, c.Mappings, c.Sync)
	}
}

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{{"off", 0}, {"OFF", 0}, {"0", 0}, {"400MiB", 400 << 20}, {"2GiB", 2 << 30}, {"1 GiB", 1 << 30}, {"104857600", 100 << 20}, {"65536KiB", 64 << 20}} {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "lots", "-1MiB", "1.5GiB", "12MiB", "9999999999TiB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

// safety.deleteThreshold: a count, a share, or both; the default is both.
func TestDeleteThreshold(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		want Threshold
	}{
		{"", Threshold{Count: 500, Percent: 5}},
		{"safety: {deleteThreshold: 0}", Threshold{Count: 500, Percent: 5}},
		{"safety: {deleteThreshold: 200}", Threshold{Count: 200}},
		{"safety: {deleteThreshold: 5%}", Threshold{Percent: 5}},
		{"safety: {deleteThreshold: '2.5%'}", Threshold{Percent: 2.5}},
		{"safety: {deleteThreshold: 500 or 10%}", Threshold{Count: 500, Percent: 10}},
		{"safety: {deleteThreshold: 10% or 500}", Threshold{Count: 500, Percent: 10}},
	} {
		c, err := Parse([]byte(syncTestBase + tt.yaml))
		if err != nil {
			t.Errorf("%q: %v", tt.yaml, err)
			continue
		}
		if c.Safety.DeleteThreshold != tt.want {
			t.Errorf("%q: %+v, want %+v", tt.yaml, c.Safety.DeleteThreshold, tt.want)
		}
	}
	for _, bad := range []string{"lots", "-1", "5 or 6", "150%", "0%", "500 or 5% or 6%"} {
		if _, err := Parse([]byte(syncTestBase + "safety: {deleteThreshold: '" + bad + "'}")); err == nil || !strings.Contains(err.Error(), "500 or 5%") {
			t.Errorf("%q: error = %v", bad, err)
		}
	}
}

// D3: a targetOU or a constant parentDistinguishedName outside the search
// base is refused at load; inside it is accepted.
func TestTargetOutsideSearchBase(t *testing.T) {
	base := `
ad: {url: "ldaps://dc.test", bindDN: x, password: {env: X}, targetOU: "%s"}
sync: {searchBase: "OU=Writeback,DC=contoso,DC=test"}
`
	for _, tt := range []struct{ ou, mapping, want string }{
		{"CN=Users,DC=contoso,DC=test", "", `ad.targetOU "CN=Users,DC=contoso,DC=test" is outside sync.searchBase`},
		{"OU=Sub,OU=Writeback,DC=contoso,DC=test", `mappings: {attributes: {parentDistinguishedName: {expression: '"OU=Domain Controllers,DC=contoso,DC=test"'}}}`, "mappings.attributes.parentDistinguishedName \"OU=Domain Controllers,DC=contoso,DC=test\" is outside sync.searchBase"},
		{"OU=Sub,ou=writeback,DC=Contoso,DC=test", "", ""},
		{"OU=Writeback,DC=contoso,DC=test", `mappings: {attributes: {parentDistinguishedName: {expression: '"OU=x,OU=Writeback,DC=contoso,DC=test"'}}}`, ""},
		{"OU=Writeback,DC=contoso,DC=test", `mappings: {attributes: {parentDistinguishedName: {expression: '[description]'}}}`, ""}, // checked per group at planning
	} {
		_, err := Parse([]byte(strings.Replace(base, "%s", tt.ou, 1) + tt.mapping))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s %s: %v", tt.ou, tt.mapping, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s %s: error = %v, want %q", tt.ou, tt.mapping, err, tt.want)
		}
	}
}

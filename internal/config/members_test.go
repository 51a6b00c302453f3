package config

import (
	"strings"
	"testing"
)

func TestMembersSection(t *testing.T) {
	c, err := Parse([]byte(syncTestBase + `
members:
  allow: [S-1-5-21-1-2-3-500, "CN=svc backup,OU=Service Accounts,DC=contoso,DC=com"]
  inetOrgPerson: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Members.Allow) != 2 || !c.Members.InetOrgPerson {
		t.Errorf("members = %+v", c.Members)
	}
	if c, err := Parse([]byte(syncTestBase)); err != nil || len(c.Members.Allow) != 0 || c.Members.InetOrgPerson {
		t.Errorf("default members = %+v, %v; want nothing allowed", c.Members, err)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"members: {allow: [S-1-5-21-x]}", `members.allow[0]: "S-1-5-21-x" is not a SID`},
		{"members: {allow: ['S-1-5-21-1-2-3-99999999999']}", "members.allow[0]"},
		{"members: {allow: [Domain Admins]}", `members.allow[0]: "Domain Admins" is neither a SID`},
		{"members: {allow: ['']}", "members.allow[0]: empty"},
	} {
		_, err := Parse([]byte(syncTestBase + tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s\n  error = %v\n  want it to contain %q", tt.yaml, err, tt.want)
		}
	}
}

func TestMembersDevices(t *testing.T) {
	c, err := Parse([]byte(syncTestBase))
	if err != nil || !c.Members.DevicesEnabled() {
		t.Errorf("default: devices enabled = %v, %v; want on", c.Members.DevicesEnabled(), err)
	}
	c, err = Parse([]byte(syncTestBase + "members: {devices: false}\n"))
	if err != nil || c.Members.DevicesEnabled() {
		t.Errorf("members.devices: false: enabled = %v, %v; want off", c.Members.DevicesEnabled(), err)
	}
}

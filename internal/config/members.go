package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/writeback/writeback/internal/ldapdn"
)

// Members is how cloud members may resolve to AD objects beyond the defaults
// (docs/trust.md). By default a cloud user resolves only to an AD user
// (objectClass user, not computer, not inetOrgPerson) that is not a
// well-known or critical principal.
type Members struct {
	// Allow names privileged principals, by DN or SID ("S-1-5-21-..."), that
	// a member may still resolve to: a well-known RID (< 1000), a critical
	// system object, a domain controller or trust account, an object with
	// adminCount=1. It never makes a group, computer or contact a user.
	Allow []string `yaml:"allow,omitempty"`
	// InetOrgPerson lets cloud users resolve to inetOrgPerson objects.
	InetOrgPerson bool `yaml:"inetOrgPerson,omitempty"`
	// Devices: device members synced from AD (onPremisesSecurityIdentifier)
	// are written as their computer objects. On unless set to false.
	Devices *bool `yaml:"devices,omitempty"`
}

// DevicesEnabled says whether device members resolve to computer objects
// (members.devices, default true).
func (m Members) DevicesEnabled() bool { return m.Devices == nil || *m.Devices }

func (m Members) validate() []error {
	var errs []error
	for i, a := range m.Allow {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
			errs = append(errs, fmt.Errorf("members.allow[%d]: empty; give a DN or a SID", i))
		case len(a) > 2 && strings.EqualFold(a[:2], "S-"):
			if !validSID(a) {
				errs = append(errs, fmt.Errorf("members.allow[%d]: %q is not a SID: want S-1-<authority>-<subauthority>..., each a decimal number", i, a))
			}
		default:
			if _, err := ldapdn.Parse(a); err != nil || !strings.Contains(a, "=") {
				errs = append(errs, fmt.Errorf("members.allow[%d]: %q is neither a SID (S-1-5-21-...) nor a DN: %w", i, a, err))
			}
		}
	}
	return errs
}

// validSID: S-1-<authority>-<sub>... with 1 to 15 sub-authorities of 32 bits.
func validSID(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 4 || len(parts) > 18 || !strings.EqualFold(parts[0], "S") || parts[1] != "1" {
		return false
	}
	if _, err := strconv.ParseUint(parts[2], 10, 48); err != nil {
		return false
	}
	for _, p := range parts[3:] {
		if _, err := strconv.ParseUint(p, 10, 32); err != nil {
			return false
		}
	}
	return true
}

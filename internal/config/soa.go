package config

import (
	"fmt"
	"strings"

	"github.com/writeback/writeback/internal/ldapdn"
)

// SOA is how writeback treats cloud groups whose source of authority (SOA)
// was converted from AD to the cloud (docs/engine.md, "Groups converted to
// the cloud"): such a group is taken over in place, matched by its
// onPremisesSecurityIdentifier to the AD group it came from.
type SOA struct {
	// CreateMissing: a converted group whose SID no AD group has is created
	// as a new group (with a new SID). Off by default: it is reported, as a
	// new SID silently breaks every ACL that granted the old one.
	CreateMissing bool `yaml:"createMissing,omitempty"`
	// AcceptRemovals names the converted groups (object ID, display name, DN
	// or CN) whose takeover may remove members AD has and the cloud group
	// has not; "*" accepts them all. Without it such a takeover is held and
	// the members are listed by name (or apply --allow-removals).
	AcceptRemovals []string `yaml:"acceptRemovals,omitempty"`
}

// Accepts reports whether the takeover of the group with this object ID,
// display name and DN may remove members.
func (s SOA) Accepts(id, name, dn string) bool {
	for _, a := range s.AcceptRemovals {
		a = strings.TrimSpace(a)
		switch {
		case a == "*",
			strings.EqualFold(a, id),
			a == name,
			strings.EqualFold(a, dn),
			dn != "" && strings.EqualFold("CN="+a, ldapdn.FirstRDN(dn)):
			return true
		}
	}
	return false
}

func (s SOA) validate() []error {
	var errs []error
	for i, a := range s.AcceptRemovals {
		if strings.TrimSpace(a) == "" {
			errs = append(errs, fmt.Errorf("soa.acceptRemovals[%d]: empty; give a group's object ID, display name, DN or CN, or \"*\"", i))
		}
	}
	return errs
}

package ad

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Group scopes: the scope bits of groupType.
const (
	ScopeGlobal      int32 = 0x2
	ScopeDomainLocal int32 = 0x4
	ScopeUniversal   int32 = 0x8
	scopeMask        int32 = 0xE
	securityBit      int32 = -2147483648 // 0x80000000
)

// GroupScope is the scope bits of a groupType.
func GroupScope(gt int32) int32 { return gt & scopeMask }

// ScopeName is "global", "domain local" or "universal".
func ScopeName(scope int32) string {
	switch scope {
	case ScopeGlobal:
		return "global"
	case ScopeDomainLocal:
		return "domain local"
	case ScopeUniversal:
		return "universal"
	}
	return fmt.Sprintf("scope 0x%x", scope)
}

// GroupTypeSteps are the groupType values to write, one modify each, to
// change a group from one type to another the way Windows allows
// (https://learn.microsoft.com/en-us/windows/win32/ad/changing-a-groupacirc-s-type):
// global and domain local only convert to and from universal, so global ↔
// domain local goes through universal. The security/distribution bit
// changes with the first step.
func GroupTypeSteps(from, to int32) []int32 {
	if from == to {
		return nil
	}
	fs, ts := GroupScope(from), GroupScope(to)
	kind := to &^ scopeMask
	if (fs == ScopeGlobal && ts == ScopeDomainLocal) || (fs == ScopeDomainLocal && ts == ScopeGlobal) {
		return []int32{kind | ScopeUniversal, to}
	}
	return []int32{to}
}

// CheckConversion says why Windows would refuse to give the group at dn the
// scope of groupType to (nil: it would not), from its member groups and the
// groups it is a member of. A global group has only global groups as members
// (Win32 8517/8518), a universal group no domain local member (8519); a
// domain local group is a member only of domain local groups, a universal
// one not of a global group. Samba 4.17 enforces almost none of this,
// Windows all of it.
func CheckConversion(ctx context.Context, dir Searcher, domain, dn string, to int32) error {
	ts := GroupScope(to)
	var problems []string
	// Member groups: (memberOf=dn) finds them without reading every member.
	err := dir.Search(ctx, domain, ScopeSubtree, "(&(objectCategory=group)(memberOf="+EscapeFilter(dn)+"))", []string{"groupType"}, func(e *ldap.Entry) error {
		ms := GroupScope(parseGroupType(e))
		switch {
		case ts == ScopeGlobal && ms != ScopeGlobal:
			problems = append(problems, fmt.Sprintf("its member %s is a %s group (a global group can only have global groups of its domain as members)", e.DN, ScopeName(ms)))
		case ts == ScopeUniversal && ms == ScopeDomainLocal:
			problems = append(problems, fmt.Sprintf("its member %s is a domain local group (a universal group cannot have domain local members)", e.DN))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the member groups of %s: %w", dn, err)
	}
	err = dir.Search(ctx, domain, ScopeSubtree, "(&(objectCategory=group)(member="+EscapeFilter(dn)+"))", []string{"groupType"}, func(e *ldap.Entry) error {
		ps := GroupScope(parseGroupType(e))
		switch {
		case ts == ScopeDomainLocal && ps != ScopeDomainLocal:
			problems = append(problems, fmt.Sprintf("it is a member of %s, a %s group (a domain local group can only be a member of domain local groups)", e.DN, ScopeName(ps)))
		case ts == ScopeUniversal && ps == ScopeGlobal:
			problems = append(problems, fmt.Sprintf("it is a member of %s, a global group (a global group cannot have universal members)", e.DN))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the groups %s is a member of: %w", dn, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("AD would refuse to make %s %s: %s; change those memberships first, or keep mappings.groupType as it was", dn, ScopeName(ts), strings.Join(problems, "; "))
	}
	return nil
}

func parseGroupType(e *ldap.Entry) int32 {
	n, _ := strconv.ParseInt(e.GetEqualFoldAttributeValue("groupType"), 10, 64)
	return int32(n)
}

// groupTypeErrors are the Win32 codes Windows puts in the diagnostic of a
// refused conversion or nesting (LDAP 53), and what they mean.
var groupTypeErrors = map[string]string{
	"00002145": "a global group cannot have a domain local group as a member (8517)",
	"00002146": "a global group cannot have a universal group as a member (8518)",
	"00002147": "a universal group cannot have a domain local group as a member (8519)",
	"00002148": "a global group cannot have a member from another domain (8520)",
}

// ExplainGroupType adds to a refused groupType change what the DC's Win32
// code means; other errors are returned as they are.
func ExplainGroupType(err error) error {
	var le *ldap.Error
	if err == nil || !errors.As(err, &le) || le.Err == nil {
		return err
	}
	d := le.Err.Error()
	for code, meaning := range groupTypeErrors {
		if strings.HasPrefix(d, code) {
			return fmt.Errorf("%w: %s; change the group's memberships first, or keep mappings.groupType as it was", err, meaning)
		}
	}
	return err
}

// CheckConversion is the package function CheckConversion on this
// connection.
func (c *Conn) CheckConversion(ctx context.Context, domain, dn string, to int32) error {
	return CheckConversion(ctx, c, domain, dn, to)
}

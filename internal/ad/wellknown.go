package ad

import (
	"strconv"
	"strings"

	"github.com/writeback/writeback/internal/ldapdn"
)

// The marks of AD's own principals, which neither a member nor a group of
// writeback's may ever be taken for: one definition for the resolver (who
// may be a member) and the engine (which groups it leaves alone).

// FirstUserRID is the first relative ID AD gives to an account it did not
// create itself: below it are the domain's well-known principals
// (500 Administrator, 502 krbtgt, 512 Domain Admins, 516 Domain
// Controllers, ...).
const FirstUserRID = 1000

// RID returns the last sub-authority of sid ("S-1-5-21-a-b-c-512" -> 512),
// and whether sid is a domain's (S-1-5-21-...): a well-known SID such as
// S-1-5-32-544 (BUILTIN\Administrators) is not. A malformed sid is neither.
func RID(sid string) (rid uint32, domain bool) {
	i := strings.LastIndexByte(sid, '-')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(sid[i+1:], 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(n), strings.HasPrefix(sid, "S-1-5-21-")
}

// InBuiltin reports whether dn is in a domain's CN=Builtin container, where
// AD keeps its built-in local groups (Administrators, Account Operators,
// ...); compared normalized, so spacing, case and escaping do not matter.
func InBuiltin(dn string) bool {
	return strings.HasPrefix(ldapdn.Norm(ldapdn.Parent(dn)), "cn=builtin,dc=")
}

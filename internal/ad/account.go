package ad

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// BindFailure is what the sub-code of a rejected bind (LDAP 49, the
// "data 52e" in Windows' diagnostic "80090308: LdapErr: ... data 52e, v4563")
// means, and what fixes it.
type BindFailure struct {
	SubCode string // lower-case hex, e.g. "775"
	Reason  string // "the account is locked out"
	Fix     string
}

// bindFailures are the sub-codes Windows reports for simple binds
// (Win32 error codes of the logon).
var bindFailures = map[string]BindFailure{
	"525": {Reason: "the bind account does not exist", Fix: "check ad.bindDN (a DN, user@domain or DOMAIN\\user)"},
	"52e": {Reason: "the password is wrong", Fix: "correct the password secret (or ad.bindDN)"},
	"530": {Reason: "the account may not log on at this time (logon hours)", Fix: "allow the service account to log on at all hours (Account → Logon Hours)"},
	"531": {Reason: "the account may not log on from this computer (workstation restriction)", Fix: "remove the service account's \"Log On To\" restriction"},
	"532": {Reason: "the account's password has expired", Fix: "set a new password on the service account in AD and in the password secret; consider a password policy that lets it not expire, and rotate it on your schedule"},
	"533": {Reason: "the account is disabled", Fix: "enable the service account in AD"},
	"568": {Reason: "the account is in too many groups (token too large)", Fix: "remove the service account from groups it does not need"},
	"701": {Reason: "the account has expired", Fix: "extend or clear the service account's expiry date in AD"},
	"773": {Reason: "the account must change its password at next logon", Fix: "set a new password on the service account in AD (clear \"User must change password at next logon\") and in the password secret"},
	"775": {Reason: "the account is locked out", Fix: "unlock the service account in AD after correcting the password secret; each wrong bind counts toward the lockout threshold"},
}

var bindDataRE = regexp.MustCompile(`(?i)\bdata ([0-9a-f]{3,8})\b`)

// DecodeBindFailure decodes the sub-code of a rejected bind; ok is false when
// err is not LDAP 49 or its diagnostic carries no known sub-code.
func DecodeBindFailure(err error) (BindFailure, bool) {
	if Code(err) != CodeInvalidCredentials {
		return BindFailure{}, false
	}
	var le *ldap.Error
	if !errors.As(err, &le) || le.Err == nil {
		return BindFailure{}, false
	}
	m := bindDataRE.FindStringSubmatch(le.Err.Error())
	if m == nil {
		return BindFailure{}, false
	}
	code := strings.ToLower(m[1])
	f, ok := bindFailures[code]
	f.SubCode = code
	return f, ok
}

// neverExpires is msDS-UserPasswordExpiryTimeComputed for a password that
// does not expire (0x7FFFFFFFFFFFFFFF).
const neverExpires = math.MaxInt64

// PasswordExpiry reads when the password of the account named bindName (a
// DN, user@domain or DOMAIN\user, as ad.bindDN) expires, from the
// constructed attribute msDS-UserPasswordExpiryTimeComputed. never is true
// when it does not expire; known is false when the DC does not say (the
// attribute or the account could not be read).
func (c *Conn) PasswordExpiry(ctx context.Context, bindName string) (at time.Time, never, known bool, err error) {
	base, scope, filter, err := c.accountQuery(ctx, bindName)
	if err != nil {
		return at, false, false, err
	}
	var val string
	err = c.Search(ctx, base, scope, filter, []string{"msDS-UserPasswordExpiryTimeComputed"}, func(e *ldap.Entry) error {
		val = e.GetEqualFoldAttributeValue("msDS-UserPasswordExpiryTimeComputed")
		return nil
	})
	if err != nil {
		return at, false, false, fmt.Errorf("read the password expiry of %s: %w", bindName, err)
	}
	if val == "" {
		return at, false, false, nil
	}
	n, perr := strconv.ParseInt(val, 10, 64)
	if perr != nil {
		return at, false, false, fmt.Errorf("password expiry of %s: %q is not a FILETIME", bindName, val)
	}
	if n == neverExpires {
		return at, true, true, nil
	}
	return FileTime(n), false, true, nil
}

// accountQuery is the search that finds the account bindName names (a DN,
// user@domain or DOMAIN\\user).
func (c *Conn) accountQuery(ctx context.Context, bindName string) (base string, scope Scope, filter string, err error) {
	base, scope, filter = bindName, ScopeBase, "(objectClass=user)"
	if !strings.Contains(bindName, "=") {
		if base, err = c.BaseDN(ctx); err != nil {
			return "", 0, "", err
		}
		scope = ScopeSubtree
		switch {
		case strings.Contains(bindName, "\\"):
			_, name, _ := strings.Cut(bindName, "\\")
			filter = "(&(objectClass=user)(sAMAccountName=" + EscapeFilter(name) + "))"
		default:
			filter = "(&(objectClass=user)(userPrincipalName=" + EscapeFilter(bindName) + "))"
		}
	}
	return base, scope, filter, nil
}

// AccountSID returns the objectSid (S-1-5-...) of the account bindName
// names, e.g. for the commands that delegate rights to it; "" when it is
// not found.
func (c *Conn) AccountSID(ctx context.Context, bindName string) (string, error) {
	base, scope, filter, err := c.accountQuery(ctx, bindName)
	if err != nil {
		return "", err
	}
	var sid string
	err = c.Search(ctx, base, scope, filter, []string{"objectSid"}, func(e *ldap.Entry) error {
		sid, _ = SIDFromAD(e.GetEqualFoldRawAttributeValue("objectSid"))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read the objectSid of %s: %w", bindName, err)
	}
	return sid, nil
}

// FileTime converts a Windows FILETIME (100 ns since 1601-01-01 UTC).
func FileTime(n int64) time.Time {
	const epochDiff = 116444736000000000 // 1601 → 1970 in 100 ns
	return time.Unix(0, (n-epochDiff)*100).UTC()
}

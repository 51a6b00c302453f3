package ad

import (
	"errors"
	"fmt"

	"github.com/go-ldap/ldap/v3"
)

// LDAP result codes writeback reacts to.
const (
	CodeNoSuchAttribute         uint16 = 16
	CodeAttributeOrValueExists  uint16 = 20
	CodeNoSuchObject            uint16 = 32
	CodeInvalidCredentials      uint16 = 49
	CodeInsufficientAccess      uint16 = 50
	CodeUnwillingToPerform      uint16 = 53
	CodeEntryAlreadyExists      uint16 = 68
	CodeConstraintViolation     uint16 = 19
	CodeObjectClassViolation    uint16 = 65
	CodeNotAllowedOnNonLeaf     uint16 = 66
	CodeSizeLimitExceeded       uint16 = 4
	CodeAdminLimitExceeded      uint16 = 11
	CodeUndefinedAttributeType  uint16 = 17
	CodeInvalidDNSyntax         uint16 = 34
	CodeStrongAuthRequired      uint16 = 8
	CodeConfidentialityRequired uint16 = 13
	CodeInvalidAttributeSyntax  uint16 = 21
	CodeBusy                    uint16 = 51
	CodeUnavailable             uint16 = 52
	CodeNamingViolation         uint16 = 64
)

// OpError is a failed directory operation: what was attempted (Op), on which DN,
// and the LDAP result code (0 when the failure was not an LDAP result, e.g. a
// network error).
type OpError struct {
	Op   string // "create group", "add members", "bind", ...
	DN   string
	Code uint16
	Err  error
}

func (e *OpError) Error() string {
	var msg string
	var le *ldap.Error
	switch {
	case errors.As(e.Err, &le) && e.Code != 0:
		msg = fmt.Sprintf("%s (LDAP %d)", codeText(e.Code), e.Code)
		if d := diagnostic(le); d != "" {
			msg += ": " + d
		}
	case e.Code != 0:
		msg = fmt.Sprintf("%s (LDAP %d)", codeText(e.Code), e.Code)
		if e.Err != nil {
			msg += ": " + e.Err.Error()
		}
	case e.Err != nil:
		msg = e.Err.Error()
	}
	if f, ok := DecodeBindFailure(e); ok {
		msg += " — " + f.Reason + ": " + f.Fix
	}
	if e.DN == "" {
		return e.Op + ": " + msg
	}
	return e.Op + " " + e.DN + ": " + msg
}

func (e *OpError) Unwrap() error { return e.Err }

// codeText is the lower-case RFC 4511 name of an LDAP result code.
func codeText(code uint16) string {
	switch code {
	case CodeEntryAlreadyExists:
		return "entry already exists"
	case CodeNoSuchObject:
		return "no such object"
	case CodeInvalidCredentials:
		return "invalid credentials"
	case CodeInsufficientAccess:
		return "insufficient access rights"
	case CodeUnwillingToPerform:
		return "unwilling to perform"
	case CodeAttributeOrValueExists:
		return "attribute or value exists"
	case CodeNoSuchAttribute:
		return "no such attribute"
	case CodeConstraintViolation:
		return "constraint violation"
	case CodeObjectClassViolation:
		return "object class violation"
	case CodeNotAllowedOnNonLeaf:
		return "not allowed on non-leaf"
	case CodeUndefinedAttributeType:
		return "undefined attribute type"
	case CodeInvalidDNSyntax:
		return "invalid DN syntax"
	case CodeStrongAuthRequired:
		return "strong authentication required"
	case CodeConfidentialityRequired:
		return "confidentiality required"
	}
	if s, ok := ldap.LDAPResultCodeMap[code]; ok {
		return s
	}
	return "result code"
}

// diagnostic is the server's diagnostic message, which on AD carries the Win32
// error (e.g. "00002071: UpdErr: DSID-...: problem 6005 (ENTRY_EXISTS)").
func diagnostic(le *ldap.Error) string {
	if le.Err == nil {
		return ""
	}
	return le.Err.Error()
}

// opErr wraps err (from go-ldap or the network) as an *OpError; nil stays nil.
func opErr(op, dn string, err error) error {
	if err == nil {
		return nil
	}
	var oe *OpError
	if errors.As(err, &oe) {
		return err
	}
	e := &OpError{Op: op, DN: dn, Err: err}
	var le *ldap.Error
	if errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork {
		e.Code = le.ResultCode
	}
	return e
}

// Code returns the LDAP result code carried by err, or 0.
func Code(err error) uint16 {
	var oe *OpError
	if errors.As(err, &oe) && oe.Code != 0 {
		return oe.Code
	}
	var le *ldap.Error
	if errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork {
		return le.ResultCode
	}
	return 0
}

// IsNoSuchObject reports whether err is LDAP 32 (the DN, or its parent, does not exist).
func IsNoSuchObject(err error) bool { return Code(err) == CodeNoSuchObject }

// IsAlreadyExists reports whether err is LDAP 68 (an object with that DN exists).
func IsAlreadyExists(err error) bool { return Code(err) == CodeEntryAlreadyExists }

// IsInvalidCredentials reports whether err is LDAP 49 (wrong account or password).
func IsInvalidCredentials(err error) bool { return Code(err) == CodeInvalidCredentials }

// IsInsufficientAccess reports whether err is LDAP 50 (the bind account lacks rights).
func IsInsufficientAccess(err error) bool { return Code(err) == CodeInsufficientAccess }

// IsUnavailable reports whether err is a failure to reach the DC rather than
// the DC refusing the request: a lost connection, LDAP 51 (busy), 52
// (unavailable), 81 (server down), a client timeout (85) or connect error
// (91). The same request may succeed on another connection or later.
func IsUnavailable(err error) bool {
	if IsNetworkError(err) {
		return true
	}
	switch Code(err) {
	case ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultServerDown, ldap.LDAPResultTimeout, ldap.LDAPResultConnectError:
		return true
	}
	return false
}

// Package entra owns writeback's Microsoft Graph client: it reads cloud groups,
// their members and the members' on-premises anchors from Graph v1.0 through
// azidentity credentials and an azcore pipeline (bearer token, retries that
// honour Retry-After), one page at a time.
//
// The same code runs against Microsoft and against writeback's Graph emulator;
// only the endpoints and the trusted CA differ.
package entra

import (
	"errors"
	"fmt"
	"strings"
)

// Removed is Graph's "@removed" annotation.
type Removed struct {
	// Reason is "changed" (soft-deleted: restorable for 30 days, or no longer
	// visible) or "deleted" (permanently deleted).
	Reason string `json:"reason"`
}

// Permanent reports whether the object is gone for good.
func (r *Removed) Permanent() bool { return r != nil && r.Reason == "deleted" }

// Group is one group as a groups delta, GET /groups/{id} or getByIds returned it.
//
// In a delta round the same group can be yielded more than once: Graph splits
// a large member list across pages and repeats the group on each. MembersDelta
// then holds only that page's share; callers merge.
type Group struct {
	ID                    string
	DisplayName           string
	Description           string
	MailNickname          string
	Mail                  string
	SecurityEnabled       bool
	MailEnabled           bool
	OnPremisesSyncEnabled *bool
	GroupTypes            []string
	// Removed is set when the delta reports the group deleted or out of view.
	Removed *Removed
	// MembersDelta are member additions and (Removed) removals. In a full round
	// and for a group created since the last round they are all members.
	MembersDelta []MemberRef
	// Raw holds every property the response carried (keys as Graph spells them,
	// annotations and members@delta excluded). A property Graph left out is
	// absent here, which is how callers tell "unchanged" from "empty".
	Raw map[string]any
}

// IsDynamic reports whether membership is rule-based.
func (g Group) IsDynamic() bool {
	for _, t := range g.GroupTypes {
		if strings.EqualFold(t, "DynamicMembership") {
			return true
		}
	}
	return false
}

// IsUnified reports whether the group is a Microsoft 365 group.
func (g Group) IsUnified() bool {
	for _, t := range g.GroupTypes {
		if strings.EqualFold(t, "Unified") {
			return true
		}
	}
	return false
}

// Device is a device member: a device synced from AD (hybrid joined) carries
// onPremisesSyncEnabled true and its computer object's objectSid.
type Device struct {
	ID, DisplayName              string
	OnPremisesSecurityIdentifier string
	OnPremisesSyncEnabled        *bool
}

// MemberRef is one direct member of a group.
type MemberRef struct {
	ID string
	// Type is the @odata.type without its namespace: "user", "group", "device",
	// "orgContact", "servicePrincipal"; "" when Graph did not say.
	Type string
	// Removed marks a member removed from the group (members@delta only).
	Removed bool
}

// User is one user with the properties needed to find it in AD.
type User struct {
	ID                           string
	DisplayName                  string
	UserPrincipalName            string
	OnPremisesObjectIdentifier   string // the AD objectGUID (Connect Sync 2.2.8.0+)
	OnPremisesSecurityIdentifier string // "S-1-5-21-..."
	OnPremisesImmutableId        string // usually base64 of the objectGUID or ms-DS-ConsistencyGuid
	OnPremisesDistinguishedName  string
	OnPremisesDomainName         string
	OnPremisesSamAccountName     string
	OnPremisesSyncEnabled        *bool
	Removed                      *Removed
	Raw                          map[string]any
}

// Synced reports whether the user comes from on-premises AD.
func (u User) Synced() bool { return u.OnPremisesSyncEnabled != nil && *u.OnPremisesSyncEnabled }

// Stats are counters of the client's traffic since New.
type Stats struct {
	Requests  int64 // logical requests (one per page, lookup or batch)
	Attempts  int64 // HTTP attempts including retries
	Retries   int64 // attempts beyond the first
	Throttled int64 // responses with status 429
	Resyncs   int64 // delta rounds restarted in full because the token was refused
	Pages     int64 // delta pages read
}

// ErrNotFound is returned (wrapped) when Graph answers 404 for an object.
var ErrNotFound = errors.New("not found")

// Error is a Graph error response after retries gave up.
type Error struct {
	Method    string
	URL       string // path and query, no host
	Status    int
	Code      string // Graph error code, e.g. "Authorization_RequestDenied"
	Message   string
	RequestID string
	Attempts  int
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: HTTP %d", e.Method, e.URL, e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request-id %s]", e.RequestID)
	}
	if hint := e.hint(); hint != "" {
		b.WriteString("; " + hint)
	}
	return b.String()
}

func (e *Error) hint() string {
	switch {
	case e.Status == 403 || e.Code == "Authorization_RequestDenied":
		return "grant the app registration the application permissions Group.Read.All and User.Read.All (with admin consent)"
	case e.Status == 401:
		return "the access token was rejected; check entra.tenantId, entra.clientId and the credential"
	case e.Status == 429:
		return "Graph kept throttling; lower entra.concurrency or run less often"
	}
	return ""
}

// Unwrap maps 404 to ErrNotFound.
func (e *Error) Unwrap() error {
	if e.Status == 404 {
		return ErrNotFound
	}
	return nil
}

// resyncCodes are the error codes with which Graph refuses a delta token that
// it no longer (or never) knew; the cure is a full round.
var resyncCodes = map[string]bool{
	"syncstatenotfound":            true,
	"resyncrequired":               true,
	"syncstateinvalid":             true,
	"badrequest_expireddeltatoken": true,
}

// isResync reports whether err means "start the delta over".
func isResync(err error) bool {
	var ge *Error
	if !errors.As(err, &ge) {
		return false
	}
	if ge.Status == 410 {
		return true
	}
	return (ge.Status == 400 || ge.Status == 404) && resyncCodes[strings.ToLower(ge.Code)]
}

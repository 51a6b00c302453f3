package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
)

// CheckStep is one preflight step and its outcome.
type CheckStep struct {
	Name string // "token", "groups", "members", "users", "delta", "usersdelta"
	Err  error  // nil when the step passed
	Fix  string // what to do when it failed
	// Note is what a passing step found worth saying (a fallback in force).
	Note string
}

// Permissions are the application permissions (Microsoft Graph, with admin
// consent) each call writeback makes needs, by check step. Any one of a
// step's list grants it; the first is the least privileged.
var Permissions = map[string][]string{
	"groups":     {"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"},
	"members":    {"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"},
	"delta":      {"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"},
	"users":      {"User.Read.All", "Directory.Read.All"},
	"usersdelta": {"User.Read.All", "Directory.Read.All"},
	// Optional (check_optional.go): without them device members are
	// reported unresolved, and groups converted to the cloud are reported
	// instead of taken over.
	"devices":      {"Device.Read.All", "Directory.Read.All"},
	"syncbehavior": {SyncBehaviorPermission},
}

// Check runs the preflight `writeback check` reports: a token can be
// acquired, then every kind of call writeback makes, each with the
// permission it needs: groups, a group's members and groups delta
// (Group.Read.All), users with their on-premises anchors (by ID, as
// migrate reads them) and users delta (User.Read.All). Without a token it
// stops; after it every step runs, so each missing permission is named.
func (c *Client) Check(ctx context.Context) []CheckStep {
	var out []CheckStep
	var groups page
	err := c.get(ctx, c.base+"/groups?$select=id&$top=1", nil, &groups)
	// The first request acquires the token; report that separately.
	var te *TransportError
	switch {
	case errors.As(err, &te):
		return append(out, CheckStep{Name: "token", Err: err, Fix: te.Fix})
	case err != nil && authError(err):
		return append(out, CheckStep{Name: "token", Err: err,
			Fix: "check entra.tenantId, entra.clientId, entra.cloud and the credential (a secret's value, not its ID)"})
	}
	out = append(out, CheckStep{Name: "token"}, c.checkStep("groups", err))

	// A group's members, if the tenant has a group.
	switch {
	case err != nil:
		out = append(out, CheckStep{Name: "members", Err: errors.New("not checked: groups cannot be read"), Fix: permissionFix("members")})
	case len(groups.Value) == 0:
		out = append(out, CheckStep{Name: "members", Note: "no group in the tenant to read members of"})
	default:
		var g struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(groups.Value[0], &g)
		var p page
		err := c.get(ctx, c.base+"/groups/"+url.PathEscape(g.ID)+"/members?$select=id&$top=1", nil, &p)
		out = append(out, c.checkStep("members", err))
	}

	// Users with the anchors, the way UsersDelta and UsersByID select them.
	var p page
	sel := c.userSelect()
	err = c.get(ctx, c.base+"/users?$select="+sel+"&$top=1", nil, &p)
	if err != nil && c.dropObjectIdentifier(err, "check users", sel) {
		err = c.get(ctx, c.base+"/users?$select="+c.userSelect()+"&$top=1", nil, &p)
	}
	st := c.checkStep("users", err)
	if err == nil && c.ObjectIdentifierRefused() {
		st.Note = "Graph refused onPremisesObjectIdentifier (not in v1.0); synced members are resolved by onPremisesSecurityIdentifier (SID) or onPremisesImmutableId"
	}
	out = append(out, st)

	err = c.get(ctx, c.base+"/groups/delta?$select=id&$deltatoken=latest", nil, &p)
	out = append(out, c.checkStep("delta", err))
	err = c.get(ctx, c.base+"/users/delta?$select=id&$deltatoken=latest", nil, &p)
	out = append(out, c.checkStep("usersdelta", err))
	return out
}

// checkStep turns a step's error into its outcome: a 403 names the
// permission the call needs.
func (c *Client) checkStep(name string, err error) CheckStep {
	if err == nil {
		return CheckStep{Name: name}
	}
	var ge *Error
	fix := "see the error above"
	switch {
	case errors.As(err, &ge) && (ge.Status == 403 || ge.Code == "Authorization_RequestDenied"):
		fix = permissionFix(name)
	case name == "delta" || name == "usersdelta":
		fix = "delta queries must be available (they are not in Azure AD B2C and External ID tenants)"
	case errors.As(err, &ge) && ge.Status == 400:
		fix = "Graph refused the request; check entra.graphUrl names Microsoft Graph (v1.0 is appended)"
	}
	return CheckStep{Name: name, Err: fmt.Errorf("read %s: %w", name, err), Fix: fix}
}

func permissionFix(step string) string {
	p := Permissions[step]
	if len(p) == 1 {
		return fmt.Sprintf("grant the app registration the Microsoft Graph application permission %s with admin consent", p[0])
	}
	return fmt.Sprintf("grant the app registration the Microsoft Graph application permission %s (or %s) with admin consent",
		p[0], joinOr(p[1:]))
}

func joinOr(list []string) string {
	s := ""
	for i, p := range list {
		if i > 0 {
			s += " or "
		}
		s += p
	}
	return s
}

package entra

import (
	"context"
	"errors"
	"fmt"
)

// CheckStep is one preflight step and its outcome.
type CheckStep struct {
	Name string // "token", "groups", "users", "delta"
	Err  error  // nil when the step passed
	Fix  string // what to do when it failed
}

// Check runs the preflight `writeback check` reports: a token can be
// acquired and groups, users and groups delta can be read. It stops at the
// first failure, since later steps would fail the same way.
func (c *Client) Check(ctx context.Context) []CheckStep {
	steps := []struct {
		name, url, fix string
	}{
		{"groups", c.base + "/groups?$select=id&$top=1", "grant the application permission Group.Read.All (or GroupMember.Read.All) with admin consent"},
		{"users", c.base + "/users?$select=id,onPremisesObjectIdentifier&$top=1", "grant the application permission User.Read.All with admin consent"},
		{"delta", c.base + "/groups/delta?$select=id&$deltatoken=latest", "groups delta must be available (it is not in Azure AD B2C and External ID tenants)"},
	}
	var out []CheckStep
	for i, s := range steps {
		var p page
		err := c.get(ctx, s.url, nil, &p)
		if i == 0 {
			// The first request acquires the token; report that separately.
			var te *TransportError
			if errors.As(err, &te) {
				return append(out, CheckStep{Name: "token", Err: err, Fix: te.Fix})
			}
			if err != nil && authError(err) {
				return append(out, CheckStep{Name: "token", Err: err,
					Fix: "check entra.tenantId, entra.clientId, entra.cloud and the credential (a secret's value, not its ID)"})
			}
			out = append(out, CheckStep{Name: "token"})
		}
		if err != nil {
			return append(out, CheckStep{Name: s.name, Err: fmt.Errorf("read %s: %w", s.name, err), Fix: s.fix})
		}
		out = append(out, CheckStep{Name: s.name})
	}
	return out
}

package engine

import (
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// The ownership rule alone: an anchored AD group whose cloud group left is
// acted on only when the state records it as writeback's, deleted only on
// Graph's word; a protected group is never claimed.
func TestOwnershipLeaving(t *testing.T) {
	var o ownership
	act := plan.Actual{DN: "CN=X,OU=G,DC=test", Anchor: plan.Anchor(idA)}
	mine := state.GroupStatus{ID: idA, DN: act.DN}
	cached := &state.Group{ID: idA}
	for _, tc := range []struct {
		name      string
		st        state.GroupStatus
		g         *state.Group
		mark      string
		want      plan.GoneReason
		untouched string
	}{
		{"not ours, gone from the tenant", state.GroupStatus{ID: idA}, nil, "deleted", "", "the tenant has no such group"},
		{"not ours, out of scope", state.GroupStatus{ID: idA}, cached, "", "", "the group is out of scope (not security-enabled)"},
		{"ours, deleted in Entra", mine, nil, "deleted", plan.Deleted, ""},
		{"ours, merely absent from the cache", mine, nil, "", plan.OutOfScope, ""},
		{"ours, out of scope", mine, cached, "", plan.OutOfScope, ""},
	} {
		reason, u := o.leaving(idA, tc.st, tc.g, "not security-enabled", act, tc.mark)
		switch {
		case tc.untouched != "" && (u == nil || !strings.Contains(u.Reason, tc.untouched) || u.DN != act.DN):
			t.Errorf("%s: untouched = %+v; want it left alone because %s", tc.name, u, tc.untouched)
		case tc.untouched == "" && (u != nil || reason != tc.want):
			t.Errorf("%s: reason %q, untouched %+v; want %q", tc.name, reason, u, tc.want)
		}
	}
	if o.claims(plan.Actual{Protected: "adminCount=1"}) || !o.claims(act) {
		t.Error("a protected group was claimed, or an ordinary one not")
	}
	if o.provisioned(state.GroupStatus{ID: idA}) || !o.provisioned(mine) {
		t.Error("provisioned does not follow the recorded DN")
	}
}

package plan

import "github.com/writeback/writeback/internal/ldapdn"

// linkRequires records, on each member add, the groups whose create in this
// plan it depends on (Change.Requires): a member DN that is the DN of a
// group the plan creates exists only once that create succeeds. AD refuses
// a whole modify for one member that does not exist, so apply leaves such a
// member out when the create failed instead of failing the parent for its
// child's problem.
func linkRequires(changes []Change) {
	created := map[string]string{} // normalised DN -> group ID
	for _, c := range changes {
		if c.Action == Create {
			created[ldapdn.Norm(c.DN)] = c.GroupID
		}
	}
	if len(created) == 0 {
		return
	}
	for i := range changes {
		c := &changes[i]
		if c.Action != AddMembers {
			continue
		}
		seen := map[string]bool{}
		for _, m := range c.Members {
			if id, ok := created[ldapdn.Norm(m)]; ok && !seen[id] {
				seen[id] = true
				c.Requires = append(c.Requires, id)
			}
		}
	}
}

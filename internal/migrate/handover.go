package migrate

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/plan"
)

// Handover is the configuration that takes the assessed groups over.
type Handover struct {
	Config   *config.Config
	Groups   []string // object IDs taken over
	Excluded []Excluded
	TargetOU string
}

// Excluded is an in-scope group handover leaves out, and why.
type Excluded struct {
	DN     string `json:"dn"`
	Reason string `json:"reason"`
}

// BuildHandover derives writeback's configuration from base (the AD, Entra and
// state sections are kept) and an assessment: scope selects exactly the groups
// whose anchor is in place, the target OU is the OU Connect Sync wrote to, and
// the cn mapping is the one that renames nothing. Groups that cannot be taken
// over safely (anchor missing or conflicting, duplicated, deleted in the cloud)
// are left out, so writeback never touches them. With no group left, it
// returns the error and a Handover whose Excluded says why.
func BuildHandover(base *config.Config, r *Report) (*Handover, error) {
	h := &Handover{}
	parents := map[string]int{}
	for _, g := range r.Groups {
		if !g.InScope {
			continue
		}
		// The most telling reason first: an orphan's anchor is missing
		// because prepare skips it, not because prepare was not run.
		switch {
		case g.Cloud != nil && (!g.Cloud.Found || g.Cloud.Deleted):
			h.Excluded = append(h.Excluded, Excluded{g.DN, "deleted in Entra (orphan)"})
			continue
		case len(g.Duplicates) > 0:
			h.Excluded = append(h.Excluded, Excluded{g.DN, "its object ID is on more than one group: keep one copy, clear adminDescription and msDS-ExternalDirectoryObjectId on the other"})
			continue
		case g.AnchorState == AnchorDifferent:
			h.Excluded = append(h.Excluded, Excluded{g.DN, "msDS-ExternalDirectoryObjectId differs from adminDescription (conflict): prepare never overwrites it; clear the stale value by hand, then prepare"})
			continue
		case g.AnchorState != AnchorEqual:
			h.Excluded = append(h.Excluded, Excluded{g.DN, "msDS-ExternalDirectoryObjectId is " + string(g.AnchorState) + ": run prepare first"})
			continue
		case len(g.WouldRemove) > 0 && !g.RemovalAccepted:
			h.Excluded = append(h.Excluded, Excluded{g.DN, fmt.Sprintf("writeback would remove %d AD members: add them to the cloud group, or accept the removal with --accept-removals %s", len(g.WouldRemove), g.ObjectID)})
			continue
		}
		if blocked := blockerCodes(g); blocked != "" {
			h.Excluded = append(h.Excluded, Excluded{g.DN, "blocked: " + blocked})
			continue
		}
		h.Groups = append(h.Groups, g.ObjectID)
		parents[ldapdn.Norm(ldapdn.Parent(g.DN))]++
	}
	if len(h.Groups) == 0 {
		// h still lists what was left out and why.
		return h, fmt.Errorf("handover: no group can be taken over (%d left out); run assess and fix its blockers first", len(h.Excluded))
	}
	sort.Strings(h.Groups)
	// The OU holding most groups (Connect Sync v2 writes to one OU), with its
	// spelling as found in AD.
	best, bestN := "", -1
	for _, g := range r.Groups {
		p := ldapdn.Parent(g.DN)
		if n := parents[ldapdn.Norm(p)]; n > bestN {
			best, bestN = p, n
		}
	}
	h.TargetOU = best

	c := *base
	c.Path = ""
	c.AD.TargetOU = best
	c.Scope = config.Scope{Mode: "selected", Groups: h.Groups}
	attrs := map[string]config.Mapping{}
	for k, v := range base.Mappings.Attributes {
		attrs[k] = v
	}
	cn := config.Mapping{Expression: r.Recommended.Expression}
	if r.Recommended.OnCreate {
		cn.Apply = "onCreate"
	}
	attrs["cn"] = cn
	if len(parents) > 1 {
		// Groups in several OUs: keep each where it is; new ones go to the target OU.
		attrs["parentDistinguishedName"] = config.Mapping{Expression: strconv.Quote(best), Apply: "onCreate"}
	}
	c.Mappings = config.Mappings{Attributes: attrs, GroupType: "universalSecurity"}
	// The search base must hold every group taken over, or the first plan
	// would not find them by their anchor: a base from --config that does
	// not (the groups live in another OU) is replaced by the assessed one.
	if c.Sync.SearchBase != "" && !underAll(r, h.Groups, c.Sync.SearchBase) {
		c.Sync.SearchBase = ""
	}
	if c.Sync.SearchBase == "" && r.Base != "" && !strings.EqualFold(r.Base, r.Domain) {
		c.Sync.SearchBase = r.Base
	}
	h.Config = &c
	return h, nil
}

// underAll reports whether every group taken over is at or below base.
func underAll(r *Report, ids []string, base string) bool {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	b := ldapdn.Norm(base)
	for _, g := range r.Groups {
		if g.InScope && want[g.ObjectID] && !strings.HasSuffix(ldapdn.Norm(g.DN), ","+b) {
			return false
		}
	}
	return true
}

// blockerCodes lists a group's blocking problems ("" when none).
func blockerCodes(g GroupReport) string {
	var out []string
	for _, p := range g.Problems {
		if p.Blocker {
			out = append(out, p.Code)
		}
	}
	return strings.Join(out, ", ")
}

// AcceptedDNs are the groups of an assessment whose member removals were
// accepted, for TakeoverViolations.
func AcceptedDNs(r *Report) []string {
	var out []string
	for _, g := range r.Groups {
		if g.RemovalAccepted {
			out = append(out, g.DN)
		}
	}
	return out
}

// YAML renders the handover configuration with a header saying where it came from.
func (h *Handover) YAML(r *Report) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# writeback configuration written by 'writeback migrate handover' on %s\n", r.Generated.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "# from the assessment of %s: %d groups taken over, %d left out.\n", r.Base, len(h.Groups), len(h.Excluded))
	fmt.Fprintf(&b, "# cn mapping: %s (%s).\n", r.Recommended.Name, r.Recommended.Why)
	b.WriteString("# Check it with 'writeback plan --full': it must show no rename, no delete and no member removal.\n")
	for _, e := range h.Excluded {
		fmt.Fprintf(&b, "# left out: %s: %s\n", e.DN, e.Reason)
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(h.Config); err != nil {
		return nil, fmt.Errorf("encode handover configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	// The result must load as it is.
	if _, err := config.Parse(b.Bytes()); err != nil {
		return nil, fmt.Errorf("handover configuration does not validate: %w", err)
	}
	return b.Bytes(), nil
}

// TakeoverViolations lists the changes of the first plan after handover that
// users would notice: a rename or move, a delete or conversion, a member
// removal, or a create (the engine did not find the group by its anchor and
// would make a second one). Attribute updates and member additions are fine,
// and so are member removals from the groups in accepted (DNs whose removals
// the approver accepted with --accept-removals).
func TakeoverViolations(p *plan.Plan, accepted ...string) []string {
	ok := map[string]bool{}
	for _, dn := range accepted {
		ok[ldapdn.Norm(dn)] = true
	}
	var out []string
	for _, c := range p.Changes {
		if c.Action == plan.RemoveMembers && ok[ldapdn.Norm(c.DN)] {
			continue
		}
		switch c.Action {
		case plan.Rename, plan.Move:
			out = append(out, fmt.Sprintf("%s %s -> %s", c.Action, c.DN, c.NewDN))
		case plan.Delete, plan.Convert, plan.Create:
			out = append(out, fmt.Sprintf("%s %s", c.Action, c.DN))
		case plan.RemoveMembers:
			out = append(out, fmt.Sprintf("%s %s: %d members", c.Action, c.DN, len(c.Members)))
		}
	}
	return out
}

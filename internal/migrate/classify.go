package migrate

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/writeback/writeback/internal/expr"
	"github.com/writeback/writeback/internal/mapping"
)

// Class is what kind of group Connect Sync wrote, and so whether writeback
// takes it over.
type Class string

// Classes. Only universal security groups are migrated (Microsoft's guide);
// mail-enabled groups stay with Connect Sync group writeback v1.
const (
	ClassUniversalSecurity   Class = "universal-security"    // in scope
	ClassMailEnabledSecurity Class = "mail-enabled-security" // out of scope: stays on v1
	ClassDistribution        Class = "distribution"          // out of scope: stays on v1
	ClassMicrosoft365        Class = "microsoft-365"         // out of scope: stays on v1
	ClassGlobal              Class = "global-security"       // not supported as is
	ClassDomainLocal         Class = "domain-local-security" // not supported as is
)

// InScope reports whether groups of class c are taken over.
func (c Class) InScope() bool { return c == ClassUniversalSecurity }

// Why explains the class in one sentence for reports.
func (c Class) Why() string {
	switch c {
	case ClassUniversalSecurity:
		return "universal security group: migrated"
	case ClassMailEnabledSecurity:
		return "mail-enabled security group: not migrated, stays with Connect Sync group writeback v1"
	case ClassDistribution:
		return "distribution group: not migrated, stays with Connect Sync group writeback v1"
	case ClassMicrosoft365:
		return "Microsoft 365 group: not migrated, stays with Connect Sync group writeback v1"
	case ClassGlobal:
		return "global scope: writeback (like Cloud Sync) takes over universal groups only; convert it to universal first"
	case ClassDomainLocal:
		return "domain-local scope: writeback (like Cloud Sync) takes over universal groups only; convert it to universal first"
	}
	return string(c)
}

// groupType bits.
const (
	gtGlobal      = 0x2
	gtDomainLocal = 0x4
	gtUniversal   = 0x8
	gtSecurity    = -0x80000000
)

// Classify decides a group's class from its AD attributes and, when known,
// its cloud groupTypes (a Microsoft 365 group carries "Unified").
func Classify(groupType int32, mail string, proxyAddresses []string, cloudUnified bool) Class {
	security := groupType&gtSecurity != 0
	switch {
	case cloudUnified:
		return ClassMicrosoft365
	case !security:
		return ClassDistribution
	case mail != "" || len(proxyAddresses) > 0:
		return ClassMailEnabledSecurity
	case groupType&gtGlobal != 0:
		return ClassGlobal
	case groupType&gtDomainLocal != 0:
		return ClassDomainLocal
	}
	return ClassUniversalSecurity
}

var connectSyncAnchor = regexp.MustCompile(`^Group_([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$`)

// ObjectIDFromAnchor returns the Entra object ID in a Connect Sync
// adminDescription ("Group_<guid>"), lower-case, or false.
func ObjectIDFromAnchor(s string) (string, bool) {
	m := connectSyncAnchor.FindStringSubmatch(s)
	if m == nil {
		return "", false
	}
	return strings.ToLower(m[1]), true
}

// AnchorState compares msDS-ExternalDirectoryObjectId with adminDescription.
type AnchorState string

// Anchor states.
const (
	AnchorMissing   AnchorState = "missing"   // prepare will copy it
	AnchorEqual     AnchorState = "equal"     // already copied
	AnchorDifferent AnchorState = "different" // conflict: never overwritten
)

// CompareAnchor returns the state of anchor relative to adminDescription.
func CompareAnchor(adminDescription, anchor string) AnchorState {
	switch {
	case anchor == "":
		return AnchorMissing
	case anchor == adminDescription:
		return AnchorEqual
	}
	return AnchorDifferent
}

// Naming is the CN format Connect Sync used for a group.
type Naming string

// Naming formats (Microsoft's guide, "Naming").
const (
	NamingConnectSync Naming = "connect-sync-default" // CN=Group_<objectId>
	NamingDisplayName Naming = "display-name"         // CN=<display name>_<last 12 of objectId>
	NamingOther       Naming = "other"                // renamed by hand, or a custom rule
)

// DetectNaming recognises the CN format from the CN and the object ID.
func DetectNaming(cn, objectID string) Naming {
	switch {
	case strings.EqualFold(cn, "Group_"+objectID):
		return NamingConnectSync
	case len(objectID) == 36 && len(cn) > 13 && strings.HasSuffix(strings.ToLower(cn), "_"+strings.ToLower(objectID[24:])):
		return NamingDisplayName
	}
	return NamingOther
}

// Candidate is a cn mapping writeback could be configured with.
type Candidate struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
	Naming     Naming `json:"naming"`
	expr       *expr.Expr
}

// Candidates are the cn mappings the rename preview evaluates: Cloud Sync's
// (and writeback's) default, and Connect Sync's default.
var Candidates = mustCandidates(
	Candidate{Name: "cloud-sync-default", Naming: NamingDisplayName,
		Expression: mapping.Defaults["cn"]},
	Candidate{Name: "connect-sync-default", Naming: NamingConnectSync,
		Expression: mapping.ConnectSyncCN},
)

func mustCandidates(cs ...Candidate) []Candidate {
	for i := range cs {
		e, err := expr.Parse(cs[i].Expression)
		if err != nil {
			panic(fmt.Sprintf("candidate %s: %v", cs[i].Name, err))
		}
		cs[i].expr = e
	}
	return cs
}

// CandidateCN evaluates candidate c for a group; displayName "" means unknown
// (the display-name format cannot be computed).
func CandidateCN(c Candidate, displayName, objectID string) (string, error) {
	attrs := map[string][]string{"objectId": {objectID}}
	if displayName != "" {
		attrs["displayName"] = []string{displayName}
	}
	v, err := c.expr.Eval(expr.Context{Attrs: attrs})
	if err != nil {
		return "", fmt.Errorf("cn mapping %s for %s: %w", c.Name, objectID, err)
	}
	return v.Text(), nil
}

// Recommend picks the cn mapping that takes the groups over without renames:
// the candidate matching the most groups; if any group would still be renamed
// by it, the mapping applies on create only, so existing groups keep their
// CN and new groups get the detected format.
func Recommend(renames map[string]int, total int) (Candidate, bool) {
	best := Candidates[0]
	bestN := -1
	for _, c := range Candidates {
		n := total - renames[c.Name]
		if n > bestN {
			best, bestN = c, n
		}
	}
	return best, renames[best.Name] > 0
}

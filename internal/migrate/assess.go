package migrate

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/resolve"
	"github.com/writeback/writeback/internal/scope"
)

// Searcher reads arbitrary entries (RootDSE-independent checks, GC lookups).
type Searcher interface {
	Search(ctx context.Context, base string, scope ad.Scope, filter string, attrs []string, fn func(*ldap.Entry) error) error
}

// DC is what assess reads from the domain controller (*ad.Conn).
type DC interface {
	Directory
	Searcher
	resolve.DC // member resolution's reads on the DC
	RootDSE(ctx context.Context) (ad.RootDSE, error)
}

// Catalog is the Global Catalog (*ad.Conn from ad.DialGC).
type Catalog interface {
	Searcher
	resolve.Catalog
}

// Cloud is Entra ID (*entra.Client).
type Cloud interface {
	GroupsDelta(ctx context.Context, deltaLink string, fn func(entra.Group) error) (next string, full bool, err error)
	UsersByID(ctx context.Context, ids []string) ([]entra.User, error)
}

var (
	_ DC      = (*ad.Conn)(nil)
	_ Catalog = (*ad.Conn)(nil)
	_ Cloud   = (*entra.Client)(nil)
)

// AssessOptions say where to look and with what.
type AssessOptions struct {
	Base   string // the writeback OU, or the domain
	Domain string // the domain naming context ("" = from RootDSE)
	DC     DC
	// GC is the Global Catalog; nil with GCErr set when it could not be reached.
	GC    Catalog
	GCErr error
	// Cloud is Entra; nil for an AD-only assessment.
	Cloud Cloud
	// Scope selects the cloud groups writeback would provision (for "cloud
	// groups in scope with no AD group"); nil = Microsoft's default clause only.
	Scope *scope.Scope
	// AcceptRemovals names the groups (DN, CN, object ID or display name) whose member
	// removals the approver accepts: their removal is a warning, not a
	// blocker, and handover takes them over.
	AcceptRemovals []string
	// Members is who may be a member, as the engine's members settings say
	// (members.allow, inetOrgPerson, devices), so members resolve as the
	// engine would resolve them.
	Members resolve.Policy
	Now     func() time.Time
	Log     *slog.Logger
}

// Report is the whole assessment. Its JSON is the --json output.
type Report struct {
	Generated       time.Time       `json:"generated"`
	Base            string          `json:"base"`
	Domain          string          `json:"domain"`
	EntraConfigured bool            `json:"entraConfigured"`
	Preflight       []Check         `json:"preflight"`
	Summary         Summary         `json:"summary"`
	Candidates      []Candidate     `json:"cnMappings"`
	Recommended     Recommendation  `json:"recommendedCnMapping"`
	Groups          []GroupReport   `json:"groups"`
	CloudOnly       []CloudOnly     `json:"cloudOnly,omitempty"`
	Verdict         Verdict         `json:"verdict"`
	Unresolved      []MemberProblem `json:"unresolvedMembers,omitempty"`
	// Losing is every AD member that would lose its membership, with why:
	// what approvers of the change need to see by name.
	Losing []MemberLoss `json:"membersLosingAccess,omitempty"`
}

// MemberLoss is an AD member writeback would remove from a group.
type MemberLoss struct {
	Group     string `json:"group"`     // group DN
	GroupName string `json:"groupName"` // its display name (or CN)
	DN        string `json:"dn"`        // the member's DN
	Name      string `json:"name"`      // display name, else sAMAccountName, else its RDN
	Type      string `json:"type"`      // user, group, contact, computer, foreignSecurityPrincipal, or "" when not found
	Why       string `json:"why"`       // not in the cloud group, unresolvable (…), nested group not migrating (…)
	Accepted  bool   `json:"accepted,omitempty"`
}

// Loss reasons (the start of MemberLoss.Why).
const (
	LossNotInCloud   = "not in the cloud group"
	LossUnresolvable = "unresolvable"
	LossNestedGroup  = "nested group not migrating"
)

// Check is one preflight check.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Summary counts.
type Summary struct {
	Groups       int            `json:"groups"`
	Ignored      int            `json:"ignored"` // adminDescription Group_* but not Group_<object ID>: not counted anywhere else
	InScope      int            `json:"inScope"`
	ByClass      map[Class]int  `json:"byClass"`
	ByAnchor     map[string]int `json:"byAnchorState"` // in-scope groups only
	ByNaming     map[Naming]int `json:"byNaming"`      // in-scope groups only
	Renames      map[string]int `json:"renamesByMapping"`
	Members      int            `json:"members"`
	Resolvable   int            `json:"membersResolvable"`
	Unresolvable int            `json:"membersUnresolvable"`
	WouldAdd     int            `json:"membersWouldAdd"`
	WouldRemove  int            `json:"membersWouldRemove"`
	Orphans      int            `json:"orphans"`
	Drift        int            `json:"displayNameDrift"`
	CloudOnly    int            `json:"cloudOnly"`
}

// Recommendation is the cn mapping handover writes.
type Recommendation struct {
	Candidate
	OnCreate bool   `json:"onCreate"` // apply on create only: existing groups keep their CN
	Why      string `json:"why"`
}

// GroupReport is one group Connect Sync wrote.
type GroupReport struct {
	DN               string            `json:"dn"`
	CN               string            `json:"cn"`
	GUID             string            `json:"objectGUID"`
	ObjectID         string            `json:"objectId"`
	AdminDescription string            `json:"adminDescription"`
	Anchor           string            `json:"anchor,omitempty"`
	GroupType        int32             `json:"groupType"`
	Mail             string            `json:"mail,omitempty"`
	Class            Class             `json:"class"`
	InScope          bool              `json:"inScope"`
	ClassWhy         string            `json:"classWhy"`
	AnchorState      AnchorState       `json:"anchorState"`
	Duplicates       []string          `json:"duplicates,omitempty"`
	Naming           Naming            `json:"naming"`
	DisplayName      string            `json:"displayName,omitempty"` // cloud's when known, else AD's
	CNs              map[string]string `json:"cnByMapping"`
	Renamed          map[string]bool   `json:"renamedByMapping"`
	// CNTaken: cn mapping -> the DN of another object that already holds the
	// CN this mapping would rename the group to (the rename would fail).
	CNTaken         map[string]string `json:"cnTakenByMapping,omitempty"`
	Members         int               `json:"members"`
	Resolvable      int               `json:"membersResolvable"`
	Unresolved      []MemberProblem   `json:"unresolvedMembers,omitempty"`
	WouldAdd        []string          `json:"membersWouldAdd,omitempty"`
	WouldRemove     []string          `json:"membersWouldRemove,omitempty"`
	RemovalAccepted bool              `json:"removalAccepted,omitempty"`
	Cloud           *CloudState       `json:"cloud,omitempty"`
	Problems        []Problem         `json:"problems,omitempty"`
}

// CloudState is what Entra says about the group.
type CloudState struct {
	Found       bool   `json:"found"`
	Deleted     bool   `json:"deleted,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	ADName      string `json:"adDisplayName,omitempty"`
	Drift       bool   `json:"displayNameDrift,omitempty"`
	Members     int    `json:"members"`
}

// MemberProblem is a member that will not come through as it is.
type MemberProblem struct {
	Group  string `json:"group"`          // group DN
	Member string `json:"member"`         // member DN or cloud object ID
	Name   string `json:"name,omitempty"` // UPN / display name when known
	Type   string `json:"type,omitempty"`
	Reason string `json:"reason"`
}

// Problem is something about one group, with its fix.
type Problem struct {
	Code    string `json:"code"`
	Blocker bool   `json:"blocker"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

// CloudOnly is a cloud group writeback's scope selects that has no AD group.
type CloudOnly struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

// Verdict is the bottom line.
type Verdict struct {
	Ready    bool      `json:"ready"`
	Blockers []Finding `json:"blockers,omitempty"`
	Warnings []Finding `json:"warnings,omitempty"`
	Next     []string  `json:"next,omitempty"`
}

// Finding is a blocker or warning, with the groups it concerns.
type Finding struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Fix     string   `json:"fix"`
	Groups  []string `json:"groups,omitempty"`
}

// Assess reads AD (and Entra, when configured) and reports on every group
// Connect Sync wrote under o.Base.
func Assess(ctx context.Context, o AssessOptions) (*Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	r := newReport(o)
	root, err := o.DC.RootDSE(ctx)
	if err != nil {
		return nil, fmt.Errorf("assess: %w", err)
	}
	if r.Domain == "" {
		r.Domain = root.DefaultNamingContext
	}
	if r.Base == "" {
		r.Base = r.Domain
	}
	r.Preflight = append(r.Preflight, schemaChecks(root)...)

	sc, err := scanConnectSyncGroups(ctx, o.DC, r.Base)
	if err != nil {
		return nil, err
	}
	var cloud map[string]*cloudGroup
	if o.Cloud != nil {
		if cloud, err = readCloud(ctx, o.Cloud); err != nil {
			return nil, err
		}
	}
	r.Groups = make([]GroupReport, len(sc.groups))
	for i := range sc.groups {
		reportGroup(r, &r.Groups[i], sc, i, cloud)
	}
	if err := cnTaken(ctx, o.DC, r); err != nil {
		return nil, err
	}
	recommend(r)
	if err := membership(ctx, o, r, sc.groups, cloud); err != nil {
		return nil, err
	}
	r.Preflight = append(r.Preflight, permissionCheck(r, sc.groups))
	if cloud != nil {
		r.CloudOnly = cloudOnly(cloud, namedInAD(sc), o.Scope)
		r.Summary.CloudOnly = len(r.CloudOnly)
	}
	countMembers(r, acceptSet(o.AcceptRemovals))
	groupProblems(r)
	r.Verdict = verdict(r)
	return r, nil
}

func newReport(o AssessOptions) *Report {
	r := &Report{Generated: o.Now().UTC(), Base: o.Base, Domain: o.Domain, EntraConfigured: o.Cloud != nil, Candidates: Candidates}
	r.Summary.ByClass = map[Class]int{}
	r.Summary.ByAnchor = map[string]int{}
	r.Summary.ByNaming = map[Naming]int{}
	r.Summary.Renames = map[string]int{}
	return r
}

// scanConnectSyncGroups reads, in one scan, the groups Connect Sync wrote
// under base, with their members and the effective-rights attributes.
func scanConnectSyncGroups(ctx context.Context, dc DC, base string) (*scanned, error) {
	sc := &scanned{byObjectID: map[string][]int{}, anchorHolders: map[string][]int{}}
	q := ad.GroupQuery{WithMembers: true, ExtraAttrs: append([]string{"allowedAttributesEffective"}, extraAttrs...)}
	err := dc.Groups(ctx, base, ad.FilterConnectSyncGroups, q, func(g ad.Group) error {
		i := len(sc.groups)
		sc.groups = append(sc.groups, g)
		if id, ok := ObjectIDFromAnchor(g.AdminDescription); ok {
			sc.byObjectID[id] = append(sc.byObjectID[id], i)
		}
		if g.Anchor != "" {
			sc.anchorHolders[strings.ToLower(g.Anchor)] = append(sc.anchorHolders[strings.ToLower(g.Anchor)], i)
		}
		return nil
	})
	if err != nil {
		if ad.IsNoSuchObject(err) {
			return nil, fmt.Errorf("%s does not exist: pass --base with the OU Connect Sync writes back to (or the domain)", base)
		}
		return nil, fmt.Errorf("assess: read the groups Connect Sync wrote under %s: %w", base, err)
	}
	return sc, nil
}

// reportGroup fills gr for group i of the scan (class, anchor, naming,
// cloud state, candidate CNs) and counts it in the summary.
func reportGroup(r *Report, gr *GroupReport, sc *scanned, i int, cloud map[string]*cloudGroup) {
	g := sc.groups[i]
	*gr = GroupReport{DN: g.DN, CN: g.CN, GUID: g.GUID.String(), AdminDescription: g.AdminDescription, Anchor: g.Anchor,
		GroupType: g.GroupType, Mail: g.Mail, Members: len(g.Members), CNs: map[string]string{}, Renamed: map[string]bool{}}
	id, ok := ObjectIDFromAnchor(g.AdminDescription)
	gr.ObjectID = id
	var cg *cloudGroup
	if cloud != nil && ok {
		cg = cloud[id]
	}
	unified := cg != nil && cg.unified()
	gr.Class = Classify(g.GroupType, g.Mail, g.Attrs["proxyaddresses"], unified)
	gr.InScope = ok && gr.Class.InScope()
	gr.ClassWhy = gr.Class.Why()
	if !ok {
		gr.InScope = false
		gr.ClassWhy = "adminDescription is not Group_<object ID>: not written by Connect Sync; ignored"
	}
	gr.AnchorState = CompareAnchor(g.AdminDescription, g.Anchor)
	gr.Duplicates = sc.duplicateOf(i)
	gr.Naming = DetectNaming(g.CN, id)
	gr.DisplayName = g.DisplayName
	if cloud != nil && ok {
		gr.Cloud = cloudState(gr, g, cg)
	}
	for _, c := range Candidates {
		cn, err := CandidateCN(c, gr.DisplayName, id)
		if err != nil || cn == "" || !ok {
			continue
		}
		gr.CNs[c.Name] = cn
		gr.Renamed[c.Name] = cn != g.CN
	}
	if !ok {
		// Not Connect Sync's mark: the report says it is ignored, so
		// it counts in no total but its own.
		r.Summary.Ignored++
		return
	}
	countGroup(&r.Summary, gr)
}

// cloudState compares AD group g with its cloud group cg (nil: not found);
// the cloud's display name, when set, becomes gr's.
func cloudState(gr *GroupReport, g ad.Group, cg *cloudGroup) *CloudState {
	st := &CloudState{}
	if cg != nil {
		st.Found = true
		st.Deleted = cg.g.Removed != nil
		st.DisplayName = cg.g.DisplayName
		st.Members = len(cg.members)
		st.ADName = g.DisplayName
		st.Drift = cg.g.DisplayName != "" && g.DisplayName != cg.g.DisplayName
		if cg.g.DisplayName != "" {
			gr.DisplayName = cg.g.DisplayName
		}
	}
	return st
}

// countGroup counts a Connect Sync group in the summary.
func countGroup(s *Summary, gr *GroupReport) {
	s.Groups++
	s.ByClass[gr.Class]++
	if !gr.InScope {
		return
	}
	s.InScope++
	s.ByAnchor[string(gr.AnchorState)]++
	s.ByNaming[gr.Naming]++
	for name, ren := range gr.Renamed {
		if ren {
			s.Renames[name]++
		}
	}
	if gr.Cloud != nil {
		if !gr.Cloud.Found || gr.Cloud.Deleted {
			s.Orphans++
		}
		if gr.Cloud.Drift {
			s.Drift++
		}
	}
}

// recommend picks the cn mapping to use and says why.
func recommend(r *Report) {
	rec, onCreate := Recommend(r.Summary.Renames, r.Summary.InScope)
	r.Recommended = Recommendation{Candidate: rec, OnCreate: onCreate}
	switch {
	case r.Summary.InScope == 0:
		r.Recommended.Why = "no group in scope; writeback's default"
	case onCreate:
		r.Recommended.Why = fmt.Sprintf("%d of %d groups would be renamed by %s, so the mapping applies on create only: existing groups keep their CN, new groups get this format", r.Summary.Renames[rec.Name], r.Summary.InScope, rec.Name)
	default:
		r.Recommended.Why = fmt.Sprintf("gives every one of the %d groups its current CN", r.Summary.InScope)
	}
}

// membership resolves the groups' members through the Global Catalog (the
// cloud's members when Entra is configured) and finds the memberships a
// takeover would lose; without a GC it reports the failed check.
func membership(ctx context.Context, o AssessOptions, r *Report, groups []ad.Group, cloud map[string]*cloudGroup) error {
	if o.GC == nil {
		msg := "not reachable"
		if o.GCErr != nil {
			msg = o.GCErr.Error()
		}
		r.Preflight = append(r.Preflight, Check{Name: "global-catalog", OK: false, Detail: msg,
			Fix: "open TCP 3268/3269 from this host to a Global Catalog server and set ad.gcUrl; writeback resolves every member through the GC"})
		return nil
	}
	r.Preflight = append(r.Preflight, Check{Name: "global-catalog", OK: true, Detail: "reachable"})
	var err error
	if cloud != nil {
		err = cloudMembership(ctx, o, r, groups, cloud)
	} else {
		err = adMembership(ctx, o.GC, r, groups)
	}
	if err == nil {
		err = losses(ctx, o.GC, r, groups)
	}
	return err
}

// namedInAD maps each cloud group ID to the AD groups that name it. A cloud
// group named by an AD group's anchor (a conflict) has an AD copy too, even
// though its adminDescription names another.
func namedInAD(sc *scanned) map[string][]int {
	named := make(map[string][]int, len(sc.byObjectID))
	for id, idx := range sc.byObjectID {
		named[id] = idx
	}
	for a, idx := range sc.anchorHolders { // keys are lower-case
		if rest, ok := strings.CutPrefix(a, "group_"); ok {
			if id, ok := ObjectIDFromAnchor("Group_" + rest); ok {
				named[id] = append(named[id], idx...)
			}
		}
	}
	return named
}

// countMembers adds the in-scope groups' member figures to the summary and
// marks the removals the operator accepted.
func countMembers(r *Report, accepted accepts) {
	for i := range r.Groups {
		g := &r.Groups[i]
		g.RemovalAccepted = len(g.WouldRemove) > 0 && accepted.has(*g)
		if !g.InScope {
			continue
		}
		r.Summary.Members += g.Members
		r.Summary.Resolvable += g.Resolvable
		r.Summary.Unresolvable += len(g.Unresolved)
		r.Summary.WouldAdd += len(g.WouldAdd)
		r.Summary.WouldRemove += len(g.WouldRemove)
		r.Unresolved = append(r.Unresolved, g.Unresolved...)
	}
	for i := range r.Losing {
		r.Losing[i].Accepted = accepted.hasDN(r, r.Losing[i].Group)
	}
}

func schemaChecks(root ad.RootDSE) []Check {
	c := []Check{{Name: "schema", OK: root.HasExternalDirectoryObjectID, Detail: "msDS-ExternalDirectoryObjectId is in the schema"}}
	if !root.HasExternalDirectoryObjectID {
		c[0].Detail = "msDS-ExternalDirectoryObjectId is not in the schema"
		c[0].Fix = "extend the schema to Windows Server 2016 or later (adprep /forestprep from 2016+ media)"
		return c
	}
	gc := Check{Name: "schema-gc", OK: root.ExternalDirectoryObjectIDInGC, Detail: "msDS-ExternalDirectoryObjectId is replicated to the Global Catalog"}
	if !gc.OK {
		gc.Detail = "msDS-ExternalDirectoryObjectId is not in the Global Catalog's partial attribute set"
		gc.Fix = "set isMemberOfPartialAttributeSet=TRUE on the attribute's schema object (Windows Server 2016 schema does this), so nested groups resolve by anchor"
	}
	return append(c, gc)
}

// permissionCheck reads allowedAttributesEffective, which the DC computes for
// the bound account: it lists the attributes that account may write.
func permissionCheck(r *Report, groups []ad.Group) Check {
	var denied []string
	checked := 0
	for i, g := range groups {
		if !r.Groups[i].InScope {
			continue
		}
		checked++
		// AD and Samba leave allowedAttributesEffective out entirely when
		// the account may write no attribute of the object: absent is "no
		// right", not "unknown".
		eff := g.Attrs["allowedattributeseffective"]
		if !containsFold(eff, ad.AttrExternalDirectoryObjectID) || !containsFold(eff, "member") {
			denied = append(denied, g.DN)
		}
	}
	switch {
	case checked == 0:
		return Check{Name: "permissions", OK: true, Detail: "no group in scope to check"}
	case len(denied) > 0:
		return Check{Name: "permissions", OK: false,
			Detail: fmt.Sprintf("the bind account may not write msDS-ExternalDirectoryObjectId or member on %d of %d groups (first: %s); prepare would be refused on them", len(denied), checked, denied[0]),
			Fix:    fmt.Sprintf("grant the bind account Write msDS-ExternalDirectoryObjectId and Write member on the groups: dsacls \"%s\" /I:S /G \"DOMAIN\\account:WP;msDS-ExternalDirectoryObjectId;group\" \"DOMAIN\\account:WP;member;group\" (or bind as an account that has them)", r.Base)}
	}
	return Check{Name: "permissions", OK: true, Detail: fmt.Sprintf("the bind account may write msDS-ExternalDirectoryObjectId and member on all %d groups", checked)}
}

func containsFold(vs []string, s string) bool {
	for _, v := range vs {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

type cloudGroup struct {
	g       entra.Group
	members map[string]entra.MemberRef
}

func (c *cloudGroup) unified() bool {
	for _, t := range c.g.GroupTypes {
		if strings.EqualFold(t, "Unified") {
			return true
		}
	}
	return false
}

// CloudGroups reads the IDs (lower-case) of the cloud groups that exist, for
// PrepareOptions.Orphan.
func CloudGroups(ctx context.Context, c Cloud) (map[string]bool, error) {
	all, err := readCloud(ctx, c)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(all))
	for id, g := range all {
		if g.g.Removed == nil {
			out[id] = true
		}
	}
	return out, nil
}

// readCloud reads every cloud group with its members (one full delta round;
// a group split across pages is merged).
func readCloud(ctx context.Context, c Cloud) (map[string]*cloudGroup, error) {
	out := map[string]*cloudGroup{}
	_, _, err := c.GroupsDelta(ctx, "", func(g entra.Group) error {
		id := strings.ToLower(g.ID)
		cg, ok := out[id]
		if !ok {
			cg = &cloudGroup{members: map[string]entra.MemberRef{}}
			out[id] = cg
		}
		members := g.MembersDelta
		g.MembersDelta = nil
		if !ok || g.DisplayName != "" || g.Removed != nil {
			cg.g = g
		}
		for _, m := range members {
			if m.Removed {
				delete(cg.members, strings.ToLower(m.ID))
			} else {
				cg.members[strings.ToLower(m.ID)] = m
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("assess: read cloud groups: %w", err)
	}
	return out, nil
}

func cloudOnly(cloud map[string]*cloudGroup, inAD map[string][]int, sc *scope.Scope) []CloudOnly {
	var out []CloudOnly
	for id, cg := range cloud {
		if cg.g.Removed != nil || len(inAD[id]) > 0 || cg.unified() {
			continue
		}
		sg := scope.Group{ID: cg.g.ID, SecurityEnabled: cg.g.SecurityEnabled, MailEnabled: cg.g.MailEnabled, OnPremisesSyncEnabled: cg.g.OnPremisesSyncEnabled, Raw: cg.g.Raw}
		if sc != nil {
			if in, _ := sc.Evaluate(sg, false); !in {
				continue
			}
		} else if !sg.SecurityEnabled || sg.MailEnabled || (sg.OnPremisesSyncEnabled != nil && *sg.OnPremisesSyncEnabled) {
			continue
		}
		out = append(out, CloudOnly{ID: cg.g.ID, DisplayName: cg.g.DisplayName})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DisplayName+out[i].ID < out[j].DisplayName+out[j].ID })
	return out
}

// adMembership checks, without Entra, that every AD member of an in-scope
// group is an object the engine can reach: present in the GC, and a kind of
// object a cloud group can hold.
func adMembership(ctx context.Context, gc Catalog, r *Report, groups []ad.Group) error {
	want := map[string]bool{}
	for i, g := range groups {
		if r.Groups[i].InScope {
			for _, m := range g.Members {
				want[ldapdn.Norm(m)] = true
			}
		}
	}
	found, err := entriesByDN(ctx, gc, want, []string{"objectClass", "objectGUID", "objectSid", ad.AttrExternalDirectoryObjectID})
	if err != nil {
		return fmt.Errorf("assess: look members up in the Global Catalog: %w", err)
	}
	// A nested group that is itself being migrated resolves by its anchor once
	// prepare has copied it, whatever its anchor is today.
	migrating := map[string]bool{}
	notMigrating := map[string]string{}
	for i, g := range groups {
		if r.Groups[i].InScope {
			migrating[ldapdn.Norm(g.DN)] = true
		} else if r.Groups[i].ObjectID != "" {
			notMigrating[ldapdn.Norm(g.DN)] = r.Groups[i].ClassWhy
		}
	}
	for i, g := range groups {
		gr := &r.Groups[i]
		if !gr.InScope {
			continue
		}
		for _, m := range g.Members {
			e := found[ldapdn.Norm(m)]
			reason := memberReason(e)
			if e != nil && migrating[ldapdn.Norm(m)] {
				reason = ""
			}
			if why, ok := notMigrating[ldapdn.Norm(m)]; ok && e != nil {
				reason = "nested group not migrated: " + why
			}
			if reason == "" {
				gr.Resolvable++
				continue
			}
			gr.Unresolved = append(gr.Unresolved, MemberProblem{Group: g.DN, Member: m, Type: objectKind(e), Reason: reason})
		}
	}
	return nil
}

func objectKind(e *ldap.Entry) string {
	if e == nil {
		return ""
	}
	classes := e.GetEqualFoldAttributeValues("objectClass")
	for _, k := range []string{"foreignSecurityPrincipal", "computer", "user", "contact", "group"} {
		if containsFold(classes, k) {
			return k
		}
	}
	if len(classes) > 0 {
		return classes[len(classes)-1]
	}
	return ""
}

// memberReason says why the engine could not produce this AD member from a
// cloud member; "" when it can.
func memberReason(e *ldap.Entry) string {
	if e == nil {
		return "not found in the Global Catalog: writeback resolves members through the GC, so it would not keep this member (deleted object, or a domain outside this forest?)"
	}
	switch objectKind(e) {
	case "foreignSecurityPrincipal":
		return "foreign security principal (an account from another forest): a cloud group cannot hold it, so writeback would remove it"
	case "computer":
		return "" // a device synced from AD: onPremisesSecurityIdentifier = objectSid (members.devices)
	case "contact":
		return "contact: writeback provisions users and groups only"
	case "user":
		return "" // a synced user: onPremisesObjectIdentifier = objectGUID
	case "group":
		if strings.HasPrefix(e.GetEqualFoldAttributeValue(ad.AttrExternalDirectoryObjectID), "Group_") {
			return ""
		}
		return "AD group without an anchor: kept only if it is synced to Entra and a member of the cloud group (resolved by objectSid)"
	}
	return "object of class " + objectKind(e) + ": writeback provisions users and groups only"
}

// cloudMembership resolves each in-scope group's cloud members exactly as the
// engine does (internal/resolve over the GC) and compares with AD.
func cloudMembership(ctx context.Context, o AssessOptions, r *Report, groups []ad.Group, cloud map[string]*cloudGroup) error {
	in := map[string][]resolve.Member{}
	userIDs := map[string]bool{}
	adByID := map[string]int{}
	for i := range groups {
		gr := &r.Groups[i]
		if !gr.InScope {
			continue
		}
		adByID[gr.ObjectID] = i
		cg := cloud[gr.ObjectID]
		if cg == nil || cg.g.Removed != nil {
			continue
		}
		ms := make([]resolve.Member, 0, len(cg.members))
		for _, m := range cg.members {
			ms = append(ms, resolve.Member{ID: m.ID, Type: m.Type})
			if m.Type == "user" {
				userIDs[m.ID] = true
			}
		}
		in[gr.ObjectID] = ms
	}
	ids := make([]string, 0, len(userIDs))
	for id := range userIDs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	users, err := o.Cloud.UsersByID(ctx, ids)
	if err != nil {
		return fmt.Errorf("assess: read cloud users: %w", err)
	}
	src := &cloudSource{users: map[string]*resolve.User{}, groups: cloud, inAD: adByID, why: map[string]string{}}
	for i := range groups {
		if gr := &r.Groups[i]; !gr.InScope && gr.ObjectID != "" {
			src.why[gr.ObjectID] = gr.ClassWhy
		}
	}
	for _, u := range users {
		name := u.UserPrincipalName
		if name == "" {
			name = u.DisplayName
		}
		src.users[strings.ToLower(u.ID)] = &resolve.User{ID: u.ID, Name: name, ObjectIdentifier: u.OnPremisesObjectIdentifier,
			SID: u.OnPremisesSecurityIdentifier, ImmutableID: u.OnPremisesImmutableId, SyncEnabled: u.OnPremisesSyncEnabled}
	}
	rs := resolve.New(&resolve.ADDirectory{GC: o.GC, DC: o.DC, Base: r.Domain})
	rs.SetPolicy(o.Members)
	res, err := rs.Resolve(ctx, in, src)
	if err != nil {
		return fmt.Errorf("assess: resolve members: %w", err)
	}
	for id, rr := range res {
		i := adByID[id]
		gr := &r.Groups[i]
		want := map[string]string{}
		for _, dn := range rr.DNs {
			want[ldapdn.Norm(dn)] = dn
		}
		for _, gid := range rr.Groups {
			if j, ok := adByID[strings.ToLower(gid)]; ok {
				want[ldapdn.Norm(groups[j].DN)] = groups[j].DN
			}
		}
		have := map[string]bool{}
		for _, m := range groups[i].Members {
			n := ldapdn.Norm(m)
			have[n] = true
			if _, ok := want[n]; !ok {
				gr.WouldRemove = append(gr.WouldRemove, m)
			}
		}
		for n, dn := range want {
			if !have[n] {
				gr.WouldAdd = append(gr.WouldAdd, dn)
			}
		}
		sort.Strings(gr.WouldAdd)
		gr.Resolvable = len(want)
		for _, u := range rr.Unresolved {
			gr.Unresolved = append(gr.Unresolved, MemberProblem{Group: gr.DN, Member: u.ID, Name: u.Name, Type: u.Type, Reason: u.Reason})
		}
	}
	return nil
}

// cloudSource answers resolve's questions from the assessment's cloud read.
type cloudSource struct {
	users  map[string]*resolve.User
	groups map[string]*cloudGroup
	inAD   map[string]int
	// why: object ID -> why a group Connect Sync wrote is not migrated (a
	// global group: convert it to universal).
	why map[string]string
}

func (s *cloudSource) User(id string) (*resolve.User, error) {
	return s.users[strings.ToLower(id)], nil
}

func (s *cloudSource) Group(id string) resolve.GroupInfo {
	cg, ok := s.groups[strings.ToLower(id)]
	if !ok {
		return resolve.GroupInfo{}
	}
	_, in := s.inAD[strings.ToLower(id)]
	gi := resolve.GroupInfo{Known: true, InScope: in, Name: cg.g.DisplayName}
	if !in {
		gi.Why = "not one of the groups being migrated"
		if w := s.why[strings.ToLower(id)]; w != "" {
			gi.Why = "not migrated: " + w
		}
	}
	return gi
}

// groupProblems attaches each group's problems with their fixes.
func groupProblems(r *Report) {
	for i := range r.Groups {
		g := &r.Groups[i]
		add := func(code string, blocker bool, msg, fix string) {
			g.Problems = append(g.Problems, Problem{Code: code, Blocker: blocker, Message: msg, Fix: fix})
		}
		if !g.InScope {
			switch g.Class {
			case ClassGlobal, ClassDomainLocal:
				add("scope-not-universal", false, g.ClassWhy, "to migrate it, convert it first (Set-ADGroup -GroupScope Universal; a domain-local group must have no domain-local members), then assess again")
			}
			continue
		}
		orphan := g.Cloud != nil && (!g.Cloud.Found || g.Cloud.Deleted)
		switch g.AnchorState {
		case AnchorDifferent:
			add("anchor-conflict", true, fmt.Sprintf("msDS-ExternalDirectoryObjectId is %q, adminDescription is %q", g.Anchor, g.AdminDescription),
				"prepare never overwrites it: find out which object ID is right (Connect Sync's is in adminDescription). If the anchor is stale, clear msDS-ExternalDirectoryObjectId by hand (Set-ADGroup -Clear msDS-ExternalDirectoryObjectId); prepare then copies adminDescription. If the anchor is right, this group is another cloud group's copy: resolve it with that group's owner")
		case AnchorMissing:
			if !orphan && len(g.Duplicates) == 0 {
				add("anchor-missing", false, "msDS-ExternalDirectoryObjectId is empty", "writeback migrate prepare copies it")
			}
		}
		if len(g.Duplicates) > 0 {
			add("anchor-duplicate", true, "the same object ID is on more groups: "+strings.Join(g.Duplicates, "; "),
				"keep the group Connect Sync currently manages and delete or clear adminDescription/msDS-ExternalDirectoryObjectId on the stale copy")
		}
		if orphan {
			if g.Anchor != "" && g.AnchorState != AnchorDifferent {
				add("orphan-anchored", true, "the cloud group no longer exists but the AD group carries its anchor: writeback leaves a group it never provisioned alone, but reports it on every full round, and a state that knew the group would apply safety.onDelete to it",
					"clear its msDS-ExternalDirectoryObjectId (writeback migrate rollback does, if prepare set it) or delete the group in AD")
			} else {
				add("orphan", false, "the cloud group no longer exists (deleted in Entra)",
					"not taken over: prepare skips it, handover leaves it out of scope, writeback never touches it; delete it in AD when no longer needed")
			}
		}
		for _, c := range slices.Sorted(maps.Keys(g.CNTaken)) {
			add("cn-taken", false, fmt.Sprintf("the cn mapping %s would rename it to CN=%s, which %s already holds", c, g.CNs[c], g.CNTaken[c]),
				"that rename would fail: use this mapping on create only (existing groups keep their CN), or rename or remove the other object first")
		}
		if g.Cloud != nil && g.Cloud.Drift {
			add("display-name-drift", false, fmt.Sprintf("displayName in AD %q differs from the cloud's %q", g.Cloud.ADName, g.Cloud.DisplayName),
				"writeback will update displayName (and the CN, if the cn mapping applies always and uses the display name)")
		}
		if len(g.WouldRemove) > 0 && g.RemovalAccepted {
			add("member-removal-accepted", false, fmt.Sprintf("%d AD members would be removed; the removal was accepted (--accept-removals)", len(g.WouldRemove)),
				"tell the members listed under 'Members who would lose access'")
		} else if len(g.WouldRemove) > 0 {
			add("member-removal", true, fmt.Sprintf("%d AD members are not members of the cloud group (as resolved through the GC), so writeback would remove them", len(g.WouldRemove)),
				"add them to the cloud group in Entra (or make them resolvable: synced users need onPremisesObjectIdentifier), or accept the removal explicitly with --accept-removals "+g.ObjectID+" on assess, verify and handover")
		}
	}
}

func verdict(r *Report) Verdict {
	var v Verdict
	for _, c := range r.Preflight {
		if !c.OK {
			v.Blockers = append(v.Blockers, Finding{Code: "preflight-" + c.Name, Message: c.Detail, Fix: c.Fix})
		}
	}
	type key struct {
		code    string
		blocker bool
	}
	byCode := map[key]*Finding{}
	var order []key
	for _, g := range r.Groups {
		for _, p := range g.Problems {
			k := key{p.Code, p.Blocker}
			f, ok := byCode[k]
			if !ok {
				f = &Finding{Code: p.Code, Message: p.Message, Fix: p.Fix}
				byCode[k] = f
				order = append(order, k)
			}
			f.Groups = append(f.Groups, g.DN)
		}
	}
	for _, k := range order {
		f := *byCode[k]
		if len(f.Groups) > 1 {
			f.Message = fmt.Sprintf("%d groups: %s", len(f.Groups), codeSummary(f.Code))
		}
		switch {
		case k.blocker:
			v.Blockers = append(v.Blockers, f)
		case f.Code == "anchor-missing":
			v.Next = append(v.Next, fmt.Sprintf("run 'writeback migrate prepare' to copy the anchor on %d groups, then 'writeback migrate verify'", len(f.Groups)))
		default:
			v.Warnings = append(v.Warnings, f)
		}
	}
	if r.Summary.InScope == 0 {
		v.Blockers = append(v.Blockers, Finding{Code: "nothing-to-migrate", Message: "no universal security group with adminDescription Group_<object ID> under " + r.Base,
			Fix: "point --base at the OU Connect Sync writes back to (or the domain), and check the bind account can read it"})
	}
	if !r.EntraConfigured {
		v.Warnings = append(v.Warnings, Finding{Code: "no-entra", Message: "Entra is not configured: orphans, display-name drift and member removals were not checked",
			Fix: "add the entra section to the configuration and assess again before handover"})
	}
	v.Ready = len(v.Blockers) == 0
	if v.Ready {
		v.Next = append(v.Next, "generate the Connect Sync script: writeback migrate connect-sync-script --ad-connector <name>", "after running it: writeback migrate handover")
	}
	return v
}

func codeSummary(code string) string {
	switch code {
	case "anchor-conflict":
		return "msDS-ExternalDirectoryObjectId differs from adminDescription"
	case "anchor-duplicate":
		return "the same object ID is on more than one group"
	case "orphan":
		return "the cloud group no longer exists"
	case "orphan-anchored":
		return "the cloud group no longer exists but the AD group carries its anchor"
	case "display-name-drift":
		return "displayName in AD differs from the cloud's"
	case "cn-taken":
		return "a cn mapping would rename the group to a CN another object already holds"
	case "member-removal":
		return "AD members that writeback would remove"
	case "member-removal-accepted":
		return "AD members that writeback would remove, accepted"
	case "scope-not-universal":
		return "global or domain-local scope: not migrated as is"
	}
	return code
}

// accepts is the set of groups whose member removals are accepted.
type accepts map[string]bool

func acceptSet(names []string) accepts {
	a := accepts{}
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			a[strings.ToLower(n)] = true
			a[ldapdn.Norm(n)] = true
		}
	}
	return a
}

// has matches a group by DN, CN, object ID or display name.
func (a accepts) has(g GroupReport) bool {
	return len(a) > 0 && (a[ldapdn.Norm(g.DN)] || a[strings.ToLower(g.CN)] || (g.ObjectID != "" && a[strings.ToLower(g.ObjectID)]) ||
		(g.DisplayName != "" && a[strings.ToLower(g.DisplayName)]))
}

func (a accepts) hasDN(r *Report, dn string) bool {
	for _, g := range r.Groups {
		if ldapdn.Equal(g.DN, dn) {
			return g.RemovalAccepted
		}
	}
	return false
}

// losses names every AD member an in-scope group would lose, looked up in the
// Global Catalog: approvers need names, not counts.
func losses(ctx context.Context, gc Catalog, r *Report, groups []ad.Group) error {
	want := map[string]bool{}
	type lost struct {
		group int
		dn    string
		why   string // from the membership check, when known
	}
	var all []lost
	for i := range r.Groups {
		gr := &r.Groups[i]
		if !gr.InScope {
			continue
		}
		if r.EntraConfigured {
			for _, m := range gr.WouldRemove {
				all = append(all, lost{group: i, dn: m})
				want[ldapdn.Norm(m)] = true
			}
			continue
		}
		// Without Entra, the members that would not come through are the
		// ones the GC check could not produce.
		for _, u := range gr.Unresolved {
			all = append(all, lost{group: i, dn: u.Member, why: u.Reason})
			want[ldapdn.Norm(u.Member)] = true
		}
	}
	if len(all) == 0 {
		return nil
	}
	found, err := entriesByDN(ctx, gc, want, []string{"objectClass", "displayName", "sAMAccountName", ad.AttrExternalDirectoryObjectID})
	if err != nil {
		return fmt.Errorf("assess: look up the members that would be removed in the Global Catalog: %w", err)
	}
	// Groups Connect Sync wrote that do not migrate, with why.
	notMigrating := map[string]string{}
	for i, g := range groups {
		if !r.Groups[i].InScope {
			notMigrating[ldapdn.Norm(g.DN)] = r.Groups[i].ClassWhy
		}
	}
	for _, l := range all {
		gr := &r.Groups[l.group]
		e := found[ldapdn.Norm(l.dn)]
		ml := MemberLoss{Group: gr.DN, GroupName: gr.DisplayName, DN: l.dn, Name: memberName(e, l.dn), Type: objectKind(e)}
		if ml.GroupName == "" {
			ml.GroupName = gr.CN
		}
		switch why, nested := notMigrating[ldapdn.Norm(l.dn)]; {
		case nested:
			ml.Why = LossNestedGroup + ": " + why
		case memberReason(e) != "":
			ml.Why = LossUnresolvable + ": " + memberReason(e)
		case l.why != "":
			ml.Why = LossUnresolvable + ": " + l.why
		default:
			ml.Why = LossNotInCloud + " (as resolved through the Global Catalog)"
		}
		r.Losing = append(r.Losing, ml)
	}
	sort.SliceStable(r.Losing, func(i, j int) bool {
		a, b := r.Losing[i], r.Losing[j]
		if a.GroupName != b.GroupName {
			return a.GroupName < b.GroupName
		}
		return strings.ToLower(a.Name) < strings.ToLower(b.Name)
	})
	return nil
}

// memberName is what an approver recognises: display name, else
// sAMAccountName, else the DN's first RDN value.
func memberName(e *ldap.Entry, dn string) string {
	if e != nil {
		if v := e.GetAttributeValue("displayName"); v != "" {
			return v
		}
		if v := e.GetAttributeValue("sAMAccountName"); v != "" {
			return v
		}
	}
	return cmp.Or(ldapdn.RDNValue(dn), dn)
}

// cnTaken looks up, for every in-scope group a candidate mapping would
// rename, whether another object already holds the new DN: the rename preview
// must not promise a rename AD would refuse.
func cnTaken(ctx context.Context, dc Searcher, r *Report) error {
	type target struct {
		group int
		cand  string
	}
	byDN := map[string][]target{}
	var dns []string
	for i := range r.Groups {
		g := &r.Groups[i]
		if !g.InScope {
			continue
		}
		parent := ldapdn.Parent(g.DN)
		for _, c := range r.Candidates {
			if !g.Renamed[c.Name] {
				continue
			}
			dn, err := ad.JoinDN("CN", g.CNs[c.Name], parent)
			if err != nil || ldapdn.Equal(dn, g.DN) {
				continue // a case-only rename keeps the group's own DN
			}
			n := ldapdn.Norm(dn)
			if _, ok := byDN[n]; !ok {
				dns = append(dns, dn)
			}
			byDN[n] = append(byDN[n], target{i, c.Name})
		}
	}
	for start := 0; start < len(dns); start += 100 {
		err := dc.Search(ctx, r.Domain, ad.ScopeSubtree, ad.FilterDNs(dns[start:min(start+100, len(dns))]), []string{"objectClass"}, func(e *ldap.Entry) error {
			for _, t := range byDN[ldapdn.Norm(e.DN)] {
				g := &r.Groups[t.group]
				if g.CNTaken == nil {
					g.CNTaken = map[string]string{}
				}
				g.CNTaken[t.cand] = e.DN
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("assess: check the CNs the rename preview would give: %w", err)
		}
	}
	return nil
}

// entriesByDN reads the objects at the given normalised DNs from the Global
// Catalog, 100 to a search, keyed by normalised DN; a DN not found is absent.
func entriesByDN(ctx context.Context, gc Catalog, want map[string]bool, attrs []string) (map[string]*ldap.Entry, error) {
	dns := make([]string, 0, len(want))
	for dn := range want {
		dns = append(dns, dn)
	}
	sort.Strings(dns)
	found := map[string]*ldap.Entry{}
	for start := 0; start < len(dns); start += 100 {
		err := gc.Search(ctx, "", ad.ScopeSubtree, ad.FilterDNs(dns[start:min(start+100, len(dns))]), attrs, func(e *ldap.Entry) error {
			found[ldapdn.Norm(e.DN)] = e
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return found, nil
}

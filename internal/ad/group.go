package ad

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/writeback/writeback/internal/ldapdn"
)

// groupType values (flags: 0x80000000 security, 0x2 global, 0x4 domain local, 0x8 universal).
const (
	GroupTypeGlobalSecurity          int32 = -2147483646
	GroupTypeDomainLocalSecurity     int32 = -2147483644
	GroupTypeUniversalSecurity       int32 = -2147483640
	GroupTypeUniversalDistribution   int32 = 8
	GroupTypeGlobalDistribution      int32 = 2
	GroupTypeDomainLocalDistribution int32 = 4
)

// Group is an AD group as writeback reads it.
type Group struct {
	DN               string
	CN               string
	Anchor           string // msDS-ExternalDirectoryObjectId
	AdminDescription string
	SAMAccountName   string
	Description      string
	DisplayName      string
	Mail             string
	GUID             GUID
	SID              string
	GroupType        int32
	Members          []string // DNs; only when GroupQuery.WithMembers
	// MemberIDs[i] is the objectGUID and objectSid of Members[i]; only when
	// GroupQuery.MemberIDs.
	MemberIDs   []MemberID
	USNChanged  int64
	WhenChanged string
	// Attrs holds the other attributes asked for in GroupQuery.ExtraAttrs, keyed lower-case.
	Attrs map[string][]string
}

// GroupQuery says what to read with each group.
type GroupQuery struct {
	WithMembers bool // read member (ranged retrieval past 1500 values)
	// MemberIDs also returns each member's objectGUID and objectSid, from the
	// same search (the extended DN control), so a caller can map the objects
	// it knows by GUID or SID to their current DN without looking them up.
	MemberIDs  bool
	ExtraAttrs []string // more attributes, returned in Group.Attrs
	Scope      Scope    // default ScopeSubtree
}

var groupAttrs = []string{"cn", AttrExternalDirectoryObjectID, "adminDescription", "sAMAccountName",
	"description", "displayName", "mail", "objectGUID", "objectSid", "groupType", "uSNChanged", "whenChanged"}

// Groups streams the groups under base matching filter (ANDed with
// objectCategory=group; "" for all groups).
func (c *Conn) Groups(ctx context.Context, base, filter string, q GroupQuery, fn func(Group) error) error {
	f := "(objectCategory=group)"
	if filter != "" {
		if !strings.HasPrefix(filter, "(") {
			filter = "(" + filter + ")"
		}
		f = "(&(objectCategory=group)" + filter + ")"
	}
	attrs := append([]string(nil), groupAttrs...)
	switch {
	case q.WithMembers && q.MemberIDs:
		// With their GUIDs and SIDs, members come in bounded ranges: a
		// group of 225,000 members asked whole took longer than any request
		// timeout on Samba (see memberIDRange).
		attrs = append(attrs, fmt.Sprintf("member;range=0-%d", memberIDRange-1))
	case q.WithMembers:
		attrs = append(attrs, "member")
	}
	attrs = append(attrs, q.ExtraAttrs...)
	scope := q.Scope
	if scope == 0 && base != "" {
		scope = ScopeSubtree
	}
	var ctls []ldap.Control
	if q.WithMembers && q.MemberIDs {
		ctls = []ldap.Control{extendedDNControl{}}
	}
	// A group whose members did not all come with the page is completed
	// after the paged search: Samba drops a paged search whose next page is
	// asked for after a long pause (a 225,000-member group's ranges took
	// about 90 s in requests of 5,000), answering "unwilling to perform".
	// Meanwhile it waits with its first range in the compact form fn gets,
	// not as the decoded response (at L, tens of MB for the whole search).
	type partial struct {
		g    Group
		next int
	}
	var rest []partial
	err := c.search(ctx, base, scope, f, attrs, ctls, func(e *ldap.Entry) error {
		g, next, err := groupFromEntry(e, q, ctls)
		if err != nil {
			return err
		}
		if next >= 0 {
			rest = append(rest, partial{g, next})
			return nil
		}
		return fn(g)
	})
	if err != nil {
		return err
	}
	for i := range rest {
		g, next := rest[i].g, rest[i].next
		rest[i] = partial{} // its values are in g now
		step := 0
		if len(ctls) > 0 {
			step = memberIDRange
		}
		if err := c.moreRanges(ctx, g.DN, "member", next, ctls, step, func(v []string) { g.addMembers(v, len(ctls) > 0) }); err != nil {
			return err
		}
		if err := fn(g); err != nil {
			return err
		}
	}
	return nil
}

// addMembers appends member values: extended DNs (ext) are kept as the DN
// and its identifiers.
func (g *Group) addMembers(vals []string, ext bool) {
	if !ext {
		g.Members = append(g.Members, vals...)
		return
	}
	// Sized a range at a time: appending value by value to the 250,000
	// members of a large group reallocated both slices up to twice its size.
	g.Members = slices.Grow(g.Members, len(vals))
	g.MemberIDs = slices.Grow(g.MemberIDs, len(vals))
	for _, v := range vals {
		dn, guid, sid := ParseExtendedDN(v)
		g.MemberIDs = append(g.MemberIDs, MemberID{GUID: guid, SID: sid})
		// A copy: the DN alone is half the extended value, and a large
		// round holds hundreds of thousands of them.
		g.Members = append(g.Members, strings.Clone(dn))
	}
}

// groupFromEntry builds the group in e; with members, those e holds, and
// where the rest start (-1: none missing; see Conn.moreRanges).
func groupFromEntry(e *ldap.Entry, q GroupQuery, ctls []ldap.Control) (g Group, next int, err error) {
	next = -1
	if len(ctls) > 0 {
		// The extended DN control extends every DN in the response: the
		// entry's own and those of DN-valued extra attributes too.
		e.DN, _, _ = ParseExtendedDN(e.DN)
		for _, a := range e.Attributes {
			if n, _, _, _ := parseRange(a.Name); strings.EqualFold(n, "member") {
				continue
			}
			for i, v := range a.Values {
				a.Values[i], _, _ = ParseExtendedDN(v)
			}
		}
	}
	g = Group{
		DN:               e.DN,
		CN:               e.GetEqualFoldAttributeValue("cn"),
		Anchor:           e.GetEqualFoldAttributeValue(AttrExternalDirectoryObjectID),
		AdminDescription: e.GetEqualFoldAttributeValue("adminDescription"),
		SAMAccountName:   e.GetEqualFoldAttributeValue("sAMAccountName"),
		Description:      e.GetEqualFoldAttributeValue("description"),
		DisplayName:      e.GetEqualFoldAttributeValue("displayName"),
		Mail:             e.GetEqualFoldAttributeValue("mail"),
		WhenChanged:      e.GetEqualFoldAttributeValue("whenChanged"),
	}
	if b := e.GetEqualFoldRawAttributeValue("objectGUID"); len(b) > 0 {
		guid, err := GUIDFromAD(b)
		if err != nil {
			return g, -1, fmt.Errorf("group %s: %w", e.DN, err)
		}
		g.GUID = guid
	}
	if b := e.GetEqualFoldRawAttributeValue("objectSid"); len(b) > 0 {
		g.SID, _ = SIDFromAD(b)
	}
	if v := e.GetEqualFoldAttributeValue("groupType"); v != "" {
		n, _ := strconv.ParseInt(v, 10, 64)
		g.GroupType = int32(n)
	}
	g.USNChanged, _ = strconv.ParseInt(e.GetEqualFoldAttributeValue("uSNChanged"), 10, 64)
	if q.WithMembers {
		g.addMembers(rangeValues(e, "member"), len(ctls) > 0)
		next = nextRange(e, "member")
	}
	if len(q.ExtraAttrs) > 0 {
		g.Attrs = make(map[string][]string, len(q.ExtraAttrs))
		for _, a := range q.ExtraAttrs {
			if v := e.GetEqualFoldAttributeValues(a); len(v) > 0 {
				g.Attrs[strings.ToLower(a)] = v
			}
		}
	}
	return g, next, nil
}

// GroupByAnchor finds the group whose msDS-ExternalDirectoryObjectId is anchor
// (e.g. "Group_<objectId>") under base; nil, nil when there is none.
func (c *Conn) GroupByAnchor(ctx context.Context, base, anchor string, withMembers bool) (*Group, error) {
	var found []Group
	err := c.Groups(ctx, base, "("+AttrExternalDirectoryObjectID+"="+EscapeFilter(anchor)+")", GroupQuery{WithMembers: withMembers}, func(g Group) error {
		found = append(found, g)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find group with anchor %s: %w", anchor, err)
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return &found[0], nil
	}
	dns := make([]string, len(found))
	for i, g := range found {
		dns[i] = g.DN
	}
	return nil, fmt.Errorf("anchor %s is on %d groups (%s): remove it from all but one", anchor, len(found), strings.Join(dns, "; "))
}

// GroupByDN reads the group at dn; nil, nil when it does not exist.
func (c *Conn) GroupByDN(ctx context.Context, dn string, withMembers bool) (*Group, error) {
	var out *Group
	err := c.Groups(ctx, dn, "", GroupQuery{WithMembers: withMembers, Scope: ScopeBase}, func(g Group) error {
		out = &g
		return nil
	})
	if IsNoSuchObject(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read group %s: %w", dn, err)
	}
	return out, nil
}

// Add creates an object with the given attributes (empty values are skipped).
func (c *Conn) Add(ctx context.Context, dn string, attrs map[string][]string) error {
	return c.add(ctx, "create", dn, attrs)
}

func (c *Conn) add(ctx context.Context, what, dn string, attrs map[string][]string) error {
	req := ldap.NewAddRequest(dn, nil)
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if vals := nonEmpty(attrs[k]); len(vals) > 0 {
			req.Attribute(k, vals)
		}
	}
	return opErr(what, dn, c.do(ctx, func(l *ldap.Conn) error { return l.Add(req) }))
}

// CreateGroup creates a group at dn. objectClass defaults to group and groupType
// to universal security; attrs may override both.
func (c *Conn) CreateGroup(ctx context.Context, dn string, attrs map[string][]string) error {
	a := make(map[string][]string, len(attrs)+2)
	for k, v := range attrs {
		a[k] = v
	}
	if !hasKey(a, "objectClass") {
		a["objectClass"] = []string{"top", "group"}
	}
	if !hasKey(a, "groupType") {
		a["groupType"] = []string{strconv.Itoa(int(GroupTypeUniversalSecurity))}
	}
	return c.add(ctx, "create group", dn, a)
}

// CreateOU creates an organizational unit; an existing one is not an error.
func (c *Conn) CreateOU(ctx context.Context, dn string) error {
	err := c.add(ctx, "create OU", dn, map[string][]string{"objectClass": {"top", "organizationalUnit"}})
	if IsAlreadyExists(err) {
		return nil
	}
	return err
}

// Modify replaces each attribute's values; an empty slice deletes the attribute
// (no error if it was already absent).
func (c *Conn) Modify(ctx context.Context, dn string, replace map[string][]string) error {
	if len(replace) == 0 {
		return nil
	}
	req := ldap.NewModifyRequest(dn, nil)
	for _, k := range slices.Sorted(maps.Keys(replace)) {
		req.Replace(k, nonEmpty(replace[k]))
	}
	return opErr("modify", dn, c.retry(ctx, func(l *ldap.Conn) error { return l.Modify(req) }))
}

// SwapValue changes attr from old to new in one modify that deletes the value
// old and adds new, so the server applies it only if attr still holds old: a
// compare-and-swap. old nil means attr must be absent (the add then fails on a
// single-valued attribute that has a value); new nil leaves it absent. When
// the value changed since it was read, the whole modify fails (LDAP 16
// noSuchAttribute; 19 or 20 when old was nil) and nothing is written. It is
// never retried: after a lost answer the retry would fail on our own write.
func (c *Conn) SwapValue(ctx context.Context, dn, attr string, old, new *string) error {
	if old == nil && new == nil {
		return nil
	}
	req := ldap.NewModifyRequest(dn, nil)
	if old != nil {
		req.Delete(attr, []string{*old})
	}
	if new != nil {
		req.Add(attr, []string{*new})
	}
	return opErr("swap "+attr+" of", dn, c.do(ctx, func(l *ldap.Conn) error { return l.Modify(req) }))
}

// MaxMemberBatch is the most member values writeback puts in one modify:
// Microsoft advises "no more than 5,000 operations per LDAP transaction",
// beyond which a DC may hit resource limits and roll the whole modify back.
const MaxMemberBatch = 5000

// PermissiveModifyOID is LDAP_SERVER_PERMISSIVE_MODIFY_OID: with it a
// Windows DC answers success for a member that is already there or already
// gone ([MS-ADTS] 3.1.1.3.4.1.8), so one such value does not fail its batch.
const PermissiveModifyOID = "1.2.840.113556.1.4.1413"

// Busy-DC retries of a member batch; variables so tests can shorten them.
var (
	busyRetries = 4
	busyBackoff = 500 * time.Millisecond
)

// AddMembers adds member values to the group at dn in batches of ad.memberBatch,
// sent with the permissive-modify control when the DC supports it. A value
// the DC says is already there (LDAP 68 with Win32 00000562 on Windows,
// "already exists" on Samba, which ignores the control for member; or
// confirmed by a search) counts as done. When a batch fails for a reason
// tied to its values it is split to find the offending ones, so one bad
// member does not block the others; their errors are joined. A busy or
// unavailable DC (51/52) is retried with backoff, not split.
func (c *Conn) AddMembers(ctx context.Context, dn string, members []string) error {
	return c.changeMembers(ctx, dn, members, true)
}

// RemoveMembers removes member values in batches. A value the DC says is
// not there (LDAP 53 with Win32 00000561 on Windows, "doesn't exist" or 16
// on an empty group on Samba; or confirmed by a search) counts as done. Any
// other refusal, e.g. 53 by policy, is an error for that member.
func (c *Conn) RemoveMembers(ctx context.Context, dn string, members []string) error {
	return c.changeMembers(ctx, dn, members, false)
}

func (c *Conn) changeMembers(ctx context.Context, dn string, members []string, add bool) error {
	var errs []error
	batch := min(c.batch, MaxMemberBatch)
	for start := 0; start < len(members); start += batch {
		end := min(start+batch, len(members))
		if err := c.memberBatch(ctx, dn, members[start:end], add, &errs); err != nil {
			return err // the group itself, the connection or ctx failed: stop
		}
	}
	return errors.Join(errs...)
}

// permissiveControls is the permissive-modify control when the DC lists
// it in its RootDSE (read once per connection), else nil.
func (c *Conn) permissiveControls(ctx context.Context) []ldap.Control {
	c.permOnce.Do(func() {
		req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"supportedControl"}, nil)
		var res *ldap.SearchResult
		err := c.retry(ctx, func(l *ldap.Conn) (err error) { res, err = l.Search(req); return err })
		if err != nil || len(res.Entries) != 1 {
			return // without the control the split path still gets there
		}
		c.permissive = slices.Contains(res.Entries[0].GetAttributeValues("supportedControl"), PermissiveModifyOID)
	})
	if !c.permissive {
		return nil
	}
	return []ldap.Control{ldap.NewControlString(PermissiveModifyOID, false, "")}
}

// memberBatch applies one batch; value-level failures are appended to errs,
// failures that doom every value are returned.
func (c *Conn) memberBatch(ctx context.Context, dn string, vals []string, add bool, errs *[]error) error {
	op := "remove members from"
	if add {
		op = "add members to"
	}
	req := ldap.NewModifyRequest(dn, c.permissiveControls(ctx))
	if add {
		req.Add("member", vals)
	} else {
		req.Delete("member", vals)
	}
	var err error
	for attempt, wait := 0, busyBackoff; ; attempt, wait = attempt+1, 2*wait {
		err = c.retry(ctx, func(l *ldap.Conn) error { return l.Modify(req) })
		if !isBusy(Code(err)) || attempt == busyRetries {
			break
		}
		c.log.Warn("AD is busy; retrying the member change", "group", dn, "values", len(vals), "code", Code(err), "in", wait)
		select {
		case <-ctx.Done():
			return opErr(op, dn, errors.Join(ctx.Err(), err))
		case <-time.After(wait):
		}
	}
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return opErr(op, dn, err)
	}
	code := Code(err)
	switch {
	case !valueLevel(code):
		// not about a value: splitting would only repeat it per member
		if isBusy(code) {
			return fmt.Errorf("%w: the DC stayed busy after %d retries; writeback retries next round", opErr(op, dn, err), busyRetries)
		}
		return opErr(op, dn, err)
	case code == CodeNoSuchObject:
		// the group itself, or a member DN? Servers differ in matchedDN, so ask.
		if e, serr := c.SearchOne(ctx, dn, []string{"1.1"}); serr != nil || e == nil {
			return opErr(op, dn, err)
		}
	}
	if len(vals) == 1 {
		done, cerr := c.alreadyDone(ctx, dn, vals[0], add, err)
		if cerr != nil {
			return cerr
		}
		if done {
			return nil
		}
		*errs = append(*errs, opErr(fmt.Sprintf("%s (member %s)", op, vals[0]), dn, err))
		return nil
	}
	mid := len(vals) / 2
	if err := c.memberBatch(ctx, dn, vals[:mid], add, errs); err != nil {
		return err
	}
	return c.memberBatch(ctx, dn, vals[mid:], add, errs)
}

// isBusy: the DC refused the request for now (51 busy, 52 unavailable),
// not because of its values.
func isBusy(code uint16) bool { return code == CodeBusy || code == CodeUnavailable }

// valueLevel: code can be caused by one of a batch's values, so splitting
// the batch finds it (19, 21, 32 for a member DN, 34, 53, 68, 20, 16, 11
// too many values). Anything else concerns the request or the group.
func valueLevel(code uint16) bool {
	switch code {
	case CodeConstraintViolation, CodeInvalidAttributeSyntax, CodeNoSuchObject, CodeInvalidDNSyntax,
		CodeUnwillingToPerform, CodeEntryAlreadyExists, CodeAttributeOrValueExists, CodeNoSuchAttribute,
		CodeAdminLimitExceeded:
		return true
	}
	return false
}

// alreadyDone decides whether the failed change of one member value (err)
// means the value is already in the wanted state. The code alone does not
// say so: Windows answers 53 for an absent member and for refusals by
// policy alike. A diagnostic that names the membership decides; otherwise
// one base search on the group for (member=value) does.
func (c *Conn) alreadyDone(ctx context.Context, dn, val string, add bool, err error) (bool, error) {
	code := Code(err)
	if !already(code, add) {
		return false, nil
	}
	switch membershipDiagnostic(err) {
	case "present":
		return add, nil
	case "absent":
		return !add, nil
	}
	var found bool
	serr := c.Search(ctx, dn, ScopeBase, "(member="+EscapeFilter(val)+")", []string{"1.1"}, func(*ldap.Entry) error {
		found = true
		return nil
	})
	if serr != nil {
		return false, fmt.Errorf("check whether %s is a member of %s after %v: %w", val, dn, err, serr)
	}
	return found == add, nil
}

// already: the code is one a server gives for a member change that is
// already done (which membershipDiagnostic or a search must confirm).
func already(code uint16, add bool) bool {
	if add {
		return code == CodeEntryAlreadyExists || code == CodeAttributeOrValueExists
	}
	return code == CodeUnwillingToPerform || code == CodeNoSuchAttribute
}

// membershipDiagnostic reads a member change's diagnostic: "present" when
// it says the value is already a member, "absent" when it says it is not
// one, "" when it says neither (then only a search can tell).
func membershipDiagnostic(err error) string {
	var le *ldap.Error
	if !errors.As(err, &le) || le.Err == nil {
		return ""
	}
	d := strings.ToLower(le.Err.Error())
	switch {
	// Windows: Win32 ERROR_MEMBER_IN_ALIAS / ERROR_MEMBER_NOT_IN_ALIAS.
	case strings.HasPrefix(d, "00000562"):
		return "present"
	case strings.HasPrefix(d, "00000561"):
		return "absent"
	// Samba 4.17 (repl_meta_data.c).
	case strings.Contains(d, "already exists for target guid"):
		return "present"
	case strings.Contains(d, "doesn't exist for target guid"):
		return "absent"
	}
	return ""
}

// DiffMembers returns the exact changes that turn current into want, comparing
// DNs case- and escaping-insensitively. Output keeps want's / current's spelling.
func DiffMembers(current, want []string) (add, remove []string) {
	cur := make(map[string]bool, len(current))
	for _, m := range current {
		cur[ldapdn.Norm(m)] = true
	}
	wanted := make(map[string]bool, len(want))
	for _, m := range want {
		n := ldapdn.Norm(m)
		if wanted[n] {
			continue
		}
		wanted[n] = true
		if !cur[n] {
			add = append(add, m)
		}
	}
	seen := make(map[string]bool, len(current))
	for _, m := range current {
		n := ldapdn.Norm(m)
		if !wanted[n] && !seen[n] {
			remove = append(remove, m)
		}
		seen[n] = true
	}
	return add, remove
}

// SetMembers makes dn's member attribute exactly want, reading the current
// values and writing only the differences.
func (c *Conn) SetMembers(ctx context.Context, dn string, want []string) (added, removed int, err error) {
	cur, err := c.Members(ctx, dn)
	if err != nil {
		return 0, 0, err
	}
	add, remove := DiffMembers(cur, want)
	if err := c.RemoveMembers(ctx, dn, remove); err != nil {
		return 0, 0, err
	}
	if err := c.AddMembers(ctx, dn, add); err != nil {
		return 0, len(remove), err
	}
	return len(add), len(remove), nil
}

// Move renames and/or moves dn with ModifyDN. newRDN is "CN=<escaped value>"
// ("" keeps the current RDN); newParent "" keeps the current parent. It returns
// the new DN.
func (c *Conn) Move(ctx context.Context, dn, newRDN, newParent string) (string, error) {
	if newRDN == "" {
		newRDN = ldapdn.FirstRDN(dn)
	}
	req := ldap.NewModifyDNRequest(dn, newRDN, true, newParent)
	op := "rename"
	if newParent != "" {
		op = "move"
	}
	if err := c.do(ctx, func(l *ldap.Conn) error { return l.ModifyDN(req) }); err != nil {
		err = fmt.Errorf("%w (to %s,%s)", opErr(op, dn, err), newRDN, orParent(newParent, dn))
		if newParent != "" {
			err = c.explainDenied(ctx, op, dn, err) // issue 17: deny-delete
		}
		return "", err
	}
	return newRDN + "," + orParent(newParent, dn), nil
}

func orParent(p, dn string) string {
	if p != "" {
		return p
	}
	return ldapdn.Parent(dn)
}

// Delete deletes the leaf object at dn.
func (c *Conn) Delete(ctx context.Context, dn string) error {
	err := opErr("delete", dn, c.do(ctx, func(l *ldap.Conn) error { return l.Del(ldap.NewDelRequest(dn, nil)) }))
	return c.explainDenied(ctx, "delete", dn, err) // issue 17: deny-delete
}

// DeleteTree deletes dn and everything below it, deepest first. A missing dn is
// not an error. (Samba's tree-delete control times out on large subtrees.)
func (c *Conn) DeleteTree(ctx context.Context, dn string) error {
	var dns []string
	err := c.Search(ctx, dn, ScopeSubtree, "(objectClass=*)", []string{"1.1"}, func(e *ldap.Entry) error {
		dns = append(dns, e.DN)
		return nil
	})
	if IsNoSuchObject(err) {
		return nil
	}
	if err != nil {
		return err
	}
	sort.SliceStable(dns, func(i, j int) bool { return depth(dns[i]) > depth(dns[j]) })
	for _, d := range dns {
		if err := c.Delete(ctx, d); err != nil && !IsNoSuchObject(err) {
			return err
		}
	}
	return nil
}

func depth(dn string) int {
	n := 0
	for p := dn; p != ""; p = ldapdn.Parent(p) {
		n++
	}
	return n
}

func hasKey(m map[string][]string, k string) bool {
	for key := range m {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}

func nonEmpty(v []string) []string {
	out := v[:0:0]
	for _, s := range v {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

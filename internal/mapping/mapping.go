// Package mapping owns the attribute mappings from a cloud group to its AD
// group: Cloud Sync's defaults, the administrator's overrides in Microsoft's
// expression language (parsed once, at load), the fixed anchor attributes, and
// writeback's readable unique sAMAccountName default.
package mapping

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/expr"
)

// Defaults are Cloud Sync's default group mappings (reference §1.7), by AD attribute.
var Defaults = map[string]string{
	"cn":          `Append(Append(Left(Trim([displayName]), 51), "_"), Mid([objectId], 25, 12))`,
	"description": `Left(Trim([description]), 448)`,
	"displayName": `[displayName]`,
}

// ConnectSyncCN is the CN Connect Sync group writeback v2 used; map cn to it to
// take over Connect Sync groups without renaming them.
const ConnectSyncCN = `Append("Group_", [objectId])`

// Fixed attributes are the join anchor; they cannot be mapped.
var Fixed = []string{"adminDescription", "msDS-ExternalDirectoryObjectId"}

// reserved are attributes the engine writes itself.
var reserved = map[string]string{
	"member":            "membership is computed from the cloud group's members",
	"objectclass":       "writeback creates objects of class group",
	"grouptype":         "set mappings.groupType instead",
	"distinguishedname": "map cn and parentDistinguishedName instead",
	"objectguid":        "read-only",
	"objectsid":         "read-only",
}

// GroupTypes maps mappings.groupType to the AD value.
var GroupTypes = map[string]int32{
	"universalSecurity":   -2147483640,
	"globalSecurity":      -2147483646,
	"domainLocalSecurity": -2147483644,
}

// Mapping is one compiled attribute mapping.
type Mapping struct {
	Target   string // AD attribute, as configured
	Source   string // expression text ("" for the built-in sAMAccountName default)
	Expr     *expr.Expr
	OnCreate bool
}

// Mapper turns cloud groups into desired AD attributes; safe for concurrent use.
type Mapper struct {
	cn, parent  Mapping
	attrs       []Mapping // every other mapped attribute, sorted by target
	sam         *Mapping  // nil: writeback's default
	samOnCreate bool
	groupType   string
}

// Compile parses every mapping; an error names the mapping and the position.
// defaultParent is the parentDistinguishedName default (ad.targetOU, or
// CN=Users,<domain> as Cloud Sync).
func Compile(m config.Mappings, defaultParent string) (*Mapper, error) {
	mp := &Mapper{samOnCreate: true}
	gt, ok := GroupTypes[orDefault(m.GroupType, "universalSecurity")]
	if !ok {
		return nil, fmt.Errorf("mappings.groupType %q: want universalSecurity, globalSecurity or domainLocalSecurity", m.GroupType)
	}
	mp.groupType = strconv.Itoa(int(gt))

	byTarget := map[string]config.Mapping{}
	for name, v := range m.Attributes {
		l := strings.ToLower(name)
		for _, f := range Fixed {
			if strings.EqualFold(f, name) {
				return nil, fmt.Errorf("mappings.attributes.%s: the anchor attribute is fixed to Append(\"Group_\", [objectId]) and cannot be mapped", name)
			}
		}
		if why, ok := reserved[l]; ok {
			return nil, fmt.Errorf("mappings.attributes.%s cannot be mapped: %s", name, why)
		}
		for other := range byTarget {
			if strings.EqualFold(other, name) {
				return nil, fmt.Errorf("mappings.attributes: %s and %s are the same attribute", other, name)
			}
		}
		byTarget[name] = v
	}
	compile := func(target string, c config.Mapping, def string, defOnCreate bool) (Mapping, error) {
		src, onCreate := def, defOnCreate
		if c.Expression != "" {
			src = c.Expression
		}
		switch c.Apply {
		case "onCreate":
			onCreate = true
		case "always":
			onCreate = false
		case "":
		default:
			return Mapping{}, fmt.Errorf("mappings.attributes.%s.apply %q: want always or onCreate", target, c.Apply)
		}
		e, err := expr.Parse(src)
		if err != nil {
			return Mapping{}, fmt.Errorf("mappings.attributes.%s: %w (expression %s)", target, err, src)
		}
		return Mapping{Target: target, Source: src, Expr: e, OnCreate: onCreate}, nil
	}
	find := func(name string) (string, config.Mapping) {
		for k, v := range byTarget {
			if strings.EqualFold(k, name) {
				return k, v
			}
		}
		return name, config.Mapping{}
	}
	var err error
	_, c := find("cn")
	if mp.cn, err = compile("cn", c, Defaults["cn"], false); err != nil {
		return nil, err
	}
	// The container applies on create by default: changing ad.targetOU must not
	// move every provisioned group, and a group taken over from Connect Sync
	// stays where it is. apply: always enforces the container.
	_, c = find("parentDistinguishedName")
	if mp.parent, err = compile("parentDistinguishedName", c, strconv.Quote(defaultParent), true); err != nil {
		return nil, err
	}
	if k, c := find("sAMAccountName"); c.Expression != "" || c.Apply != "" {
		if c.Expression == "" {
			if c.Apply == "always" {
				return nil, fmt.Errorf("mappings.attributes.sAMAccountName.apply always needs an expression (the default name is chosen once, at create)")
			}
		} else {
			s, err := compile("sAMAccountName", c, "", true)
			if err != nil {
				return nil, err
			}
			s.Target = k
			mp.sam = &s
			mp.samOnCreate = s.OnCreate
		}
	}
	for name, def := range Defaults {
		if name == "cn" {
			continue
		}
		_, c := find(name)
		m, err := compile(name, c, def, false)
		if err != nil {
			return nil, err
		}
		mp.attrs = append(mp.attrs, m)
	}
	for name, c := range byTarget {
		switch strings.ToLower(name) {
		case "cn", "parentdistinguishedname", "samaccountname", "description", "displayname":
			continue
		}
		if c.Expression == "" {
			return nil, fmt.Errorf("mappings.attributes.%s: expression is required", name)
		}
		m, err := compile(name, c, "", false)
		if err != nil {
			return nil, err
		}
		mp.attrs = append(mp.attrs, m)
	}
	sort.Slice(mp.attrs, func(i, j int) bool { return mp.attrs[i].Target < mp.attrs[j].Target })
	return mp, nil
}

// ParentOnCreate reports whether parentDistinguishedName applies on create
// only (the default): a changed target OU then moves no existing group.
func (m *Mapper) ParentOnCreate() bool { return m.parent.OnCreate }

// Mappings lists the compiled mappings, for `writeback provision` and docs.
func (m *Mapper) Mappings() []Mapping {
	out := []Mapping{m.cn, m.parent}
	out = append(out, m.attrs...)
	if m.sam != nil {
		out = append(out, *m.sam)
	} else {
		out = append(out, Mapping{Target: "sAMAccountName", Source: "(writeback default: readable, unique, ≤ 20 characters)", OnCreate: true})
	}
	return out
}

// Properties are the cloud group properties the mappings read (their
// expressions' [attribute] references, directory extensions included), each
// once, for the Graph $select. objectId is the id, always read, and is left
// out.
func (m *Mapper) Properties() []string {
	var out []string
	seen := map[string]bool{"objectid": true, "id": true}
	for _, mp := range m.Mappings() {
		if mp.Expr == nil {
			continue
		}
		for _, a := range mp.Expr.Attributes() {
			if k := strings.ToLower(a); !seen[k] {
				seen[k] = true
				out = append(out, a)
			}
		}
	}
	return out
}

// Group is the cloud group as mappings see it.
type Group struct {
	ID  string
	Raw map[string]any // Graph properties
}

// Result is a group's desired AD shape.
type Result struct {
	CN, Parent         string
	KeepCN, KeepParent bool
	// Attrs: nil/empty value = the attribute must be absent. Attributes whose
	// expression said IgnoreFlowIfNullOrEmpty are left out entirely.
	Attrs    map[string][]string
	OnCreate map[string]bool // lower-case names applied only on create
}

// Unique reports whether a sAMAccountName is free in the domain.
type Unique func(candidate string) (bool, error)

// Map evaluates the mappings for g. exists says the AD group is already there:
// on-create mappings are then not evaluated at all (so no uniqueness lookups).
func (m *Mapper) Map(g Group, exists bool, unique Unique) (Result, error) {
	attrs := Attributes(g)
	ctx := expr.Context{Attrs: attrs, Unique: unique}
	r := Result{Attrs: map[string][]string{}, OnCreate: map[string]bool{}}
	anchor := "Group_" + strings.ToLower(g.ID)
	r.Attrs["adminDescription"] = []string{anchor}
	r.Attrs["msDS-ExternalDirectoryObjectId"] = []string{anchor}
	r.Attrs["groupType"] = []string{m.groupType}

	one := func(mp Mapping) (string, error) {
		v, err := mp.Expr.Eval(ctx)
		if err != nil {
			return "", fmt.Errorf("group %s: mapping %s: %w", g.ID, mp.Target, err)
		}
		return v.Text(), nil
	}
	r.KeepCN = m.cn.OnCreate && exists
	if !r.KeepCN {
		cn, err := one(m.cn)
		if err != nil {
			return r, err
		}
		if strings.TrimSpace(cn) == "" {
			return r, fmt.Errorf("group %s: mapping cn gave an empty name (is displayName empty?)", g.ID)
		}
		if n := len(utf16.Encode([]rune(cn))); n > 64 {
			return r, &RefusedError{GroupID: g.ID, Attr: "cn", Reason: fmt.Sprintf("mapping cn gave %q, %d characters; AD allows 64 (shorten it with Left(...))", cn, n)}
		}
		r.CN = cn
	}
	r.KeepParent = m.parent.OnCreate && exists
	if !r.KeepParent {
		p, err := one(m.parent)
		if err != nil {
			return r, err
		}
		if !strings.Contains(p, "=") {
			return r, fmt.Errorf("group %s: mapping parentDistinguishedName gave %q, not a DN", g.ID, p)
		}
		r.Parent = p
	}
	for _, mp := range m.attrs {
		if mp.OnCreate {
			r.OnCreate[strings.ToLower(mp.Target)] = true
			if exists {
				continue
			}
		}
		v, err := mp.Expr.Eval(ctx)
		if err != nil {
			return r, fmt.Errorf("group %s: mapping %s: %w", g.ID, mp.Target, err)
		}
		if v.IgnoreFlow {
			continue
		}
		vals := v.Values()
		if len(vals) == 1 && vals[0] == "" {
			vals = nil // AD has no empty values: empty = absent
		}
		r.Attrs[mp.Target] = vals
	}
	if m.samOnCreate {
		r.OnCreate["samaccountname"] = true
	}
	// Names AD would refuse, or that disguise themselves, are refused
	// before anything is looked up or written: also on a rename.
	if err := checkValues(g.ID, r); err != nil {
		return r, err
	}
	if exists && m.samOnCreate {
		return r, nil
	}
	if m.sam != nil {
		v, err := m.sam.Expr.Eval(ctx)
		if err != nil {
			return r, fmt.Errorf("group %s: mapping sAMAccountName: %w", g.ID, err)
		}
		if !v.IgnoreFlow && v.Text() != "" {
			r.Attrs[m.sam.Target] = []string{v.Text()}
		}
		if err := checkValues(g.ID, Result{Attrs: map[string][]string{m.sam.Target: r.Attrs[m.sam.Target]}}); err != nil {
			return r, err
		}
		if v.IgnoreFlow || v.Text() == "" {
			return r, nil
		}
		if reason := samProblem(v.Text()); reason != "" {
			return r, &RefusedError{GroupID: g.ID, Attr: "sAMAccountName", Reason: "mapping sAMAccountName gave " + reason + " (fix the mapping or rename the group in Entra)"}
		}
		// Only at create: an existing group's own name is "taken" by itself.
		if !exists && unique != nil {
			ok, err := unique(v.Text())
			if err != nil {
				return r, fmt.Errorf("group %s: check sAMAccountName %q: %w", g.ID, v.Text(), err)
			}
			if !ok {
				return r, &RefusedError{GroupID: g.ID, Attr: "sAMAccountName", Reason: fmt.Sprintf("mapping sAMAccountName gave %q, which a user, group or computer in the domain already has; AD requires it to be unique (make the mapping unique, e.g. append part of the object ID)", v.Text())}
			}
		}
		return r, nil
	}
	sam, err := DefaultSAM(expr.JSONText(g.Raw["displayName"]), g.ID, unique)
	if err != nil {
		return r, fmt.Errorf("group %s: %w", g.ID, err)
	}
	r.Attrs["sAMAccountName"] = []string{sam}
	return r, nil
}

// RefusedError is a group whose mapped values AD would refuse (too long) or
// that disguise its name (bidirectional controls): the group is reported and
// skipped until its name changes in Entra, not planned to fail at every
// apply.
type RefusedError struct {
	GroupID string
	Attr    string // the AD attribute
	Reason  string
}

func (e *RefusedError) Error() string { return "group " + e.GroupID + ": " + e.Reason }

// Limits are the rangeUpper of the AD schema (UTF-16 code units) for the
// attributes writeback maps by default; AD answers a longer value with
// "invalid attribute syntax" (LDAP 21). cn is checked where it is mapped.
var Limits = map[string]int{"displayname": 256, "description": 1024, "samaccountname": 256}

// nameAttrs are the attributes that name the group in pickers, ACL editors
// and logons: a bidirectional control in them can make "‮exe.txt Finance"
// display as another name.
var nameAttrs = map[string]bool{"cn": true, "displayname": true, "samaccountname": true}

// checkValues refuses values past Limits and bidirectional controls in
// names. Refusing beats stripping: the name an administrator sees in Entra
// would otherwise silently differ from the one in AD, and a name made to
// mislead should be seen by a person, not repaired by writeback.
func checkValues(id string, r Result) error {
	vals := map[string][]string{}
	for k, v := range r.Attrs {
		vals[strings.ToLower(k)] = v
	}
	if r.CN != "" {
		vals["cn"] = []string{r.CN}
	}
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		for _, v := range vals[k] {
			if limit, ok := Limits[k]; ok {
				if n := len(utf16.Encode([]rune(v))); n > limit {
					return &RefusedError{GroupID: id, Attr: k, Reason: fmt.Sprintf("%s is %d characters long; AD allows %d (shorten the name in Entra, or map %s with Left(...))", k, n, limit, k)}
				}
			}
			if !nameAttrs[k] {
				continue
			}
			for _, c := range v {
				// Windows refuses a line feed or any other control
				// character in a CN (namingViolation; Samba accepts it)
				// and in a sAMAccountName.
				if unicode.IsControl(c) && k != "displayname" {
					return &RefusedError{GroupID: id, Attr: k, Reason: fmt.Sprintf("%s %q contains %s, a control character, which AD does not allow in a name; rename the group in Entra (or map %s without it)", k, v, controlName(c), k)}
				}
				if IsBidiControl(c) {
					return &RefusedError{GroupID: id, Attr: k, Reason: fmt.Sprintf("%s %q contains %U, a bidirectional control character that can make a name display as another; rename the group in Entra", k, v, c)}
				}
			}
		}
	}
	return nil
}

// controlName names a control character for a person: "a line feed (U+000A)".
func controlName(c rune) string {
	switch c {
	case '\n':
		return "a line feed (U+000A)"
	case '\r':
		return "a carriage return (U+000D)"
	case '\t':
		return "a tab (U+0009)"
	}
	return fmt.Sprintf("%U", c)
}

// samProblem says why AD would refuse s as a sAMAccountName, or "".
// The rules are those DefaultSAM's names follow: none of
// " / \ [ ] : ; | = , + * ? < > @ or a control character, not only spaces
// and periods, and no period at the end.
func samProblem(s string) string {
	if i := strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || strings.ContainsRune(`"/\[]:;|=,+*?<>@`, r)
	}); i >= 0 {
		c, _ := utf8.DecodeRuneInString(s[i:])
		if unicode.IsControl(c) {
			return fmt.Sprintf("%q, which contains %s; AD does not allow control characters in a sAMAccountName", s, controlName(c))
		}
		return fmt.Sprintf("%q, which contains %q; AD does not allow any of \" / \\ [ ] : ; | = , + * ? < > @ in a sAMAccountName", s, c)
	}
	if strings.Trim(s, " .") == "" {
		return fmt.Sprintf("%q, only spaces and periods; AD does not allow that as a sAMAccountName", s)
	}
	if strings.HasSuffix(s, ".") {
		return fmt.Sprintf("%q, which ends in a period; AD does not allow that in a sAMAccountName", s)
	}
	return ""
}

// IsBidiControl reports the explicit embedding, override and isolate
// controls (U+202A–U+202E, U+2066–U+2069).
func IsBidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069
}

// DefaultSAMCandidate is the first sAMAccountName the default would try for
// g; ok is false when sAMAccountName is mapped by an expression.
func (m *Mapper) DefaultSAMCandidate(g Group) (string, bool) {
	if m.sam != nil {
		return "", false
	}
	c, err := DefaultSAM(expr.JSONText(g.Raw["displayName"]), g.ID, nil)
	return c, err == nil
}

// DefaultSAM is writeback's sAMAccountName default: the display name with the
// characters AD forbids removed, at most 20 characters (the pre-Windows 2000
// limit, so the name also works in DOMAIN\name logons and old tools). When it
// is taken, a suffix from the object ID makes it unique:
//
//	"Sales Team EMEA"            -> "Sales Team EMEA"
//	taken                        -> "Sales Team EMEA_89ab"   (15 + _ + last 4 hex)
//	taken                        -> "Sales Team_456789ab"    (11 + _ + last 8 hex)
//	taken                        -> "Sales_0123456789ab"     (7 + _ + last 12 hex: unique per tenant)
func DefaultSAM(displayName, objectID string, unique Unique) (string, error) {
	base := SanitizeSAM(displayName)
	if base == "" {
		base = "group"
	}
	hexID := strings.ReplaceAll(strings.ToLower(objectID), "-", "")
	suffix := func(n int) string {
		if len(hexID) < n {
			return hexID
		}
		return hexID[len(hexID)-n:]
	}
	cands := []string{
		cut(base, 20),
		cut(base, 15) + "_" + suffix(4),
		cut(base, 11) + "_" + suffix(8),
		cut(base, 7) + "_" + suffix(12),
	}
	for _, c := range cands {
		c = strings.TrimRight(c, ". ")
		if c == "" {
			continue
		}
		if unique == nil {
			return c, nil
		}
		ok, err := unique(c)
		if err != nil {
			return "", fmt.Errorf("check sAMAccountName %q: %w", c, err)
		}
		if ok {
			return c, nil
		}
	}
	return "", fmt.Errorf("no unique sAMAccountName for %q (tried %s); map sAMAccountName explicitly", displayName, strings.Join(cands, ", "))
}

// SanitizeSAM drops what AD forbids in sAMAccountName (" / \ [ ] : ; | = , + * ? < > @
// and control characters), makes every run of white space one space (a dropped
// character between two words must not leave two), and trims spaces and
// periods at the ends.
func SanitizeSAM(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = true
			continue
		case unicode.IsControl(r) || IsBidiControl(r) || strings.ContainsRune(`"/\[]:;|=,+*?<>@`, r):
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return strings.Trim(b.String(), " .")
}

// cut keeps at most n UTF-16 units (AD counts them), without splitting a pair.
func cut(s string, n int) string {
	units := 0
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if units+w > n {
			return strings.TrimRight(s[:i], " ")
		}
		units += w
	}
	return s
}

// Attributes renders a cloud group's Graph properties as expression input:
// booleans as True/False, numbers as decimal text, arrays as multi-values,
// null as absent; objectId is the id.
func Attributes(g Group) map[string][]string {
	out := make(map[string][]string, len(g.Raw)+1)
	for k, v := range g.Raw {
		switch x := v.(type) {
		case nil:
		case []any:
			var vals []string
			for _, e := range x {
				if e != nil {
					vals = append(vals, expr.JSONText(e))
				}
			}
			if len(vals) > 0 {
				out[k] = vals
			}
		default:
			out[k] = []string{expr.JSONText(x)}
		}
	}
	out["objectId"] = []string{strings.ToLower(g.ID)}
	if _, ok := out["id"]; !ok {
		out["id"] = []string{strings.ToLower(g.ID)}
	}
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

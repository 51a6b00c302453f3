// Package scope owns the decision whether a cloud group is provisioned: the
// scope mode (all security groups, or selected ones by ID or by membership of a
// scoping group), Microsoft's default security clause, and attribute filters
// with the Entra portal's operators.
package scope

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dlclark/regexp2"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/expr"
)

// Group is what scoping looks at: the typed flags plus every Graph property.
type Group struct {
	ID                    string
	SecurityEnabled       bool
	MailEnabled           bool
	OnPremisesSyncEnabled *bool
	Raw                   map[string]any
}

// Scope is a compiled scope configuration; safe for concurrent use.
type Scope struct {
	mode     string
	selected map[string]bool
	memberOf string
	filters  [][]clause
}

type clause struct {
	attr, op, value string
	re              *regexp2.Regexp
	num             int64
}

// Operators are the accepted clause operators (Microsoft's names).
var Operators = []string{"EQUALS", "NOT EQUALS", "IS TRUE", "IS FALSE", "IS NULL", "IS NOT NULL",
	"REGEX MATCH", "NOT REGEX MATCH", "GREATER_THAN", "GREATER_THAN_OR_EQUALS", "ENDS_WITH", "INCLUDES"}

// New compiles the scope section; errors name the filter and clause.
func New(c config.Scope) (*Scope, error) {
	s := &Scope{mode: c.Mode, memberOf: strings.ToLower(c.MemberOf), selected: map[string]bool{}}
	if s.mode == "" {
		s.mode = "all"
	}
	for _, id := range c.Groups {
		s.selected[strings.ToLower(id)] = true
	}
	for i, f := range c.Filters {
		var cl []clause
		for j, raw := range f.Clauses {
			where := fmt.Sprintf("scope.filters[%d].clauses[%d]", i, j)
			op := normOp(raw.Operator)
			k := clause{attr: raw.Attribute, op: op, value: raw.Value}
			if raw.Attribute == "" {
				return nil, fmt.Errorf("%s: attribute is required", where)
			}
			switch op {
			case "EQUALS", "NOT EQUALS", "ENDS_WITH", "INCLUDES", "IS TRUE", "IS FALSE", "IS NULL", "IS NOT NULL":
			case "REGEX MATCH", "NOT REGEX MATCH":
				re, err := regexp2.Compile(raw.Value, regexp2.None)
				if err != nil {
					return nil, fmt.Errorf("%s: regular expression %q: %w", where, raw.Value, err)
				}
				re.MatchTimeout = 200 * time.Millisecond
				k.re = re
			case "GREATER_THAN", "GREATER_THAN_OR_EQUALS":
				n, err := strconv.ParseInt(strings.TrimSpace(raw.Value), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%s: %s needs an integer value, got %q", where, op, raw.Value)
				}
				k.num = n
			default:
				return nil, fmt.Errorf("%s: operator %q: want one of %s", where, raw.Operator, strings.Join(Operators, ", "))
			}
			cl = append(cl, k)
		}
		if len(cl) > 0 {
			s.filters = append(s.filters, cl)
		}
	}
	return s, nil
}

// Properties are the cloud group properties the scoping filters read, each
// once, for the Graph $select (objectId, the id, is always read and left out).
func (s *Scope) Properties() []string {
	var out []string
	seen := map[string]bool{"objectid": true, "id": true}
	for _, f := range s.filters {
		for _, c := range f {
			if k := strings.ToLower(c.attr); !seen[k] {
				seen[k] = true
				out = append(out, c.attr)
			}
		}
	}
	return out
}

// normOp accepts "IS TRUE", "IS_TRUE", "is true", "NOT_EQUALS", "REGEX_MATCH".
func normOp(op string) string {
	o := strings.ToUpper(strings.TrimSpace(op))
	switch strings.ReplaceAll(o, "_", " ") {
	case "EQUALS", "NOT EQUALS", "IS TRUE", "IS FALSE", "IS NULL", "IS NOT NULL", "REGEX MATCH", "NOT REGEX MATCH":
		return strings.ReplaceAll(o, "_", " ")
	case "GREATER THAN":
		return "GREATER_THAN"
	case "GREATER THAN OR EQUALS":
		return "GREATER_THAN_OR_EQUALS"
	case "ENDS WITH":
		return "ENDS_WITH"
	}
	return o
}

// MemberOfGroup is the scoping group's ID in mode selected ("" when unused).
func (s *Scope) MemberOfGroup() string { return s.memberOf }

// Selected reports whether mode is selected.
func (s *Scope) Selected() bool { return s.mode == "selected" }

// Evaluate decides whether g is in scope. inScopingGroup reports whether g is
// a direct member of the scoping group (mode selected with memberOf). The
// reason says which rule decided, for the provision step report.
func (s *Scope) Evaluate(g Group, inScopingGroup bool) (in bool, reason string) {
	// Microsoft's default clause comes first, whatever the mode.
	switch {
	case !g.SecurityEnabled:
		return false, "not a security group (securityEnabled is false)"
	case g.MailEnabled:
		return false, "mail-enabled groups are not provisioned (mailEnabled is true)"
	case g.OnPremisesSyncEnabled != nil && *g.OnPremisesSyncEnabled:
		return false, "synced from on-premises AD (onPremisesSyncEnabled is true)"
	}
	if s.mode == "selected" {
		id := strings.ToLower(g.ID)
		switch {
		case s.selected[id]:
		case s.memberOf != "" && inScopingGroup:
		case s.memberOf != "" && id == s.memberOf:
			return false, "the scoping group itself is not provisioned"
		default:
			return false, "not selected (neither in scope.groups nor a member of scope.memberOf)"
		}
	}
	if len(s.filters) == 0 {
		return true, "in scope (" + s.mode + ")"
	}
	var failed []string
	for i, f := range s.filters {
		ok, why := evalFilter(f, g.Raw)
		if ok {
			return true, fmt.Sprintf("in scope: filter %d matches", i)
		}
		failed = append(failed, fmt.Sprintf("filter %d: %s", i, why))
	}
	return false, "no scoping filter matches (" + strings.Join(failed, "; ") + ")"
}

func evalFilter(f []clause, raw map[string]any) (bool, string) {
	for _, c := range f {
		v, present := lookup(raw, c.attr)
		if !c.eval(v, present) {
			return false, fmt.Sprintf("%s %s %q is false", c.attr, c.op, c.value)
		}
	}
	return true, ""
}

func lookup(raw map[string]any, name string) (any, bool) {
	if strings.EqualFold(name, "objectId") {
		name = "id"
	}
	if v, ok := raw[name]; ok {
		return v, v != nil
	}
	for k, v := range raw {
		if strings.EqualFold(k, name) {
			return v, v != nil
		}
	}
	return nil, false
}

func (c clause) eval(v any, present bool) bool {
	switch c.op {
	case "IS NULL":
		return !present || expr.JSONText(v) == ""
	case "IS NOT NULL":
		return present && expr.JSONText(v) != ""
	case "IS TRUE":
		return present && strings.EqualFold(expr.JSONText(v), "true")
	case "IS FALSE":
		// Microsoft treats an absent boolean as false.
		return !present || strings.EqualFold(expr.JSONText(v), "false")
	}
	if !present {
		// Null never matches a value comparison; NOT EQUALS on null is true.
		return c.op == "NOT EQUALS"
	}
	vals := []string{}
	if arr, ok := v.([]any); ok {
		for _, x := range arr {
			vals = append(vals, expr.JSONText(x))
		}
	} else {
		vals = append(vals, expr.JSONText(v))
	}
	match := func(f func(string) bool) bool {
		for _, s := range vals {
			if f(s) {
				return true
			}
		}
		return false
	}
	switch c.op {
	case "EQUALS":
		return match(func(s string) bool { return s == c.value })
	case "NOT EQUALS":
		return !match(func(s string) bool { return s == c.value })
	case "ENDS_WITH":
		return match(func(s string) bool { return strings.HasSuffix(s, c.value) })
	case "INCLUDES":
		return match(func(s string) bool { return strings.Contains(s, c.value) })
	case "REGEX MATCH":
		return match(func(s string) bool { ok, err := c.re.MatchString(s); return err == nil && ok })
	case "NOT REGEX MATCH":
		return !match(func(s string) bool { ok, err := c.re.MatchString(s); return err == nil && ok })
	case "GREATER_THAN", "GREATER_THAN_OR_EQUALS":
		return match(func(s string) bool {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return false
			}
			return n > c.num || (c.op == "GREATER_THAN_OR_EQUALS" && n == c.num)
		})
	}
	return false
}

package scope

import (
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/config"
)

func TestEvaluate(t *testing.T) {
	yes := true
	sec := func(id string, raw map[string]any) Group {
		return Group{ID: id, SecurityEnabled: true, Raw: raw}
	}
	filter := func(clauses ...config.Clause) []config.Filter { return []config.Filter{{Clauses: clauses}} }
	tests := []struct {
		name    string
		cfg     config.Scope
		g       Group
		inScope bool
		member  bool
	}{
		{"all: security group", config.Scope{Mode: "all"}, sec("a", nil), true, false},
		{"all: mail-enabled excluded", config.Scope{Mode: "all"}, Group{ID: "a", SecurityEnabled: true, MailEnabled: true}, false, false},
		{"all: distribution excluded", config.Scope{Mode: "all"}, Group{ID: "a"}, false, false},
		{"all: AD-synced excluded", config.Scope{Mode: "all"}, Group{ID: "a", SecurityEnabled: true, OnPremisesSyncEnabled: &yes}, false, false},
		{"selected by id (case-insensitive)", config.Scope{Mode: "selected", Groups: []string{"ABC"}}, sec("abc", nil), true, false},
		{"selected: other id", config.Scope{Mode: "selected", Groups: []string{"abc"}}, sec("x", nil), false, false},
		{"selected by scoping group", config.Scope{Mode: "selected", MemberOf: "s"}, sec("x", nil), true, true},
		{"scoping group itself", config.Scope{Mode: "selected", MemberOf: "s"}, sec("s", nil), false, false},
		{"EQUALS is case-sensitive", config.Scope{Filters: filter(config.Clause{Attribute: "displayName", Operator: "EQUALS", Value: "Sales"})}, sec("a", map[string]any{"displayName": "sales"}), false, false},
		{"EQUALS matches", config.Scope{Filters: filter(config.Clause{Attribute: "displayname", Operator: "EQUALS", Value: "Sales"})}, sec("a", map[string]any{"displayName": "Sales"}), true, false},
		{"REGEX MATCH", config.Scope{Filters: filter(config.Clause{Attribute: "displayName", Operator: "REGEX MATCH", Value: "^APP-"})}, sec("a", map[string]any{"displayName": "APP-crm"}), true, false},
		{"REGEX MATCH false on null", config.Scope{Filters: filter(config.Clause{Attribute: "displayName", Operator: "REGEX MATCH", Value: ".*"})}, sec("a", map[string]any{}), false, false},
		{"NOT REGEX MATCH", config.Scope{Filters: filter(config.Clause{Attribute: "displayName", Operator: "NOT REGEX MATCH", Value: "^tmp"})}, sec("a", map[string]any{"displayName": "tmp-x"}), false, false},
		{"IS TRUE on extension", config.Scope{Filters: filter(config.Clause{Attribute: "extension_abc_WritebackEnabled", Operator: "IS TRUE"})}, sec("a", map[string]any{"extension_abc_WritebackEnabled": true}), true, false},
		{"IS FALSE on absent", config.Scope{Filters: filter(config.Clause{Attribute: "isAssignableToRole", Operator: "IS_FALSE"})}, sec("a", map[string]any{}), true, false},
		{"IS NULL", config.Scope{Filters: filter(config.Clause{Attribute: "description", Operator: "IS NULL"})}, sec("a", map[string]any{"description": nil}), true, false},
		{"IS NOT NULL", config.Scope{Filters: filter(config.Clause{Attribute: "description", Operator: "IS NOT NULL"})}, sec("a", map[string]any{"description": "x"}), true, false},
		{"GREATER_THAN", config.Scope{Filters: filter(config.Clause{Attribute: "n", Operator: "GREATER_THAN", Value: "5"})}, sec("a", map[string]any{"n": float64(6)}), true, false},
		{"GREATER_THAN_OR_EQUALS", config.Scope{Filters: filter(config.Clause{Attribute: "n", Operator: "GREATER_THAN_OR_EQUALS", Value: "5"})}, sec("a", map[string]any{"n": float64(4)}), false, false},
		{"clauses AND", config.Scope{Filters: filter(
			config.Clause{Attribute: "displayName", Operator: "REGEX MATCH", Value: "^A"},
			config.Clause{Attribute: "description", Operator: "EQUALS", Value: "x"})}, sec("a", map[string]any{"displayName": "Ab", "description": "y"}), false, false},
		{"filters OR", config.Scope{Filters: []config.Filter{
			{Clauses: []config.Clause{{Attribute: "displayName", Operator: "EQUALS", Value: "no"}}},
			{Clauses: []config.Clause{{Attribute: "description", Operator: "EQUALS", Value: "y"}}}}}, sec("a", map[string]any{"displayName": "Ab", "description": "y"}), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, why := s.Evaluate(tt.g, tt.member)
			if got != tt.inScope {
				t.Errorf("Evaluate = %v (%s), want %v", got, why, tt.inScope)
			}
			if why == "" {
				t.Error("no reason given")
			}
		})
	}
}

func TestNewErrorsNameTheClause(t *testing.T) {
	for _, tt := range []struct {
		clause config.Clause
		want   string
	}{
		{config.Clause{Attribute: "displayName", Operator: "LIKE"}, `scope.filters[0].clauses[0]: operator "LIKE"`},
		{config.Clause{Attribute: "displayName", Operator: "REGEX MATCH", Value: "(("}, "scope.filters[0].clauses[0]: regular expression"},
		{config.Clause{Attribute: "n", Operator: "GREATER_THAN", Value: "x"}, "needs an integer"},
		{config.Clause{Operator: "IS TRUE"}, "attribute is required"},
	} {
		_, err := New(config.Scope{Filters: []config.Filter{{Clauses: []config.Clause{tt.clause}}}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) error = %v, want it to contain %q", tt.clause, err, tt.want)
		}
	}
}

package main

import "testing"

func TestInitTemplateParses(t *testing.T) {
	c, err := parseTemplate()
	if err != nil {
		t.Fatalf("the template 'writeback init' writes does not parse: %v", err)
	}
	if c.Scope.Mode != "all" || c.Safety.OnDelete != "delete" || c.Safety.OnOutOfScope != "leave" {
		t.Errorf("template defaults: %+v %+v", c.Scope, c.Safety)
	}
}

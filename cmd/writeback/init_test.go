package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

func TestInitTemplateParses(t *testing.T) {
	c, err := parseTemplate()
	if err != nil {
		t.Fatalf("the template 'writeback init' writes does not parse: %v", err)
	}
	if c.Scope.Mode != "all" || c.Safety.OnDelete != "delete" || c.Safety.OnOutOfScope != "leave" {
		t.Errorf("template defaults: %+v %+v", c.Scope, c.Safety)
	}
}

// 'writeback init > other.yaml': the template goes into other.yaml, and
// no writeback.yaml appears beside it.
func TestInitRedirectedToAnotherName(t *testing.T) {
	t.Chdir(t.TempDir())
	f, err := os.Create("other.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"init"}, f, &errb); code != 0 {
		t.Fatalf("init > other.yaml: exit %d: %s", code, errb.String())
	}
	if b, _ := os.ReadFile("other.yaml"); string(b) != configTemplate {
		t.Errorf("other.yaml holds %q, want the template", b)
	}
	if _, err := os.Stat("writeback.yaml"); !os.IsNotExist(err) {
		t.Errorf("init > other.yaml also created writeback.yaml (%v)", err)
	}
	if errb.Len() != 0 {
		t.Errorf("stderr: %s", errb.String())
	}
}

// 'writeback init | less': the template goes down the pipe, no file is written.
func TestInitPiped(t *testing.T) {
	t.Chdir(t.TempDir())
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	var errb bytes.Buffer
	code := dispatch(context.Background(), []string{"init"}, w, &errb)
	w.Close()
	if code != 0 {
		t.Fatalf("init | less: exit %d: %s", code, errb.String())
	}
	if b := <-got; string(b) != configTemplate {
		t.Errorf("the pipe got %d bytes, want the template (%d)", len(b), len(configTemplate))
	}
	if ents, _ := os.ReadDir("."); len(ents) != 0 {
		t.Errorf("init | less wrote %s", ents[0].Name())
	}
}

// 'writeback init FILE' writes FILE, says so on stderr (stdout stays
// empty), refuses to overwrite it, and overwrites it with --force.
func TestInitPathArgument(t *testing.T) {
	t.Chdir(t.TempDir())
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"init", "conf.yaml"}, &out, &errb); code != 0 {
		t.Fatalf("init conf.yaml: exit %d: %s", code, errb.String())
	}
	if b, _ := os.ReadFile("conf.yaml"); string(b) != configTemplate {
		t.Errorf("conf.yaml holds %d bytes, want the template", len(b))
	}
	if out.Len() != 0 || !strings.Contains(errb.String(), "Wrote conf.yaml") {
		t.Errorf("stdout %q, stderr %q: want nothing on stdout and 'Wrote conf.yaml' on stderr", out.String(), errb.String())
	}
	if err := os.WriteFile("conf.yaml", []byte("mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if code := dispatch(context.Background(), []string{"init", "conf.yaml"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "already exists") {
		t.Errorf("init over an existing file: exit %d: %s", code, errb.String())
	}
	if b, _ := os.ReadFile("conf.yaml"); string(b) != "mine\n" {
		t.Errorf("init without --force changed an existing file")
	}
	if code := dispatch(context.Background(), []string{"init", "--force", "conf.yaml"}, &out, &errb); code != 0 {
		t.Errorf("init --force: exit %d: %s", code, errb.String())
	}
	if b, _ := os.ReadFile("conf.yaml"); string(b) != configTemplate {
		t.Errorf("init --force did not overwrite conf.yaml")
	}
}

// On a terminal, plain 'writeback init' writes writeback.yaml, as the
// README says, and not over an existing one.
func TestInitOnATerminal(t *testing.T) {
	t.Chdir(t.TempDir())
	var out, errb bytes.Buffer
	if err := writeInit(initArgs{}, &out, &errb, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile("writeback.yaml"); string(b) != configTemplate {
		t.Errorf("writeback.yaml holds %d bytes, want the template", len(b))
	}
	if out.Len() != 0 || !strings.Contains(errb.String(), "Wrote writeback.yaml") {
		t.Errorf("stdout %q, stderr %q", out.String(), errb.String())
	}
	if err := writeInit(initArgs{}, &out, &errb, true); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a second init on a terminal: %v, want 'already exists'", err)
	}
}

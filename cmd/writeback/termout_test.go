package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A log line written while a bar is on screen clears the bar's line, stands
// on a line of its own, and the bar is drawn again below it.
func TestLogLinesAboveTheBar(t *testing.T) {
	var screen bytes.Buffer
	term := newTermOut(&screen)
	log := slog.New(slog.NewTextHandler(term, nil))
	term.draw("write [###...] 3/10 changes")
	log.Info("applied", "group", "g1")
	term.keep()
	got := screen.String()
	want := "\r\033[Kwrite [###...] 3/10 changes\r\033[Ktime="
	if !strings.HasPrefix(got, want) {
		t.Fatalf("screen %q: the log line does not start on the cleared bar line", got)
	}
	if !strings.HasSuffix(got, "msg=applied group=g1\nwrite [###...] 3/10 changes\n") {
		t.Errorf("screen %q: want the log line whole, then the bar again, kept", got)
	}
	// Without a bar, log output passes through untouched.
	screen.Reset()
	term.Write([]byte("plain\n"))
	if screen.String() != "plain\n" {
		t.Errorf("no bar: %q", screen.String())
	}
}

func TestColorLines(t *testing.T) {
	var out bytes.Buffer
	c := &colorWriter{w: &out}
	c.Write([]byte("  # group \"A\" (1) will be created\n  + group CN=A\n      ~ description = \"x\" -> \"y\"\n      - members: 1 to remove (b)\nPlan: 1 to create\n  Enter a value: "))
	c.Write([]byte("+ not a line start\n"))
	want := ansiBold + "  # group \"A\" (1) will be created" + ansiReset + "\n" +
		ansiGreen + "  + group CN=A" + ansiReset + "\n" +
		ansiYellow + "      ~ description = \"x\" -> \"y\"" + ansiReset + "\n" +
		ansiRed + "      - members: 1 to remove (b)" + ansiReset + "\n" +
		ansiBold + "Plan: 1 to create" + ansiReset + "\n" +
		"  Enter a value: + not a line start\n"
	if out.String() != want {
		t.Errorf("coloured:\n%q\nwant\n%q", out.String(), want)
	}
	// Not a terminal (a buffer, a pipe, a file): no colour at all.
	if w := colorOutput(&out); w != &out {
		t.Error("colorOutput coloured a non-terminal")
	}
}

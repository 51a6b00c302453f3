package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"time"
)

// Set at build time by scripts/package.sh:
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=abc123 -X main.date=2026-12-04T10:00:00Z"
//
// A plain `go build` leaves them empty and buildInfo falls back to what the
// Go toolchain recorded (module version, VCS revision and time).
var version, commit, date string

// buildVersion is what this binary says it is, everywhere it says so
// (`writeback version`, status, the status page, the build_info metric).
type buildVersion struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func (b buildVersion) String() string {
	s := "writeback " + b.Version
	if b.Commit != "" {
		s += " (commit " + b.Commit
		if b.Date != "" {
			s += ", built " + b.Date
		}
		s += ")"
	}
	return s + " " + b.GoVersion + " " + b.Platform
}

func buildInfo() buildVersion {
	b := buildVersion{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Commit == "":
				b.Commit = s.Value
			case s.Key == "vcs.time" && b.Date == "":
				b.Date = s.Value
			case s.Key == "vcs.modified" && s.Value == "true" && b.Commit != "" && commit == "":
				b.Commit += "-dirty"
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if len(b.Commit) > 12 && commit == "" {
		b.Commit = b.Commit[:12]
	}
	if t, err := time.Parse(time.RFC3339, b.Date); err == nil {
		b.Date = t.UTC().Format(time.RFC3339)
	}
	return b
}

// versionArgs are version's flags.
type versionArgs struct {
	json bool
}

func parseVersionArgs(args []string, stderr io.Writer) (versionArgs, error) {
	var a versionArgs
	fs := newFlagSet("version", `Usage: writeback version [--json]

Prints the release version, the commit and the build date of this binary
(also shown by 'writeback status' and on the status page). 'writeback
--version' is the same.
`, stderr)
	asJSON := jsonFlags(fs, "print JSON")
	if err := parseNoArgs(fs, args, stderr); err != nil {
		return a, err
	}
	a.json = *asJSON
	return a, nil
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseVersionArgs(args, usageTo(stdout, stderr))
	if err != nil {
		return err
	}
	b := buildInfo()
	if a.json {
		return writeJSON(stdout, b)
	}
	_, err = fmt.Fprintln(stdout, b)
	return err
}

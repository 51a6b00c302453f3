package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// report is what one wbbench invocation measured.
type report struct {
	Date     time.Time         `json:"date"`
	Machine  map[string]string `json:"machine"`
	Versions map[string]string `json:"versions"`
	Runs     []sizeResult      `json:"runs"`
}

// writeReport writes DIR/<date>.json and .md, and latest.json / latest.md.
// A plan probe writes probe-<date> and probe-latest instead.
func writeReport(dir string, r report, probe bool) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	md := markdown(r)
	stamp, latest := r.Date.Format("2006-01-02T1504Z"), "latest"
	if probe {
		stamp, latest = "probe-"+stamp, "probe-latest"
	}
	for name, data := range map[string][]byte{
		stamp + ".json": b, latest + ".json": b,
		stamp + ".md": []byte(md), latest + ".md": []byte(md),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
	}
	return nil
}

func markdown(r report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## writeback benchmark, %s\n\n", r.Date.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Machine: %s, %s CPUs, %s RAM, load at start %s. ", r.Machine["cpu"], r.Machine["cpus"], r.Machine["memTotal"], r.Machine["loadAtStart"])
	fmt.Fprintf(&b, "Versions: writeback %s (commit %s), %s, %s.\n\n", r.Versions["writeback"], r.Versions["commit"], r.Versions["go"], r.Versions["samba"])
	b.WriteString("| size | measure | value | target | met |\n|---|---|---|---|---|\n")
	for _, s := range r.Runs {
		z := s.Size
		row := func(m, v, target, met string) {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", z.Name, m, v, target, met)
		}
		row("tenant", fmt.Sprintf("%d groups, %d memberships, %d users (%d in AD), %d nested, largest %d", z.Groups, z.Memberships, z.Users, z.ADUsers, z.Nested, z.Largest), "", "")
		firstSyncRows(s, row)
		roundRows(s, row)
		memoryRows(s, row)
		otherRows(s, row)
	}
	return b.String()
}

// yes is a table cell: whether a target is met.
func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// rowFunc writes one row of the table: measure, value, target, met.
type rowFunc func(measure, value, target, met string)

// firstSyncRows: (1) the raw directory limit and (2) the first full sync.
func firstSyncRows(s sizeResult, row rowFunc) {
	if x := s.Raw; x != nil {
		var runs []string
		for _, r := range s.RawRuns {
			if r.Conns > 0 {
				runs = append(runs, fmt.Sprintf("%d connections %.1f s (creates %.1f s)", r.Conns, r.Seconds, r.CreatesSeconds))
			} else {
				runs = append(runs, fmt.Sprintf("%d in flight %.1f s (creates %.1f s)", r.InFlight, r.Seconds, r.CreatesSeconds))
			}
		}
		if len(runs) == 0 { // results of the one-connection-only bench
			runs = append(runs, fmt.Sprintf("1 conn %.1f s (creates %.1f s)", x.Seconds, x.CreatesSeconds))
		}
		row("(1) raw directory limit (plain go-ldap on 1 connection, the faster of 1 request in flight and as many as writeback's workers)", fmt.Sprintf("**%.1f s**: %s; %d adds, %d member modifies (%d values, batch %d)", x.Seconds, strings.Join(runs, ", "), x.Creates, x.MemberWrites, x.MemberValues, x.Batch), "", "")
	}
	if x := s.FirstSync; x != nil && s.Raw == nil {
		row("(2) first full sync, `writeback apply`", fmt.Sprintf("%.1f s (write phase %.1f s; raw loop skipped); %d LDAP writes, %d Graph requests, %d unresolved members reported, %d groups failed", x.Seconds, x.ApplyPhaseSeconds, x.LDAPWrites, x.GraphReqs, x.Unresolved, x.Failed), "≤ 1.25x", "not measured")
	} else if x != nil {
		val := fmt.Sprintf("%.1f s = **%.2fx** raw (write phase %.1f s = %.2fx); %d LDAP writes, %d Graph requests, %d unresolved members reported, %d groups failed", x.Seconds, x.RatioToRaw, x.ApplyPhaseSeconds, x.ApplyPhaseSeconds/s.Raw.Seconds, x.LDAPWrites, x.GraphReqs, x.Unresolved, x.Failed)
		if len(s.Repeats) > 1 {
			var rounds []string
			for _, r := range s.Repeats {
				if r.Raw != nil {
					rounds = append(rounds, fmt.Sprintf("%.1f / %.1f s = %.2fx", r.FirstSync.Seconds, r.Raw.Seconds, r.FirstSync.RatioToRaw))
				}
			}
			val = fmt.Sprintf("median of %d rounds (apply / raw, each from the same directory): %s; the median round: %s", len(s.Repeats), strings.Join(rounds, ", "), val)
		}
		row("(2) first full sync, `writeback apply`", val, "≤ 1.25x", yes(x.RatioToRaw <= 1.25))
	}
}

// roundRows: (3) no-change rounds and (4) latencies.
func roundRows(s sizeResult, row rowFunc) {
	z := s.Size
	if x := s.NoChange; x != nil {
		row("(3) no-change round (incremental, `run --once`)", fmt.Sprintf("round %.3f s (process %.2f s); %d Graph requests, %d LDAP searches, %d LDAP writes", x.RoundSeconds, x.WallSeconds, x.GraphReqs, x.LDAPSearches, x.LDAPWrites), "0 writes", yes(x.LDAPWrites == 0))
	}
	if x := s.NoChangeFull; x != nil {
		target, met := "0 writes", yes(x.LDAPWrites == 0)
		if z.Name == "M" {
			target, met = "< 5 s, 0 writes", yes(x.LDAPWrites == 0 && x.RoundSeconds < 5)
		}
		val := fmt.Sprintf("round %.2f s (process %.2f s); %d Graph requests, %d LDAP searches, %d LDAP writes", x.RoundSeconds, x.WallSeconds, x.GraphReqs, x.LDAPSearches, x.LDAPWrites)
		if c := x.CPU; c != nil {
			val += fmt.Sprintf("; CPU time writeback %.1f s, Samba %.1f s, emulator %.1f s", c.Writeback, c.Directory, c.Emulator)
		}
		row("(3) no-change round (full reconcile)", val, target, met)
	}
	if x := s.Latency; x != nil {
		row("(4) incremental latency, change in emulator → readable in AD", fmt.Sprintf("%d changes, interval %.0f s: p50 %.2f s, p95 **%.2f s**, max %.2f s, %d timed out", len(x.All), x.Interval, x.P50, x.P95, x.Max, x.TimedOut), fmt.Sprintf("p95 < %.0f s", x.Interval+2), yes(x.P95 < x.Interval+2 && x.TimedOut == 0))
	}
	if x := s.Repair; x != nil {
		row("(4b) repair latency, edit by hand in AD → undone in AD", fmt.Sprintf("%d edits, interval %.0f s: p50 %.2f s, p95 **%.2f s**, max %.2f s, %d timed out", len(x.All), x.Interval, x.P50, x.P95, x.Max, x.TimedOut), fmt.Sprintf("p95 < %.0f s", x.Interval+2), yes(x.P95 < x.Interval+2 && x.TimedOut == 0))
	}
}

// memoryRows: (5) peak RSS of the writeback process.
func memoryRows(s sizeResult, row rowFunc) {
	z := s.Size
	var rss []string
	peak := 0.0
	addRSS := func(what string, mib float64, split string) {
		if split != "" {
			split = " (" + split + ")"
		}
		rss = append(rss, fmt.Sprintf("%s %.0f MiB%s", what, mib, split))
		peak = max(peak, mib)
	}
	if x := s.FirstSync; x != nil {
		addRSS("apply", x.PeakRSSMiB, x.PeakSplit)
	}
	if x := s.NoChangeFull; x != nil {
		addRSS("full round", x.PeakRSSMiB, x.PeakSplit)
	}
	if x := s.Latency; x != nil {
		addRSS("daemon", x.PeakRSSMiB, x.PeakSplit)
	}
	if len(rss) > 0 {
		target, met := "", ""
		if z.Name == "L" {
			target, met = "< 512 MiB", yes(peak < 512)
		}
		row("(5) peak RSS of the writeback process", strings.Join(rss, ", "), target, met)
	}
}

// otherRows: (6) migration, the memory probe, profiles and notes.
func otherRows(s sizeResult, row rowFunc) {
	z := s.Size
	if x := s.Migration; x != nil {
		row("(6) migrate prepare vs one modify per group, fresh client", fmt.Sprintf("%d groups: prepare %.2f s; fresh connection+bind per group %.1f s (**%.1fx**); fresh ldapmodify process per group %.1f ms × %d = %.1f s (**%.1fx**, from a sample of %d)",
			x.Groups, x.PrepareSeconds, x.PerConnSeconds, x.RatioConn, x.ProcessPerGroupMs, x.Groups, x.ProcessExtrapol, x.RatioProcess, x.ProcessSample), "≥ 20x", yes(x.RatioProcess >= 20))
	}
	if x := s.Probe; x != nil {
		target, met := "", ""
		if z.Name == "L" {
			target, met = "< 512 MiB (of apply: the probe holds what apply holds but writes nothing)", yes(x.PeakRSSMiB < 512)
		}
		what := "no AD users (every member unresolvable)"
		if z.ADUsers > 0 {
			what = fmt.Sprintf("%d AD users, members resolved", z.ADUsers)
		}
		val := fmt.Sprintf("%.1f s, peak RSS **%.0f MiB**, %d Graph requests", x.Seconds, x.PeakRSSMiB, x.GraphReqs)
		if x.PeakSplit != "" {
			val = fmt.Sprintf("%.1f s, peak RSS **%.0f MiB** (%s), %d Graph requests", x.Seconds, x.PeakRSSMiB, x.PeakSplit, x.GraphReqs)
		}
		if p := x.Summary; p != nil {
			val += fmt.Sprintf("; plan: %d creates, %d member adds, %d unresolved members", p.Create, p.MemberAdds, p.Unresolved)
		}
		row("(5) memory probe: `writeback plan --full` (the first sync without its writes), "+what, val, target, met)
	}
	for _, p := range s.Profiles {
		row("profile", "`"+filepath.Base(p)+"`", "", "")
	}
	for _, n := range s.Notes {
		row("note", n, "", "")
	}
}

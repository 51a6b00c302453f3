package migrate

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
)

// WriteText writes the terminal summary of an assessment.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("Assessment of %s (%s)\n\n", r.Base, r.Generated.Format("2006-01-02 15:04 UTC"))
	p("Preflight\n")
	for _, c := range r.Preflight {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		p("  %s %-16s %s\n", mark, c.Name, c.Detail)
	}
	s := r.Summary
	p("\nGroups written by Connect Sync: %d, in scope: %d\n", s.Groups, s.InScope)
	if s.Ignored > 0 {
		p("  (%d more with adminDescription Group_* that is not Group_<object ID>: not written by Connect Sync, ignored and not counted)\n", s.Ignored)
	}
	for _, c := range slices.Sorted(maps.Keys(s.ByClass)) {
		p("  %-24s %6d  %s\n", c, s.ByClass[c], c.Why())
	}
	p("\nAnchor (in-scope groups): ")
	p("%d equal, %d missing, %d different\n", s.ByAnchor[string(AnchorEqual)], s.ByAnchor[string(AnchorMissing)], s.ByAnchor[string(AnchorDifferent)])
	p("Naming (in-scope groups): %d Connect Sync default (Group_<id>), %d display name, %d other\n",
		s.ByNaming[NamingConnectSync], s.ByNaming[NamingDisplayName], s.ByNaming[NamingOther])
	p("\nRename preview (groups whose CN would change):\n")
	for _, c := range r.Candidates {
		p("  %-22s %6d   cn = %s\n", c.Name, s.Renames[c.Name], c.Expression)
	}
	rec := r.Recommended
	apply := "always"
	if rec.OnCreate {
		apply = "onCreate"
	}
	p("  recommended: %s, apply %s: %s\n", rec.Name, apply, rec.Why)
	for _, c := range r.Candidates {
		n := 0
		for _, g := range r.Groups {
			if g.CNTaken[c.Name] != "" {
				n++
			}
		}
		if n > 0 {
			p("  ! %s: %d of its renames would collide with a CN another object already holds (warning cn-taken)\n", c.Name, n)
		}
	}
	if r.EntraConfigured {
		p("\nMembers: %d in AD; cloud members resolved as the engine would: %d resolvable, %d unresolvable; writeback would add %d and remove %d\n",
			s.Members, s.Resolvable, s.Unresolvable, s.WouldAdd, s.WouldRemove)
		p("Cloud: %d orphans (deleted in Entra), %d display-name drifts, %d cloud groups in scope with no AD group\n", s.Orphans, s.Drift, s.CloudOnly)
	} else {
		p("\nMembers: %d in AD, %d resolvable through the Global Catalog, %d not\n", s.Members, s.Resolvable, s.Unresolvable)
	}
	if n := len(r.Unresolved); n > 0 {
		p("\nUnresolved members (first %d of %d):\n", min(n, 20), n)
		for _, u := range r.Unresolved[:min(n, 20)] {
			name := u.Member
			if u.Name != "" {
				name = u.Name + " (" + u.Member + ")"
			}
			p("  %s\n    in %s\n    %s\n", name, u.Group, u.Reason)
		}
	}
	if n := len(r.Losing); n > 0 {
		// Every one, by name: this is what approvers sign off.
		p("\nMembers who would lose access (%d):\n", n)
		group := ""
		for _, l := range r.Losing {
			if l.Group != group {
				group = l.Group
				acc := ""
				if l.Accepted {
					acc = " (removal accepted)"
				}
				p("  from %s%s\n    %s\n", l.GroupName, acc, l.Group)
			}
			typ := l.Type
			if typ == "" {
				typ = "unknown"
			}
			p("    - %s [%s] %s\n        %s\n", l.Name, typ, l.DN, l.Why)
		}
	}
	v := r.Verdict
	if v.Ready {
		p("\nVerdict: READY\n")
	} else {
		p("\nVerdict: NOT READY, %d blocker(s)\n", len(v.Blockers))
	}
	for _, f := range v.Blockers {
		writeFinding(&b, "BLOCKER", f)
	}
	for _, f := range v.Warnings {
		writeFinding(&b, "warning", f)
	}
	if len(v.Next) > 0 {
		p("\nNext:\n")
		for _, n := range v.Next {
			p("  - %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFinding(b *strings.Builder, kind string, f Finding) {
	fmt.Fprintf(b, "  %s %s: %s\n", kind, f.Code, f.Message)
	for i, g := range f.Groups {
		if i == 5 {
			fmt.Fprintf(b, "      ... and %d more (see --json or --html)\n", len(f.Groups)-5)
			break
		}
		fmt.Fprintf(b, "      %s\n", g)
	}
	if f.Fix != "" {
		fmt.Fprintf(b, "      fix: %s\n", f.Fix)
	}
}

//go:embed report.html.tmpl
var htmlTemplate string

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"join":  strings.Join,
	"class": func(c Class) string { return string(c) },
	"blockers": func(ps []Problem) int {
		n := 0
		for _, p := range ps {
			if p.Blocker {
				n++
			}
		}
		return n
	},
}).Parse(htmlTemplate))

// HTMLMaxGroups bounds the per-group table of the HTML page (about 900 bytes a
// row); the JSON output always has every group.
const HTMLMaxGroups = 20000

type htmlView struct {
	*Report
	Groups     []GroupReport
	Omitted    int
	Unresolved []MemberProblem
}

// WriteHTML writes the assessment as one self-contained HTML page (inline CSS
// and script, no external resources) for a change request. Past HTMLMaxGroups
// groups, the table keeps the groups with problems or renames first.
func WriteHTML(w io.Writer, r *Report) error {
	v := htmlView{Report: r, Groups: r.Groups, Unresolved: r.Unresolved}
	if len(v.Unresolved) > HTMLMaxGroups {
		v.Unresolved = v.Unresolved[:HTMLMaxGroups]
	}
	if len(r.Groups) > HTMLMaxGroups {
		gs := append([]GroupReport(nil), r.Groups...)
		rank := func(g GroupReport) int {
			switch {
			case len(g.Problems) > 0:
				return 0
			case g.Renamed[r.Recommended.Name]:
				return 1
			}
			return 2
		}
		sort.SliceStable(gs, func(i, j int) bool { return rank(gs[i]) < rank(gs[j]) })
		v.Groups, v.Omitted = gs[:HTMLMaxGroups], len(gs)-HTMLMaxGroups
	}
	if err := htmlTmpl.Execute(w, v); err != nil {
		return fmt.Errorf("render HTML report: %w", err)
	}
	return nil
}

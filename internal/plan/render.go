package plan

import (
	"fmt"
	"io"
	"strings"

	"github.com/writeback/writeback/internal/ldapdn"
)

// maxNames is how many member names a group's block shows.
const maxNames = 5

// WriteText prints the plan for people, like `terraform plan`: one block per
// group with attribute before → after, member counts with the first names,
// unresolved members, collisions, and the summary line.
func WriteText(w io.Writer, p *Plan) error {
	ew := &errWriter{w: w}
	blocks := groupBlocks(p.Changes)
	unresolved := map[string]GroupUnresolved{}
	for _, u := range p.Unresolved {
		unresolved[u.GroupID] = u
	}
	takeovers := map[string]Takeover{}
	for _, t := range p.Takeovers {
		takeovers[t.GroupID] = t
	}
	if p.Basis != "" {
		ew.printf("%s.\n", upperFirst(p.Basis))
	}
	if len(blocks) > 0 {
		if p.Basis != "" {
			ew.printf("\n")
		}
		ew.printf("writeback will perform the following actions:\n")
	}
	for _, b := range blocks {
		writeBlock(ew, b, takeovers)
		if u, ok := unresolved[b.id]; ok {
			writeUnresolved(ew, u)
			delete(unresolved, b.id)
		}
	}
	writeUnchangedUnresolved(ew, p.Unresolved, unresolved)
	writeCollisions(ew, p.Collisions)
	if len(p.Left) > 0 {
		ew.printf("\nLeft in AD by policy (%d group(s), e.g. %s: %s)\n", len(p.Left), p.Left[0].DN, p.Left[0].Reason)
	}
	writeSummary(ew, p)
	return ew.err
}

// block is one group's changes, printed together.
type block struct {
	id, name string
	changes  []Change
}

// groupBlocks groups changes by group, in the order of each group's first change.
func groupBlocks(changes []Change) []*block {
	var order []*block
	blocks := map[string]*block{}
	for _, c := range changes {
		b := blocks[c.GroupID]
		if b == nil {
			b = &block{id: c.GroupID, name: c.Name}
			blocks[c.GroupID] = b
			order = append(order, b)
		}
		b.changes = append(b.changes, c)
	}
	return order
}

// writeBlock prints one group's header and each of its changes.
// A group taken over in place says so (takeoverVerb).
func writeBlock(ew *errWriter, b *block, takeovers map[string]Takeover) {
	first := b.changes[0]
	verb, sym := "updated in place", "~"
	switch first.Action {
	case Create:
		verb, sym = "created", "+"
	case Delete:
		verb, sym = "deleted ("+first.Reason+")", "-"
	case Move:
		verb, sym = "moved to "+ldapdn.Parent(first.NewDN)+" ("+first.Reason+")", "~"
	case Convert:
		verb, sym = "converted to a distribution group ("+first.Reason+")", "~"
	case Release:
		verb, sym = "released ("+first.Reason+")", "~"
	}
	if t, ok := takeovers[b.id]; ok {
		verb = takeoverVerb(t)
	}
	ew.printf("\n  # group %s (%s) will be %s\n", displayQuote(b.name), b.id, verb)
	ew.printf("  %s group %s\n", sym, first.DN)
	for i, c := range b.changes {
		switch c.Action {
		case Create, Update, Convert, Release:
			writeAttrs(ew, c.Attrs, c.Action == Create)
		case Rename, Move:
			note := ""
			if i+1 < len(b.changes) && b.changes[i+1].Action == Rename {
				note = " (temporary name: groups swap names)"
			}
			ew.printf("      ~ dn = %s -> %s%s\n", c.DN, c.NewDN, note)
		case AddMembers:
			ew.printf("      + members: %d to add (%s)\n", len(c.Members), names(c.Members))
		case RemoveMembers:
			ew.printf("      - members: %d to remove (%s)\n", len(c.Members), names(c.Members))
		}
	}
}

// writeAttrs prints attribute changes, names aligned; a create's as additions.
func writeAttrs(ew *errWriter, attrs []AttrChange, create bool) {
	width := 0
	for _, a := range attrs {
		width = max(width, len(a.Name))
	}
	for _, a := range attrs {
		switch {
		case create:
			ew.printf("      + %-*s = %s\n", width, a.Name, quote(a.After))
		case len(a.After) == 0:
			ew.printf("      - %-*s = %s -> null\n", width, a.Name, quote(a.Before))
		case len(a.Before) == 0:
			ew.printf("      + %-*s = %s\n", width, a.Name, quote(a.After))
		default:
			ew.printf("      ~ %-*s = %s -> %s\n", width, a.Name, quote(a.Before), quote(a.After))
		}
	}
}

// writeUnchangedUnresolved prints the unresolved members of groups with no
// other change (those still in left), in the plan's order.
func writeUnchangedUnresolved(ew *errWriter, all []GroupUnresolved, left map[string]GroupUnresolved) {
	var rest []GroupUnresolved
	for _, u := range all {
		if _, ok := left[u.GroupID]; ok {
			rest = append(rest, u)
		}
	}
	if len(rest) == 0 {
		return
	}
	ew.printf("\nUnresolved members of unchanged groups (skipped, not written):\n")
	for _, u := range rest {
		ew.printf("\n  # group %s (%s) %s\n", displayQuote(u.Name), u.GroupID, u.DN)
		writeUnresolved(ew, u)
	}
}

func writeCollisions(ew *errWriter, collisions []Collision) {
	if len(collisions) == 0 {
		return
	}
	ew.printf("\nCollisions and skipped groups (nothing is written for these groups):\n")
	for _, c := range collisions {
		switch c.Kind {
		case SkipProtected:
			ew.printf("  ! group %s (%s) is skipped, protected %s: %s\n", displayQuote(c.Name), c.GroupID, c.DN, c.Reason)
		case SkipOutside:
			ew.printf("  ! group %s (%s) is skipped, outside sync.searchBase %s: %s\n", displayQuote(c.Name), c.GroupID, c.DN, c.Reason)
		case SkipRefused:
			ew.printf("  ! group %s (%s) is skipped, refused: %s\n", displayQuote(c.Name), c.GroupID, c.Reason)
		case "":
			ew.printf("  ! group %s (%s) wants %s: %s\n", displayQuote(c.Name), c.GroupID, c.DN, c.Reason)
		default:
			ew.printf("  ! group %s (%s) is skipped (%s) %s: %s\n", displayQuote(c.Name), c.GroupID, c.Kind, c.DN, c.Reason)
		}
	}
}

// writeSummary prints the closing lines: counts, warnings, and why a
// blocked plan is not applied.
func writeSummary(ew *errWriter, p *Plan) {
	s := p.Summary
	switch {
	case p.Empty() && s.Collisions > 0:
		ew.printf("\nNo changes can be made, but AD does not match the configuration: %d group(s) are blocked by the collisions above.\n", s.Collisions)
	case p.Empty() && p.Partial:
		ew.printf("\nNo changes for the groups compared. (Only they were compared: 'writeback plan --full' compares every group with AD.)\n")
	case p.Empty():
		ew.printf("\nNo changes. AD matches the configuration.\n")
	default:
		ew.printf("\nPlan: %d to create, %d to update, %d to delete, %d member adds, %d member removes.\n",
			s.Create, s.Update, s.Delete, s.MemberAdds, s.MemberRemoves)
		if s.Takeovers > 0 || s.Releases > 0 {
			ew.printf("Of the updates: %d taken over in place (converted to the cloud), %d released (given back to AD).\n", s.Takeovers, s.Releases)
		}
	}
	if s.Unresolved > 0 || s.Collisions > 0 {
		ew.printf("Warnings: %d unresolved members, %d groups not written (collisions and skips).\n", s.Unresolved, s.Collisions)
	}
	if p.Blocked {
		ew.printf("\nError: %s\n", p.BlockedReason)
	}
}

func writeUnresolved(ew *errWriter, u GroupUnresolved) {
	ew.printf("      ! unresolved: %d member(s) skipped\n", len(u.Unresolved))
	for i, x := range u.Unresolved {
		if i == 10 {
			ew.printf("          ... and %d more (see --json)\n", len(u.Unresolved)-10)
			break
		}
		name := x.ID
		if x.Name != "" {
			name = x.Name + " (" + x.ID + ")"
		}
		ew.printf("          %s %s: %s\n", x.Type, name, x.Reason)
	}
}

// names lists the first member names (their RDN values).
func names(dns []string) string {
	var out []string
	for i, dn := range dns {
		if i == maxNames {
			out = append(out, fmt.Sprintf("… %d more", len(dns)-maxNames))
			break
		}
		out = append(out, rdnValue(dn))
	}
	return strings.Join(out, ", ")
}

func quote(v []string) string {
	if len(v) == 0 {
		return "null"
	}
	if len(v) == 1 {
		return displayQuote(v[0])
	}
	q := make([]string, len(v))
	for i, s := range v {
		q[i] = displayQuote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// displayQuote quotes a value for reading: only the quote and control
// characters are escaped, so a DN-escaped value shows its backslashes once
// (Go's %q would print "Zürich\\, R&D").
func displayQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
			// A bidirectional control would reorder the rest of the
			// terminal line: the plan must show the name as it is.
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

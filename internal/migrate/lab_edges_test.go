package migrate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/ldapdn"
)

// utf16Password is unicodePwd's encoding: the quoted password in UTF-16LE.
func utf16Password(pw string) string {
	var b []byte
	for _, r := range utf16.Encode([]rune(`"` + pw + `"`)) {
		b = append(b, byte(r), byte(r>>8))
	}
	return string(b)
}

// Issue 18.2: a bind account that may write nothing gets no
// allowedAttributesEffective from the DC; assess must call that a blocker
// with the delegation command, not "ok (not checked)".
func TestLabAssessPermissionsWithoutRights(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const pw = "Migr4te-Edges!pw"
	user := "CN=svc-readonly," + f.lab.OU
	err := f.admin.Add(ctx, user, map[string][]string{
		"objectClass":        {"top", "person", "organizationalPerson", "user"},
		"sAMAccountName":     {"ro" + f.lab.Tag},
		"unicodePwd":         {utf16Password(pw)},
		"userAccountControl": {"512"},
	})
	if err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(pw), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := f.lab.Config
	cfg.BindDN = user
	cfg.Password = config.Secret{File: pwFile}
	ro, err := ad.Dial(ctx, adconfig.Options(cfg))
	if err != nil {
		t.Fatalf("bind as the non-admin account: %v", err)
	}
	defer ro.Close()
	r, err := Assess(ctx, AssessOptions{Base: f.lab.OU, DC: ro, GC: f.gc})
	if err != nil {
		t.Fatal(err)
	}
	var perm *Check
	for i := range r.Preflight {
		if r.Preflight[i].Name == "permissions" {
			perm = &r.Preflight[i]
		}
	}
	if perm == nil || perm.OK || !strings.Contains(perm.Fix, "dsacls") || !strings.Contains(perm.Detail, "5 of 5") {
		t.Fatalf("permissions check for an account without rights: %+v", perm)
	}
	blocked := false
	for _, b := range r.Verdict.Blockers {
		blocked = blocked || b.Code == "preflight-permissions"
	}
	if !blocked || r.Verdict.Ready {
		t.Errorf("verdict %+v: want the preflight-permissions blocker", r.Verdict)
	}
	// And the administrator, who may write, is still "ok".
	for _, c := range f.assess(t, false).Preflight {
		if c.Name == "permissions" && !c.OK {
			t.Errorf("administrator: %+v", c)
		}
	}
}

// Issue 18.5 and 18.6: members who would lose access are named (text, HTML,
// JSON) with why; a nested global group's fix is "convert to universal"; a
// rename onto a taken CN warns; a group with a non-GUID adminDescription is
// not counted; an orphan is "deleted in Entra", not "anchor missing".
func TestLabAssessNamesAndSmallerEdges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// A global group Connect Sync wrote, nested in eng in AD (not in the cloud group).
	if err := f.dc.AddMembers(ctx, f.dns["eng"], []string{f.dns["global"]}); err != nil {
		t.Fatal(err)
	}
	// Another object already holds the CN cloud-sync-default would give sales.
	taken := "CN=Sales_" + last12(f.ids["sales"]) + "," + f.lab.OU
	if err := f.dc.CreateGroup(ctx, taken, map[string][]string{"sAMAccountName": {"tk" + f.lab.Tag}}); err != nil {
		t.Fatal(err)
	}
	// adminDescription Group_* that is not Group_<object ID>.
	if err := f.dc.CreateGroup(ctx, "CN=Not Connect Sync,"+f.lab.OU, map[string][]string{"adminDescription": {"Group_Legacy-Team"}, "sAMAccountName": {"nc" + f.lab.Tag}}); err != nil {
		t.Fatal(err)
	}

	// The conflicting group's anchor names the cloud-only group: that cloud
	// group has an AD copy after all (issue 18.1, as the report sees it).
	if err := f.dc.Modify(ctx, f.dns["clash"], map[string][]string{ad.AttrExternalDirectoryObjectID: {"Group_" + f.ids["cloudonly"]}}); err != nil {
		t.Fatal(err)
	}

	r := f.assess(t, true)
	if len(r.CloudOnly) != 0 {
		t.Errorf("cloud groups with no AD group %+v: the one named by an anchor has a copy", r.CloudOnly)
	}
	// 5.
	byName := map[string]MemberLoss{}
	for _, l := range r.Losing {
		byName[l.Name] = l
	}
	contact, ok := byName["Some Contact"]
	if !ok || contact.Type != "contact" || !strings.HasPrefix(contact.Why, LossUnresolvable) || !ldapdn.Equal(contact.Group, f.dns["fin"]) || contact.GroupName != "Finance" {
		t.Errorf("contact loss %+v (all: %+v)", contact, r.Losing)
	}
	global, ok := byName["Global"]
	if !ok || global.Type != "group" || !strings.HasPrefix(global.Why, LossNestedGroup) || !strings.Contains(global.Why, "convert it to universal") {
		t.Errorf("nested global group loss %+v (all: %+v)", global, r.Losing)
	}
	if len(r.Losing) != r.Summary.WouldRemove {
		t.Errorf("%d losses named, %d removals counted", len(r.Losing), r.Summary.WouldRemove)
	}
	var text, html strings.Builder
	if err := WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&html, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Members who would lose access (2)", "Some Contact [contact]", "Global [group]", "from Finance"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("terminal summary lacks %q:\n%s", want, text.String())
		}
	}
	for _, want := range []string{"Members who would lose access (2)", "<b>Some Contact</b>", "@media print", "tr.hidden { display: table-row; }", "size: A4"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"membersLosingAccess"`) || !strings.Contains(string(b), `"name":"Some Contact"`) {
		t.Errorf("JSON lacks the named losses")
	}
	// 6: CN taken.
	sales := r.group(t, f.dns["sales"])
	if !ldapdn.Equal(sales.CNTaken["cloud-sync-default"], taken) || !hasProblem(sales, "cn-taken") {
		t.Errorf("sales CN taken %v, problems %+v", sales.CNTaken, sales.Problems)
	}
	// 6: not counted.
	if r.Summary.Groups != 7 || r.Summary.Ignored != 1 {
		t.Errorf("summary counts %d groups, %d ignored; want 7 and 1", r.Summary.Groups, r.Summary.Ignored)
	}
	n := 0
	for _, c := range r.Summary.ByClass {
		n += c
	}
	if n != 7 {
		t.Errorf("byClass totals %d, want 7: %v", n, r.Summary.ByClass)
	}
	// 6: orphan.
	orphan := r.group(t, f.dns["orphan"])
	if hasProblem(orphan, "anchor-missing") || !hasProblem(orphan, "orphan") {
		t.Errorf("orphan problems %+v", orphan.Problems)
	}
	for _, n := range r.Verdict.Next {
		if strings.Contains(n, "on 3 groups") {
			t.Errorf("next step counts the orphan among the groups to prepare: %q", n)
		}
	}
	h, _ := BuildHandover(&config.Config{}, r) // nothing is prepared yet: every group is left out, with why
	orphanOut := false
	for _, x := range h.Excluded {
		if ldapdn.Equal(x.DN, f.dns["orphan"]) {
			orphanOut = true
			if !strings.Contains(x.Reason, "deleted in Entra") {
				t.Errorf("orphan left out because %q", x.Reason)
			}
		}
	}
	if !orphanOut {
		t.Errorf("orphan not among the groups handover leaves out: %+v", h.Excluded)
	}
	// 6: nested global group without Entra: the fix is to convert it.
	ra := f.assess(t, false)
	found := false
	for _, u := range ra.group(t, f.dns["eng"]).Unresolved {
		found = found || (ldapdn.Equal(u.Member, f.dns["global"]) && strings.Contains(u.Reason, "convert it to universal"))
	}
	if !found {
		t.Errorf("AD-only: nested global group reason missing: %+v", ra.group(t, f.dns["eng"]).Unresolved)
	}
}

func hasProblem(g GroupReport, code string) bool {
	for _, p := range g.Problems {
		if p.Code == code {
			return true
		}
	}
	return false
}

// Issue 18.6: verify's advice for a duplicate is not "run prepare" (prepare
// refuses duplicates), and a conflict says how to clear it.
func TestLabVerifyAdviceForDuplicatesAndConflicts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dup := "CN=Sales copy," + f.lab.OU
	if err := f.dc.CreateGroup(ctx, dup, map[string][]string{"adminDescription": {"Group_" + f.ids["sales"]}, "sAMAccountName": {"dp" + f.lab.Tag}}); err != nil {
		t.Fatal(err)
	}
	v, err := VerifyAnchors(ctx, f.dc, f.lab.OU, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, m := range v.Mismatches {
		switch {
		case ldapdn.Equal(m.DN, dup), ldapdn.Equal(m.DN, f.dns["sales"]):
			seen++
			if strings.Contains(m.Problem, "run writeback migrate prepare") || !strings.Contains(m.Problem, "more than one group") {
				t.Errorf("duplicate %s: advice %q", m.DN, m.Problem)
			}
		case ldapdn.Equal(m.DN, f.dns["clash"]):
			if !strings.Contains(m.Problem, "clear it by hand") {
				t.Errorf("conflict advice %q", m.Problem)
			}
		}
	}
	if seen != 2 {
		t.Errorf("mismatches %+v: want both copies of sales", v.Mismatches)
	}
}

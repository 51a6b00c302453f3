package migrate

import (
	"bytes"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name    string
		gt      int32
		mail    string
		proxies []string
		unified bool
		want    Class
	}{
		{"universal security", ad.GroupTypeUniversalSecurity, "", nil, false, ClassUniversalSecurity},
		{"mail-enabled security", ad.GroupTypeUniversalSecurity, "a@b.c", nil, false, ClassMailEnabledSecurity},
		{"security with proxyAddresses only", ad.GroupTypeUniversalSecurity, "", []string{"SMTP:a@b.c"}, false, ClassMailEnabledSecurity},
		{"universal distribution", ad.GroupTypeUniversalDistribution, "a@b.c", nil, false, ClassDistribution},
		{"distribution without mail", ad.GroupTypeUniversalDistribution, "", nil, false, ClassDistribution},
		{"microsoft 365 written as distribution", ad.GroupTypeUniversalDistribution, "a@b.c", nil, true, ClassMicrosoft365},
		{"microsoft 365 written as security", ad.GroupTypeUniversalSecurity, "", nil, true, ClassMicrosoft365},
		{"global security", ad.GroupTypeGlobalSecurity, "", nil, false, ClassGlobal},
		{"domain-local security", ad.GroupTypeDomainLocalSecurity, "", nil, false, ClassDomainLocal},
		{"global distribution", ad.GroupTypeGlobalDistribution, "", nil, false, ClassDistribution},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Classify(c.gt, c.mail, c.proxies, c.unified)
			if got != c.want {
				t.Fatalf("Classify = %s, want %s", got, c.want)
			}
			if got.InScope() != (c.want == ClassUniversalSecurity) {
				t.Fatalf("InScope = %v", got.InScope())
			}
		})
	}
}

func TestObjectIDFromAnchor(t *testing.T) {
	for in, want := range map[string]string{
		"Group_3a5c3221-c465-48c0-95b8-e9305786a271":           "3a5c3221-c465-48c0-95b8-e9305786a271",
		"Group_3A5C3221-C465-48C0-95B8-E9305786A271":           "3a5c3221-c465-48c0-95b8-e9305786a271",
		"Group_3a5c3221-c465-48c0-95b8-e9305786a27":            "",
		"TakenOver_Group_3a5c3221-c465-48c0-95b8-e9305786a271": "",
		"User_3a5c3221-c465-48c0-95b8-e9305786a271":            "",
		"Group_3a5c3221-c465-48c0-95b8-e9305786a271 ":          "",
		"": "",
	} {
		got, ok := ObjectIDFromAnchor(in)
		if got != want || ok != (want != "") {
			t.Errorf("ObjectIDFromAnchor(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestCompareAnchor(t *testing.T) {
	a := "Group_3a5c3221-c465-48c0-95b8-e9305786a271"
	for _, c := range []struct {
		anchor string
		want   AnchorState
	}{{"", AnchorMissing}, {a, AnchorEqual}, {"Group_other", AnchorDifferent}, {strings.ToUpper(a), AnchorDifferent}} {
		if got := CompareAnchor(a, c.anchor); got != c.want {
			t.Errorf("CompareAnchor(%q) = %s, want %s", c.anchor, got, c.want)
		}
	}
}

func TestNamingAndCandidates(t *testing.T) {
	id := "3a5c3221-c465-48c0-95b8-e9305786a271"
	long := strings.Repeat("x", 60)
	for _, c := range []struct {
		cn, display string
		naming      Naming
		cloudSync   string
	}{
		{"Group_" + id, "Sales", NamingConnectSync, "Sales_e9305786a271"},
		{"Sales_e9305786a271", "Sales", NamingDisplayName, "Sales_e9305786a271"},
		{"Administrators_e9305786a271", "  Administrators ", NamingDisplayName, "Administrators_e9305786a271"},
		{"Renamed by hand", "Sales", NamingOther, "Sales_e9305786a271"},
		{long[:51] + "_e9305786a271", long, NamingDisplayName, long[:51] + "_e9305786a271"},
	} {
		if got := DetectNaming(c.cn, id); got != c.naming {
			t.Errorf("DetectNaming(%q) = %s, want %s", c.cn, got, c.naming)
		}
		cs, err := CandidateCN(Candidates[0], c.display, id)
		if err != nil || cs != c.cloudSync {
			t.Errorf("cloud-sync-default for %q = %q, %v; want %q", c.display, cs, err, c.cloudSync)
		}
		cd, err := CandidateCN(Candidates[1], c.display, id)
		if err != nil || cd != "Group_"+id {
			t.Errorf("connect-sync-default = %q, %v", cd, err)
		}
	}
}

func TestRecommend(t *testing.T) {
	for _, c := range []struct {
		name     string
		renames  map[string]int
		total    int
		want     string
		onCreate bool
	}{
		{"all display-name", map[string]int{"connect-sync-default": 10}, 10, "cloud-sync-default", false},
		{"all Group_<id>", map[string]int{"cloud-sync-default": 10}, 10, "connect-sync-default", false},
		{"mixed, mostly Group_<id>", map[string]int{"cloud-sync-default": 8, "connect-sync-default": 2}, 10, "connect-sync-default", true},
		{"mixed, mostly display name", map[string]int{"cloud-sync-default": 3, "connect-sync-default": 7}, 10, "cloud-sync-default", true},
		{"none", map[string]int{}, 0, "cloud-sync-default", false},
	} {
		got, onCreate := Recommend(c.renames, c.total)
		if got.Name != c.want || onCreate != c.onCreate {
			t.Errorf("%s: Recommend = %s onCreate %v, want %s %v", c.name, got.Name, onCreate, c.want, c.onCreate)
		}
	}
}

func FuzzReadJournal(f *testing.F) {
	f.Add([]byte("{\"type\":\"run\",\"command\":\"prepare\"}\n{\"type\":\"intent\",\"seq\":1,\"before\":null,\"after\":\"Group_x\"}\n{\"type\":\"done\",\"seq\":1}\n"))
	f.Add([]byte("{\"type\":\"intent\",\"seq\":1"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, off, err := readRecords(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		if off > int64(len(data)) || (off > 0 && data[off-1] != '\n') {
			t.Fatalf("offset %d not after a newline", off)
		}
		// Whatever was accepted folds into changes without panicking.
		_ = Changes(recs)
	})
}

func TestWriteHTMLBounded(t *testing.T) {
	r := &Report{Recommended: Recommendation{Candidate: Candidates[0]}}
	for i := 0; i < HTMLMaxGroups+5; i++ {
		g := GroupReport{DN: "CN=g", Renamed: map[string]bool{}, CNs: map[string]string{}}
		if i == HTMLMaxGroups+4 {
			g.DN = "CN=the one with a problem"
			g.Problems = []Problem{{Code: "anchor-conflict", Blocker: true}}
		}
		r.Groups = append(r.Groups, g)
	}
	var b strings.Builder
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := strings.Count(out, "<tr data-scope"); n != HTMLMaxGroups {
		t.Errorf("%d rows, want %d", n, HTMLMaxGroups)
	}
	if !strings.Contains(out, "the one with a problem") || !strings.Contains(out, "5 groups without problems") {
		t.Error("the group with a problem must be kept and the omission said")
	}
}

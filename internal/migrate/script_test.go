package migrate

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func goldenParams() ScriptParams {
	return ScriptParams{ADConnector: "contoso.com", InboundPrecedence: 88, OutboundPrecedence: 89}
}

func TestConnectSyncScriptGolden(t *testing.T) {
	got, err := ConnectSyncScript(goldenParams())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "connect-sync.ps1.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run ConnectSyncScriptGolden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("script differs from %s; review the diff, then run with -update:\n%s", path, firstDiff(string(want), got))
	}
}

// The properties a reader of Microsoft's guide got wrong must hold in the
// output itself, not only in a golden file someone may regenerate blindly.
func TestConnectSyncScriptStructure(t *testing.T) {
	s, err := ConnectSyncScript(goldenParams())
	if err != nil {
		t.Fatal(err)
	}
	inbound := section(t, s, "# --- Step 3", "# --- Step 4")
	outbound := section(t, s, "# --- Step 4", "# --- Step 5")
	for _, c := range []struct {
		name, text, want string
	}{
		{"inbound rule direction", inbound, "-Direction 'Inbound'"},
		{"inbound rule on the Entra connector", inbound, "-Connector $EntraConnectorId"},
		{"inbound link type", inbound, "-LinkType 'Join'"},
		{"inbound flows cloudNoFlow", inbound, "-Destination 'cloudNoFlow'"},
		{"inbound scope cloudMastered", inbound, "'cloudMastered', 'true', 'EQUAL'"},
		{"inbound scope mail ISNULL", inbound, "'mail', '', 'ISNULL'"},
		{"inbound precedence", inbound, "-Precedence $InboundPrecedence"},
		{"outbound rule direction", outbound, "-Direction 'Outbound'"},
		{"outbound rule on the AD connector", outbound, "-Connector $adConnector.Identifier"},
		{"outbound link type", outbound, "-LinkType 'JoinNoFlow'"},
		{"outbound scope", outbound, "'cloudNoFlow', 'true', 'EQUAL'"},
		{"outbound precedence", outbound, "-Precedence $OutboundPrecedence"},
		{"Entra connector id", s, "$EntraConnectorId = 'b891884f-051e-4a83-95af-2544101c9083'"},
		{"parameters", s, "[string] $ADConnectorName = 'contoso.com'"},
		{"precedence validated", s, "[ValidateRange(0, 99)]\n    [int] $InboundPrecedence = 88"},
		{"precedence reminder", s, "Get-ADSyncRule | Sort-Object Precedence"},
		{"v2 disabled", s, "$disableGroupWritebackV2 = @{ GroupWritebackV2 = $false }\n    Set-ADSyncAADCompanyFeature @disableGroupWritebackV2"},
		{"scheduler off", s, "Set-ADSyncScheduler -SyncCycleEnabled $false"},
		{"scheduler on", s, "Set-ADSyncScheduler -SyncCycleEnabled $true"},
		{"stop on error", s, "$ErrorActionPreference = 'Stop'"},
	} {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("%s: %q not found", c.name, c.want)
		}
	}
	if strings.Contains(outbound, "$EntraConnectorId") && !strings.Contains(outbound, "-Connector $adConnector.Identifier") {
		t.Error("outbound rule must not be created on the Entra connector")
	}
	// The irreversible switch comes after the typed confirmation and the first
	// initial cycle, and before the scheduler is turned back on.
	order := []string{
		"Start-ADSyncSyncCycle -PolicyType Initial",
		"$answer = Read-Host",
		"if ($answer -cne 'DISABLE GROUP WRITEBACK V2')",
		"Set-ADSyncAADCompanyFeature @disableGroupWritebackV2",
		"Start-ADSyncSyncCycle -PolicyType Initial",
		"Set-ADSyncScheduler -SyncCycleEnabled $true",
	}
	at := 0
	for _, o := range order {
		i := strings.Index(s[at:], o)
		if i < 0 {
			t.Fatalf("%q missing or out of order", o)
		}
		at += i + len(o)
	}
	if n := strings.Count(s, "Set-ADSyncAADCompanyFeature @"); n != 1 {
		t.Errorf("GroupWritebackV2 disabled %d times in the script, want exactly once", n)
	}
	// Balanced braces/parentheses outside strings and comments: a cheap structural
	// check for when no PowerShell parser is installed.
	if err := checkBalance(s); err != nil {
		t.Error(err)
	}
}

func TestScriptParamsValidate(t *testing.T) {
	for _, c := range []struct {
		name    string
		p       ScriptParams
		wantErr string
	}{
		{"ok", ScriptParams{"contoso.com", 0, 99}, ""},
		{"no connector", ScriptParams{" ", 1, 2}, "--ad-connector is required"},
		{"control char", ScriptParams{"a\nb", 1, 2}, "control character"},
		{"negative", ScriptParams{"c", -1, 2}, "--inbound-precedence -1: want an integer from 0 to 99"},
		{"too big", ScriptParams{"c", 1, 100}, "--outbound-precedence 100"},
		{"same", ScriptParams{"c", 50, 50}, "need different precedences"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.p.Validate()
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, c.wantErr)
			}
			if _, err := ConnectSyncScript(c.p); err == nil {
				t.Fatal("ConnectSyncScript accepted invalid parameters")
			}
		})
	}
}

func TestPSQuote(t *testing.T) {
	for in, want := range map[string]string{
		"contoso.com":   "'contoso.com'",
		"o'brien":       "'o''brien'",
		"x\u2019y":      "'x\u2019\u2019y'",
		"$(rm -r C:\\)": "'$(rm -r C:\\)'",
	} {
		if got := psQuote(in); got != want {
			t.Errorf("psQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConnectSyncScriptParses runs the tree-sitter PowerShell grammar over the
// script when its npm packages are installed (npm ci --ignore-scripts --prefix
// internal/migrate/testdata/psparse); otherwise it skips.
func TestConnectSyncScriptParses(t *testing.T) {
	dir := filepath.Join("testdata", "psparse")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "tree-sitter-powershell")); err != nil {
		t.Skip("PowerShell grammar not installed: npm ci --ignore-scripts --prefix internal/migrate/testdata/psparse")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	s, err := ConnectSyncScript(ScriptParams{ADConnector: "o'brien.example", InboundPrecedence: 3, OutboundPrecedence: 4})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "connect-sync.ps1")
	if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, filepath.Join(dir, "check.mjs"), f, filepath.Join("testdata", "connect-sync.ps1.golden")).CombinedOutput()
	if err != nil {
		t.Fatalf("PowerShell syntax check failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

func section(t *testing.T, s, from, to string) string {
	t.Helper()
	i := strings.Index(s, from)
	j := strings.Index(s, to)
	if i < 0 || j < i {
		t.Fatalf("sections %q..%q not found in order", from, to)
	}
	return s[i:j]
}

// checkBalance checks (), {}, [] nesting, skipping quoted strings, here-strings
// are not used, comments (# to end of line, <# #>), and backtick escapes.
func checkBalance(s string) error {
	var stack []rune
	line := 1
	pairs := map[rune]rune{')': '(', '}': '{', ']': '['}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\n':
			line++
		case r == '`':
			i++
		case r == '<' && i+1 < len(rs) && rs[i+1] == '#':
			for i += 2; i+1 < len(rs) && !(rs[i] == '#' && rs[i+1] == '>'); i++ {
				if rs[i] == '\n' {
					line++
				}
			}
			i++
		case r == '#':
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
			line++
		case r == '\'':
			for i++; i < len(rs); i++ {
				if rs[i] == '\'' {
					if i+1 < len(rs) && rs[i+1] == '\'' {
						i++
						continue
					}
					break
				}
			}
		case r == '"':
			// Sub-expressions $( ) inside double quotes are balanced on their own.
			for i++; i < len(rs) && rs[i] != '"'; i++ {
				if rs[i] == '`' {
					i++
				}
			}
		case r == '(' || r == '{' || r == '[':
			stack = append(stack, r)
		case r == ')' || r == '}' || r == ']':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return &balanceError{line, r}
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		return &balanceError{line, stack[len(stack)-1]}
	}
	return nil
}

type balanceError struct {
	line int
	r    rune
}

func (e *balanceError) Error() string {
	return "unbalanced " + string(e.r) + " near line " + fmtInt(e.line)
}

func fmtInt(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// firstDiff shows the first differing line, enough to find it in review.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + fmtInt(i+1) + ":\n- " + a + "\n+ " + b
		}
	}
	return ""
}

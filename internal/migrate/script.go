package migrate

import (
	_ "embed"
	"fmt"
	"strings"
	"text/template"
	"unicode"
)

// EntraConnectorID is the fixed identifier of the Microsoft Entra connector in
// every Connect Sync installation; the inbound cloudNoFlow rule belongs on it.
const EntraConnectorID = "b891884f-051e-4a83-95af-2544101c9083"

// Identifiers Microsoft's guide gives the two rules, so that a re-run finds
// the rules it already added and support recognises them.
const (
	InboundRuleID  = "e4eae1c9-b9bc-4328-ade9-df871cdd3027"
	OutboundRuleID = "419fda18-75bb-4e23-b947-8b06e7246551"
)

// ScriptParams are the installation-specific values of the Connect Sync script.
type ScriptParams struct {
	// ADConnector is the name of the Active Directory connector that wrote the
	// groups, as Get-ADSyncConnector lists it (usually the forest's DNS name).
	ADConnector string
	// InboundPrecedence and OutboundPrecedence must be unused in the sync
	// rules, 0..99 (lower than Microsoft's default rules), and different.
	InboundPrecedence  int
	OutboundPrecedence int
}

// Validate returns every problem with p, each naming its flag.
func (p ScriptParams) Validate() error {
	var errs []string
	switch {
	case strings.TrimSpace(p.ADConnector) == "":
		errs = append(errs, "--ad-connector is required: the name of the Active Directory connector (Get-ADSyncConnector | Select-Object Name, Type)")
	case strings.IndexFunc(p.ADConnector, unicode.IsControl) >= 0:
		errs = append(errs, fmt.Sprintf("--ad-connector %q contains a control character", p.ADConnector))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"--inbound-precedence", p.InboundPrecedence}, {"--outbound-precedence", p.OutboundPrecedence}} {
		if f.v < 0 || f.v > 99 {
			errs = append(errs, fmt.Sprintf("%s %d: want an integer from 0 to 99 that no sync rule uses yet (check with Get-ADSyncRule | Sort-Object Precedence | Format-Table Precedence, Name)", f.name, f.v))
		}
	}
	if p.InboundPrecedence == p.OutboundPrecedence {
		errs = append(errs, fmt.Sprintf("--inbound-precedence and --outbound-precedence are both %d: the two rules need different precedences", p.InboundPrecedence))
	}
	if len(errs) > 0 {
		return fmt.Errorf("connect-sync-script: %s", strings.Join(errs, "; "))
	}
	return nil
}

//go:embed connect-sync.ps1.tmpl
var scriptTemplate string

var scriptTmpl = template.Must(template.New("connect-sync.ps1").Funcs(template.FuncMap{
	"ps": psQuote,
}).Parse(scriptTemplate))

// ConnectSyncScript returns the PowerShell that performs steps 2 to 6 of
// Microsoft's migration guide on the Connect Sync server.
func ConnectSyncScript(p ScriptParams) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	var b strings.Builder
	data := struct {
		ScriptParams
		EntraConnectorID, InboundRuleID, OutboundRuleID string
	}{p, EntraConnectorID, InboundRuleID, OutboundRuleID}
	if err := scriptTmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render connect-sync script: %w", err)
	}
	return b.String(), nil
}

// psQuote makes s a single-quoted PowerShell string literal. Inside single
// quotes only the quote characters are special (PowerShell also treats the
// typographic quotes U+2018..U+201B as quotes), and each is escaped by doubling.
func psQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'', '\u2018', '\u2019', '\u201a', '\u201b':
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

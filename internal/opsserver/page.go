package opsserver

import (
	"html/template"
	"time"

	"github.com/writeback/writeback/internal/state"
)

// Page is the status page, and its JSON.
type Page struct {
	Version string    `json:"version"`
	Now     time.Time `json:"now"`
	// DC is the domain controller in use (ad.url); Graph the Graph endpoint.
	DC          string `json:"dc"`
	Graph       string `json:"graph,omitempty"`
	State       string `json:"state"`
	Running     string `json:"running,omitempty"`
	Groups      int    `json:"groupsProvisioned"`
	Pending     int    `json:"pending"`
	FullPending bool   `json:"fullPending"`
	// LastFull says how the last full round went, in a sentence.
	LastFull    string        `json:"lastFull,omitempty"`
	LastSuccess time.Time     `json:"lastSuccess,omitzero"`
	Rounds      []state.Round `json:"rounds"`
	Quarantined []Group       `json:"quarantined"`
	Failing     []Group       `json:"failing"`
	// Findings: unresolved members by group, collisions, groups not planned.
	Findings       []state.Finding       `json:"findings"`
	BlockedDeletes *state.BlockedDeletes `json:"blockedDeletes,omitempty"`
	// ReleaseCommand releases the blocked deletes.
	ReleaseCommand string `json:"releaseCommand,omitempty"`
	// NeedsOperator lists why someone must act; empty when healthy.
	NeedsOperator []string `json:"needsOperator"`
}

// Group is a quarantined or failing group.
type Group struct {
	ID         string    `json:"id"`
	Name       string    `json:"name,omitempty"`
	DN         string    `json:"dn,omitempty"`
	Failures   int       `json:"failures,omitempty"`
	RetryAfter time.Time `json:"retryAfter,omitzero"`
	Reason     string    `json:"reason"`
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"when":    when,
	"seconds": func(d time.Duration) string { return d.Round(time.Millisecond).String() },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="30">
<title>writeback status</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1a1a1a; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; } th, td { text-align: left; padding: .2em .8em .2em 0; vertical-align: top; }
th { border-bottom: 1px solid #999; } code { background: #f2f2f2; padding: 0 .2em; }
.ok { color: #155724; background: #d4edda; padding: .4em; } .bad { color: #721c24; background: #f8d7da; padding: .4em; }
.err { color: #a00; }
</style>
</head>
<body>
<h1>writeback status</h1>
{{if .NeedsOperator}}<p class="bad" id="health"><strong>Needs an operator:</strong> {{range $i, $r := .NeedsOperator}}{{if $i}}; {{end}}{{$r}}{{end}}</p>
{{else}}<p class="ok" id="health"><strong>Health: ok</strong></p>{{end}}
<table>
<tr><th scope="row">Version</th><td>{{.Version}}</td></tr>
<tr><th scope="row">Domain controller</th><td>{{.DC}}</td></tr>
{{if .Graph}}<tr><th scope="row">Microsoft Graph</th><td>{{.Graph}}</td></tr>{{end}}
{{if .Running}}<tr><th scope="row">Process</th><td>{{.Running}}</td></tr>{{end}}
<tr><th scope="row">State</th><td>{{.State}}</td></tr>
<tr><th scope="row">Groups provisioned</th><td>{{.Groups}}</td></tr>
<tr><th scope="row">Waiting for the next round</th><td>{{.Pending}}{{if .FullPending}} (a full round is pending){{end}}</td></tr>
<tr><th scope="row">Last successful round</th><td>{{when .LastSuccess}}</td></tr>
{{if .LastFull}}<tr><th scope="row">Last full round</th><td>{{.LastFull}}</td></tr>{{end}}
<tr><th scope="row">Page generated</th><td>{{when .Now}}</td></tr>
</table>

<h2 id="rounds">Last rounds</h2>
{{if .Rounds}}<table>
<tr><th>#</th><th>Start</th><th>Kind</th><th>Duration</th><th>Groups</th><th>Changes</th><th>Applied</th><th>Failed</th><th>Unresolved</th><th>Outcome</th></tr>
{{range .Rounds}}<tr><td>{{.Seq}}</td><td>{{when .Start}}</td><td>{{if .Full}}full{{else}}delta{{end}}{{if .DryRun}} (plan){{else if .Saved}} (saved plan){{end}}</td><td>{{seconds .Duration}}</td><td>{{.Groups}}</td><td>{{.Changes}}</td><td>{{.Applied}}</td><td>{{.Failed}}</td><td>{{.Unresolved}}</td>
<td>{{if .Blocked}}<span class="err">blocked: {{.Blocked}}</span>{{else if .Error}}<span class="err">error: {{.Error}}</span>{{else}}ok{{end}}</td></tr>
{{end}}</table>{{else}}<p>None yet.</p>{{end}}

<h2 id="quarantined">Quarantined groups ({{len .Quarantined}})</h2>
{{if .Quarantined}}<table>
<tr><th>Group</th><th>Failures</th><th>Retried after</th><th>Reason</th></tr>
{{range .Quarantined}}<tr><td>{{if .Name}}{{.Name}}<br>{{end}}<code>{{.ID}}</code></td><td>{{.Failures}}</td><td>{{when .RetryAfter}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}

{{if .Failing}}<h2 id="failing">Groups with errors ({{len .Failing}})</h2>
<table><tr><th>Group</th><th>Error</th></tr>
{{range .Failing}}<tr><td>{{if .Name}}{{.Name}}<br>{{end}}<code>{{.ID}}</code></td><td>{{.Reason}}</td></tr>
{{end}}</table>{{end}}

<h2 id="unresolved">Members not resolved</h2>
{{$any := false}}{{range .Findings}}{{if .Unresolved}}{{$any = true}}{{end}}{{end}}
{{if $any}}<p>These cloud members are left out of their AD group until they can be resolved.</p>
{{range .Findings}}{{if .Unresolved}}<h3>{{if .Name}}{{.Name}}{{else}}{{.GroupID}}{{end}} ({{len .Unresolved}} member(s), since {{when .Since}})</h3>
<ul>{{range .Unresolved}}<li>{{if .Name}}{{.Name}} {{end}}<code>{{.ID}}</code>: {{.Reason}}</li>{{end}}</ul>
{{end}}{{end}}{{else}}<p>None.</p>{{end}}

<h2 id="collisions">Collisions and skipped groups</h2>
{{$c := false}}{{range .Findings}}{{if or .Collision .Error}}{{$c = true}}{{end}}{{end}}
{{if $c}}<table><tr><th>Group</th><th>Why nothing is written</th></tr>
{{range .Findings}}{{if or .Collision .Error}}<tr><td>{{if .Name}}{{.Name}}<br>{{end}}<code>{{.GroupID}}</code></td><td>{{.Collision}}{{.Error}}</td></tr>{{end}}
{{end}}</table>{{else}}<p>None.</p>{{end}}

<h2 id="blocked">Blocked deletes</h2>
{{with .BlockedDeletes}}<p class="bad">Since {{when .Since}}, {{len .Groups}} delete(s) held back: {{.Reason}}</p>
<ul>{{range .Groups}}<li>{{if .Name}}{{.Name}} {{end}}<code>{{.DN}}</code></li>{{end}}</ul>
<p>Release them with <code>{{$.ReleaseCommand}}</code>, or fix the tenant or the scope.</p>
{{else}}<p>None.</p>{{end}}
<p><small>Also as JSON: <code>curl -H 'Accept: application/json'</code> on this address. Metrics: <a href="metrics">/metrics</a>, probes: <a href="healthz">/healthz</a>, <a href="readyz">/readyz</a>.</small></p>
</body>
</html>
`))

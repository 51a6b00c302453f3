package preflight

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
)

// Entra check names, for Needs.
const (
	CheckEntraToken  = "entra.token"
	CheckEntraGroups = "entra.groups"
	CheckEntraUsers  = "entra.users"
	CheckEntraDelta  = "entra.delta"
	// CheckEntraMembers and CheckEntraUsersDelta check the other calls
	// writeback makes, each with the permission it needs.
	CheckEntraMembers    = "entra.members"
	CheckEntraUsersDelta = "entra.usersdelta"
	// CheckEntraDevices (when members.devices is on) and
	// CheckEntraSyncBehavior check the optional permissions: without them
	// writeback runs, with device members and converted groups reported.
	CheckEntraDevices      = "entra.devices"
	CheckEntraSyncBehavior = "entra.syncbehavior"
	entraStepsValue        = "entra.steps"
)

// EntraChecks are the Microsoft Entra ID (Graph) checks: a token can be
// acquired, then every call writeback makes works with the application
// permission it needs (a 403 names the missing one): groups, members,
// groups delta, users with their on-premises anchors, users delta. They need
// the configuration's entra section.
func EntraChecks() []Check {
	tok := []string{CheckEntraToken}
	return []Check{
		{Name: CheckEntraToken, Run: checkEntraToken},
		{Name: CheckEntraGroups, Needs: tok, Run: entraStep("groups", "groups readable (Group.Read.All)")},
		{Name: CheckEntraMembers, Needs: tok, Run: entraStep("members", "group members readable (Group.Read.All)")},
		{Name: CheckEntraUsers, Needs: tok, Run: entraStep("users", "users and their on-premises anchors readable (User.Read.All)")},
		{Name: CheckEntraDelta, Needs: tok, Run: entraStep("delta", "groups delta supported (Group.Read.All)")},
		{Name: CheckEntraUsersDelta, Needs: tok, Run: entraStep("usersdelta", "users delta supported (User.Read.All)")},
		{Name: CheckEntraDevices, Needs: tok, Run: optionalStep("devices", "device members readable (Device.Read.All)",
			"without it every device member is reported unresolved; or set members.devices: false")},
		{Name: CheckEntraSyncBehavior, Needs: tok, Run: optionalStep("syncbehavior", "groups converted to the cloud can be confirmed ("+entra.SyncBehaviorPermission+")",
			"without it a group converted from AD to the cloud is reported, neither taken over in place nor created (docs/engine.md)")},
	}
}

// checkEntraToken runs the client's whole check once (each request depends
// on the token) and files the steps for the checks after it.
func checkEntraToken(ctx context.Context, e *Env) Result {
	cfg := e.Config.Entra
	if cfg == nil {
		return skip("no entra section in the configuration")
	}
	// What the Graph client says (a server error, a retry) goes to the
	// configured logger, as during a round; none given, it is dropped.
	log := e.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A preflight should answer in seconds: retry once, not for minutes.
	c, err := entra.New(ctx, entraconfig.Options(*cfg),
		entra.WithLogger(log),
		entra.WithRetry(policy.RetryOptions{MaxRetries: 1, RetryDelay: 500 * time.Millisecond, MaxRetryDelay: time.Second, TryTimeout: 20 * time.Second}))
	if err != nil {
		return fail(err.Error(), "fix the entra section as the message says (tenantId, clientId, credential, caFile)")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	steps := c.Check(ctx)
	if e.Config.Members.DevicesEnabled() {
		steps = append(steps, c.CheckDevices(ctx))
	}
	steps = append(steps, c.CheckSyncBehavior(ctx))
	byName := map[string]entra.CheckStep{}
	for _, s := range steps {
		byName[s.Name] = s
	}
	e.Values[entraStepsValue] = byName
	s, found := byName["token"]
	switch {
	case !found:
		return fail("no token step was run", "report this as a bug")
	case s.Err != nil:
		return fail(oneLine(s.Err), s.Fix)
	}
	return ok(fmt.Sprintf("token for client %s in tenant %s", cfg.ClientID, cfg.TenantID))
}

func entraStep(name, detail string) func(context.Context, *Env) Result {
	return func(ctx context.Context, e *Env) Result {
		steps, _ := e.Values[entraStepsValue].(map[string]entra.CheckStep)
		s, found := steps[name]
		switch {
		case !found:
			return skip("not reached")
		case s.Err != nil:
			return fail(oneLine(s.Err), s.Fix)
		case s.Note != "":
			return ok(detail + "; " + s.Note)
		}
		return ok(detail)
	}
}

// optionalStep is entraStep for a permission writeback runs without: a
// refusal is a warning that says what is lost.
func optionalStep(name, detail, without string) func(context.Context, *Env) Result {
	return func(ctx context.Context, e *Env) Result {
		steps, _ := e.Values[entraStepsValue].(map[string]entra.CheckStep)
		s, found := steps[name]
		switch {
		case !found && name == "devices":
			return skip("members.devices is false: device members are not read")
		case !found:
			return skip("not reached")
		case s.Err != nil:
			return warn(oneLine(s.Err), s.Fix+"; "+without)
		}
		return ok(detail)
	}
}

var aadsts = regexp.MustCompile(`AADSTS\d+:[^"]*`)

// oneLine shortens azidentity's multi-line errors (request, response dump,
// troubleshooting link) to what a check line needs: the request, the HTTP
// status and Entra's AADSTS message.
func oneLine(err error) string {
	s := err.Error()
	lines := strings.Split(s, "\n")
	if len(lines) == 1 {
		return s
	}
	out := strings.TrimSpace(lines[0])
	for _, l := range lines[1:] {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "RESPONSE ") {
			out += " " + l
			break
		}
	}
	if m := aadsts.FindString(s); m != "" {
		m, _, _ = strings.Cut(m, " Trace ID")
		out += ": " + strings.TrimSpace(m)
	}
	return out
}

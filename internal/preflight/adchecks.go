package preflight

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/ldapdn"
)

// AD check names, for Needs.
const (
	CheckSecretFiles = "secret-files"
	CheckSecret      = "ad.password"
	CheckConnect     = "ad.connect"
	CheckTLS         = "ad.tls"
	CheckBind        = "ad.bind"
	CheckSchema      = "ad.schema"
	CheckGC          = "ad.gc"
	CheckGCAttr      = "ad.gc-attribute"
	CheckTargetOU    = "ad.target-ou"
	CheckWrite       = "ad.write-probe"
	CheckPwExpiry    = "ad.password-expiry"
	CheckProtected   = "ad.protected-groups"
	dialErrorValue   = "ad.dial-error"
)

// ADChecks are the Active Directory checks, in the order they depend on each other.
func ADChecks() []Check {
	return []Check{
		{Name: CheckSecretFiles, Run: checkSecretFiles},
		{Name: CheckSecret, Run: checkSecret},
		{Name: CheckConnect, Needs: []string{CheckSecret}, Run: checkConnect},
		{Name: CheckTLS, Needs: []string{CheckConnect}, Run: checkTLS},
		{Name: CheckBind, Needs: []string{CheckTLS}, Run: checkBind},
		dcsCheck, // hook (issue #20, dcs.go)
		{Name: CheckPwExpiry, Needs: []string{CheckBind}, Run: checkPasswordExpiry},
		{Name: CheckSchema, Needs: []string{CheckBind}, Run: checkSchema},
		{Name: CheckGC, Needs: []string{CheckBind}, Run: checkGC},
		{Name: CheckGCAttr, Needs: []string{CheckGC, CheckSchema}, Run: checkGCAttr},
		{Name: CheckTargetOU, Needs: []string{CheckBind}, Run: checkTargetOU},
		{Name: CheckProtected, Needs: []string{CheckTargetOU}, Run: checkProtected},
		{Name: CheckWrite, Needs: []string{CheckTargetOU}, Run: checkWrite},
	}
}

// checkSecretFiles warns about secret files other users can read or write
// (the AD password, the Entra client secret, certificate or its password).
func checkSecretFiles(ctx context.Context, e *Env) Result {
	files := e.Config.SecretFiles()
	if len(files) == 0 {
		return ok("no secret files (secrets come from environment variables)")
	}
	if w := e.Config.LooseSecretFiles(); len(w) > 0 {
		return warn(strings.Join(w, "; "), "chmod 600 each file named, owned by the account writeback runs as")
	}
	return ok(fmt.Sprintf("%d secret files readable by their owner only", len(files)))
}

func checkSecret(ctx context.Context, e *Env) Result {
	if _, err := e.Config.AD.Password.Value("ad.password"); err != nil {
		return fail(err.Error(), "point ad.password.file at a readable file holding the bind password, or ad.password.env at a set environment variable")
	}
	return ok("read from " + secretRef(e))
}

// checkConnect dials the DC once (TCP, TLS, bind) and files the outcome for
// the tls and bind checks, so each failure is reported by the check it belongs to.
func checkConnect(ctx context.Context, e *Env) Result {
	cfg := e.Config.AD
	c, err := ad.Dial(ctx, adconfig.Options(cfg, e.Log))
	e.Values[dialErrorValue] = err
	e.DC = c
	var ce *ad.ConnectError
	if errors.As(err, &ce) {
		if cfg.URL == "" { // ad.servers / ad.domain: none answered
			return fail(err.Error(), connectFix(ce.URL, "ad.servers / ad.domain", err))
		}
		return fail(err.Error(), connectFix(cfg.URL, "ad.url", err))
	}
	if err != nil && !isTLS(err) && ad.Code(err) == 0 && !strings.Contains(err.Error(), "bind") {
		return fail(err.Error(), "fix the ad section of the configuration as the message says")
	}
	if c != nil {
		return ok(c.URL() + " reachable")
	}
	return ok(cfg.URL + " reachable")
}

func connectFix(u, field string, err error) string {
	host := u
	if p, e := url.Parse(u); e == nil {
		host = p.Host
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("%s: the host name does not resolve from this machine; use the DC's DNS name or check DNS", field)
	}
	return fmt.Sprintf("check %s (%s): is the DC up, is the port right (636 ldaps, 389 ldap; GC 3269/3268), does a firewall block it?", field, host)
}

func isTLS(err error) bool {
	var te *ad.TLSError
	return errors.As(err, &te)
}

func checkTLS(ctx context.Context, e *Env) Result {
	cfg := e.Config.AD
	err, _ := e.Values[dialErrorValue].(error)
	if isTLS(err) {
		return fail(err.Error(), tlsFix(err))
	}
	if u, _ := url.Parse(cfg.URL); u != nil && u.Scheme == "ldap" && cfg.Insecure {
		return ok("insecure: plain LDAP without TLS (ad.insecure); passwords travel in clear text, lab use only")
	}
	mode := "ldaps"
	if strings.HasPrefix(cfg.URL, "ldap://") {
		mode = "StartTLS"
	}
	detail := mode + ", certificate verified"
	if cfg.CAFile != "" {
		detail += " against " + cfg.CAFile
	} else {
		detail += " against the system roots"
	}
	return ok(detail)
}

func tlsFix(err error) string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var rec tls.RecordHeaderError
	switch {
	case errors.As(err, &ua):
		return "the DC's certificate is not signed by a CA writeback trusts: set ad.caFile to a PEM file with the issuing CA (for AD CS: the enterprise root CA certificate)"
	case errors.As(err, &hn):
		return "the certificate does not name the host in ad.url: use a host name listed in the certificate, or set ad.serverName to one"
	case errors.As(err, &ci):
		return "the DC's certificate is expired or not valid for server authentication: renew it on the DC"
	case errors.As(err, &rec):
		return "the server did not answer with TLS: use ldaps:// with port 636, or ldap:// with port 389 for StartTLS"
	}
	return "check that the DC has a valid server certificate (ldaps), that ad.caFile holds its issuing CA and ad.url names the DC as in the certificate"
}

func checkBind(ctx context.Context, e *Env) Result {
	cfg := e.Config.AD
	err, _ := e.Values[dialErrorValue].(error)
	switch {
	case err == nil:
		return ok("bound as " + cfg.BindDN)
	case ad.IsInvalidCredentials(err):
		if f, ok := ad.DecodeBindFailure(err); ok && f.SubCode != "52e" {
			return fail(err.Error(), f.Fix)
		}
		return fail(err.Error(), "wrong account or password: check ad.bindDN (a DN, user@domain or DOMAIN\\user), the secret in "+secretRef(e)+", and that the account is enabled and not locked out")
	case ad.Code(err) == ad.CodeStrongAuthRequired || ad.Code(err) == ad.CodeConfidentialityRequired:
		return fail(err.Error(), "the DC requires an encrypted connection: use ldaps:// or remove ad.insecure so StartTLS is used")
	}
	return fail(err.Error(), "check ad.bindDN and "+secretRef(e))
}

// passwordWarnBefore is how long before the bind account's password
// expires check starts warning: every bind fails from then on (LDAP 49,
// data 532) and writeback stops.
const passwordWarnBefore = 14 * 24 * time.Hour

func checkPasswordExpiry(ctx context.Context, e *Env) Result {
	name := e.Config.AD.BindDN
	at, never, known, err := e.DC.PasswordExpiry(ctx, name)
	switch {
	case err != nil:
		return warn(err.Error(), "give the service account read access to its own msDS-UserPasswordExpiryTimeComputed, or watch its password expiry yourself")
	case !known:
		return ok("the DC does not say when the password of " + name + " expires")
	case never:
		return ok("the password of " + name + " does not expire")
	}
	left := time.Until(at)
	if left < passwordWarnBefore {
		return warn(fmt.Sprintf("the password of %s expires %s (in %s); from then every bind fails (LDAP 49, data 532) and writeback stops", name, at.Format(time.RFC3339), left.Round(time.Hour)),
			"set a new password on the account in AD and in "+secretRef(e)+" before then (writeback reads the secret again at each bind)")
	}
	return ok(fmt.Sprintf("the password of %s expires %s", name, at.Format(time.DateOnly)))
}

func secretRef(e *Env) string {
	p := e.Config.AD.Password
	switch {
	case p.File != "":
		return "ad.password.file (" + p.File + ")"
	case p.Env != "":
		return "ad.password.env ($" + p.Env + ")"
	}
	return "ad.password"
}

func checkSchema(ctx context.Context, e *Env) Result {
	r, err := e.DC.RootDSE(ctx)
	if err != nil {
		return fail(err.Error(), "the bind account must be able to read the RootDSE and the schema partition")
	}
	e.RootDSE = &r
	if !r.HasExternalDirectoryObjectID {
		return fail(fmt.Sprintf("attribute %s is not in the schema (%s)", ad.AttrExternalDirectoryObjectID, r.SchemaNamingContext),
			"extend the forest schema to Windows Server 2016 or later (adprep /forestprep from Server 2016+ media), or add the attribute as docs/ad.md shows")
	}
	return ok(fmt.Sprintf("%s present; domain functional level %d, default naming context %s", ad.AttrExternalDirectoryObjectID, r.DomainFunctionality, r.DefaultNamingContext))
}

func checkGC(ctx context.Context, e *Env) Result {
	cfg := e.Config.AD
	c, err := ad.DialGCNear(ctx, adconfig.Options(cfg, e.Log), e.DC) // the pinned DC's own GC first
	if err != nil {
		var ce *ad.ConnectError
		switch {
		case errors.As(err, &ce):
			return fail(err.Error(), connectFix(cfg.GCURL, "ad.gcUrl", err)+"; the DC must be a Global Catalog server")
		case isTLS(err):
			return fail(err.Error(), tlsFix(err))
		}
		return fail(err.Error(), "check ad.gcUrl and that the bind account can bind to the Global Catalog")
	}
	e.GC = c
	return ok(c.URL() + " reachable, bound")
}

func checkGCAttr(ctx context.Context, e *Env) Result {
	if !e.RootDSE.ExternalDirectoryObjectIDInGC {
		return fail(ad.AttrExternalDirectoryObjectID+" is not replicated to the Global Catalog (isMemberOfPartialAttributeSet is not TRUE)",
			"set isMemberOfPartialAttributeSet: TRUE on CN=ms-DS-External-Directory-Object-Id in the schema (as Windows Server 2016 defines it)")
	}
	// a lookup through the GC must work with that attribute in the filter
	if _, err := e.GC.FindByAnchors(ctx, []string{"Group_00000000-0000-0000-0000-000000000000"}); err != nil {
		return fail(err.Error(), "the bind account must be able to search the Global Catalog")
	}
	return ok(ad.AttrExternalDirectoryObjectID + " is in the partial attribute set; GC lookup by it works")
}

func checkTargetOU(ctx context.Context, e *Env) Result {
	ou := e.Config.AD.TargetOU
	if ou == "" {
		return fail("ad.targetOU is not set", "set ad.targetOU to the DN of the OU new groups are created in, e.g. OU=Groups,DC=contoso,DC=com")
	}
	entry, err := e.DC.SearchOne(ctx, ou, []string{"objectClass"})
	if err != nil {
		return fail(err.Error(), "check that ad.targetOU is a valid DN the bind account may read")
	}
	if entry == nil {
		return fail("target OU "+ou+" does not exist", "create the OU (e.g. New-ADOrganizationalUnit) or correct ad.targetOU")
	}
	// writeback finds its groups by anchor under sync.searchBase (default:
	// the domain) only; a group created outside would be created again.
	base, name := e.Config.Sync.SearchBase, "sync.searchBase"
	if base == "" {
		base, name = e.Config.AD.BaseDN, "ad.baseDN"
	}
	if base == "" && e.RootDSE != nil {
		base, name = e.RootDSE.DefaultNamingContext, "the domain"
	}
	if !ldapdn.Within(ou, base) {
		return fail("target OU "+ou+" is outside "+name+" "+base+": writeback finds its groups only there, so each group created in the target OU would be created again",
			"put ad.targetOU under "+base+", or widen sync.searchBase")
	}
	return ok(ou + " exists, inside " + base)
}

// checkProtected lists the groups carrying a cloud anchor under the search
// base that writeback will not touch because they are protected: adminCount=1
// or nested in a protected group (ad.NestedInProtected). It warns: the
// rounds skip and report them, but an administrator should resolve it.
func checkProtected(ctx context.Context, e *Env) Result {
	domain, err := e.DC.BaseDN(ctx)
	if err != nil {
		return fail(err.Error(), "the bind account must be able to read the RootDSE")
	}
	base := e.Config.Sync.SearchBase
	if base == "" {
		base = domain
	}
	why := map[string][]string{} // DN -> reasons
	var order []string
	note := func(dn, reason string) {
		if _, ok := why[dn]; !ok {
			order = append(order, dn)
		}
		why[dn] = append(why[dn], reason)
	}
	byAnchor := map[string]string{}
	err = e.DC.Groups(ctx, base, ad.FilterAnchoredProtected, ad.GroupQuery{}, func(g ad.Group) error {
		note(g.DN, "adminCount=1")
		return nil
	})
	if err == nil {
		err = e.DC.Groups(ctx, base, ad.FilterAnchored, ad.GroupQuery{}, func(g ad.Group) error {
			byAnchor[strings.ToLower(g.Anchor)] = g.DN
			return nil
		})
	}
	var nested map[string]string
	if err == nil {
		nested, err = ad.NestedInProtected(ctx, e.DC, domain, base)
	}
	if err != nil {
		return fail(err.Error(), "the bind account must be able to read groups, adminCount and memberOf under "+base)
	}
	for anchor, reason := range nested {
		if dn := byAnchor[anchor]; dn != "" {
			note(dn, reason)
		}
	}
	if len(order) == 0 {
		return ok("no group with a cloud anchor under " + base + " is protected (adminCount=1 or nested in a protected group)")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d group(s) with a cloud anchor are protected; writeback leaves them untouched:", len(order))
	for _, dn := range order {
		fmt.Fprintf(&b, " %s (%s);", dn, strings.Join(why[dn], "; "))
	}
	return warn(strings.TrimSuffix(b.String(), ";"),
		"remove these groups from the protected groups they are nested in (then clear adminCount and re-enable inheritance on them), or remove their anchor (msDS-ExternalDirectoryObjectId) if writeback must not manage them")
}

// checkWrite creates, modifies and deletes a probe group in the target OU,
// and moves it to safety.moveTo when a policy moves groups there. The probe
// carries a marker in adminDescription so it is recognisable as ours if a
// run is interrupted before the delete.
func checkWrite(ctx context.Context, e *Env) Result {
	if e.NoWrite {
		return skip("--no-write")
	}
	c := e.DC
	b := make([]byte, 4)
	rand.Read(b)
	name := "writeback-preflight-" + hex.EncodeToString(b)
	ou := e.Config.AD.TargetOU
	dn, err := ad.JoinDN("CN", name, ou)
	if err != nil {
		return fail(err.Error(), "correct ad.targetOU")
	}
	attrs := map[string][]string{
		"sAMAccountName":   {name},
		"description":      {"writeback check probe; safe to delete"},
		"adminDescription": {"writeback-preflight"},
	}
	if e.RootDSE != nil && e.RootDSE.HasExternalDirectoryObjectID {
		attrs[ad.AttrExternalDirectoryObjectID] = []string{"Group_writeback-preflight-" + hex.EncodeToString(b)}
	}
	rightsFix := func() string {
		return "delegate to the bind account on " + ou + ": Create, Delete and Manage group objects (Delegation of Control wizard), e.g. " + e.grant(ctx, rightCreateDelete, ou) + "; or run with --no-write to skip this probe"
	}
	if err := c.CreateGroup(ctx, dn, attrs); err != nil {
		return fail(err.Error(), rightsFix())
	}
	grant := func(r right, where string) string {
		return "the bind account lacks the right to " + r.what + " on " + where + ": grant it as in docs/ad.md (Least-privilege delegation): " + e.grant(ctx, r, where) + "; or run with --no-write to skip this probe"
	}
	cleanup := func(dns ...string) {
		for _, d := range dns {
			c.Delete(context.WithoutCancel(ctx), d)
		}
	}
	if err := c.Modify(ctx, dn, map[string][]string{"description": {"writeback check probe (modified); safe to delete"}}); err != nil {
		cleanup(dn)
		return fail(err.Error(), grant(rightWriteAttrs, ou))
	}
	// Members: a second probe group goes in and out of the first.
	dn2, _ := ad.JoinDN("CN", name+"-m", ou)
	attrs2 := map[string][]string{"sAMAccountName": {name + "-m"}, "description": attrs["description"], "adminDescription": attrs["adminDescription"]}
	if err := c.CreateGroup(ctx, dn2, attrs2); err != nil {
		cleanup(dn)
		return fail(err.Error(), rightsFix())
	}
	if err := c.AddMembers(ctx, dn, []string{dn2}); err != nil {
		cleanup(dn, dn2)
		return fail(err.Error(), grant(rightWriteMember, ou))
	}
	if err := c.RemoveMembers(ctx, dn, []string{dn2}); err != nil {
		cleanup(dn, dn2)
		return fail(err.Error(), grant(rightWriteMember, ou))
	}
	renamed, err := c.Move(ctx, dn, "CN="+ldapdn.Escape(name+"-renamed"), "")
	if err != nil {
		cleanup(dn, dn2)
		return fail(err.Error(), grant(rightRename, ou))
	}
	last, done := renamed, "created, modified, added and removed a member of, renamed and deleted probe group "+dn
	if moveTo := probeMoveTo(e); moveTo != "" {
		moved, err := c.Move(ctx, renamed, "", moveTo)
		if err != nil {
			cleanup(dn2, renamed)
			// Windows answers 32 for a missing new parent, Samba 80: ask.
			if e, serr := c.SearchOne(context.WithoutCancel(ctx), moveTo, []string{"1.1"}); serr == nil && e == nil {
				return fail(err.Error(), "safety.moveTo "+moveTo+" does not exist: create the OU or correct safety.moveTo")
			}
			return fail(err.Error(), grant(rightMoveTo, moveTo))
		}
		last, done = moved, "created, modified, added and removed a member of, renamed, moved to "+moveTo+" (safety.moveTo) and deleted probe group "+dn
	}
	if err := c.Delete(ctx, dn2); err != nil {
		cleanup(last)
		return fail(err.Error(), rightsFix()+"; then delete "+dn2+" by hand")
	}
	if err := c.Delete(ctx, last); err != nil {
		where := ldapdn.Parent(last)
		return fail(err.Error(), grant(rightCreateDelete, where)+"; then delete "+last+" by hand")
	}
	return ok(done)
}

// probeMoveTo is the OU the write probe moves its group to: safety.moveTo
// when onDelete or onOutOfScope moves groups there.
func probeMoveTo(e *Env) string {
	s := e.Config.Safety
	if s.MoveTo == "" || (s.OnDelete != "move" && s.OnOutOfScope != "move") {
		return ""
	}
	return s.MoveTo
}

// right is one delegation the write probe needs, as docs/ad.md grants it:
// dsacls arguments for Windows and the SDDL ACEs of samba-tool dsacl for the
// lab (bf967a9c-0de6-11d0-a285-00aa003049e2 is the group class; Samba has
// no per-attribute shorthand, so the lab grants all properties of groups).
type right struct {
	what   string
	dsacls []string // /I:<inherit> and the permission after "ACCOUNT:"
	sddl   []string // with %s for the SID
}

var (
	// SD on the groups themselves: a group protected from accidental
	// deletion denies Everyone Delete child on its OU (docs/ad.md).
	rightCreateDelete = right{"create and delete group objects",
		[]string{`/I:T /G "%[1]s:CCDC;group"`, `/I:S /G "%[1]s:SD;;group"`},
		[]string{"(OA;CI;CCDC;bf967a9c-0de6-11d0-a285-00aa003049e2;;%[1]s)", "(OA;CIIO;SD;;bf967a9c-0de6-11d0-a285-00aa003049e2;%[1]s)"}}
	rightWriteAttrs = right{"write the attributes of group objects",
		[]string{`/I:S /G "%[1]s:WP;description;group"`},
		[]string{"(OA;CIIO;RPWP;;bf967a9c-0de6-11d0-a285-00aa003049e2;%[1]s)"}}
	rightWriteMember = right{"write member of group objects",
		[]string{`/I:S /G "%[1]s:WP;member;group"`},
		[]string{"(OA;CIIO;RPWP;;bf967a9c-0de6-11d0-a285-00aa003049e2;%[1]s)"}}
	rightRename = right{"rename group objects",
		[]string{`/I:S /G "%[1]s:WP;cn;group" "%[1]s:WP;name;group"`},
		[]string{"(OA;CIIO;RPWP;;bf967a9c-0de6-11d0-a285-00aa003049e2;%[1]s)"}}
	// A move is a delete in the target OU (granted there) and a create
	// here; the group is deleted here later (the probe's cleanup, and
	// writeback's own onDelete: delete of a moved group) or moved back
	// when it returns to scope, which is a delete here.
	rightMoveTo = right{"move group objects into it (create and delete group objects, rename them)",
		[]string{`/I:T /G "%[1]s:CCDC;group"`, `/I:S /G "%[1]s:SD;;group" "%[1]s:WP;cn;group" "%[1]s:WP;name;group"`},
		[]string{"(OA;CI;CCDC;bf967a9c-0de6-11d0-a285-00aa003049e2;;%[1]s)", "(OA;CIIO;RPWP;;bf967a9c-0de6-11d0-a285-00aa003049e2;%[1]s)", "(OA;CIIO;SD;;bf967a9c-0de6-11d0-a285-00aa003049e2;%[1]s)"}}
)

// grant is the commands that give the bind account r on ou: dsacls on
// Windows, samba-tool dsacl on a Samba DC, with the account's name and
// SID when the DC says them.
func (e *Env) grant(ctx context.Context, r right, ou string) string {
	acct := e.Config.AD.BindDN
	if !strings.Contains(acct, "@") && !strings.Contains(acct, "\\") {
		acct = `DOMAIN\account` // dsacls takes DOMAIN\user or user@domain, not a DN
	}
	sid := "<objectSid of the account>"
	if e.DC != nil {
		if s, err := e.DC.AccountSID(context.WithoutCancel(ctx), e.Config.AD.BindDN); err == nil && s != "" {
			sid = s
		}
	}
	dc := e.Config.AD.URL
	if dc == "" {
		dc = "ldaps://<DC>"
	}
	var cmds []string
	for _, a := range r.dsacls {
		cmds = append(cmds, `dsacls "`+ou+`" `+fmt.Sprintf(a, acct))
	}
	win := strings.Join(cmds, " and ")
	cmds = cmds[:0]
	for _, a := range r.sddl {
		cmds = append(cmds, `samba-tool dsacl set -H `+dc+` -U Administrator --objectdn="`+ou+`" --sddl="`+fmt.Sprintf(a, sid)+`"`)
	}
	return win + " (Windows); on a Samba DC: " + strings.Join(cmds, " and ")
}

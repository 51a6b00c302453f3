package lab

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab/sample"
)

// ConnectSyncOUName is the OU 'writeback-lab up --connect-sync' fills with
// groups shaped as Entra Connect Sync group writeback v2 left them, for
// trying 'writeback migrate' end to end.
const ConnectSyncOUName = "OU=ConnectSync"

// ConnectSyncGroup is one group of the Connect-Sync-shaped OU.
type ConnectSyncGroup struct {
	Key         string
	DisplayName string
	// DisplayNameCN: CN=<display name>_<last 12 of the object ID> (the
	// display-name format); false: Connect Sync's default CN=Group_<object ID>.
	DisplayNameCN bool
	Mail          string // mail-enabled security group: stays on v1
	GroupType     int32  // 0 = universal security
	// StaleAnchor: msDS-ExternalDirectoryObjectId already holds another
	// object ID (an anchor conflict the runbook's fix resolves).
	StaleAnchor bool
	ADMembers   []string // sample users' sAMAccountNames; "contact:<name>" a contact in the OU
	Cloud       []string // cloud members: sample sAMAccountNames (synced or cloud-only)
}

// ConnectSyncGroups is what the seed writes: both naming formats, a
// mail-enabled group, a global group, an anchor conflict, members that
// resolve, a cloud-only member that does not, and in Payroll a user and a
// contact the cloud group does not have (they would lose their membership).
var ConnectSyncGroups = []ConnectSyncGroup{
	{Key: "payroll", DisplayName: "Payroll",
		ADMembers: []string{"asa.lindqvist", "emile.zhang", "fatima.ozturk", "contact:External Auditor"},
		Cloud:     []string{"asa.lindqvist", "emile.zhang"}},
	{Key: "helpdesk", DisplayName: "Helpdesk Tier 2", DisplayNameCN: true,
		ADMembers: []string{"priya.raman", "ngozi.okafor"},
		Cloud:     []string{"priya.raman", "ngozi.okafor", "grace.hopper"}},
	{Key: "atlas", DisplayName: "Project Atlas", DisplayNameCN: true, StaleAnchor: true,
		ADMembers: []string{"chloe.dubois", "mateo.rossi"},
		Cloud:     []string{"chloe.dubois", "mateo.rossi"}},
	{Key: "newsletter", DisplayName: "Partner Newsletter", Mail: "partner-newsletter@" + sample.Domain,
		ADMembers: []string{"ada.lovelace"}, Cloud: []string{"ada.lovelace"}},
	{Key: "print-ops", DisplayName: "Legacy Print Operators", GroupType: ad.GroupTypeGlobalSecurity,
		ADMembers: []string{"bjorn.bjork"}, Cloud: []string{"bjorn.bjork"}},
}

// seedDescription is each group's description, in Entra and, as Connect Sync
// wrote it back, in AD.
const seedDescription = "lab seed: a group Connect Sync group writeback v2 wrote back"

// ConnectSyncID is the cloud object ID of a seeded group.
func ConnectSyncID(key string) string { return sample.ID("connect-sync:" + key) }

// ConnectSyncCN is the CN Connect Sync gave the group.
func ConnectSyncCN(g ConnectSyncGroup) string {
	id := ConnectSyncID(g.Key)
	if g.DisplayNameCN {
		return g.DisplayName + "_" + id[24:]
	}
	return "Group_" + id
}

// SeedConnectSync (re)writes OU=ConnectSync,<domain> with ConnectSyncGroups
// as Connect Sync left them (adminDescription Group_<id>, no
// msDS-ExternalDirectoryObjectId except the conflict) and puts the matching
// cloud groups into the running Graph emulator. Run again, it starts the OU
// over and resets the cloud groups' members, so a demo can repeat.
func SeedConnectSync(ctx context.Context, l *Lab) (string, error) {
	if l.Env["LAB_EMULATOR_ADMIN_URL"] == "" {
		return "", errors.New("connect-sync seed: the lab's Graph emulator is not running (run 'writeback-lab up' without --no-emulator)")
	}
	base := l.Env["LAB_BASE_DN"]
	c, err := ad.Dial(ctx, adconfig.Options(l.ADConfig()))
	if err != nil {
		return "", fmt.Errorf("connect-sync seed: %w", err)
	}
	defer c.Close()
	users, err := sample.EnsureUsers(ctx, c, base)
	if err != nil {
		return "", fmt.Errorf("connect-sync seed: %w", err)
	}
	if err := EnsureDelegated(ctx, l); err != nil {
		return "", fmt.Errorf("connect-sync seed: %w", err)
	}
	ou := ConnectSyncOUName + "," + base
	// Empty the OU but keep it: the lab delegates it to svc-writeback
	// (samba-lab.sh), which migrates and then manages these groups.
	if err := c.CreateOU(ctx, ou); err != nil {
		return "", fmt.Errorf("connect-sync seed: %w", err)
	}
	var old []string
	if err := c.Search(ctx, ou, ad.ScopeOne, "(objectClass=*)", []string{"1.1"}, func(e *ldap.Entry) error {
		old = append(old, e.DN)
		return nil
	}); err != nil {
		return "", fmt.Errorf("connect-sync seed: read %s: %w", ou, err)
	}
	for _, dn := range old {
		if err := c.DeleteTree(ctx, dn); err != nil {
			return "", fmt.Errorf("connect-sync seed: clear %s: %w", ou, err)
		}
	}
	member := func(m string) (string, error) {
		if name, ok := strings.CutPrefix(m, "contact:"); ok {
			dn, err := ad.JoinDN("CN", name, ou)
			if err != nil {
				return "", err
			}
			err = c.Add(ctx, dn, map[string][]string{"objectClass": {"top", "person", "organizationalPerson", "contact"}, "displayName": {name}})
			if err != nil && !ad.IsAlreadyExists(err) {
				return "", fmt.Errorf("contact %s: %w", name, err)
			}
			return dn, nil
		}
		u, ok := users[m]
		if !ok {
			return "", fmt.Errorf("no sample user %s", m)
		}
		return u.DN, nil
	}
	for _, g := range ConnectSyncGroups {
		id := ConnectSyncID(g.Key)
		dn, err := ad.JoinDN("CN", ConnectSyncCN(g), ou)
		if err != nil {
			return "", fmt.Errorf("connect-sync seed: %s: %w", g.Key, err)
		}
		attrs := map[string][]string{"adminDescription": {"Group_" + id}, "displayName": {g.DisplayName},
			"sAMAccountName": {"cs-" + g.Key}, "description": {seedDescription}}
		if g.Mail != "" {
			attrs["mail"] = []string{g.Mail}
			attrs["proxyAddresses"] = []string{"SMTP:" + g.Mail}
		}
		if g.GroupType != 0 {
			attrs["groupType"] = []string{strconv.Itoa(int(g.GroupType))}
		}
		if g.StaleAnchor {
			attrs[ad.AttrExternalDirectoryObjectID] = []string{"Group_" + ConnectSyncID(g.Key+"-stale")}
		}
		for _, m := range g.ADMembers {
			mdn, err := member(m)
			if err != nil {
				return "", fmt.Errorf("connect-sync seed: %s: %w", g.Key, err)
			}
			attrs["member"] = append(attrs["member"], mdn)
		}
		if err := c.CreateGroup(ctx, dn, attrs); err != nil {
			return "", fmt.Errorf("connect-sync seed: %w", err)
		}
	}
	if err := seedCloud(ctx, l); err != nil {
		return "", err
	}
	return ou, nil
}

// seedCloud puts the cloud groups into the emulator through its admin API;
// an existing group gets its display name and members back.
func seedCloud(ctx context.Context, l *Lab) error {
	pem, err := os.ReadFile(l.Env["LAB_EMULATOR_CA"])
	if err != nil {
		return fmt.Errorf("connect-sync seed: emulator CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return errors.New("connect-sync seed: no CA in " + l.Env["LAB_EMULATOR_CA"])
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	admin := l.Env["LAB_EMULATOR_ADMIN_URL"]
	call := func(method, path string, body, out any) (int, error) {
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				return 0, err
			}
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, admin+path, rd)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return 0, fmt.Errorf("connect-sync seed: %s %s: %w", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 && resp.StatusCode != http.StatusConflict {
			return resp.StatusCode, fmt.Errorf("connect-sync seed: %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
		}
		if out != nil && resp.StatusCode < 300 {
			if err := json.Unmarshal(b, out); err != nil {
				return resp.StatusCode, fmt.Errorf("connect-sync seed: %s %s: %w", method, path, err)
			}
		}
		return resp.StatusCode, nil
	}
	for _, g := range ConnectSyncGroups {
		id := ConnectSyncID(g.Key)
		eg := emulator.Group{ID: id, DisplayName: g.DisplayName, Description: seedDescription, SecurityEnabled: true, MailEnabled: g.Mail != "", Mail: g.Mail,
			MailNickname: "cs" + g.Key, CreatedDateTime: "2023-03-01T09:00:00Z"}
		for _, m := range g.Cloud {
			eg.Members = append(eg.Members, sample.ID(m))
		}
		status, err := call(http.MethodPost, "groups", eg, nil)
		if err != nil {
			return err
		}
		if status != http.StatusConflict {
			continue
		}
		// Seeded before: put its name and members back.
		if _, err := call(http.MethodPatch, "groups/"+id, map[string]string{"displayName": g.DisplayName}, nil); err != nil {
			return err
		}
		var have emulator.Group
		if _, err := call(http.MethodGet, "groups/"+id, nil, &have); err != nil {
			return err
		}
		var remove []string
		for _, m := range have.Members {
			if !slices.Contains(eg.Members, m) {
				remove = append(remove, m)
			}
		}
		if len(remove) > 0 {
			if _, err := call(http.MethodPost, "groups/"+id+"/members/remove", map[string][]string{"ids": remove}, nil); err != nil {
				return err
			}
		}
		if _, err := call(http.MethodPost, "groups/"+id+"/members", map[string][]string{"ids": eg.Members}, nil); err != nil {
			return err
		}
	}
	return nil
}

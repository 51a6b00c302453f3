// Package sample owns the lab's sample tenant: a fixed set of users created in
// the lab AD (OU=SyncedUsers) and the Entra tenant the lab's Graph emulator
// serves, whose AD-synced users point at those AD users by objectGUID.
//
// Everything except the AD-assigned objectGUIDs and SIDs is fixed (names, object
// IDs, memberships), so the demo and the tests print the same plan on every
// machine.
package sample

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/emulator"
)

// OUName is the RDN of the OU holding the sample users, under the base DN.
const OUName = "OU=SyncedUsers"

// Domain is the on-premises DNS domain of the synced users (the lab realm).
const Domain = "contoso.test"

// Person is a sample user. SAM doubles as its key.
type Person struct {
	Given, Surname, Display, SAM string
}

// Synced are the users that exist in the lab AD and, synced by "Entra Connect",
// in the tenant. The names are chosen to exercise non-ASCII handling.
var Synced = []Person{
	{"Ada", "Lovelace", "Ada Lovelace", "ada.lovelace"},
	{"José", "García", "José García", "jose.garcia"},
	{"Zoë", "Müller", "Zoë Müller", "zoe.mueller"},
	{"Åsa", "Lindqvist", "Åsa Lindqvist", "asa.lindqvist"},
	{"Łukasz", "Kowalski", "Łukasz Kowalski", "lukasz.kowalski"},
	{"Siobhán", "O'Brien", "Siobhán O'Brien", "siobhan.obrien"},
	{"An", "Nguyễn", "Nguyễn Văn An", "an.nguyen"},
	{"娜", "李", "李娜", "na.li"},
	{"Søren", "Ødegaard", "Søren Ødegaard", "soren.odegaard"},
	{"Fatima", "Öztürk", "Fatima Öztürk", "fatima.ozturk"},
	{"Chloé", "Dubois", "Chloé Dubois", "chloe.dubois"},
	{"Björn", "Björk", "Björn Björk", "bjorn.bjork"},
	{"Ngozi", "Okafor", "Ngozi Okafor", "ngozi.okafor"},
	{"Mateo", "Rossi", "Mateo Rossi", "mateo.rossi"},
	{"Yuki", "Nakamura", "Yuki Nakamura", "yuki.nakamura"},
	{"Ana-María", "de la Cruz", "Ana-María de la Cruz", "anamaria.delacruz"},
	{"Jean-Luc", "Lévesque", "Jean-Luc Lévesque", "jeanluc.levesque"},
	{"Priya", "Raman", "Priya Raman", "priya.raman"},
	{"Dmitrij", "Ivanov", "Dmitrij Ivanov", "dmitrij.ivanov"},
	{"Émile", "Zhang", "Émile Zhang", "emile.zhang"},
}

// CloudOnly are users that exist only in Entra: as members they cannot be
// resolved in AD, and writeback must say so.
var CloudOnly = []Person{
	{"Grace", "Hopper", "Grace Hopper", "grace.hopper"},
	{"Alan", "Turing", "Alan Turing", "alan.turing"},
	{"Katherine", "Johnson", "Katherine Johnson (contractor)", "katherine.johnson"},
	{"Hedy", "Lamarr", "Hedy Lamarr (contractor)", "hedy.lamarr"},
	{"Margaret", "Hamilton", "Margaret Hamilton (guest)", "margaret.hamilton"},
}

// Group is a sample cloud group. Members name users by SAM and groups by Key.
type Group struct {
	Key         string
	DisplayName string
	Description string
	Members     []string
	// InScope is whether writeback's default scope provisions it.
	InScope bool
	// mailEnabled / syncedFromAD make a group fall outside the default scope.
	mailEnabled, syncedFromAD bool
	// converted: its source of authority moved from AD to the cloud
	// (onprem.go); it is in the tenant only when its original's SID is known.
	converted bool
}

// Groups is the sample tenant's groups, in scope first.
var Groups = []Group{
	{Key: "all-staff", DisplayName: "All Staff", Description: "Everyone, including two cloud-only users AD cannot resolve", InScope: true,
		Members: append(sams(Synced), "grace.hopper", "alan.turing")},
	{Key: "engineering", DisplayName: "Engineering", Description: "Software engineering", InScope: true,
		Members: []string{"ada.lovelace", "lukasz.kowalski", "an.nguyen", "soren.odegaard", "yuki.nakamura", "dmitrij.ivanov"}},
	{Key: "zurich-rnd", DisplayName: "Zürich, R&D", InScope: true,
		Members: []string{"zoe.mueller", "bjorn.bjork", "chloe.dubois", "jeanluc.levesque"}},
	{Key: "sales-marketing", DisplayName: "Sales + Marketing", InScope: true,
		Members: []string{"jose.garcia", "fatima.ozturk", "mateo.rossi", "anamaria.delacruz"}},
	{Key: "tokyo", DisplayName: "東京 Office", InScope: true,
		Members: []string{"yuki.nakamura", "na.li"}},
	{Key: "helpdesk", DisplayName: "#Helpdesk <Tier 1>", InScope: true,
		Members: []string{"siobhan.obrien", "priya.raman", "ngozi.okafor"}},
	{Key: "finance", DisplayName: "Finance; Payroll", Description: "Payroll and accounts payable", InScope: true,
		Members: []string{"asa.lindqvist", "emile.zhang"}},
	{Key: "vip", DisplayName: `"VIP" Access`, InScope: true,
		Members: []string{"ada.lovelace", "jose.garcia"}},
	{Key: "athens", DisplayName: "Αθήνα Project Team", Description: "Project team in Athens", InScope: true,
		Members: []string{"na.li", "chloe.dubois", "mateo.rossi"}},
	{Key: "platform-admins", DisplayName: "Platform Admins", Description: "Nests Engineering", InScope: true,
		Members: []string{"group:engineering", "priya.raman"}},
	{Key: "contractors", DisplayName: "Contractors", Description: "Cloud-only members only", InScope: true,
		Members: []string{"katherine.johnson", "hedy.lamarr", "margaret.hamilton"}},
	// Out of scope by Microsoft's default clause (mailEnabled false, not synced from AD).
	{Key: "newsletter", DisplayName: "Company Newsletter", Description: "Mail-enabled security group: out of scope",
		Members: []string{"ada.lovelace", "jose.garcia"}, mailEnabled: true},
	{Key: "ad-synced", DisplayName: "Facilities (synced from AD)", Description: "Synced from AD by Connect Sync: out of scope",
		Members: []string{"bjorn.bjork"}, syncedFromAD: true},
}

func sams(ps []Person) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.SAM
	}
	return out
}

// TenantID is the sample tenant's ID.
var TenantID = ID("tenant")

// ID is the fixed object ID of a sample object (a user's SAM, "group:"+Key, or
// "tenant"): a name-based UUID, so the demo's IDs are the same everywhere.
func ID(key string) string {
	h := sha1.Sum([]byte("writeback-lab-sample/" + key))
	h[6] = h[6]&0x0f | 0x50 // version 5 (name-based, SHA-1)
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// GroupID is the object ID of the sample group with key.
func GroupID(key string) string { return ID("group:" + key) }

// Dir reaches the lab AD; *ad.Conn implements it.
type Dir interface {
	CreateOU(ctx context.Context, dn string) error
	Add(ctx context.Context, dn string, attrs map[string][]string) error
	Search(ctx context.Context, base string, scope ad.Scope, filter string, attrs []string, fn func(*ldap.Entry) error) error
}

// EnsureUsers creates the OU and those of the Synced users that are missing
// (re-running creates nothing twice) and returns all of them as Entra Connect
// would have synced them, by SAM.
func EnsureUsers(ctx context.Context, c Dir, baseDN string) (map[string]emulator.Anchor, error) {
	ou := OUName + "," + baseDN
	if err := c.CreateOU(ctx, ou); err != nil {
		return nil, fmt.Errorf("sample users: %w", err)
	}
	have, err := readUsers(ctx, c, ou)
	if err != nil {
		return nil, err
	}
	created := false
	for _, p := range Synced {
		if _, ok := have[p.SAM]; ok {
			continue
		}
		dn, err := ad.JoinDN("CN", p.Display, ou)
		if err != nil {
			return nil, fmt.Errorf("sample user %s: %w", p.SAM, err)
		}
		err = c.Add(ctx, dn, map[string][]string{
			"objectClass":       {"top", "person", "organizationalPerson", "user"},
			"sAMAccountName":    {p.SAM},
			"userPrincipalName": {p.SAM + "@" + Domain},
			"givenName":         {p.Given},
			"sn":                {p.Surname},
			"displayName":       {p.Display},
			// Disabled: a lab user needs no password.
			"userAccountControl": {"514"},
		})
		if err != nil && !ad.IsAlreadyExists(err) {
			return nil, fmt.Errorf("sample users: %w", err)
		}
		created = true
	}
	if created {
		if have, err = readUsers(ctx, c, ou); err != nil {
			return nil, err
		}
	}
	for _, p := range Synced {
		if _, ok := have[p.SAM]; !ok {
			return nil, fmt.Errorf("sample user %s not found in %s after creating it", p.SAM, ou)
		}
	}
	return have, nil
}

func readUsers(ctx context.Context, c Dir, ou string) (map[string]emulator.Anchor, error) {
	out := map[string]emulator.Anchor{}
	err := c.Search(ctx, ou, ad.ScopeOne, "(objectClass=user)", []string{"objectGUID", "objectSid", "sAMAccountName", "userPrincipalName", "displayName"},
		func(e *ldap.Entry) error {
			g, err := ad.GUIDFromAD(e.GetRawAttributeValue("objectGUID"))
			if err != nil {
				return fmt.Errorf("%s: %w", e.DN, err)
			}
			sid, err := ad.SIDFromAD(e.GetRawAttributeValue("objectSid"))
			if err != nil {
				return fmt.Errorf("%s: %w", e.DN, err)
			}
			sam := e.GetAttributeValue("sAMAccountName")
			out[sam] = emulator.Anchor{GUID: g.String(), SID: sid, SAM: sam, DN: e.DN,
				UPN: e.GetAttributeValue("userPrincipalName"), DisplayName: e.GetAttributeValue("displayName")}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read sample users in %s: %w", ou, err)
	}
	return out, nil
}

// Tenant is the sample tenant for anchors (from EnsureUsers): the synced
// users carry their AD user's objectGUID, SID, sAMAccountName and DN.
func Tenant(anchors map[string]emulator.Anchor) (emulator.TenantFile, error) {
	yes := true
	f := emulator.TenantFile{TenantID: TenantID}
	for _, p := range Synced {
		a, ok := anchors[p.SAM]
		if !ok {
			return f, fmt.Errorf("sample tenant: no AD user for %s", p.SAM)
		}
		g, err := ad.ParseGUID(a.GUID)
		if err != nil {
			return f, fmt.Errorf("sample tenant: %s: %w", p.SAM, err)
		}
		upn := p.SAM + "@" + Domain
		f.Users = append(f.Users, emulator.User{
			ID: ID(p.SAM), DisplayName: p.Display, GivenName: p.Given, Surname: p.Surname,
			UserPrincipalName: upn, Mail: upn, OnPremisesSyncEnabled: &yes,
			OnPremisesObjectIdentifier:   g.String(),
			OnPremisesSecurityIdentifier: a.SID,
			// Connect Sync's default sourceAnchor: the objectGUID's bytes, base64.
			OnPremisesImmutableId:       base64.StdEncoding.EncodeToString(g.AD()),
			OnPremisesDistinguishedName: a.DN,
			OnPremisesDomainName:        Domain,
			OnPremisesSamAccountName:    p.SAM,
			OnPremisesUserPrincipalName: upn,
		})
	}
	for _, p := range CloudOnly {
		f.Users = append(f.Users, emulator.User{ID: ID(p.SAM), DisplayName: p.Display, GivenName: p.Given, Surname: p.Surname,
			UserPrincipalName: p.SAM + "@contosolab.onmicrosoft.com"})
	}
	for _, d := range Devices {
		if a, ok := anchors[d.SAM]; ok {
			f.Objects = append(f.Objects, emulator.Object{ID: ID("device:" + d.Name), Type: "device", DisplayName: d.Name,
				OnPremisesSecurityIdentifier: a.SID, OnPremisesSyncEnabled: &yes})
		}
	}
	groups := Groups
	if _, ok := anchors[ConvertedSAM]; ok {
		groups = append(slices.Clip(groups), Converted)
	}
	for _, sg := range groups {
		g := emulator.Group{ID: GroupID(sg.Key), DisplayName: sg.DisplayName, Description: sg.Description,
			MailNickname: strings.ReplaceAll(sg.Key, "-", ""), SecurityEnabled: true, MailEnabled: sg.mailEnabled,
			CreatedDateTime: "2026-01-05T09:00:00Z"}
		if sg.mailEnabled {
			g.Mail = g.MailNickname + "@" + Domain
		}
		if sg.syncedFromAD {
			g.OnPremisesSyncEnabled = &yes
		}
		if sg.converted {
			// As PATCH onPremisesSyncBehavior {"isCloudManaged": true} left
			// it: no longer synced, its on-premises identity kept.
			a := anchors[ConvertedSAM]
			g.IsCloudManaged = true
			g.Extra = map[string]any{"onPremisesSecurityIdentifier": a.SID, "onPremisesSamAccountName": a.SAM, "onPremisesDomainName": Domain,
				// Microsoft's preparation for Cloud Sync: the original DN in a
				// directory extension (writeback needs none of it).
				GroupDNExtension: a.DN}
		}
		if sg.Key == DeviceGroup {
			for _, d := range Devices {
				if _, ok := anchors[d.SAM]; ok {
					g.Members = append(g.Members, ID("device:"+d.Name))
				}
			}
		}
		for _, m := range sg.Members {
			if k, ok := strings.CutPrefix(m, "group:"); ok {
				g.Members = append(g.Members, GroupID(k))
			} else {
				g.Members = append(g.Members, ID(m))
			}
		}
		f.Groups = append(f.Groups, g)
	}
	return f, nil
}

// InScope returns the groups writeback's default scope provisions.
func InScope() []Group {
	var out []Group
	for _, g := range Groups {
		if g.InScope {
			out = append(out, g)
		}
	}
	return out
}

// IsCloudOnly reports whether sam names a cloud-only sample user.
func IsCloudOnly(sam string) bool {
	for _, p := range CloudOnly {
		if p.SAM == sam {
			return true
		}
	}
	return false
}

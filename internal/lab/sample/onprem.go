package sample

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/emulator"
)

// The sample tenant's on-premises objects beyond the users: a group whose
// source of authority was converted to the cloud (its original is in the
// lab AD, with members, and nested in another AD group, as an ACL would use
// it), and a device synced from AD (a computer object). writeback takes the
// first over in place and writes the second as a member.

// Converted is the sample group converted to the cloud (SOA): its AD
// original is CN=File Share Readers in OnPremGroupsOU under the target OU.
var Converted = Group{Key: "file-share-readers", DisplayName: "File Share Readers",
	Description: "Converted from AD to the cloud: taken over in place, same SID",
	Members:     []string{"ada.lovelace", "jose.garcia", "priya.raman", "na.li"}, InScope: true, converted: true}

// convertedADMembers are the original's members in AD: the cloud group has
// them all, plus na.li added in the cloud since the conversion.
var convertedADMembers = []string{"ada.lovelace", "jose.garcia", "priya.raman"}

// OnPremGroupsOU is the RDN of the OU, under the target OU, holding the
// converted group's original and the AD group it is nested in.
const OnPremGroupsOU = "OU=On-Premises Groups"

// ConvertedSAM is the original's sAMAccountName; the anchors of EnsureOnPrem
// carry its SID under this key.
const ConvertedSAM = "FileShareReaders"

// GroupDNExtension is the directory extension Microsoft's SOA guide has
// Cloud Sync users fill with a group's DN before converting it
// (extension_<appIdWithoutHyphens>_GroupDN); the converted sample group
// carries it, for trying the GroupDN expressions of docs/expressions.md.
var GroupDNExtension = "extension_" + strings.ReplaceAll(ID("extension-app"), "-", "") + "_GroupDN"

// Device is a sample device synced from AD (hybrid joined).
type Device struct{ Name, SAM string }

// Devices are synced devices: computers in OU=SyncedComputers, members of
// Engineering in the tenant.
var Devices = []Device{{Name: "LAB-PC01", SAM: "LAB-PC01$"}}

// DeviceGroup is the key of the group the devices are members of.
const DeviceGroup = "engineering"

// EnsureOnPrem creates, where missing, the computers of Devices in
// OU=SyncedComputers and the converted group's original (a global group with
// its AD members, nested in the domain local CN=File Share Access) in
// OnPremGroupsOU under targetOU, and adds their SIDs to anchors (by
// sAMAccountName) for Tenant.
func EnsureOnPrem(ctx context.Context, c interface {
	Dir
	CreateGroup(ctx context.Context, dn string, attrs map[string][]string) error
}, baseDN, targetOU string, anchors map[string]emulator.Anchor) error {
	comps := "OU=SyncedComputers," + baseDN
	if err := c.CreateOU(ctx, comps); err != nil {
		return fmt.Errorf("sample computers: %w", err)
	}
	for _, d := range Devices {
		err := c.Add(ctx, "CN="+d.Name+","+comps, map[string][]string{
			"objectClass":    {"top", "person", "organizationalPerson", "user", "computer"},
			"sAMAccountName": {d.SAM}, "userAccountControl": {"4096"}, // a domain-joined workstation
		})
		if err != nil && !ad.IsAlreadyExists(err) {
			return fmt.Errorf("sample computer %s: %w", d.Name, err)
		}
	}
	if err := c.CreateOU(ctx, targetOU); err != nil {
		return fmt.Errorf("sample target OU: %w", err)
	}
	ou := OnPremGroupsOU + "," + targetOU
	if err := c.CreateOU(ctx, ou); err != nil {
		return fmt.Errorf("sample on-premises groups: %w", err)
	}
	var members []string
	for _, sam := range convertedADMembers {
		members = append(members, anchors[sam].DN)
	}
	orig := "CN=" + Converted.DisplayName + "," + ou
	if err := c.CreateGroup(ctx, orig, map[string][]string{"sAMAccountName": {ConvertedSAM},
		"groupType": {"-2147483646"}, "member": members}); err != nil && !ad.IsAlreadyExists(err) {
		return fmt.Errorf("sample converted group: %w", err)
	}
	if err := c.CreateGroup(ctx, "CN=File Share Access,"+ou, map[string][]string{"sAMAccountName": {"FileShareAccess"},
		"groupType": {"-2147483644"}, "member": {orig}}); err != nil && !ad.IsAlreadyExists(err) {
		return fmt.Errorf("sample ACL group: %w", err)
	}
	read := func(base, filter string) error {
		return c.Search(ctx, base, ad.ScopeOne, filter, []string{"objectSid", "sAMAccountName"}, func(e *ldap.Entry) error {
			sid, err := ad.SIDFromAD(e.GetRawAttributeValue("objectSid"))
			if err != nil {
				return fmt.Errorf("%s: %w", e.DN, err)
			}
			sam := e.GetAttributeValue("sAMAccountName")
			anchors[sam] = emulator.Anchor{SID: sid, SAM: sam, DN: e.DN}
			return nil
		})
	}
	if err := read(comps, "(objectClass=computer)"); err != nil {
		return fmt.Errorf("read sample computers: %w", err)
	}
	if err := read(ou, "(sAMAccountName="+ConvertedSAM+")"); err != nil {
		return fmt.Errorf("read the sample converted group: %w", err)
	}
	return nil
}

package plan

// Groups converted to the cloud (source of authority, SOA): the engine
// matches such a cloud group to the AD group it came from by objectSid and
// presents it to Calculate as an owned group; these types let the plan say
// so, and undo it when the conversion is rolled back.

// Release gives a taken-over group back to AD (its conversion to the cloud
// was rolled back): the anchor attributes get the values they had before
// the takeover; nothing else is changed and writeback stops managing it.
const Release Action = "release"

// Skip kinds of groups converted to the cloud.
const (
	// SkipTakeoverHeld: taking the group over would remove members that
	// were not accepted (soa.acceptRemovals, apply --allow-removals).
	SkipTakeoverHeld = "takeover-held"
	// SkipSOANotFound: no AD group has the converted group's SID.
	SkipSOANotFound = "soa-not-found"
	// SkipSOAUnconfirmed: the group looks converted (it has an on-premises
	// SID and is not synced) but Graph did not confirm isCloudManaged.
	SkipSOAUnconfirmed = "soa-unconfirmed"
	// SkipSOARefused: the AD group with the SID must not be taken over
	// (protected, another anchor, not a group, outside sync.searchBase).
	SkipSOARefused = "soa-refused"
)

// Takeover is an AD group the plan takes over in place for a cloud group
// converted to the cloud: same object, DN, objectGUID and objectSid.
type Takeover struct {
	GroupID string `json:"groupId"`
	Name    string `json:"name,omitempty"`
	DN      string `json:"dn"`
	SID     string `json:"sid"`
}

// takeoverVerb is the block header of a group taken over in place.
func takeoverVerb(t Takeover) string {
	return "taken over in place: take over " + t.DN + " (SID " + t.SID + ")"
}

package state

import "time"

// Takeover records that writeback took an AD group over in place for a
// cloud group whose source of authority moved to the cloud (SOA): the AD
// group's objectSid, and the values the anchor attributes had before
// writeback stamped them, so that releasing the group (the conversion
// rolled back) puts them back.
type Takeover struct {
	SID string `json:"sid"`
	// Before: adminDescription and msDS-ExternalDirectoryObjectId as they
	// were (absent: no values).
	Before map[string][]string `json:"before,omitempty"`
}

// Released records that writeback gave a taken-over group back to AD (its
// conversion to the cloud was rolled back): when, where, and why. The
// status then has no DN: the group is no longer writeback's.
type Released struct {
	At     time.Time `json:"at"`
	DN     string    `json:"dn"`
	Reason string    `json:"reason"`
}

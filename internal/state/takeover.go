package state

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

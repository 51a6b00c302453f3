package entra

// Select returns the properties the client asks Graph for, groups first. A
// delta link keeps the $select of the request that began it, so a caller
// that stores delta links stores these beside them and starts again when
// they change.
func (c *Client) Select() (groups, users []string) {
	return append([]string(nil), c.groupSel...), append([]string(nil), c.userSel...)
}

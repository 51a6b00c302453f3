package entra

// Select returns the properties the client asks Graph for, groups first. A
// delta link keeps the $select of the request that began it, so a caller
// that stores delta links stores these beside them and starts again when
// they change.
//
// The users list leaves out onPremisesObjectIdentifier, which the client
// asks for but drops at run time when Graph refuses it (see
// ObjectIdentifierProperty): that must not count as a change of selection
// and restart every delta round.
func (c *Client) Select() (groups, users []string) {
	return append([]string(nil), c.groupSel...), append([]string(nil), c.userSel...)
}

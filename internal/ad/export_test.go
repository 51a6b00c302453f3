package ad

// SetMemberIDRange sets how many extended-DN member values one request asks
// for, and returns the function that restores it.
func SetMemberIDRange(n int) (restore func()) {
	old := memberIDRange
	memberIDRange = n
	return func() { memberIDRange = old }
}

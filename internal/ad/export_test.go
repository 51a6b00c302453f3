package ad

import (
	"context"
	"net"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// SetMemberIDRange sets how many extended-DN member values one request asks
// for, and returns the function that restores it.
func SetMemberIDRange(n int) (restore func()) {
	old := memberIDRange
	memberIDRange = n
	return func() { memberIDRange = old }
}

// SetBindBackoff sets the bind backoff bounds and returns the function that
// restores them.
func SetBindBackoff(lo, hi time.Duration) (restore func()) {
	oldLo, oldHi := bindBackoffMin, bindBackoffMax
	bindBackoffMin, bindBackoffMax = lo, hi
	return func() { bindBackoffMin, bindBackoffMax = oldLo, oldHi }
}

// NextBindBackoff exposes the backoff sequence.
func NextBindBackoff(prev time.Duration) time.Duration { return nextBindBackoff(prev) }

// DropConnection closes the live connection as a DC restart would, so the
// next operation redials.
func (c *Conn) DropConnection() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.l.Close()
}

// ShortenBusyBackoff makes busy-DC retries wait 1 ms for the test.
func ShortenBusyBackoff(t interface{ Cleanup(func()) }) {
	old := busyBackoff
	busyBackoff = time.Millisecond
	t.Cleanup(func() { busyBackoff = old })
}

// NestedInProtectedInChain is the reference NestedInProtected's walk must
// agree with: one in-chain search per protected group.
func NestedInProtectedInChain(ctx context.Context, dir Searcher, domain, base string) (map[string]string, error) {
	var roots []string
	err := dir.Search(ctx, domain, ScopeSubtree, protectedRootsFilter, []string{"1.1"}, func(en *ldap.Entry) error {
		roots = append(roots, en.DN)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return nestedInProtectedInChain(ctx, dir, roots, base)
}

// SetLookupSRV answers the DC locator's SRV queries from f (name -> records)
// and returns the function that restores DNS.
func SetLookupSRV(f func(name string) ([]*net.SRV, error)) (restore func()) {
	old := lookupSRV
	lookupSRV = func(_ context.Context, _ *net.Resolver, name string) ([]*net.SRV, error) { return f(name) }
	return func() { lookupSRV = old }
}

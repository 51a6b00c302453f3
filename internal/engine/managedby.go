package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/resolve"
)

// OwnerReader is a Source that can read a group's owners (*entra.Client).
type OwnerReader interface {
	Owners(ctx context.Context, groupID string) ([]entra.MemberRef, error)
}

var _ OwnerReader = (*entra.Client)(nil)

// ownerReads is how many owner lists are read from Graph at once.
const ownerReads = 8

// managedByOwners sets managedBy (mappings.managedByOwner) of the desired
// groups to their first owner, in Graph's order, that resolves to an AD
// user by the members' rules (synced, trusted, found in the Global
// Catalog). A group with no such owner, or whose owners cannot be read,
// keeps the managedBy AD has: writeback does not clear what it cannot
// replace. Owners are not in the groups delta: they are read for every
// group a round plans (one GET each), so an owner change alone shows at the
// group's next change or the next full round.
func (e *Engine) managedByOwners(ctx context.Context, desired map[string]*plan.Desired, src resolve.Source) error {
	or, ok := e.src.(OwnerReader)
	if !e.cfg.Mappings.ManagedByOwner || !ok || len(desired) == 0 {
		return nil
	}
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		sem    = make(chan struct{}, ownerReads)
		owners = map[string][]entra.MemberRef{}
	)
	for id := range desired {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			list, err := or.Owners(ctx, id)
			if err != nil {
				e.log.Warn("cannot read the group's owners; its managedBy is left as it is", "group", id, "err", err)
				return
			}
			mu.Lock()
			owners[id] = list
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	key := func(id string, i int) string { return fmt.Sprintf("owner:%s:%05d", id, i) }
	req := map[string][]resolve.Member{}
	for id, list := range owners {
		for i, o := range list {
			if o.Type == "user" || o.Type == "" {
				req[key(id, i)] = []resolve.Member{{ID: o.ID, Type: "user"}}
			}
		}
	}
	if len(req) == 0 {
		return nil
	}
	res, err := e.resolver.Resolve(ctx, req, src)
	if err != nil {
		return fmt.Errorf("resolve group owners for managedBy: %w", err)
	}
	for id, list := range owners {
		for i := range list {
			if r, ok := res[key(id, i)]; ok && len(r.DNs) > 0 {
				d := desired[id]
				if d.Attrs == nil {
					d.Attrs = map[string][]string{}
				}
				d.Attrs["managedBy"] = slices.Clone(r.DNs[:1])
				break
			}
		}
	}
	return nil
}

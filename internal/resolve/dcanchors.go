package resolve

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
)

// anchorsOnDC looks up on the domain controller the anchors the Global
// Catalog did not know (issue #20, windows-ad review D5): a group writeback
// created moments ago on the DC it writes to is there at once, while a GC on
// another server receives it only after replication (15 s within a site,
// longer between sites). Without this its parent would report it "not
// provisioned yet" until the next full round. Costs a search only when the GC
// missed an anchor.
func (d *ADDirectory) anchorsOnDC(ctx context.Context, missing []string, out map[string]Object) error {
	if d.DC == nil || d.Base == "" || len(missing) == 0 {
		return nil
	}
	byLower := make(map[string]string, len(missing))
	for _, a := range missing {
		byLower[strings.ToLower(a)] = a
	}
	for start := 0; start < len(missing); start += 200 {
		end := min(start+200, len(missing))
		err := d.DC.Search(ctx, d.Base, ad.ScopeSubtree, ad.FilterAnchors(missing[start:end]), ad.ObjectAttrs, func(e *ldap.Entry) error {
			o, err := ad.ObjectFromEntry(e)
			if err != nil {
				return err
			}
			if a, ok := byLower[strings.ToLower(o.Anchor)]; ok {
				out[a] = fromAD(o)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("look up %d anchors the Global Catalog does not know yet on the domain controller: %w", end-start, err)
		}
	}
	return nil
}

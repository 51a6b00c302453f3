package resolve

import (
	"context"
	"fmt"
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
	got, err := d.DC.LookupAnchors(ctx, missing)
	if err != nil {
		return fmt.Errorf("look up %d anchors the Global Catalog does not know yet on the domain controller: %w", len(missing), err)
	}
	for a, o := range got {
		out[a] = fromAD(o)
	}
	return nil
}

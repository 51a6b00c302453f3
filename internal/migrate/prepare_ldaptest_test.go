package migrate

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
)

// prepare and rollback through the real directory layer, against a server
// answering as Windows does and as Samba does: the compare-and-swap of the
// anchor (delete the old value, add the new in one modify) copies, reports a
// group already done as equal, never overwrites a value another writer set,
// and rollback restores the pre-state read back from the server.
func TestPrepareAgainstLdaptest(t *testing.T) {
	for _, mode := range []ldaptest.Mode{ldaptest.ModeWindows, ldaptest.ModeSamba} {
		t.Run(strconv.Itoa(int(mode)), func(t *testing.T) {
			ctx := context.Background()
			srv := ldaptest.Start(t, ldaptest.Options{Mode: mode})
			base := "OU=WB,DC=contoso,DC=test"
			srv.Put(base, map[string][]string{"objectClass": {"organizationalUnit"}})
			gt := strconv.Itoa(int(ad.GroupTypeUniversalSecurity))
			put := func(n int, anchor string) string {
				dn := fmt.Sprintf("CN=g%d,%s", n, base)
				a := map[string][]string{"objectClass": {"top", "group"}, "groupType": {gt},
					"adminDescription": {"Group_" + objID(n)}, "objectGUID": {string(guidN(n).AD())}}
				if anchor != "" {
					a[ad.AttrExternalDirectoryObjectID] = []string{anchor}
				}
				srv.Put(dn, a)
				return dn
			}
			copied, equal, conflict := put(1, ""), put(2, "Group_"+objID(2)), put(3, "Group_someone-else")
			c, err := ad.Dial(ctx, adconfig.Options(srv.Config()))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			path := filepath.Join(t.TempDir(), "prepare.journal")
			j, _, err := OpenJournal(path)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Prepare(ctx, c, PrepareOptions{Base: base, Journal: j, Batch: 1})
			j.Close()
			if err != nil {
				t.Fatal(err)
			}
			if res.Changed != 1 || res.AlreadyEqual != 1 || len(res.Conflicts) != 1 || len(res.Failures) != 0 {
				t.Fatalf("result %+v", res)
			}
			for dn, want := range map[string]string{copied: "Group_" + objID(1), equal: "Group_" + objID(2), conflict: "Group_someone-else"} {
				if got := srv.Values(dn, ad.AttrExternalDirectoryObjectID); len(got) != 1 || got[0] != want {
					t.Errorf("%s: anchor %v, want %s", dn, got, want)
				}
			}
			recs, err := ReadJournal(path)
			if err != nil {
				t.Fatal(err)
			}
			rj, _, _ := OpenJournal(filepath.Join(t.TempDir(), "rollback.journal"))
			rb, err := Rollback(ctx, c, recs, RollbackOptions{Journal: rj})
			rj.Close()
			if err != nil || rb.Restored != 1 {
				t.Fatalf("rollback: %v, %+v", err, rb)
			}
			if got := srv.Values(copied, ad.AttrExternalDirectoryObjectID); len(got) != 0 {
				t.Errorf("after rollback %s still has anchor %v", copied, got)
			}
		})
	}
}

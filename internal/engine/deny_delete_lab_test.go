package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// Issue 17, "Protect object from accidental deletion": an owned group given
// the deny-delete ACEs as ADUC sets them (Everyone: Deny Delete and Delete
// subtree on the group, Deny Delete child on its OU) and then deleted in
// Entra is not deleted: AD refuses the delegated account, the group is
// quarantined with a reason naming the protection and how to lift it (what
// `writeback status` shows), its state and AD object stay, and nothing is
// logged as deleted. Its unprotected sibling in the same OU, deleted in the
// same round, is deleted. Read back from AD.
func TestLabDeleteRefusedByDeletionProtection(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 1, "wbx")
	ctx := context.Background()
	idProt, idPlain := uniqueID("e1e1e1e1"), uniqueID("e2e2e2e2")
	tf := sampleTenant(users)
	tf.Groups = []emulator.Group{
		{ID: idProt, DisplayName: "Protected From Deletion", SecurityEnabled: true, Members: []string{tf.Users[0].ID}},
		{ID: idPlain, DisplayName: "Plain Sibling", SecurityEnabled: true, Members: []string{tf.Users[0].ID}},
	}
	f := newFixtureOn(t, l, tf, func(c *config.Config) {
		c.Safety.OnDelete = "delete"
		c.Safety.DeleteThreshold = config.Threshold{Count: 10}
	})
	f.round(RoundOptions{})
	st, _ := f.db.Status(idProt)
	protDN := st.DN
	if protDN == "" {
		t.Fatal("group not provisioned")
	}
	l.DSACL(t, protDN, "(D;;SDDT;;;WD)")
	l.DSACL(t, l.OU, "(D;;DC;;;WD)")
	t.Cleanup(func() { l.Unprotect(t, l.OU); l.Unprotect(t, protDN) })

	for _, id := range []string{idProt, idPlain} {
		if err := f.env.Admin.DeleteGroup(id, true); err != nil {
			t.Fatal(err)
		}
	}
	res, err := f.eng.RunOnce(ctx, RoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied == nil || res.Applied.Failed != 1 || len(res.Applied.Errors) != 1 || res.Applied.Errors[0].GroupID != idProt {
		t.Fatalf("round: %+v", res.Applied)
	}
	got := f.adGroups()
	if _, ok := got[plan.Anchor(idProt)]; !ok {
		t.Errorf("the protected group is gone from AD: %v", keys(got))
	}
	if _, ok := got[plan.Anchor(idPlain)]; ok {
		t.Errorf("the unprotected sibling was not deleted")
	}
	st, err = f.db.Status(idProt)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"delete", "insufficient access rights (LDAP 50)", "protected from accidental deletion", `clear "Protect object from accidental deletion"`, "-ProtectedFromAccidentalDeletion $false"} {
		if !strings.Contains(st.LastError, want) {
			t.Errorf("status of the protected group lacks %q: %q", want, st.LastError)
		}
	}
	if !st.Quarantined(f.eng.now()) || st.DN == "" {
		t.Errorf("status: quarantined %v, DN %q; want quarantined with its DN kept", st.Quarantined(f.eng.now()), st.DN)
	}
	if err := f.db.Log(idProt, func(e state.Entry) error {
		if e.Action == string(plan.Delete) {
			t.Errorf("logged as deleted: %+v", e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

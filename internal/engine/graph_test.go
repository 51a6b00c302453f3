package engine

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
	"github.com/writeback/writeback/internal/state"
)

// graphEngine is an engine whose source is the real Graph client against an
// in-process emulator (AD is the in-memory fake: these tests read the state).
func graphEngine(t *testing.T, opts emulator.Options) (*Engine, *emulatortest.Env, *state.DB) {
	t.Helper()
	on := true
	env := emulatortest.StartWith(t, &emulator.TenantFile{
		Users: []emulator.User{{ID: "u1", DisplayName: "Alice", UserPrincipalName: "alice@test", OnPremisesSyncEnabled: &on,
			OnPremisesObjectIdentifier: uGUID, OnPremisesSecurityIdentifier: "S-1-5-21-1-2-3-1104", OnPremisesImmutableId: "ESIiIjMzRERVVVVVVVVVVQ=="}},
		Groups: []emulator.Group{
			{ID: idA, DisplayName: "G a", SecurityEnabled: true, Members: []string{"u1"}},
			{ID: idB, DisplayName: "G b", SecurityEnabled: true, Members: []string{"u1"}},
		},
	}, opts)
	c, err := entra.New(context.Background(), entraconfig.Options(env.Config), entra.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		entra.WithRetry(policy.RetryOptions{MaxRetries: 3, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 3 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	eng, _, _, db := newLDAPTestEngine(t, "")
	eng.src = c
	return eng, env, db
}

// One refused delta token (400 syncStateNotFound) costs one full
// enumeration of each delta, not two, and the snapshot it turns into drops
// what Graph no longer has.
func TestRefusedTokenOneEnumeration(t *testing.T) {
	eng, env, db := graphEngine(t, emulator.Options{})
	ctx := context.Background()
	if _, err := eng.Ingest(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := env.Admin.DeleteGroup(idB, false); err != nil {
		t.Fatal(err)
	}
	env.Admin.ExpireDeltaTokens()
	before := env.Server.Stats().DeltaPages
	in, err := eng.Ingest(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if pages := env.Server.Stats().DeltaPages - before; pages != 2 || !in.Full {
		t.Errorf("%d delta pages served (full %v); want 2: one full enumeration of users and one of groups", pages, in.Full)
	}
	if _, hasB := cachedGroups(t, db); hasB {
		t.Error("B, deleted while the token expired, still cached")
	}
	if dirty, _ := db.Dirty(); dirty[idB] != "deleted" {
		t.Errorf("B marked %q, want deleted", dirty[idB])
	}
}

// An incremental users item with only a changed displayName keeps the
// cached on-premises anchors (Graph sends "at least the properties that
// have been updated").
func TestPartialUserUpdateKeepsAnchors(t *testing.T) {
	eng, env, db := graphEngine(t, emulator.Options{PartialUserUpdates: true})
	ctx := context.Background()
	if _, err := eng.Ingest(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Admin.UpdateUser("u1", func(u *emulator.User) { u.DisplayName = "Alice B" }); err != nil {
		t.Fatal(err)
	}
	if in, err := eng.Ingest(ctx, false); err != nil || in.Full {
		t.Fatalf("incremental ingest: full %v, %v", in.Full, err)
	}
	var u *state.User
	if err := db.View(func(tx *state.Tx) (err error) { u, err = tx.User("u1"); return err }); err != nil {
		t.Fatal(err)
	}
	if u == nil || u.DisplayName != "Alice B" || u.SID != "S-1-5-21-1-2-3-1104" || u.ImmutableID == "" || u.SyncEnabled == nil || u.UserPrincipalName != "alice@test" {
		t.Errorf("cached user after a partial update: %+v; want the new name and the anchors kept", u)
	}
}

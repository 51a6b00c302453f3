package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/state"
)

// 'writeback state migrate' copies a state file into the lab's PostgreSQL:
// what status reads from it afterwards is what the file held; a locked file
// (a running daemon) and a database that already holds state are refused.
func TestStateMigrateToPostgres(t *testing.T) {
	pg := labtest.Postgres(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "writeback.db")
	db, err := state.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *state.Tx) error {
		if _, err := tx.PutGroup(state.Group{ID: "g1", DisplayName: "One", SecurityEnabled: true}); err != nil {
			return err
		}
		if _, err := tx.ChangeMembers("g1", map[string]string{"u1": "user"}, nil); err != nil {
			return err
		}
		if err := tx.SetLink("groups", "https://graph/groups/delta?token=g"); err != nil {
			return err
		}
		return tx.SetLink("users", "https://graph/users/delta?token=u")
	})
	if err == nil {
		err = db.PutStatuses([]state.GroupStatus{{ID: "g1", DN: "CN=One,OU=X"}})
	}
	if err == nil {
		err = db.AppendLog(state.Entry{GroupID: "g1", Action: "create", DN: "CN=One,OU=X"})
	}
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	pwFile := filepath.Join(dir, "pg-password")
	os.WriteFile(pwFile, []byte(pg.Password+"\n"), 0o600)
	c := config.Config{AD: config.AD{URL: "ldaps://dc.test", BindDN: "x", Password: config.Secret{Env: "X"}}}
	c.State.Path = "writeback.db"
	c.State.Postgres = &config.Postgres{URL: pg.URL, Password: config.Secret{File: pwFile}}
	b, _ := yaml.Marshal(c)
	cfgFile := filepath.Join(dir, "writeback.yaml")
	os.WriteFile(cfgFile, b, 0o600)
	ctx := context.Background()

	// A daemon on the file: refused.
	lock, err := state.AcquireLock(file, "run")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := runState(ctx, []string{"migrate", "--config", cfgFile, "--to", "postgres"}, &out, &out); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("migrate of a locked file: %v", err)
	}
	lock.Release()

	out.Reset()
	if err := runState(ctx, []string{"migrate", "--config", cfgFile, "--to", "postgres"}, &out, &out); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "continues incrementally") {
		t.Errorf("output:\n%s", out.String())
	}
	pdb, err := state.OpenPostgres(ctx, state.PostgresOptions{URL: pg.URL, Password: pg.Password, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	g, u, _ := pdb.Links()
	st, _ := pdb.Status("g1")
	var members []string
	_ = pdb.View(func(tx *state.Tx) error {
		return tx.Members("g1", func(id, _ string) error { members = append(members, id); return nil })
	})
	var logged int
	_ = pdb.Log("", func(state.Entry) error { logged++; return nil })
	if g != "https://graph/groups/delta?token=g" || u != "https://graph/users/delta?token=u" || st.DN != "CN=One,OU=X" || len(members) != 1 || logged != 1 {
		t.Errorf("in PostgreSQL: links %q %q, status %+v, members %v, %d log entries", g, u, st, members, logged)
	}
	// status reads it from PostgreSQL.
	out.Reset()
	if err := queryStateFile(ctx, cfgFile, stateQuery{Cmd: "status", N: 5}, &out); err != nil && err != errNeedsOperator {
		t.Fatalf("status: %v", err)
	}
	if !strings.Contains(out.String(), "1 groups provisioned") || !strings.Contains(out.String(), "Leader: none") {
		t.Errorf("status:\n%s", out.String())
	}
	// Twice: refused.
	if err := runState(ctx, []string{"migrate", "--config", cfgFile, "--to", "postgres"}, &out, &out); err == nil || !strings.Contains(err.Error(), "already holds data") {
		t.Errorf("second migrate: %v", err)
	}
}

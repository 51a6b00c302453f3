package labtest

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/lab"
)

// PG is one test's database in the lab's PostgreSQL cluster.
type PG struct {
	Cluster  *lab.Postgres
	Database string
	URL      string // without the password
	Password string
}

var (
	pgOnce sync.Once
	pgLab  *lab.Postgres
	pgErr  error
)

// Postgres gives the test a new empty database in the lab's private
// PostgreSQL cluster, dropped when the test ends. A cluster that is not
// running is started (as root: see lab.PostgresUp) only when
// WRITEBACK_REQUIRE_LAB is set; otherwise the test skips.
func Postgres(t testing.TB) *PG {
	t.Helper()
	// Like the lab AD: a running lab's PostgreSQL is used only when the lab
	// tests were asked for, never because one happens to be up.
	requireOptIn(t)
	pgOnce.Do(func() {
		if p, err := lab.PostgresRunning(lab.Default()); err == nil {
			pgLab = p
			return
		}
		if os.Getenv("WRITEBACK_REQUIRE_LAB") == "" {
			pgErr = errors.New("the lab PostgreSQL is not running (writeback-lab --postgres up)")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		pgLab, pgErr = lab.PostgresUp(ctx, lab.Default())
	})
	if pgErr != nil {
		if os.Getenv("WRITEBACK_REQUIRE_LAB") != "" {
			t.Fatalf("lab PostgreSQL required (WRITEBACK_REQUIRE_LAB is set) but unavailable: %v", pgErr)
		}
		t.Skipf("skipping: lab PostgreSQL unavailable: %v (set WRITEBACK_REQUIRE_LAB=1 to make this a failure)", pgErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name, err := pgLab.CreateDatabase(ctx, "wbtest")
	if err != nil {
		t.Fatalf("lab PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pgLab.DropDatabase(ctx, name); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	pw, err := pgLab.Password()
	if err != nil {
		t.Fatalf("lab PostgreSQL password: %v", err)
	}
	return &PG{Cluster: pgLab, Database: name, URL: pgLab.URL(name), Password: pw}
}

package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The lab's PostgreSQL: a private cluster of Debian's postgresql package,
// one per lab (its data in LAB_DIR/postgres), listening on the lab's
// address, port 15432, only: never the system's cluster (Debian's package
// starts one on localhost:5432 where systemd runs, and the default lab's
// address is 127.0.0.1), never another lab's address. It is the shared state of the high-availability tests
// (docs/ha.md). The superuser's password is in LAB_DIR/postgres.password.

// PostgresPort is the lab cluster's port.
const PostgresPort = 15432

// Postgres is a running lab cluster.
type Postgres struct {
	Dir          string // the data directory
	Addr         string
	Port         int
	PasswordFile string
	bin          string
}

// URL is a connection URL for database db, without the password (it is in
// PasswordFile), TLS off: the cluster listens on loopback only.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@%s:%d/%s?sslmode=disable", p.Addr, p.Port, db)
}

// Password reads the superuser's password.
func (p *Postgres) Password() (string, error) {
	b, err := os.ReadFile(p.PasswordFile)
	return strings.TrimSpace(string(b)), err
}

// pgBin finds the newest installed server's binaries.
func pgBin() (string, error) {
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(m) == 0 {
		return "", errors.New("PostgreSQL server not installed (apt-get install postgresql)")
	}
	sort.Slice(m, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m[i]))))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m[j]))))
		return a < b
	})
	return filepath.Dir(m[len(m)-1]), nil
}

// InstallPostgres installs Debian's postgresql package (root only) when no
// server is installed. Debian's package starts a system cluster on
// 127.0.0.1 and ::1; the lab does not use it.
func InstallPostgres(ctx context.Context) error {
	if _, err := pgBin(); err == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return errors.New("PostgreSQL server not installed, and installing it needs root (apt-get install postgresql)")
	}
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install postgresql: %w: %s", err, out)
	}
	return nil
}

func (o Options) postgres() *Postgres {
	o = o.withDefaults()
	return &Postgres{Dir: filepath.Join(o.InstanceDir(), "postgres"), Addr: o.Addr, Port: PostgresPort,
		PasswordFile: filepath.Join(o.InstanceDir(), "postgres.password")}
}

// PostgresRunning returns the lab's cluster when it runs.
func PostgresRunning(o Options) (*Postgres, error) {
	p := o.postgres()
	bin, err := pgBin()
	if err != nil {
		return nil, err
	}
	p.bin = bin
	if err := p.asPostgres(context.Background(), "pg_ctl", "status", "-D", p.Dir); err != nil {
		return nil, fmt.Errorf("lab PostgreSQL in %s not running", p.Dir)
	}
	return p, nil
}

// PostgresUp starts the lab's cluster (creating it on first use; root
// only: the server runs as the postgres user).
func PostgresUp(ctx context.Context, o Options) (*Postgres, error) {
	if p, err := PostgresRunning(o); err == nil {
		return p, nil
	}
	if err := InstallPostgres(ctx); err != nil {
		return nil, err
	}
	// Test processes of several packages may start it together.
	lo := o.withDefaults()
	lo.Instance += "-postgres"
	unlock, err := lock(ctx, lo)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if p, err := PostgresRunning(o); err == nil {
		return p, nil
	}
	p := o.postgres()
	p.bin, _ = pgBin()
	if os.Geteuid() != 0 {
		return nil, errors.New("starting the lab PostgreSQL needs root (it runs as the postgres user)")
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("lab PostgreSQL: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.MkdirAll(filepath.Dir(p.Dir), 0o755); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(p.Dir, "PG_VERSION")); err != nil {
		pw := make([]byte, 16)
		_, _ = rand.Read(pw)
		if err := os.WriteFile(p.PasswordFile, []byte(hex.EncodeToString(pw)+"\n"), 0o600); err != nil {
			return nil, err
		}
		// initdb reads the password as the postgres user: a copy it owns.
		tmp := p.Dir + ".pw"
		if err := os.WriteFile(tmp, []byte(hex.EncodeToString(pw)+"\n"), 0o600); err != nil {
			return nil, err
		}
		defer os.Remove(tmp)
		if err := os.Chown(tmp, uid, gid); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(p.Dir, 0o700); err != nil {
			return nil, err
		}
		if err := os.Chown(p.Dir, uid, gid); err != nil {
			return nil, err
		}
		if err := p.asPostgres(ctx, "initdb", "-D", p.Dir, "-U", "postgres", "--pwfile", tmp,
			"--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
			return nil, fmt.Errorf("lab PostgreSQL: initdb: %w", err)
		}
	}
	// The socket goes in the data directory, not /var/run/postgresql (the
	// system cluster's); TCP on the lab's address only.
	opts := fmt.Sprintf("-c listen_addresses=%s -c port=%d -c unix_socket_directories=%s -c max_connections=100 -c fsync=off",
		p.Addr, p.Port, p.Dir)
	if err := p.asPostgres(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", p.Dir, "-l", filepath.Join(p.Dir, "server.log"), "-o", opts); err != nil {
		return nil, fmt.Errorf("lab PostgreSQL: start: %w (log: %s/server.log)", err, p.Dir)
	}
	return p, nil
}

// PostgresDown stops the lab's cluster (fast: sessions are ended).
func PostgresDown(ctx context.Context, o Options) error {
	p := o.postgres()
	bin, err := pgBin()
	if err != nil {
		return err
	}
	p.bin = bin
	if _, err := os.Stat(filepath.Join(p.Dir, "postmaster.pid")); err != nil {
		return nil
	}
	return p.asPostgres(ctx, "pg_ctl", "stop", "-w", "-m", "fast", "-D", p.Dir)
}

// Restart restarts the cluster (every session ends). It is a stop and a
// start: 'pg_ctl restart' would leave the server writing to this process's
// output (no -l), and CombinedOutput would wait for it forever.
func (p *Postgres) Restart(ctx context.Context) error {
	if err := p.Stop(ctx); err != nil {
		return err
	}
	return p.Start(ctx)
}

// Stop stops the cluster; Start starts it again.
func (p *Postgres) Stop(ctx context.Context) error {
	return p.asPostgres(ctx, "pg_ctl", "stop", "-w", "-m", "fast", "-D", p.Dir)
}

// Start starts a stopped cluster with the options of its last start.
func (p *Postgres) Start(ctx context.Context) error {
	opts := fmt.Sprintf("-c listen_addresses=%s -c port=%d -c unix_socket_directories=%s -c max_connections=100 -c fsync=off",
		p.Addr, p.Port, p.Dir)
	return p.asPostgres(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", p.Dir, "-l", filepath.Join(p.Dir, "server.log"), "-o", opts)
}

// Psql runs SQL as the superuser on database db through the cluster's
// socket.
func (p *Postgres) Psql(ctx context.Context, db, sql string) (string, error) {
	cmd := exec.CommandContext(ctx, "runuser", "-u", "postgres", "--", filepath.Join(p.bin, "psql"),
		"-h", p.Dir, "-p", strconv.Itoa(p.Port), "-d", db, "-v", "ON_ERROR_STOP=1", "-Atqc", sql)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("psql: %w: %s", err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// CreateDatabase makes a new empty database with a random name and returns
// the name.
func (p *Postgres) CreateDatabase(ctx context.Context, prefix string) (string, error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := prefix + "_" + hex.EncodeToString(b)
	_, err := p.Psql(ctx, "postgres", "CREATE DATABASE "+name)
	return name, err
}

// DropDatabase drops a database, ending its sessions.
func (p *Postgres) DropDatabase(ctx context.Context, name string) error {
	_, err := p.Psql(ctx, "postgres", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	return err
}

func (p *Postgres) asPostgres(ctx context.Context, tool string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", filepath.Join(p.bin, tool)}, args...)...)
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", tool, err, strings.TrimSpace(string(out)))
	}
	return nil
}

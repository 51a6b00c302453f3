// Package labtest gives integration tests a real Samba AD DC: it finds or starts
// the lab (see package lab), gives each test its own OU (deleted when the test
// ends), and creates users to use as group members.
//
// Lab tests run only when asked: with WRITEBACK_REQUIRE_LAB=1 (scripts/test.sh
// and CI; an unavailable lab is then a failure) or WRITEBACK_LAB=1 (use or
// start a lab, skip when there is none). Otherwise they skip without touching
// any lab, even as root and even when one is running, so that `go test ./...`
// stays fast and never provisions Samba or writes into someone's lab.
package labtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/lab"
	"github.com/writeback/writeback/internal/ldapdn"
)

// Lab is one test's view of the lab AD.
type Lab struct {
	// Config connects to the lab over LDAPS with the lab CA verified,
	// bound as svc-writeback, the least-privilege account docs/ad.md
	// delegates (Administrator in a lab provisioned before it existed), so
	// that what writeback does in a test it can do with the documented
	// rights; TargetOU is the test's OU.
	Config config.AD
	// Admin is Config bound as Administrator: for a test's setup that
	// writeback's account must not be able to do (OUs, users, objects it
	// does not own, protected groups) and for cleaning up.
	Admin  config.AD
	OU     string // this test's OU, empty at start, deleted at the end
	BaseDN string
	Env    map[string]string // the lab's LAB_* settings
	// Tag is random hex unique to this test's OU. sAMAccountName is unique in the
	// whole domain, not per OU: put Tag in the sAMAccountNames a test creates so
	// concurrent or interrupted runs of the same test do not collide.
	Tag string
}

// User is a user object created for a test.
type User struct {
	DN   string
	GUID ad.GUID
	SID  string
	SAM  string
}

var (
	once    sync.Once
	shared  *lab.Lab
	initErr error
)

// Get returns the running lab (starting it when possible) without creating an
// OU; tests that only need settings use it.
func Get(t testing.TB) *lab.Lab {
	t.Helper()
	requireOptIn(t)
	once.Do(func() {
		if l, err := lab.Running(lab.Default()); err == nil {
			shared = l
			if os.Geteuid() == 0 { // a lab started by an earlier version: its newer delegation
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				initErr = lab.EnsureDelegated(ctx, l)
			}
			return
		}
		if os.Geteuid() != 0 {
			initErr = fmt.Errorf("no lab AD running and starting one needs root (run 'sudo writeback-lab up' (and set WRITEBACK_LAB=1))")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		shared, initErr = lab.Up(ctx, lab.Default())
	})
	if initErr != nil {
		unavailable(t, initErr)
	}
	return shared
}

// Requested reports whether the lab tests were asked for: WRITEBACK_REQUIRE_LAB
// or WRITEBACK_LAB is set to anything but "" or "0".
func Requested() bool {
	return on("WRITEBACK_REQUIRE_LAB") || on("WRITEBACK_LAB")
}

func on(name string) bool {
	v := os.Getenv(name)
	return v != "" && v != "0"
}

// requireOptIn skips t unless the lab tests were asked for.
func requireOptIn(t testing.TB) {
	t.Helper()
	if !Requested() {
		t.Skip("skipping: lab test (set WRITEBACK_LAB=1 to use or start a lab, or WRITEBACK_REQUIRE_LAB=1 as CI does)")
	}
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if on("WRITEBACK_REQUIRE_LAB") {
		t.Fatalf("lab AD required (WRITEBACK_REQUIRE_LAB is set) but unavailable: %v", err)
	}
	t.Skipf("skipping: lab AD unavailable: %v (set WRITEBACK_REQUIRE_LAB=1 to make this a failure)", err)
}

// Instance returns another lab instance (e.g. lab.NoSchema()), starting it
// when possible; it skips or fails like AD when that cannot be done.
func Instance(t testing.TB, o lab.Options) *lab.Lab {
	t.Helper()
	requireOptIn(t)
	if l, err := lab.Running(o); err == nil {
		return l
	}
	if os.Geteuid() != 0 {
		unavailable(t, fmt.Errorf("lab instance %s not running and starting it needs root", o.InstanceDir()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, o)
	if err != nil {
		unavailable(t, err)
	}
	return l
}

// AD returns the lab with a fresh OU for this test, removed in t.Cleanup
// (kept when WRITEBACK_KEEP_OU is set, for debugging).
func AD(t testing.TB) *Lab {
	t.Helper()
	sl := Get(t)
	l := &Lab{Config: sl.ServiceADConfig(), Admin: sl.ADConfig(), BaseDN: sl.Env["LAB_BASE_DN"], Env: sl.Env}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := ad.Dial(ctx, adconfig.Options(l.Admin))
	if err != nil {
		unavailable(t, err)
	}
	parent := "OU=writeback-tests," + l.BaseDN
	if err := c.CreateOU(ctx, parent); err != nil {
		c.Close()
		t.Fatalf("labtest: %v", err)
	}
	l.Tag = randHex(4)
	l.OU = "OU=" + ouName(t.Name(), l.Tag) + "," + parent
	if err := c.CreateOU(ctx, l.OU); err != nil {
		c.Close()
		t.Fatalf("labtest: %v", err)
	}
	l.Config.TargetOU = l.OU
	l.Admin.TargetOU = l.OU
	t.Cleanup(func() {
		defer c.Close()
		if os.Getenv("WRITEBACK_KEEP_OU") != "" {
			t.Logf("labtest: keeping %s (WRITEBACK_KEEP_OU)", l.OU)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := c.DeleteTree(ctx, l.OU); err != nil {
			t.Errorf("labtest: clean up %s: %v", l.OU, err)
		}
	})
	return l
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// ouName is the test name made DN-safe and unique across runs and packages.
func ouName(name, tag string) string {
	n := unsafe.ReplaceAllString(name, "-")
	if len(n) > 40 {
		n = n[:40]
	}
	return n + "-" + tag
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Conn dials the lab DC as Config's account, svc-writeback (closed at test end).
func (l *Lab) Conn(t testing.TB) *ad.Conn {
	t.Helper()
	return l.dial(t, l.Config)
}

// AdminConn dials the lab DC as Administrator, for a test's setup
// (closed at test end).
func (l *Lab) AdminConn(t testing.TB) *ad.Conn {
	t.Helper()
	return l.dial(t, l.Admin)
}

func (l *Lab) dial(t testing.TB, cfg config.AD) *ad.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := ad.Dial(ctx, adconfig.Options(cfg))
	if err != nil {
		t.Fatalf("labtest: dial lab DC: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// GC dials the lab's Global Catalog (closed at test end).
func (l *Lab) GC(t testing.TB) *ad.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := ad.DialGC(ctx, adconfig.Options(l.Config))
	if err != nil {
		t.Fatalf("labtest: dial lab GC: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// CreateUsers creates n users named <prefix><i> in the test's OU and returns
// them with their objectGUID and objectSid, in order.
func (l *Lab) CreateUsers(t testing.TB, n int, prefix string) []User {
	t.Helper()
	users, err := createUsers(t, l.Admin, l.OU, n, prefix)
	if err != nil {
		t.Fatalf("labtest: create %d users: %v", n, err)
	}
	return users
}

// SharedUsers returns n users from a pool kept in OU=writeback-fixtures across
// tests and runs (created on first use, under a lab-wide lock), for tests that
// need many members but do not modify the users themselves.
func (l *Lab) SharedUsers(t testing.TB, n int) []User {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	unlock, err := lab.Lock(ctx, lab.Default(), "fixtures")
	if err != nil {
		t.Fatalf("labtest: %v", err)
	}
	defer unlock()
	ou := "OU=writeback-fixtures," + l.BaseDN
	cfg := l.Admin
	c, err := ad.Dial(ctx, adconfig.Options(cfg))
	if err != nil {
		t.Fatalf("labtest: %v", err)
	}
	defer c.Close()
	if err := c.CreateOU(ctx, ou); err != nil {
		t.Fatalf("labtest: %v", err)
	}
	have, err := readUsers(ctx, c, ou)
	if err != nil {
		t.Fatalf("labtest: %v", err)
	}
	if len(have) < n {
		// Numbered after the highest one there: a run interrupted while
		// creating the pool can leave gaps in the numbers.
		from := 0
		for _, u := range have {
			var i int
			if _, err := fmt.Sscanf(ldapdn.RDNValue(u.DN), "fixture%d", &i); err == nil && i >= from {
				from = i + 1
			}
		}
		start := time.Now()
		more, err := createUsersFrom(ctx, cfg, ou, from, from+n-len(have), "fixture")
		if err != nil {
			t.Fatalf("labtest: create shared users: %v", err)
		}
		t.Logf("labtest: created %d shared users in %s (%s)", len(more), ou, time.Since(start).Round(time.Millisecond))
		have = append(have, more...)
	}
	return have[:n]
}

func createUsers(t testing.TB, cfg config.AD, ou string, n int, prefix string) ([]User, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	return createUsersFrom(ctx, cfg, ou, 0, n, prefix)
}

// createUsersFrom creates users with indexes [from, to) on 4 connections.
func createUsersFrom(ctx context.Context, cfg config.AD, ou string, from, to int, prefix string) ([]User, error) {
	tag := randHex(3)
	const workers = 4
	dns := make([]string, to-from)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := ad.Dial(ctx, adconfig.Options(cfg))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for i := from + w; i < to; i += workers {
				cn := fmt.Sprintf("%s%d", prefix, i)
				dn, err := ad.JoinDN("CN", cn, ou)
				if err != nil {
					errs <- err
					return
				}
				sam := fmt.Sprintf("wb%s%d", tag, i) // sAMAccountName: unique, at most 20 characters
				err = c.Add(ctx, dn, map[string][]string{
					"objectClass":        {"top", "person", "organizationalPerson", "user"},
					"sAMAccountName":     {sam},
					"userAccountControl": {"514"}, // disabled: no password needed
				})
				if ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
					// Left by a run interrupted while creating the pool: the
					// users in ou are not numbered without gaps, so one may
					// already exist; it is read back below like the others.
					err = nil
				}
				if err != nil {
					errs <- err
					return
				}
				dns[i-from] = dn
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	c, err := ad.Dial(ctx, adconfig.Options(cfg))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	byDN := map[string]User{}
	all, err := readUsers(ctx, c, ou)
	if err != nil {
		return nil, err
	}
	for _, u := range all {
		byDN[ldapdn.Norm(u.DN)] = u
	}
	out := make([]User, len(dns))
	for i, dn := range dns {
		u, ok := byDN[ldapdn.Norm(dn)]
		if !ok {
			return nil, fmt.Errorf("created user %s not found again", dn)
		}
		out[i] = u
	}
	return out, nil
}

// readUsers reads the users directly in ou, in creation order.
func readUsers(ctx context.Context, c *ad.Conn, ou string) ([]User, error) {
	var us []User
	err := c.Search(ctx, ou, ad.ScopeOne, "(objectClass=user)", []string{"objectGUID", "objectSid", "sAMAccountName"}, func(e *ldap.Entry) error {
		g, err := ad.GUIDFromAD(e.GetRawAttributeValue("objectGUID"))
		if err != nil {
			return err
		}
		sid, err := ad.SIDFromAD(e.GetRawAttributeValue("objectSid"))
		if err != nil {
			return err
		}
		us = append(us, User{DN: e.DN, GUID: g, SID: sid, SAM: e.GetAttributeValue("sAMAccountName")})
		return nil
	})
	return us, err
}

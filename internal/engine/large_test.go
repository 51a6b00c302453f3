package engine

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/ldapdn"
	"github.com/writeback/writeback/internal/plan"
)

// TestLargeGroup is issue 5's "250,000 members is a tested case, not a limit":
// one cloud group with 250,000 synced members (and a few that cannot be
// resolved) is written to AD, then changed by 1,000 removals and 1,000 adds,
// then left alone. It takes long (the users alone take Samba a while to
// create), so it runs only with WRITEBACK_LARGE=1; WRITEBACK_LARGE_N sets
// another size. The users are the lab's shared pool (OU=writeback-fixtures),
// created once per lab and reused by later runs; creating them over LDAP takes
// hours at this size, so seed the pool in bulk first, in a lab of your own:
//
//	export WRITEBACK_LAB_DIR=/var/tmp/wb-large WRITEBACK_LAB_ADDR=127.0.0.6
//	writeback lab --no-emulator up
//	writeback lab seed-users --count 251000 --ou OU=writeback-fixtures,DC=contoso,DC=test \
//	    --prefix fixture --sam-prefix wbs --from 100000
//	WRITEBACK_LARGE=1 go test -run TestLargeGroup -timeout 3h -v ./internal/engine/
func TestLargeGroup(t *testing.T) {
	if os.Getenv("WRITEBACK_LARGE") != "1" {
		t.Skip("large test: set WRITEBACK_LARGE=1 (and WRITEBACK_LARGE_N for a size other than 250000)")
	}
	n := 250000
	if v := os.Getenv("WRITEBACK_LARGE_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 2000 {
			t.Fatalf("WRITEBACK_LARGE_N=%q: want a number of at least 2000", v)
		}
	}
	const churn = 1000
	ctx := context.Background()
	l := labtest.AD(t)

	start := time.Now()
	users := l.SharedUsers(t, n+churn)
	t.Logf("users: %d in the shared pool ready in %s", len(users), time.Since(start).Round(time.Millisecond))

	const gid = "aaaaaaaa-5000-4000-8000-000000000001"
	tf := &emulator.TenantFile{}
	uid := func(i int) string { return fmt.Sprintf("bbbbbbbb-5000-4000-8000-%012d", i) }
	for i, u := range users {
		tf.Users = append(tf.Users, emulator.User{ID: uid(i), DisplayName: cn(u), UserPrincipalName: u.SAM + "@lab.test",
			OnPremisesSyncEnabled: yes(), OnPremisesObjectIdentifier: u.GUID.String(), OnPremisesSecurityIdentifier: u.SID})
	}
	// unresolvable: a cloud-only user, a synced user whose AD object is gone, a device
	tf.Users = append(tf.Users,
		emulator.User{ID: "cccccccc-5000-4000-8000-000000000001", DisplayName: "Cloud Only", UserPrincipalName: "cloud5@lab.test"},
		emulator.User{ID: "cccccccc-5000-4000-8000-000000000002", DisplayName: "Gone", UserPrincipalName: "gone5@lab.test",
			OnPremisesSyncEnabled: yes(), OnPremisesObjectIdentifier: "0badc0de-0000-4000-8000-000000000005", OnPremisesSecurityIdentifier: "S-1-5-21-1-2-3-999995"})
	tf.Objects = []emulator.Object{{ID: "dddddddd-5000-4000-8000-000000000001", Type: "device", DisplayName: "laptop"}}
	members := make([]string, 0, n+3)
	for i := range n {
		members = append(members, uid(i))
	}
	members = append(members, "cccccccc-5000-4000-8000-000000000001", "cccccccc-5000-4000-8000-000000000002", "dddddddd-5000-4000-8000-000000000001")
	tf.Groups = []emulator.Group{{ID: gid, DisplayName: "Everyone Large", SecurityEnabled: true, Members: members}}
	f := newFixtureOn(t, l, tf, nil)

	// First sync: create the group and write all its members.
	start = time.Now()
	res := f.round(RoundOptions{})
	t.Logf("first sync (%d members): round %s, of which apply %s, %d LDAP writes, %d searches; peak RSS %s",
		n, time.Since(start).Round(time.Millisecond), res.Applied.Duration.Round(time.Millisecond), res.LDAP.Writes, res.LDAP.Searches, peakRSS())
	unresolved := 0
	for _, u := range res.Planned.Plan.Unresolved {
		unresolved += len(u.Unresolved)
	}
	if unresolved != 3 {
		t.Errorf("unresolved members = %d, want 3 (cloud-only user, gone user, device)", unresolved)
	}
	g, err := f.dc.GroupByAnchor(ctx, l.OU, plan.Anchor(gid), false)
	if err != nil || g == nil {
		t.Fatalf("group %s not in AD: %v", plan.Anchor(gid), err)
	}
	want := map[string]bool{}
	for _, u := range users[:n] {
		want[ldapdn.Norm(u.DN)] = true
	}
	f.checkMembers(g.DN, want)

	// Incremental: 1,000 leave, 1,000 others join.
	var out, in []string
	for i := range churn {
		out = append(out, uid(i))
		in = append(in, uid(n+i))
		delete(want, ldapdn.Norm(users[i].DN))
		want[ldapdn.Norm(users[n+i].DN)] = true
	}
	if err := f.env.Admin.RemoveMembers(gid, out...); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Admin.AddMembers(gid, in...); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	res = f.round(RoundOptions{})
	t.Logf("incremental round (-%d +%d): %s, %d LDAP writes, %d searches; peak RSS %s",
		churn, churn, time.Since(start).Round(time.Millisecond), res.LDAP.Writes, res.LDAP.Searches, peakRSS())
	if res.Ingested.Full {
		t.Errorf("second round was a full round, want incremental")
	}
	// 1,000 adds and 1,000 removes, ad.memberBatch (default 1,000) per modify
	batch := f.cfg.AD.MemberBatch
	if maxWrites := int64(2 * ((churn + batch - 1) / batch)); res.LDAP.Writes > maxWrites {
		t.Errorf("incremental round made %d LDAP writes, want at most %d batched modifies", res.LDAP.Writes, maxWrites)
	}
	f.checkMembers(g.DN, want)

	// Nothing changed: nothing written.
	start = time.Now()
	res = f.round(RoundOptions{})
	t.Logf("no-change round: %s, %d LDAP writes, %d searches; peak RSS %s",
		time.Since(start).Round(time.Millisecond), res.LDAP.Writes, res.LDAP.Searches, peakRSS())
	if res.LDAP.Writes != 0 {
		t.Errorf("no-change round made %d LDAP writes, want 0", res.LDAP.Writes)
	}
}

// checkMembers reads dn's members from AD (ranged retrieval) and compares them
// with want, a set of normalised DNs.
func (f *fixture) checkMembers(dn string, want map[string]bool) {
	f.t.Helper()
	start := time.Now()
	got, err := f.dc.Members(context.Background(), dn)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Logf("read %d members of %s in %s", len(got), dn, time.Since(start).Round(time.Millisecond))
	seen := make(map[string]bool, len(got))
	var extra, missing []string
	for _, m := range got {
		k := ldapdn.Norm(m)
		seen[k] = true
		if !want[k] {
			extra = append(extra, m)
		}
	}
	for k := range want {
		if !seen[k] {
			missing = append(missing, k)
		}
	}
	if len(got) != len(want) || len(extra) > 0 || len(missing) > 0 {
		sort.Strings(extra)
		sort.Strings(missing)
		f.t.Fatalf("AD group has %d members, want %d; %d unexpected (first %v), %d missing (first %v)",
			len(got), len(want), len(extra), first(extra, 3), len(missing), first(missing, 3))
	}
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// peakRSS is this process's peak resident set so far (Linux reports KiB).
func peakRSS() string {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.0f MiB", float64(ru.Maxrss)/1024)
}

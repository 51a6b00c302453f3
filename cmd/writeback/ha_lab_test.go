package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"go.yaml.in/yaml/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/state"
)

// High availability against the lab: several 'writeback run' processes
// (this test binary standing in for writeback, see TestMain) on one
// PostgreSQL database of the lab's cluster and the lab AD.

const haTakeover = 6 * time.Second // lease 4 s, followers look every 1 s

type haLab struct {
	l       *labtest.Lab
	pg      *labtest.PG
	env     *emulatortest.Env
	cfgFile string
	users   []labtest.User
	groups  map[string][]string // cloud group ID -> member user DNs (lower case)
	names   map[string]string   // cloud group ID -> display name
}

// Cloud IDs carry the test's tag: an interrupted run leaves its groups
// (with their anchors) in AD, and a group of the same ID would collide.
func (h *haLab) groupID(i int) string { return fmt.Sprintf("%s-2323-4000-8000-%012d", h.l.Tag[:8], i) }
func (h *haLab) userID(i int) string  { return fmt.Sprintf("%s-2424-4000-8000-%012d", h.l.Tag[:8], i) }

// startHALab makes a tenant of n groups with 1 to 4 synced members each.
func startHALab(t *testing.T, n int) *haLab {
	t.Helper()
	l := labtest.AD(t)
	pg := labtest.Postgres(t)
	h := &haLab{l: l, pg: pg, groups: map[string][]string{}, names: map[string]string{}}
	h.users = l.CreateUsers(t, 12, "wbha")
	yes := true
	tf := &emulator.TenantFile{}
	for i, u := range h.users {
		tf.Users = append(tf.Users, emulator.User{ID: h.userID(i), DisplayName: u.SAM, UserPrincipalName: u.SAM + "@lab.test",
			OnPremisesSyncEnabled: &yes, OnPremisesObjectIdentifier: u.GUID.String(), OnPremisesSecurityIdentifier: u.SID})
	}
	for i := range n {
		id := h.groupID(i)
		g := emulator.Group{ID: id, DisplayName: fmt.Sprintf("HA group %04d %s", i, l.Tag), SecurityEnabled: true}
		for k := range 1 + i%4 {
			j := (i + k) % len(h.users)
			g.Members = append(g.Members, h.userID(j))
			h.groups[id] = append(h.groups[id], strings.ToLower(h.users[j].DN))
		}
		h.names[id] = g.DisplayName
		tf.Groups = append(tf.Groups, g)
	}
	h.env = emulatortest.Start(t, tf)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pg-password")
	if err := os.WriteFile(pwFile, []byte(pg.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ec := h.env.Config
	c := config.Config{AD: l.Config, Entra: &ec}
	c.Sync.SearchBase = l.OU
	c.Sync.Interval = config.Duration(2 * time.Second)
	c.Sync.Workers = 1 // slow enough to be killed mid-sync
	c.Sync.Listen = "127.0.0.1:0"
	c.State.Postgres = &config.Postgres{URL: pg.URL, Password: config.Secret{File: pwFile}, Takeover: config.Duration(haTakeover)}
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	h.cfgFile = filepath.Join(dir, "writeback.yaml")
	if err := os.WriteFile(h.cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// haProc is one 'writeback run' process.
type haProc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has ended
}

func (h *haLab) start(t *testing.T, name string) *haProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &haProc{name: name, log: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(exe, "run", "--config", h.cfgFile)
	p.cmd.Env = append(os.Environ(), "WRITEBACK_TEST_MAIN=1")
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *haProc) logs() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

func (p *haProc) count(s string) int { return strings.Count(p.logs(), s) }

func (p *haProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s to %s: %v", sig, p.name, err)
	}
}

// waitFor polls cond until it holds; it returns how long that took.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool, procs ...*haProc) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var logs strings.Builder
	for _, p := range procs {
		fmt.Fprintf(&logs, "\n--- %s:\n%s", p.name, tail(p.logs(), 60))
	}
	t.Fatalf("%s: not within %s%s", what, d, logs.String())
	return 0
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// adGroups reads the test OU's groups: anchor -> member DNs (lower case,
// sorted), and how many AD groups carry each anchor.
func (h *haLab) adGroups(t *testing.T) (members map[string][]string, copies map[string]int, cns map[string]string) {
	t.Helper()
	c := h.l.AdminConn(t)
	members, copies, cns = map[string][]string{}, map[string]int{}, map[string]string{}
	err := c.Search(context.Background(), h.l.OU, ad.ScopeSubtree, "(objectClass=group)", []string{ad.AttrExternalDirectoryObjectID, "member", "displayName"}, func(e *ldap.Entry) error {
		a := e.GetEqualFoldAttributeValue(ad.AttrExternalDirectoryObjectID)
		id := strings.TrimPrefix(a, "Group_")
		copies[id]++
		var m []string
		for _, dn := range e.GetAttributeValues("member") {
			m = append(m, strings.ToLower(dn))
		}
		slices.Sort(m)
		members[id] = m
		cns[id] = e.GetAttributeValue("displayName")
		return nil
	})
	if err != nil {
		t.Fatalf("read the test OU's groups: %v", err)
	}
	return members, copies, cns
}

// converged reports whether AD has every cloud group exactly once with
// exactly its members; why says what is not yet so.
func (h *haLab) converged(t *testing.T) (ok bool, why string) {
	members, copies, _ := h.adGroups(t)
	missing := 0
	for id, want := range h.groups {
		w := slices.Clone(want)
		slices.Sort(w)
		switch {
		case copies[id] == 0:
			missing++
		case copies[id] > 1:
			return false, fmt.Sprintf("group %s is in AD %d times", id, copies[id])
		case !slices.Equal(members[id], w):
			return false, fmt.Sprintf("group %s has members %v, want %v", id, members[id], w)
		}
	}
	if missing > 0 {
		return false, fmt.Sprintf("%d of %d groups not in AD yet", missing, len(h.groups))
	}
	if len(copies) != len(h.groups) {
		return false, fmt.Sprintf("%d AD groups for %d cloud groups", len(copies), len(h.groups))
	}
	return true, ""
}

func haGroupCount() int {
	if n, err := strconv.Atoi(os.Getenv("WRITEBACK_HA_GROUPS")); err == nil && n > 0 {
		return n
	}
	return 300
}

// Two instances: exactly one leads. kill -9 of the leader in the middle of
// the first sync: the other takes over and finishes it; AD then has each
// group exactly once with exact members, and plan is empty.
func TestLabHAFailoverOnKill(t *testing.T) {
	n := haGroupCount()
	h := startHALab(t, n)
	a := h.start(t, "a")
	waitFor(t, "a leads", 60*time.Second, func() bool { return a.count("leading: running rounds") > 0 }, a)
	b := h.start(t, "b")
	waitFor(t, "b follows", 30*time.Second, func() bool { return b.count("following: another instance leads") > 0 }, a, b)
	if b.count("leading: running rounds") > 0 {
		t.Fatal("both instances lead")
	}
	// Mid first sync: a fifth of the groups created.
	waitFor(t, "a creates a fifth of the groups", 5*time.Minute, func() bool { return a.count("action=create") >= n/5 }, a)
	created := a.count("action=create")
	a.signal(t, syscall.SIGKILL)
	killed := time.Now()
	if created >= n {
		t.Fatalf("a finished the first sync (%d creates) before the kill: use more groups (WRITEBACK_HA_GROUPS)", created)
	}
	took := waitFor(t, "b takes over", haTakeover+5*time.Second, func() bool { return b.count("leading: running rounds") > 0 }, b)
	t.Logf("kill -9 of the leader after %d of %d creates; b led %s later (takeover %s)", created, n, took.Round(time.Millisecond), haTakeover)
	var why string
	waitFor(t, "AD converges under b", 5*time.Minute, func() bool {
		var ok bool
		ok, why = h.converged(t)
		return ok
	}, b)
	t.Logf("AD complete %s after the kill (takeover %s + interval 2s + the rest of the sync)", time.Since(killed).Round(time.Millisecond), haTakeover)
	if strings.Contains(b.logs(), "level=ERROR") {
		t.Errorf("b logged errors:\n%s", tail(b.logs(), 40))
	}
	// The no-change incremental rounds that follow, as the state records them.
	time.Sleep(8 * time.Second)
	db, err := state.OpenPostgres(context.Background(), state.PostgresOptions{URL: h.pg.URL, Password: h.pg.Password, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var quiet []time.Duration
	_ = db.Rounds(func(r state.Round) error {
		if !r.Full && r.Changes == 0 && r.Error == "" && len(quiet) < 3 {
			quiet = append(quiet, r.Duration)
		}
		return nil
	})
	db.Close()
	if len(quiet) == 0 {
		t.Error("no no-change incremental round recorded after the failover")
	}
	t.Logf("no-change incremental rounds on PostgreSQL at %d groups: %v", n, quiet)
	// A clean stop of b hands the lease over; plan then finds nothing to do.
	b.signal(t, syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		t.Fatal("b did not stop on SIGTERM")
	}
	var out lockedBuffer
	if err := runPlan(context.Background(), []string{"--config", h.cfgFile, "--full"}, &out, &out); err != nil {
		t.Fatalf("plan after failover: %v\n%s", err, out.String())
	}
	_ = why
}

// A leader frozen (SIGSTOP) mid-sync past its lease: the other takes over
// and finishes; when the frozen one resumes it writes neither AD nor state,
// and the new leader's writes stand.
func TestLabHAFrozenLeader(t *testing.T) {
	n := 60
	h := startHALab(t, n)
	a := h.start(t, "a")
	waitFor(t, "a leads", 60*time.Second, func() bool { return a.count("leading: running rounds") > 0 }, a)
	b := h.start(t, "b")
	waitFor(t, "b follows", 30*time.Second, func() bool { return b.count("following: another instance leads") > 0 }, a, b)
	waitFor(t, "a creates some groups", 3*time.Minute, func() bool { return a.count("action=create") >= 10 }, a)
	a.signal(t, syscall.SIGSTOP)
	frozenApplied := a.count("msg=applied")
	waitFor(t, "b takes over the frozen leader's lease", haTakeover+10*time.Second, func() bool { return b.count("leading: running rounds") > 0 }, b)
	waitFor(t, "AD converges under b", 3*time.Minute, func() bool { ok, _ := h.converged(t); return ok }, b)
	// b's own change after the takeover: a rename.
	renamed := h.groupID(3)
	newName := "HA renamed by the new leader " + h.l.Tag
	if _, err := h.env.Admin.UpdateGroup(renamed, func(g *emulator.Group) { g.DisplayName = newName }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b applies the rename", 60*time.Second, func() bool {
		_, _, names := h.adGroups(t)
		return names[renamed] == newName
	}, b)
	// a resumes, long past its lease, in the middle of its apply.
	a.signal(t, syscall.SIGCONT)
	waitFor(t, "a learns it no longer leads", 30*time.Second, func() bool {
		l := a.logs()
		return strings.Contains(l, "no longer the leader") || strings.Contains(l, "does not hold the leader lease")
	}, a)
	time.Sleep(5 * time.Second) // let a do whatever it would
	// The one write in flight at the freeze (sync.workers 1), already sent
	// to the DC, completes and is logged; no write starts after it.
	if got := a.count("msg=applied"); got > frozenApplied+1 {
		t.Errorf("the resumed stale leader applied %d more AD changes:\n%s", got-frozenApplied, tail(a.logs(), 40))
	}
	if !strings.Contains(a.logs(), "stopping this apply before its next AD write") {
		t.Errorf("the resumed stale leader's apply did not stop at the fence:\n%s", tail(a.logs(), 30))
	}
	if ok, why := h.converged(t); !ok {
		t.Errorf("AD after the stale leader resumed: %s", why)
	}
	if _, _, names := h.adGroups(t); names[renamed] != newName {
		t.Errorf("the new leader's rename was undone: %q", names[renamed])
	}
	if !strings.Contains(a.logs(), "following: another instance leads") {
		t.Errorf("the resumed instance did not become a follower:\n%s", tail(a.logs(), 30))
	}
}

// PostgreSQL stopped while the leader runs: no AD write happens while it is
// down (a group added in Graph meanwhile does not reach AD), and rounds
// resume when it is back.
func TestLabHAPostgresOutage(t *testing.T) {
	h := startHALab(t, 10)
	a := h.start(t, "a")
	waitFor(t, "first sync", 2*time.Minute, func() bool { ok, _ := h.converged(t); return ok }, a)
	ctx := context.Background()
	if err := h.pg.Cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = h.pg.Cluster.Start(context.Background())
		}
	})
	id := h.groupID(999)
	name := "HA added during the outage " + h.l.Tag
	if _, err := h.env.Admin.AddGroup(emulator.Group{ID: id, DisplayName: name, SecurityEnabled: true, Members: []string{h.userID(0)}}); err != nil {
		t.Fatal(err)
	}
	h.groups[id] = []string{strings.ToLower(h.users[0].DN)}
	// Several intervals and more than a lease long.
	time.Sleep(haTakeover + 4*time.Second)
	if _, copies, _ := h.adGroups(t); copies[id] > 0 {
		t.Fatalf("a group reached AD while PostgreSQL was down:\n%s", tail(a.logs(), 40))
	}
	if err := h.pg.Cluster.Start(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	took := waitFor(t, "rounds resume and apply the new group", 2*time.Minute, func() bool { ok, _ := h.converged(t); return ok }, a)
	t.Logf("applied %s after PostgreSQL came back", took.Round(time.Millisecond))
}

// listenURL is the process's operations listener, from its log.
func (p *haProc) listenURL(t *testing.T) string {
	t.Helper()
	re := regexp.MustCompile(`operations listener"? url=(http://127\.0\.0\.1:[0-9]+)/`)
	var u string
	waitFor(t, p.name+"'s listener", 30*time.Second, func() bool {
		m := re.FindStringSubmatch(p.logs())
		if m != nil {
			u = m[1]
		}
		return m != nil
	}, p)
	return u
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The follower says so in /readyz (ready, as a standby), in its metrics and
// on its status page; status names the leader.
func TestLabHARoles(t *testing.T) {
	h := startHALab(t, 5)
	a := h.start(t, "a")
	waitFor(t, "first sync", 2*time.Minute, func() bool { ok, _ := h.converged(t); return ok }, a)
	b := h.start(t, "b")
	waitFor(t, "b follows", 30*time.Second, func() bool { return b.count("following: another instance leads") > 0 }, a, b)
	au, bu := a.listenURL(t), b.listenURL(t)
	waitFor(t, "a ready as leader", 30*time.Second, func() bool { code, body := httpGet(t, au+"/readyz"); return code == 200 && body == "ready (leader)\n" }, a)
	if code, body := httpGet(t, bu+"/readyz"); code != 200 || body != "ready (follower)\n" {
		t.Errorf("b /readyz: %d %q", code, body)
	}
	for _, c := range []struct {
		url, role string
	}{{au, "leader"}, {bu, "follower"}} {
		_, m := httpGet(t, c.url+"/metrics")
		if !strings.Contains(m, `writeback_role{role="`+c.role+`"} 1`) {
			t.Errorf("%s metrics lack writeback_role{role=%q} 1", c.url, c.role)
		}
	}
	if _, page := httpGet(t, bu+"/"); !strings.Contains(page, ", follower") {
		t.Errorf("b's status page does not say follower")
	}
	var out lockedBuffer
	if err := queryStateFile(context.Background(), h.cfgFile, stateQuery{Cmd: "status", N: 3}, &out); err != nil && err != errNeedsOperator {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("Leader: %s", a.holder()); !strings.Contains(out.String(), want) {
		t.Errorf("status lacks %q:\n%s", want, out.String())
	}
}

func (p *haProc) holder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, p.cmd.Process.Pid)
}

// PostgreSQL restarted in the middle of the first sync (every session
// ends): the round in flight fails or finishes, rounds resume, and AD ends
// with each group once with exact members.
func TestLabHAPostgresRestartMidSync(t *testing.T) {
	n := 150
	h := startHALab(t, n)
	a := h.start(t, "a")
	b := h.start(t, "b")
	waitFor(t, "one leads", 60*time.Second, func() bool {
		return a.count("leading: running rounds")+b.count("leading: running rounds") > 0
	}, a, b)
	waitFor(t, "a fifth of the groups created", 3*time.Minute, func() bool {
		return a.count("action=create")+b.count("action=create") >= n/5
	}, a, b)
	if err := h.pg.Cluster.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	var why string
	took := waitFor(t, "AD converges after the restart", 3*time.Minute, func() bool {
		var ok bool
		ok, why = h.converged(t)
		if !ok {
			t.Log(why)
		}
		return ok
	}, a, b)
	t.Logf("converged %s after PostgreSQL restarted mid-sync", took.Round(time.Millisecond))
	leaders := 0
	for _, p := range []*haProc{a, b} {
		if p.count("leading: running rounds") > 0 {
			leaders++
		}
	}
	t.Logf("instances that led at some point: %d (a PostgreSQL restart ends every session, so a follower may take over)", leaders)
}

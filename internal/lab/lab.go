// Package lab owns the throwaway lab that tests, the demo and newcomers use: a
// Samba AD domain controller (the embedded samba-lab.sh script installs,
// provisions, starts, stops and resets it) and, beside it, writeback's Graph
// emulator serving a sample tenant whose synced users exist in that AD; and the
// connection settings and configuration file for both.
//
// The lab lives in its own directory (default /var/tmp/writeback-lab) and never
// touches the system's Samba configuration. Concurrent Up calls (parallel test
// binaries, several terminals) are serialised with flock, and a running lab is reused.
package lab

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/writeback/writeback/internal/config"
)

//go:embed samba-lab.sh
var script []byte

// DefaultDir is where the lab lives unless WRITEBACK_LAB_DIR or Options.Dir says otherwise.
const DefaultDir = "/var/tmp/writeback-lab"

// Options selects a lab instance.
type Options struct {
	// Dir is the lab root (default $WRITEBACK_LAB_DIR, else DefaultDir). Each
	// instance is a subdirectory, its pristine copy sits next to it.
	Dir string
	// Instance names the subdirectory (default "dc").
	Instance string
	// Addr is the loopback address Samba listens on (default 127.0.0.1).
	Addr string
	// NoSchema skips adding msDS-ExternalDirectoryObjectId (a pre-2016 schema).
	NoSchema bool
	// Log receives the script's progress messages (default io.Discard).
	Log io.Writer
	// host is the DC's host name (default dc1).
	host string
	// Executable is the writeback binary that serves the Graph emulator
	// (`writeback-lab emulator`). When set, Up and Reset also create the sample
	// users in AD and start the emulator with the sample tenant; when empty
	// (tests that need only AD) they leave the emulator alone.
	Executable string
}

// Default is the main lab instance.
func Default() Options { return Options{} }

// NoSchema is a second lab (same ports) whose schema lacks
// msDS-ExternalDirectoryObjectId, for testing what check reports then. It
// listens on 127.0.0.2 beside the default lab, and on 127.0.1.N beside a lab
// on 127.0.0.N (WRITEBACK_LAB_ADDR): two labs' tests never share an address.
func NoSchema() Options {
	return Options{Instance: "noschema", Addr: noSchemaAddr(os.Getenv("WRITEBACK_LAB_ADDR")), NoSchema: true}
}

func noSchemaAddr(main string) string {
	ip := net.ParseIP(main).To4()
	if ip == nil || ip[0] != 127 || (ip[1] == 0 && ip[2] == 0 && ip[3] <= 1) {
		return "127.0.0.2"
	}
	return net.IPv4(127, ip[1], ip[2]+1, ip[3]).String()
}

func (o Options) withDefaults() Options {
	if o.Dir == "" {
		o.Dir = os.Getenv("WRITEBACK_LAB_DIR")
	}
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	if o.Instance == "" {
		o.Instance = "dc"
	}
	if o.Addr == "" {
		o.Addr = os.Getenv("WRITEBACK_LAB_ADDR")
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// InstanceDir is the directory of the selected instance.
func (o Options) InstanceDir() string {
	o = o.withDefaults()
	return filepath.Join(o.Dir, o.Instance)
}

// Lab is a running lab instance and its connection settings.
type Lab struct {
	Dir string
	// Env holds the LAB_* settings the script printed (LAB_LDAPS_URL, LAB_BASE_DN,
	// LAB_BIND_DN, LAB_PASSWORD_FILE, LAB_CA_CERT, LAB_TARGET_OU, ...).
	Env map[string]string
}

// ErrNotRunning is returned by Running when the instance is not up.
var ErrNotRunning = errors.New("lab is not running (start it with 'writeback-lab up')")

// PID is the Samba root process serving the instance now, 0 if unknown.
// Env's LAB_PID is the one it was started with: resetting the instance
// restarts Samba, and lab.env is rewritten with the new one.
func (l *Lab) PID() int {
	env, err := readEnv(filepath.Join(l.Dir, "lab.env"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(env["LAB_PID"])
	return pid
}

// Running returns the instance's settings if it is up, without starting anything.
func Running(o Options) (*Lab, error) {
	o = o.withDefaults()
	dir := o.InstanceDir()
	env, err := readEnv(filepath.Join(dir, "lab.env"))
	if err != nil {
		return nil, ErrNotRunning
	}
	pid, _ := strconv.Atoi(env["LAB_PID"])
	if pid <= 0 || !isSamba(pid, dir) {
		return nil, ErrNotRunning
	}
	for k, v := range emulatorEnv(o, env["LAB_BASE_DN"]) {
		env[k] = v
	}
	env["LAB_STATE_PATH"] = filepath.Join(dir, "writeback.db")
	return &Lab{Dir: dir, Env: env}, nil
}

// isSamba: pid is a samba with a file open in this instance's directory (a
// stale pid file could otherwise name another instance's samba after a reboot;
// samba rewrites its command line, so the fds are what identify it).
func isSamba(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.HasPrefix(b, []byte("samba")) {
		return false
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return true // not ours to inspect (not root): trust the pid file
	}
	for _, fd := range fds {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(target, dir+"/") {
			return true
		}
	}
	return false
}

// Up starts the instance (installing Samba and provisioning on first use) or
// reuses it when it is already running. With o.Executable it also creates the
// sample users and starts (or reuses) the Graph emulator with the sample tenant.
func Up(ctx context.Context, o Options) (*Lab, error) {
	o = o.withDefaults()
	l, err := upAD(ctx, o)
	if err != nil || o.Executable == "" {
		return l, err
	}
	if err := ensureEmulator(ctx, o, l); err != nil {
		return nil, err
	}
	return Running(o)
}

func upAD(ctx context.Context, o Options) (*Lab, error) {
	if l, err := Running(o); err == nil {
		return l, nil
	}
	unlock, err := lock(ctx, o)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if l, err := Running(o); err == nil { // someone else started it while we waited
		return l, nil
	}
	if err := run(ctx, o, "start"); err != nil {
		return nil, err
	}
	return Running(o)
}

// Down stops the instance and its Graph emulator; their data stays for the next Up.
func Down(ctx context.Context, o Options) error {
	o = o.withDefaults()
	if err := StopEmulator(ctx, o); err != nil {
		return err
	}
	unlock, err := lock(ctx, o)
	if err != nil {
		return err
	}
	defer unlock()
	return run(ctx, o, "stop")
}

// Reset stops the instance, restores the pristine copy kept after the first
// provision (seconds, instead of a new provision) and starts it. The Graph
// emulator's directory and writeback's state file live inside the instance
// directory, so they go too; with o.Executable the sample users and the
// emulator come back fresh, as after the first Up.
func Reset(ctx context.Context, o Options) (*Lab, error) {
	return replace(ctx, o.withDefaults(), "reset")
}

// replace stops the emulator, runs a lab script verb that swaps the instance
// directory for a copy (reset, restore NAME) and starts everything again.
func replace(ctx context.Context, o Options, verb string, extra ...string) (*Lab, error) {
	if err := StopEmulator(ctx, o); err != nil {
		return nil, err
	}
	unlock, err := lock(ctx, o)
	if err != nil {
		return nil, err
	}
	err = run(ctx, o, verb, extra...)
	unlock()
	if err != nil {
		return nil, err
	}
	l, err := Running(o)
	if err != nil || o.Executable == "" {
		return l, err
	}
	if err := ensureEmulator(ctx, o, l); err != nil {
		return nil, err
	}
	return Running(o)
}

// run runs `samba-lab.sh VERB DIR [EXTRA...]` (install takes no DIR).
func run(ctx context.Context, o Options, verb string, extra ...string) error {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("lab dir: %w", err)
	}
	path := filepath.Join(o.Dir, "samba-lab.sh")
	if cur, err := os.ReadFile(path); err != nil || !bytes.Equal(cur, script) {
		tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
		if err := os.WriteFile(tmp, script, 0o755); err != nil {
			return fmt.Errorf("write lab script: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write lab script: %w", err)
		}
	}
	args := []string{path, verb}
	if verb != "install" {
		args = append(args, o.InstanceDir())
	}
	args = append(args, extra...)
	cmd := exec.CommandContext(ctx, "bash", args...)
	cmd.Env = append(os.Environ(), "LAB_ADDR="+o.Addr, "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
	if o.NoSchema {
		cmd.Env = append(cmd.Env, "LAB_EXTEND_SCHEMA=0", "LAB_HOST=dc2")
	}
	if o.host != "" {
		cmd.Env = append(cmd.Env, "LAB_HOST="+o.host)
	}
	var stderr bytes.Buffer
	cmd.Stdout = io.Discard
	cmd.Stderr = io.MultiWriter(o.Log, &stderr)
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = "(no output)"
		}
		return fmt.Errorf("lab %s: %w: %s", strings.Join(args[1:], " "), err, msg)
	}
	return nil
}

func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && strings.HasPrefix(k, "LAB_") {
			env[k] = v
		}
	}
	return env, sc.Err()
}

// ShellEnv renders the settings as `export KEY='value'` lines for eval.
func (l *Lab) ShellEnv() string {
	keys := make([]string, 0, len(l.Env))
	for k := range l.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s='%s'\n", k, strings.ReplaceAll(l.Env[k], "'", `'\''`))
	}
	return b.String()
}

// ADConfig returns the ad section for this lab: LDAPS with the lab CA, bind as
// the domain Administrator with the password read from the lab's password file.
func (l *Lab) ADConfig() config.AD {
	return config.AD{
		URL:         l.Env["LAB_LDAPS_URL"],
		GCURL:       l.Env["LAB_GCS_URL"],
		CAFile:      l.Env["LAB_CA_CERT"],
		BindDN:      l.Env["LAB_BIND_DN"],
		Password:    config.Secret{File: l.Env["LAB_PASSWORD_FILE"]},
		BaseDN:      l.Env["LAB_BASE_DN"],
		TargetOU:    l.Env["LAB_TARGET_OU"],
		PageSize:    1000,
		MemberBatch: 1000,
		Timeout:     config.Duration(30 * time.Second),
	}
}

// EnsureDelegated gives svc-writeback the delegation the current lab script
// grants (samba-lab.sh delegate_svc: OU=ConnectSync, Delete on group
// objects) in a lab started by an earlier version: the script's start verb
// is idempotent on a running instance and adds only what its markers say is
// missing. Nothing to do (and no root needed) when the lab has it.
func EnsureDelegated(ctx context.Context, l *Lab) error {
	if l.Env["LAB_SVC_UPN"] == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(l.Dir, ".svc-v2")); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	o := Options{Dir: filepath.Dir(l.Dir), Instance: filepath.Base(l.Dir), Addr: l.Env["LAB_ADDR"]}.withDefaults()
	if err := run(ctx, o, "start"); err != nil {
		return fmt.Errorf("delegate to svc-writeback as samba-lab.sh does now: %w", err)
	}
	return nil
}

// ServiceADConfig is ADConfig bound as svc-writeback, the least-privilege
// account the lab delegates as docs/ad.md says (its password file in the lab
// directory): what `writeback-lab config` and the tests built on it run as.
// A lab provisioned before the account existed has no LAB_SVC_*: then it is
// ADConfig, bound as Administrator.
func (l *Lab) ServiceADConfig() config.AD {
	a := l.ADConfig()
	if upn := l.Env["LAB_SVC_UPN"]; upn != "" && l.Env["LAB_SVC_PASSWORD_FILE"] != "" {
		a.BindDN = upn
		a.Password = config.Secret{File: l.Env["LAB_SVC_PASSWORD_FILE"]}
	}
	return a
}

// ConfigYAML is a complete writeback configuration file for this lab, so that
// `writeback check --config <(writeback-lab config)` works as is, and, when the
// lab's Graph emulator runs, `writeback plan`/`apply`/`run` too. It binds as
// svc-writeback (ServiceADConfig), never as Administrator, so what works
// with it works with the documented delegation.
func (l *Lab) ConfigYAML() string {
	a := l.ServiceADConfig()
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	var b strings.Builder
	fmt.Fprintf(&b, `# writeback configuration for the lab in %s (generated by 'writeback-lab config').
ad:
  # LDAPS to the lab DC, verified against the lab's own CA, bound as the
  # least-privilege service account the lab delegates (docs/ad.md).
  url: %s
  gcUrl: %s
  caFile: %s
  bindDN: %s
  password:
    file: %s   # secrets are referenced by file or env, never inline
  baseDN: %s
  targetOU: %s
  pageSize: %d
  memberBatch: %d
  timeout: 30s
`, l.Dir, q(a.URL), q(a.GCURL), q(a.CAFile), q(a.BindDN), q(a.Password.File), q(a.BaseDN), q(a.TargetOU),
		a.PageSize, a.MemberBatch)
	if e := l.Env; e["LAB_EMULATOR_URL"] != "" {
		fmt.Fprintf(&b, `entra:
  # The lab's Graph emulator (a test instrument) with the sample tenant. Against
  # Microsoft, drop authorityHost, graphUrl and caFile.
  tenantId: %s
  clientId: %s
  authorityHost: %s
  graphUrl: %s
  caFile: %s
  credential:
    kind: secret
    secret:
      file: %s
sync:
  interval: 2s   # the lab's changes show in AD within seconds (default 15s)
  # Tests share the lab AD and leave their own anchored groups in other OUs;
  # the lab's writeback manages only the target OU (default: the whole domain).
  searchBase: %s
`, q(e["LAB_TENANT_ID"]), q(e["LAB_CLIENT_ID"]), q(e["LAB_EMULATOR_URL"]+"/"), q(e["LAB_EMULATOR_URL"]),
			q(e["LAB_EMULATOR_CA"]), q(e["LAB_CLIENT_SECRET_FILE"]), q(a.TargetOU))
	} else {
		b.WriteString("# No entra section: the lab's Graph emulator is not running ('writeback-lab up' starts it).\n")
	}
	fmt.Fprintf(&b, `state:
  path: %s   # inside the lab directory: 'writeback-lab reset' discards it too
log:
  format: text
  level: info
`, q(filepath.Join(l.Dir, "writeback.db")))
	return b.String()
}

// Second is the second domain controller of a two-DC lab (`writeback-lab up
// --dcs 2`): instance "dc2" joined to the domain of o's instance, on the next
// loopback address (127.0.0.N+1 beside 127.0.0.N).
func Second(o Options) Options {
	o = o.withDefaults()
	ip := net.ParseIP(o.Addr).To4()
	addr := "127.0.0.2"
	if ip != nil && ip[0] == 127 && ip[3] < 254 {
		addr = net.IPv4(127, ip[1], ip[2], ip[3]+1).String()
	}
	return Options{Dir: o.Dir, Instance: "dc2", Addr: addr, Log: o.Log, host: "dc2"}
}

// UpSecond makes o's lab a two-DC lab: o's DC is restarted once with the
// services a join and replication need (CLDAP, RPC, Kerberos, on its own
// address only), then a second Samba DC joins the domain on Second(o).Addr
// (samba-tool domain join ... DC) and starts. Reused when already running.
func UpSecond(ctx context.Context, o Options) (*Lab, error) {
	o = o.withDefaults()
	if l, err := Running(Second(o)); err == nil {
		return l, nil
	}
	flag := filepath.Join(o.InstanceDir(), ".multi-dc")
	if _, err := os.Stat(flag); err != nil {
		if err := os.WriteFile(flag, nil, 0o644); err != nil {
			return nil, err
		}
		if err := run(ctx, o, "stop"); err != nil {
			return nil, err
		}
	}
	if _, err := upAD(ctx, o); err != nil {
		return nil, err
	}
	s := Second(o)
	unlock, err := lock(ctx, s)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := run(ctx, s, "join", o.InstanceDir()); err != nil {
		return nil, err
	}
	return Running(s)
}

// Replicate runs one replication of the domain partition each way between
// the two DCs of a two-DC lab, now (DRS GetNCChanges as the domain
// Administrator, `samba-tool drs replicate --local`): the DCs' own periodic
// replication cannot authenticate on loopback here (docs/lab.md says why).
func Replicate(ctx context.Context, o Options) error {
	o = o.withDefaults()
	s := Second(o)
	if err := run(ctx, s, "replicate", o.Addr); err != nil {
		return err
	}
	return run(ctx, o, "replicate", s.Addr)
}

// DownSecond stops the second DC (its data stays).
func DownSecond(ctx context.Context, o Options) error {
	return run(ctx, Second(o), "stop")
}

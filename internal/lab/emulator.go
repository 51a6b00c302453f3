package lab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/lab/sample"
)

// EmulatorPort is the port the default instance's Graph emulator listens on.
const EmulatorPort = 8443

// EmulatorDir is where the instance's Graph emulator keeps its CA, client
// credentials, tenant file, state, log and pid file. It sits inside the
// instance directory, so `reset` discards it with the AD data.
func (o Options) EmulatorDir() string { return filepath.Join(o.InstanceDir(), "emulator") }

// emulatorAddr is always on 127.0.0.1, the address the emulator's server
// certificate names; an instance on 127.0.M.N gets port 8443+256M+N-1 instead.
func (o Options) emulatorAddr() string {
	port := EmulatorPort
	if ip := net.ParseIP(o.Addr).To4(); ip != nil && ip[0] == 127 && (ip[2] > 0 || ip[3] > 1) {
		port += int(ip[2])*256 + int(ip[3]) - 1
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// emulatorEnv reads the running emulator's settings as LAB_* keys, or nil
// when no emulator of this instance is running.
func emulatorEnv(o Options, baseDN string) map[string]string {
	dir := o.EmulatorDir()
	pid := emulatorPID(dir)
	if pid == 0 {
		return nil
	}
	f, err := os.Open(filepath.Join(dir, "emulator.env"))
	if err != nil {
		return nil
	}
	defer f.Close()
	raw := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			raw[k] = v
		}
	}
	if raw["WRITEBACK_EMULATOR_URL"] == "" {
		return nil
	}
	return map[string]string{
		"LAB_EMULATOR_URL":       raw["WRITEBACK_EMULATOR_URL"],
		"LAB_EMULATOR_CA":        raw["WRITEBACK_EMULATOR_CA"],
		"LAB_EMULATOR_TOKEN_URL": raw["WRITEBACK_EMULATOR_TOKEN_URL"],
		"LAB_EMULATOR_GRAPH_URL": raw["WRITEBACK_EMULATOR_GRAPH_URL"],
		"LAB_EMULATOR_ADMIN_URL": raw["WRITEBACK_EMULATOR_ADMIN_URL"],
		"LAB_EMULATOR_DIR":       dir,
		"LAB_EMULATOR_LOG":       filepath.Join(dir, "emulator.log"),
		"LAB_EMULATOR_PID":       strconv.Itoa(pid),
		"LAB_TENANT_ID":          raw["AZURE_TENANT_ID"],
		"LAB_CLIENT_ID":          raw["AZURE_CLIENT_ID"],
		"LAB_CLIENT_SECRET_FILE": raw["AZURE_CLIENT_SECRET_FILE"],
		"LAB_SAMPLE_USERS_OU":    sample.OUName + "," + baseDN,
	}
}

// emulatorPID is the pid of this directory's running emulator, or 0. The
// command line must name the directory: a stale pid file after a reboot may
// point at an unrelated process.
func emulatorPID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "emulator.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 {
		return 0
	}
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0
	}
	args := strings.Split(string(cmd), "\x00")
	hasEmu, hasDir := false, false
	for _, a := range args {
		hasEmu = hasEmu || a == "emulator"
		hasDir = hasDir || a == dir
	}
	if !hasEmu || !hasDir {
		return 0
	}
	return pid
}

// ensureEmulator makes the sample users exist in the lab AD, writes the
// sample tenant for their objectGUIDs and starts the emulator on it, or
// leaves a running emulator alone when its tenant is still the right one.
func ensureEmulator(ctx context.Context, o Options, l *Lab) error {
	unlock, err := Lock(ctx, o, o.Instance+".emulator")
	if err != nil {
		return err
	}
	defer unlock()
	c, err := ad.Dial(ctx, adconfig.Options(l.ADConfig()))
	if err != nil {
		return fmt.Errorf("lab sample users: %w", err)
	}
	anchors, err := sample.EnsureUsers(ctx, c, l.Env["LAB_BASE_DN"])
	if err == nil {
		// The converted group's original and a synced computer (onprem.go).
		err = sample.EnsureOnPrem(ctx, c, l.Env["LAB_BASE_DN"], l.Env["LAB_TARGET_OU"], anchors)
	}
	c.Close()
	if err != nil {
		return err
	}
	tf, err := sample.Tenant(anchors)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(tf, "", "  ")
	if err != nil {
		return err
	}
	dir := o.EmulatorDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("emulator dir: %w", err)
	}
	tenant := filepath.Join(dir, "tenant.json")
	old, _ := os.ReadFile(tenant)
	// A different tenant file means the AD users were recreated (new
	// objectGUIDs): the emulator's saved state would point at users that no
	// longer exist, so it starts over from the new file.
	changed := !bytes.Equal(old, b)
	if changed {
		if err := os.WriteFile(tenant, b, 0o600); err != nil {
			return fmt.Errorf("write sample tenant: %w", err)
		}
	}
	if emulatorPID(dir) != 0 {
		if !changed {
			return nil
		}
		if err := stopEmulator(ctx, dir); err != nil {
			return err
		}
	}
	return startEmulator(ctx, o, tenant, changed)
}

func startEmulator(ctx context.Context, o Options, tenant string, reset bool) error {
	dir := o.EmulatorDir()
	exe := o.Executable
	args := []string{"emulator", "--addr", o.emulatorAddr(), "--dir", dir, "--tenant", tenant}
	if reset {
		args = append(args, "--reset")
	}
	logPath := filepath.Join(dir, "emulator.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("emulator log: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- %s: %s %s\n", time.Now().UTC().Format(time.RFC3339), exe, strings.Join(args, " "))
	// Not CommandContext: the emulator outlives this command, like Samba does.
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	cmd.SysProcAttr = detached()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the Graph emulator (%s): %w", exe, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := os.WriteFile(filepath.Join(dir, "emulator.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		cmd.Process.Kill()
		return fmt.Errorf("emulator pid file: %w", err)
	}
	fmt.Fprintf(o.Log, "lab: Graph emulator starting on https://%s (log %s)\n", o.emulatorAddr(), logPath)
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		if err := probeEmulator(ctx, dir, o.emulatorAddr()); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the Graph emulator exited (%v); last lines of %s:\n%s", err, logPath, tail(logPath, 15))
		case <-deadline.C:
			cmd.Process.Kill()
			return fmt.Errorf("the Graph emulator did not answer on %s within 60 s; see %s:\n%s", o.emulatorAddr(), logPath, tail(logPath, 15))
		case <-ctx.Done():
			cmd.Process.Kill()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// probeEmulator asks the admin API for its status over verified TLS, which
// also proves ca.pem is the CA of the process now listening.
func probeEmulator(ctx context.Context, dir, addr string) error {
	pem, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return errors.New("no CA in ca.pem")
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/_emulator/", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("emulator status %s", resp.Status)
	}
	// emulator.env is written before the port opens; make sure it is this run's.
	if _, err := os.Stat(filepath.Join(dir, "emulator.env")); err != nil {
		return err
	}
	return nil
}

// stopEmulator sends SIGTERM (the emulator saves its state and exits) and
// waits; SIGKILL after 10 s.
func stopEmulator(ctx context.Context, dir string) error {
	pid := emulatorPID(dir)
	if pid == 0 {
		os.Remove(filepath.Join(dir, "emulator.pid"))
		return nil
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop the Graph emulator (pid %d): %w", pid, err)
	}
	for i := 0; i < 100; i++ {
		if emulatorPID(dir) == 0 || !alive(pid) {
			os.Remove(filepath.Join(dir, "emulator.pid"))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	p.Kill()
	os.Remove(filepath.Join(dir, "emulator.pid"))
	return nil
}

// alive: the process exists and is not a zombie waiting to be reaped.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

// StopEmulator stops the instance's Graph emulator, if it runs.
func StopEmulator(ctx context.Context, o Options) error {
	o = o.withDefaults()
	unlock, err := Lock(ctx, o, o.Instance+".emulator")
	if err != nil {
		return err
	}
	defer unlock()
	return stopEmulator(ctx, o.EmulatorDir())
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

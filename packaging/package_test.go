package main

// Tests of the artefacts scripts/package.sh wrote into ../dist (or
// $WRITEBACK_DIST). Without them every test skips: run the script first.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

func dist(t *testing.T) string {
	t.Helper()
	d := os.Getenv("WRITEBACK_DIST")
	if d == "" {
		d = "../dist"
	}
	if _, err := os.Stat(filepath.Join(d, "SHA256SUMS")); err != nil {
		t.Skipf("no artefacts in %s: run ./scripts/package.sh first", d)
	}
	return d
}

func hostDeb(t *testing.T) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dist(t), "writeback_*_"+runtime.GOARCH+".deb"))
	if len(m) != 1 {
		t.Fatalf("want one .deb for %s in dist, found %v", runtime.GOARCH, m)
	}
	return m[0]
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Every artefact is listed in SHA256SUMS with its digest.
func TestChecksums(t *testing.T) {
	d := dist(t)
	f, err := os.Open(filepath.Join(d, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		b, err := os.ReadFile(filepath.Join(d, name))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: checksum differs", name)
		}
		seen[name] = true
	}
	for _, want := range []string{"writeback-linux-amd64", "writeback-linux-arm64", "writeback-oci.tar"} {
		if !seen[want] {
			t.Errorf("%s not in SHA256SUMS", want)
		}
	}
}

// The binaries are static and say their version, commit and build date.
func TestBinaries(t *testing.T) {
	d := dist(t)
	for _, arch := range []string{"amd64", "arm64"} {
		out := sh(t, "file", filepath.Join(d, "writeback-linux-"+arch))
		if !strings.Contains(out, "statically linked") {
			t.Errorf("writeback-linux-%s is not static: %s", arch, out)
		}
	}
	out := sh(t, filepath.Join(d, "writeback-linux-"+runtime.GOARCH), "version")
	if !strings.Contains(out, "commit ") || !strings.Contains(out, "built ") {
		t.Errorf("version says %q, want commit and build date", out)
	}
}

// The .deb holds the files with tight modes, a conffile, and its scripts.
func TestDebContents(t *testing.T) {
	deb := hostDeb(t)
	modes := map[string]string{}
	for _, line := range strings.Split(sh(t, "dpkg-deb", "-c", deb), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 {
			modes[strings.TrimSuffix(strings.TrimPrefix(f[len(f)-1], "."), "/")] = f[0]
		}
	}
	for path, mode := range map[string]string{
		"/usr/bin/writeback":                        "-rwxr-xr-x",
		"/usr/lib/systemd/system/writeback.service": "-rw-r--r--",
		"/etc/writeback/writeback.yaml":             "-rw-r-----",
		"/etc/writeback":                            "drwxr-x---",
		"/var/lib/writeback":                        "drwx------",
		"/usr/share/doc/writeback/copyright":        "-rw-r--r--",
	} {
		if modes[path] != mode {
			t.Errorf("%s: mode %q, want %q", path, modes[path], mode)
		}
	}
	ctl := t.TempDir()
	sh(t, "dpkg-deb", "-e", deb, ctl)
	if b, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); !strings.Contains(string(b), "/etc/writeback/writeback.yaml") {
		t.Errorf("conffiles %q: the configuration would be overwritten on upgrade", b)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		if _, err := os.Stat(filepath.Join(ctl, s)); err != nil {
			t.Errorf("maintainer script %s: %v", s, err)
		}
	}
	if f := sh(t, "dpkg-deb", "-f", deb, "Package", "Architecture"); !strings.Contains(f, "writeback") || !strings.Contains(f, runtime.GOARCH) {
		t.Errorf("control: %s", f)
	}
}

// The .deb installs into a clean Debian root (debootstrap --variant=minbase
// --include=systemd,procps, made by scripts/test.sh: $WRITEBACK_DEB_ROOT):
// the user, the files and their owners, systemd-analyze verify on the unit, removal keeping the state.
func TestDebInstallsInCleanRoot(t *testing.T) {
	deb := hostDeb(t)
	clean := os.Getenv("WRITEBACK_DEB_ROOT")
	if clean == "" || os.Geteuid() != 0 {
		t.Skip("set WRITEBACK_DEB_ROOT to a debootstrapped Debian root and run as root (scripts/test.sh does)")
	}
	root := filepath.Join(t.TempDir(), "root")
	sh(t, "cp", "-a", clean, root) // the clean root stays clean for the next run
	sh(t, "cp", deb, filepath.Join(root, "tmp", "writeback.deb"))
	sh(t, "chroot", root, "dpkg", "-i", "/tmp/writeback.deb")
	pw := sh(t, "chroot", root, "getent", "passwd", "writeback")
	f := strings.Split(strings.TrimSpace(pw), ":")
	if len(f) != 7 || f[5] != "/var/lib/writeback" || !strings.HasSuffix(f[6], "nologin") {
		t.Errorf("user: %q", pw)
	}
	for path, want := range map[string]string{
		"/var/lib/writeback":            "700 writeback writeback",
		"/etc/writeback":                "750 root writeback",
		"/etc/writeback/writeback.yaml": "640 root writeback",
		"/usr/bin/writeback":            "755 root root",
	} {
		if got := strings.TrimSpace(sh(t, "chroot", root, "stat", "-c", "%a %U %G", path)); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	if out := sh(t, "chroot", root, "/usr/bin/writeback", "version"); !strings.HasPrefix(out, "writeback ") {
		t.Errorf("writeback version in the root: %q", out)
	}
	// The packaged configuration is valid but for its placeholders' secrets.
	cfg, _ := os.ReadFile(filepath.Join(root, "etc/writeback/writeback.yaml"))
	for _, want := range []string{"credential: ad-password", "credential: client-secret", "path: /var/lib/writeback/writeback.db"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("packaged configuration lacks %q", want)
		}
	}
	// systemd-analyze verify reads the unit as installed (it checks that
	// ExecStart exists: it must be the root's /usr/bin/writeback).
	out, err := exec.Command("systemd-analyze", "verify", "--root="+root, "writeback.service").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/writeback/writeback.db"), []byte("state"), 0o600); err != nil {
		t.Fatal(err)
	}
	sh(t, "chroot", root, "dpkg", "--purge", "writeback")
	if _, err := os.Stat(filepath.Join(root, "usr/bin/writeback")); err == nil {
		t.Error("purge left /usr/bin/writeback")
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/writeback/writeback.db")); err != nil {
		t.Errorf("purge removed the state (it records which AD groups writeback owns): %v", err)
	}
}

// The image, unpacked from the OCI layout, runs 'writeback version' as its
// non-root user, chrooted into the image's own files (no container runtime
// on CI: this is what a runtime would run, minus the namespaces).
func TestOCIImageRunsAsNonRoot(t *testing.T) {
	d := dist(t)
	var index struct {
		Manifests []descriptor `json:"manifests"`
	}
	blob := func(dg string) []byte {
		b, err := os.ReadFile(filepath.Join(d, "oci", "blobs", "sha256", strings.TrimPrefix(dg, "sha256:")))
		if err != nil {
			t.Fatal(err)
		}
		if digest(b) != dg {
			t.Fatalf("blob %s: content does not match its digest", dg)
		}
		return b
	}
	b, err := os.ReadFile(filepath.Join(d, "oci", "index.json"))
	if err != nil || json.Unmarshal(b, &index) != nil {
		t.Fatalf("index.json: %v", err)
	}
	var manifest struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	arches := map[string]bool{}
	for _, m := range index.Manifests {
		arches[m.Platform.Architecture] = true
		if m.Platform.Architecture == runtime.GOARCH {
			if err := json.Unmarshal(blob(m.Digest), &manifest); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !arches["amd64"] || !arches["arm64"] || len(manifest.Layers) != 1 {
		t.Fatalf("index has %v, manifest %+v", arches, manifest)
	}
	var cfg struct {
		Config struct {
			User       string
			Entrypoint []string
		} `json:"config"`
	}
	if err := json.Unmarshal(blob(manifest.Config.Digest), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" || cfg.Config.Entrypoint[0] != "/usr/bin/writeback" {
		t.Errorf("image config %+v: want user 65532:65532 and entrypoint /usr/bin/writeback", cfg.Config)
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob(manifest.Layers[0].Digest)))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, os.FileMode(h.Mode)&os.ModePerm); err != nil {
				t.Fatal(err)
			}
			_ = os.Chmod(p, os.FileMode(h.Mode)&os.ModePerm)
			_ = os.Chown(p, h.Uid, h.Gid)
		case tar.TypeReg:
			b, _ := io.ReadAll(tr)
			if err := os.WriteFile(p, b, os.FileMode(h.Mode)&os.ModePerm); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, f := range []string{"etc/ssl/certs/ca-certificates.crt", "etc/passwd"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("image lacks /%s", f)
		}
	}
	cmd := exec.Command("/usr/bin/writeback", "version")
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	} else {
		// Not root: no chroot, but already not root either.
		cmd.Path = filepath.Join(root, "usr/bin/writeback")
	}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "writeback ") {
		t.Errorf("writeback version in the image as uid 65532: %v\n%s", err, out)
	}
}

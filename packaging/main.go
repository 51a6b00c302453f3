// Command packaging builds writeback's release artefacts from binaries that
// scripts/package.sh compiled into dist/: the packaged configuration file,
// a .deb per architecture (with nfpm, as a library) and an OCI image layout
// holding an image per architecture, built from scratch (no base image).
// It is a module of its own so that nfpm's dependencies stay out of
// writeback's go.mod; everything it needs comes from the Go module proxy
// once (go mod download), then it runs offline.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb"
)

func main() {
	dist := flag.String("dist", "../dist", "directory with writeback-linux-ARCH binaries; artefacts are written there")
	version := flag.String("version", "0.0.0~dev", "package version (Debian syntax, no leading v)")
	mtime := flag.String("mtime", "", "modification time of every file, RFC 3339 (default: now): the commit time makes builds reproducible")
	arches := flag.String("arch", "amd64,arm64", "architectures")
	flag.Parse()
	if err := run(*dist, *version, *mtime, strings.Split(*arches, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "packaging:", err)
		os.Exit(1)
	}
}

func run(dist, version, mtime string, arches []string) error {
	dist, err := filepath.Abs(dist)
	if err != nil {
		return err
	}
	t := time.Now().UTC()
	if mtime != "" {
		if t, err = time.Parse(time.RFC3339, mtime); err != nil {
			return fmt.Errorf("-mtime %q: %w", mtime, err)
		}
	}
	if err := writeConfig(dist); err != nil {
		return err
	}
	var images []image
	for _, arch := range arches {
		deb, err := buildDeb(dist, arch, version, t)
		if err != nil {
			return fmt.Errorf("deb for %s: %w", arch, err)
		}
		fmt.Println(deb)
		img, err := buildImage(dist, arch, t)
		if err != nil {
			return fmt.Errorf("OCI image for %s: %w", arch, err)
		}
		images = append(images, img)
	}
	out, err := writeLayout(dist, images, version)
	if err != nil {
		return fmt.Errorf("OCI layout: %w", err)
	}
	fmt.Println(out)
	return nil
}

// writeConfig makes the packaged /etc/writeback/writeback.yaml from
// 'writeback init' (so both say the same) with the service's paths: the
// state in StateDirectory, the secrets as systemd credentials. A line that
// is not found fails the build: the template changed, and this must too.
func writeConfig(dist string) error {
	src := filepath.Join(dist, "writeback.init.yaml")
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read %s (made by 'writeback init -'): %w", src, err)
	}
	s := string(b)
	for _, r := range []struct{ old, new string }{
		{"    env: WRITEBACK_AD_PASSWORD            # or: file: /run/secrets/ad-password",
			"    credential: ad-password               # LoadCredential=ad-password:/etc/writeback/ad-password (the unit)"},
		{"      env: WRITEBACK_CLIENT_SECRET        # or: file: /run/secrets/client-secret",
			"      credential: client-secret         # LoadCredential=client-secret:/etc/writeback/client-secret (the unit)"},
		{"  path: writeback.db                      # relative to this file's directory",
			"  path: /var/lib/writeback/writeback.db   # StateDirectory=writeback (the unit); back it up"},
	} {
		if !strings.Contains(s, r.old) {
			return fmt.Errorf("%s: line %q not found: update packaging/main.go with the template of 'writeback init'", src, r.old)
		}
		s = strings.Replace(s, r.old, r.new, 1)
	}
	s = "# /etc/writeback/writeback.yaml, installed by the writeback package (kept on upgrade).\n" +
		"# Edit it, put the secrets in /etc/writeback/ad-password and client-secret (mode 0600),\n" +
		"# then: writeback check --config /etc/writeback/writeback.yaml && systemctl enable --now writeback\n" + s
	return os.WriteFile(filepath.Join(dist, "writeback.yaml"), []byte(s), 0o644)
}

func buildDeb(dist, arch, version string, mtime time.Time) (string, error) {
	env := map[string]string{"ARCH": arch, "VERSION": version, "DIST": dist}
	cfg, err := nfpm.ParseFileWithEnvMapping("nfpm.yaml", func(k string) string { return env[k] })
	if err != nil {
		return "", err
	}
	info, err := cfg.Get("deb")
	if err != nil {
		return "", err
	}
	info.MTime = mtime
	info = nfpm.WithDefaults(info)
	if err := nfpm.Validate(info); err != nil {
		return "", err
	}
	p, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dist, p.ConventionalFileName(info))
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	if err := p.Package(info, f); err != nil {
		f.Close()
		return "", err
	}
	return out, f.Close()
}

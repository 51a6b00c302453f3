package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The image's user: not root, and the UID distroless images use.
const (
	imageUID = 65532
	imageGID = 65532
)

// caBundle is the host's CA certificates (Debian's ca-certificates), copied
// into the image so that writeback can verify Graph and LDAPS certificates.
const caBundle = "/etc/ssl/certs/ca-certificates.crt"

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// image is one architecture's manifest, its blobs written already.
type image struct {
	manifest descriptor
	blobs    map[string][]byte // digest → content
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// buildImage makes a one-layer image from scratch: the static binary, the
// CA bundle, a passwd entry for the non-root user and its state directory.
func buildImage(dist, arch string, mtime time.Time) (image, error) {
	bin, err := os.ReadFile(filepath.Join(dist, "writeback-linux-"+arch))
	if err != nil {
		return image{}, err
	}
	ca, err := os.ReadFile(caBundle)
	if err != nil {
		return image{}, fmt.Errorf("CA certificates: %w (install Debian's ca-certificates)", err)
	}
	cfgFile, err := os.ReadFile(filepath.Join(dist, "writeback.yaml"))
	if err != nil {
		return image{}, err
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	dir := func(name string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: mtime})
	}
	file := func(name string, mode int64, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(b)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nwriteback:x:%d:%d:writeback:/var/lib/writeback:/sbin/nologin\n", imageUID, imageGID)
	group := fmt.Sprintf("root:x:0:\nwriteback:x:%d:\n", imageGID)
	for _, step := range []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return dir("etc/ssl", 0o755, 0) },
		func() error { return dir("etc/ssl/certs", 0o755, 0) },
		func() error { return file("etc/ssl/certs/ca-certificates.crt", 0o644, ca) },
		func() error { return dir("etc/writeback", 0o755, 0) },
		func() error { return file("etc/writeback/writeback.yaml", 0o644, cfgFile) },
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return dir("usr", 0o755, 0) },
		func() error { return dir("usr/bin", 0o755, 0) },
		func() error { return file("usr/bin/writeback", 0o755, bin) },
		func() error { return dir("var", 0o755, 0) },
		func() error { return dir("var/lib", 0o755, 0) },
		func() error { return dir("var/lib/writeback", 0o700, imageUID) },
	} {
		if err := step(); err != nil {
			return image{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return image{}, err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.ModTime = mtime
	if _, err := zw.Write(layer.Bytes()); err != nil {
		return image{}, err
	}
	if err := zw.Close(); err != nil {
		return image{}, err
	}
	config := map[string]any{
		"created":      mtime.UTC().Format(time.RFC3339),
		"architecture": arch,
		"os":           "linux",
		"config": map[string]any{
			"User":         fmt.Sprintf("%d:%d", imageUID, imageGID),
			"Entrypoint":   []string{"/usr/bin/writeback"},
			"Cmd":          []string{"run", "--config", "/etc/writeback/writeback.yaml"},
			"WorkingDir":   "/var/lib/writeback",
			"Env":          []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
			"ExposedPorts": map[string]any{"9464/tcp": map[string]any{}},
			"Volumes":      map[string]any{"/var/lib/writeback": map[string]any{}},
			"Labels": map[string]string{
				"org.opencontainers.image.title":    "writeback",
				"org.opencontainers.image.licenses": "Apache-2.0",
				"org.opencontainers.image.source":   "https://github.com/writeback/writeback",
			},
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{digest(layer.Bytes())}},
		"history": []map[string]any{{"created": mtime.UTC().Format(time.RFC3339), "created_by": "writeback packaging/oci.go (from scratch)"}},
	}
	cb, err := json.Marshal(config)
	if err != nil {
		return image{}, err
	}
	lb := gz.Bytes()
	manifest := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digest(cb), Size: int64(len(cb))},
		"layers":        []descriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: digest(lb), Size: int64(len(lb))}},
	}
	mb, err := json.Marshal(manifest)
	if err != nil {
		return image{}, err
	}
	return image{
		manifest: descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: digest(mb), Size: int64(len(mb)),
			Platform: &platform{Architecture: arch, OS: "linux"}},
		blobs: map[string][]byte{digest(cb): cb, digest(lb): lb, digest(mb): mb},
	}, nil
}

// writeLayout writes dist/oci: an OCI image layout whose index lists one
// manifest per architecture, tagged with the version. 'skopeo copy
// oci:dist/oci:VERSION docker://registry/writeback:VERSION' publishes it;
// 'podman load' and 'docker load' read dist/writeback-oci.tar.
func writeLayout(dist string, images []image, version string) (string, error) {
	root := filepath.Join(dist, "oci")
	if err := os.RemoveAll(root); err != nil {
		return "", err
	}
	blobs := filepath.Join(root, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return "", err
	}
	var manifests []descriptor
	for _, img := range images {
		for d, b := range img.blobs {
			if err := os.WriteFile(filepath.Join(blobs, d[len("sha256:"):]), b, 0o644); err != nil {
				return "", err
			}
		}
		m := img.manifest
		m.Annotations = map[string]string{"org.opencontainers.image.ref.name": version}
		manifests = append(manifests, m)
	}
	index, err := json.MarshalIndent(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     manifests,
	}, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(root, "index.json"), index, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(root, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return "", err
	}
	return root, nil
}

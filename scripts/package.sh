#!/usr/bin/env bash
# scripts/package.sh - build writeback's release artefacts into dist/:
#   writeback-linux-amd64, writeback-linux-arm64   static binaries (CGO_ENABLED=0)
#   SHA256SUMS                                     their checksums, and the packages'
#   writeback_VERSION_ARCH.deb                      Debian packages (nfpm, as a Go library)
#   oci/ and writeback-oci.tar                      an OCI image layout (both architectures),
#                                                  built from scratch: no base image to pull
#
# Offline once the modules are in the Go module cache ('go mod download' in
# the repository and in packaging/); the CA bundle of the image comes from
# the host's ca-certificates package.
#
# Usage: ./scripts/package.sh            (VERSION=v1.2.3 to override git describe)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# The commit's time, not now: the same commit builds the same bytes.
date=$(git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
date=$(date -u -d "$date" +%Y-%m-%dT%H:%M:%SZ)
# Debian versions start with a digit: v1.2.3 → 1.2.3; a bare commit → 0.0.0~git<commit>.
debversion=${version#v}
[[ $debversion =~ ^[0-9]+\.[0-9]+ ]] || debversion="0.0.0~git${debversion//-/.}"

rm -rf dist
mkdir -p dist
ldflags="-s -w -X main.version=$version -X main.commit=$commit -X main.date=$date"
for arch in amd64 arm64; do
  echo "building dist/writeback-linux-$arch ($version)" >&2
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOFLAGS=-buildvcs=false \
    go build -trimpath -ldflags "$ldflags" -o "dist/writeback-linux-$arch" ./cmd/writeback
done

# The packaged configuration starts from 'writeback init' (packaging/main.go edits it).
go run ./cmd/writeback init - > dist/writeback.init.yaml

(cd packaging && go run . -dist ../dist -version "$debversion" -mtime "$date")
tar -C dist/oci -cf dist/writeback-oci.tar .
rm dist/writeback.init.yaml

(cd dist && sha256sum writeback-linux-amd64 writeback-linux-arm64 ./*.deb writeback-oci.tar | sed 's# \./# #' > SHA256SUMS)
echo "dist/:" >&2
ls -l dist >&2

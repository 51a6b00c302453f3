#!/usr/bin/env bash
# scripts/demo.sh - the demo on a fresh Debian 12 machine, as root:
#   ./scripts/demo.sh
# Builds writeback, brings up the lab AD (a throwaway Samba AD DC on loopback;
# Samba is installed from Debian packages on first use) and runs the preflight
# check against it with the configuration the lab prints.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH:/usr/sbin:/sbin
command -v go >/dev/null || { echo "demo.sh: Go not found (expected /usr/local/go/bin/go)" >&2; exit 1; }

mkdir -p bin
echo "== building bin/writeback" >&2
go build -o bin/writeback ./cmd/writeback
./bin/writeback version

echo "== writeback lab up" >&2
./bin/writeback lab up >/dev/null

echo "== writeback lab config" >&2
./bin/writeback lab config

echo "== writeback check --config <(writeback lab config)" >&2
./bin/writeback check --config <(./bin/writeback lab config)

#!/usr/bin/env bash
# Runs the writeback benchmarks (issue 7) against the bench's own Samba lab
# instance (/var/tmp/wb-bench on 127.0.0.3, reset to pristine per size).
# Usage: ./bench/run.sh [SIZES] [wbbench flags...]    e.g. ./bench/run.sh S,M -changes 50
# Needs root (the Samba lab). Results: bench/results/latest.{json,md}.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-S}
[ $# -gt 0 ] && shift
mkdir -p /var/tmp/wb-bench-work
go build -o /var/tmp/wb-bench-work/wbbench ./bench/cmd/wbbench
exec /var/tmp/wb-bench-work/wbbench -size "$sizes" "$@"

#!/usr/bin/env bash
# scripts/test.sh - run all of writeback's tests, as CI does.
#
# Run as root on a Debian 12 machine with Go in /usr/local/go (or on PATH):
#   ./scripts/test.sh
# It installs what the tests need (a C compiler for -race; PostgreSQL for the
# lab's private cluster of the high-availability tests; Samba AD DC and
# ldap-utils via the lab script), brings up the lab AD (or reuses a running
# one) and resets it to pristine, then runs go vet, the whole test suite with the race detector (lab
# required: tests that need it fail instead of skipping), and a short bounded
# run of every fuzz target (found by name: a new func Fuzz... in any *_test.go, such as
# internal/ldapdn's FuzzParse and FuzzNorm, runs without changing this script).
# Knobs: FUZZTIME (default 20000x: executions per target; 0 skips fuzzing), GOFLAGS.
# The budget is a count, not a duration: with a duration, Go 1.26's fuzz coordinator can
# report a spurious "context deadline exceeded" on a loaded machine (golang/go#75804,
# fixed in Go 1.27); a count has no deadline to race.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH:/usr/sbin:/sbin
FUZZTIME=${FUZZTIME:-20000x}

step() { printf '\n== %s\n' "$*" >&2; }

command -v go >/dev/null || { echo "test.sh: Go not found (expected /usr/local/go/bin/go)" >&2; exit 1; }
if ! command -v gcc >/dev/null; then
  step "installing gcc (the race detector needs cgo)"
  [[ $(id -u) == 0 ]] || { echo "test.sh: gcc missing; run as root or install gcc" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
fi

if ! compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then
  step "installing postgresql (the lab's PostgreSQL for the high-availability tests)"
  [[ $(id -u) == 0 ]] || { echo "test.sh: postgresql missing; run as root or install postgresql" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

step "lab AD"
bin=$(mktemp -d)/writeback-lab
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/writeback-lab
"$bin" up >/dev/null   # installs Samba on first use, provisions, starts; reuses a running lab
# From a pristine domain: writeback never creates a second AD group for a cloud
# group it finds anywhere in the domain, so groups the demo or an interrupted
# test run left behind would stand in the tests' way.
"$bin" reset >/dev/null
# The lab tests run only when asked: this makes them run, and fail (not skip)
# when the lab is unavailable.
export WRITEBACK_REQUIRE_LAB=1

# the PowerShell grammar that checks migrate's connect-sync-script output (skipped without it)
if command -v npm >/dev/null && [[ ! -d internal/migrate/testdata/psparse/node_modules ]]; then
  step "npm ci: PowerShell grammar for the migration script's syntax test"
  npm ci --ignore-scripts --no-audit --no-fund --prefix internal/migrate/testdata/psparse >/dev/null ||
    echo "test.sh: npm ci failed; the PowerShell syntax test will skip" >&2
fi

# Debian's Chromium, for the headless screenshot test of the status page
# (cmd/writeback: TestLabStatusPageInChromium skips without it).
if ! command -v chromium >/dev/null && [[ $(id -u) == 0 ]]; then
  step "installing chromium (headless browser test of the status page)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
    echo "test.sh: chromium could not be installed; the status page screenshot test will skip" >&2
fi

step "go vet ./..."
go vet ./...

step "go test -race -count=1 ./..."
start=$SECONDS
go test -race -count=1 ./...
echo "tests took $((SECONDS - start)) s" >&2

# This one stops and restarts the lab DC, so it runs alone, after the rest.
step "readiness follows the lab DC (lab down, lab up)"
WRITEBACK_LAB_RESTART=1 go test -race -count=1 -run '^TestLabReadyzFollowsTheDC$' ./cmd/writeback

step "packages: ./scripts/package.sh, then install the .deb into a clean Debian root"
./scripts/package.sh
# A minimal Debian root (debootstrap, from Debian's packages), made once and
# reused: the test installs into a copy of it.
debroot=${WRITEBACK_DEB_ROOT:-/var/tmp/writeback-debroot}
if [[ ! -x $debroot/lib/systemd/systemd || ! -x $debroot/usr/bin/dpkg ]]; then
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  rm -rf "$debroot"
  # the Debian mirror this machine's apt is set up with
  mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/debian.sources | head -n1 | awk '{print $2}')
  [[ -n $mirror ]] || mirror=$(grep -hsE '^deb ' /etc/apt/sources.list | head -n1 | awk '{print $2}')
  [[ -n $mirror ]] || { echo "test.sh: no Debian mirror in the apt sources, needed by debootstrap" >&2; exit 1; }
  debootstrap --variant=minbase --include=systemd,procps bookworm "$debroot" "$mirror" >/dev/null
fi
(cd packaging && WRITEBACK_DEB_ROOT=$debroot go test -count=1 ./...)

if [[ $FUZZTIME != 0 ]]; then
  step "fuzz targets, $FUZZTIME each"
  # only packages whose tests declare fuzz targets; -list confirms the names
  for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -r -n1 dirname | sort -u); do
    for f in $(go test -list '^Fuzz' "$dir" | grep '^Fuzz' || true); do
      echo "fuzz $dir $f" >&2
      out=$(go test -run '^$' -fuzz "^${f}\$" -fuzztime="$FUZZTIME" -fuzzminimizetime=5s "$dir" 2>&1) ||
        { printf '%s\n' "$out" >&2; echo "fuzz target $f in $dir failed (the failing input is under $dir/testdata/fuzz/$f)" >&2; exit 1; }
    done
  done
fi
step "all tests passed"

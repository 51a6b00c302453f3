#!/usr/bin/env bash
# scripts/demo.sh - the demo, on a fresh Debian 12 machine, as root:
#   ./scripts/demo.sh
#
# 1. builds bin/writeback (and bin/writeback-lab, the test instruments);
# 2. brings up the lab: a throwaway Samba AD DC on loopback (installed from
#    Debian packages on first use) with 20 users in OU=SyncedUsers, and beside
#    it writeback's Graph emulator serving a sample tenant whose synced users
#    are those AD users (same objectGUIDs), plus cloud-only users, 11 security
#    groups in scope and 2 out of scope, a group converted from AD to the cloud
#    (taken over in place) and a synced device. When a lab is already running (a
#    previous demo) it is reset to pristine first, so every run starts alike;
# 3. writeback check, writeback plan, writeback apply --yes, and the groups in AD;
# 4. starts 'writeback run', changes the tenant through the emulator's admin
#    API (create a group, rename one, add a member) and prints each change as
#    it appears in AD, with the seconds it took; then stops run with SIGTERM.
#
# Knobs: WRITEBACK_LAB_DIR and WRITEBACK_LAB_ADDR select another lab instance
# (e.g. WRITEBACK_LAB_DIR=/var/tmp/wb-demo WRITEBACK_LAB_ADDR=127.0.0.4 to
# leave the default lab that the tests use alone).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH:/usr/sbin:/sbin
export LC_NUMERIC=C # $EPOCHREALTIME with a decimal point
command -v go >/dev/null || { echo "demo.sh: Go not found (expected /usr/local/go/bin/go)" >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if ! command -v curl >/dev/null; then
  [[ $(id -u) == 0 ]] || { echo "demo.sh: curl missing; run as root or install curl" >&2; exit 1; }
  echo "demo.sh: installing curl (apt-get)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl ca-certificates >/dev/null
fi

step "building bin/writeback"
mkdir -p bin
go build -o bin/writeback ./cmd/writeback
go build -o bin/writeback-lab ./cmd/writeback-lab   # the test instruments: lab AD and Graph emulator
W=$PWD/bin/writeback
L=$PWD/bin/writeback-lab
"$W" version

if "$L" env >/dev/null 2>&1; then
  step "writeback-lab reset   (a lab is running: back to a pristine AD and sample tenant)"
  "$L" reset >/dev/null
else
  step "writeback-lab up   (Samba AD DC + Graph emulator + sample tenant)"
  "$L" up >/dev/null
fi
eval "$("$L" env)"
CFG=$LAB_DIR/writeback.yaml
"$L" config >"$CFG"
echo "config: $CFG (the output of 'writeback-lab config')"

step "writeback check --config <(writeback-lab config)"
"$W" check --config <("$L" config)

step "writeback plan"
rc=0
"$W" plan --config "$CFG" || rc=$?
[[ $rc == 2 ]] || { echo "demo.sh: plan exited $rc, expected 2 (changes present)" >&2; exit 1; }

step "writeback apply --yes   (the plan again, then the summary; log in $LAB_DIR/apply.log)"
if ! "$W" apply --config "$CFG" --yes >"$LAB_DIR/apply.out" 2>"$LAB_DIR/apply.log"; then
  cat "$LAB_DIR/apply.out" "$LAB_DIR/apply.log" >&2; exit 1
fi
grep -E '^(Plan:|Warnings:|Apply complete)' "$LAB_DIR/apply.out"

# ldap BASE FILTER ATTRS...: LDIF with base64 values (non-ASCII) decoded
ldap() {
  local base=$1; shift
  LDAPTLS_CACERT=$LAB_CA_CERT ldapsearch -LLL -o ldif-wrap=no -H "$LAB_LDAPS_URL" -D "$LAB_BIND_DN" \
    -y "$LAB_PASSWORD_FILE.raw" -b "$base" "$@" |
    while IFS= read -r line; do
      if [[ $line == *::\ * ]]; then printf '%s: %s\n' "${line%%::*}" "$(printf '%s' "${line#*:: }" | base64 -d)"; else printf '%s\n' "$line"; fi
    done
}
# show_groups FILTER: one line per group: displayName, member count, CN
show_groups() {
  ldap "$LAB_TARGET_OU" "(&(objectClass=group)$1)" displayName member cn | awk -F': ' '
    function flush() { if (name != "") printf "  %3d members  %s   (CN=%s)\n", n, name, cn; name = ""; n = 0 }
    /^dn: / { flush() } /^displayName: / { name = $2 } /^cn: / { cn = $2 } /^member: / { n++ } END { flush() }'
}

step "the groups in AD (ldapsearch in $LAB_TARGET_OU)"
show_groups "(msDS-ExternalDirectoryObjectId=Group_*)" | LC_ALL=C sort -k3

step "writeback run   (in the background; log in $LAB_DIR/run.log)"
"$W" run --config "$CFG" >"$LAB_DIR/run.log" 2>&1 &
RUN=$!
trap 'kill -TERM $RUN 2>/dev/null || true' EXIT
sleep 3 # its first round: nothing to do after the apply

ADMIN=$LAB_EMULATOR_ADMIN_URL
admin() { curl -sS --fail-with-body --cacert "$LAB_EMULATOR_CA" -H 'Content-Type: application/json' "$@"; echo; }
# id_of DISPLAYNAME: the object ID in the sample tenant file (id precedes displayName)
id_of() { grep -B1 -F "\"displayName\": \"$1\"" "$LAB_EMULATOR_DIR/tenant.json" | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -n1; }
# await DESCRIPTION FILTER: poll AD until FILTER matches a group, print the seconds since the change
await() {
  local what=$1 filter=$2 start=$T0 i
  for i in $(seq 1 300); do
    if [[ -n $(ldap "$LAB_TARGET_OU" "(&(objectClass=group)$filter)" 1.1) ]]; then
      printf '  -> in AD after %s s: %s\n' "$(awk "BEGIN{printf \"%.1f\", $EPOCHREALTIME - $start}")" "$what"
      show_groups "$filter"
      return 0
    fi
    sleep 0.2
  done
  echo "demo.sh: $what did not reach AD within 60 s; run log:" >&2; tail -n 30 "$LAB_DIR/run.log" >&2; exit 1
}

step "change 1: create a group in Entra (the emulator's admin API)"
ada=$(id_of "Ada Lovelace"); priya=$(id_of "Priya Raman"); chloe=$(id_of "Chloé Dubois")
T0=$EPOCHREALTIME
created=$(admin -X POST "$ADMIN"groups -d "{\"displayName\":\"Incident Response – Tier 2\",\"description\":\"created during the demo\",\"securityEnabled\":true,\"mailEnabled\":false,\"members\":[\"$ada\",\"$priya\"]}")
gid=$(printf '%s' "$created" | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -n1)
echo "  POST /_emulator/groups -> $gid"
await "group created with 2 members" "(msDS-ExternalDirectoryObjectId=Group_$gid)(member=*)"

step "change 2: rename \"Sales + Marketing\" to \"Sales & Marketing\""
sales=$(id_of "Sales + Marketing")
T0=$EPOCHREALTIME
admin -X PATCH "$ADMIN"groups/"$sales" -d '{"displayName":"Sales & Marketing"}' >/dev/null
await "renamed (displayName and CN)" "(msDS-ExternalDirectoryObjectId=Group_$sales)(displayName=Sales & Marketing)"

step "change 3: add Chloé Dubois to Engineering"
eng=$(id_of "Engineering")
chloe_dn=$(ldap "$LAB_SAMPLE_USERS_OU" "(sAMAccountName=chloe.dubois)" 1.1 | sed -n 's/^dn: //p')
T0=$EPOCHREALTIME
admin -X POST "$ADMIN"groups/"$eng"/members -d "{\"ids\":[\"$chloe\"]}" >/dev/null
await "member added" "(msDS-ExternalDirectoryObjectId=Group_$eng)(member=$chloe_dn)"

step "stopping writeback run (SIGTERM)"
kill -TERM "$RUN"
rc=0; wait "$RUN" || rc=$?
trap - EXIT
echo "writeback run exited with status $rc; its log:"
grep -E 'level=(INFO|WARN|ERROR) msg=("?round|change|stopped|writeback running)' "$LAB_DIR/run.log" | sed 's/^/  /' | tail -n 20
[[ $rc == 0 ]] || { echo "demo.sh: writeback run exited $rc" >&2; exit 1; }

step "done"
echo "The lab keeps running: 'writeback-lab env' for its settings, 'writeback-lab down' to stop it,"
echo "'writeback status --config $CFG' for the rounds, './scripts/demo.sh' again for a fresh demo."

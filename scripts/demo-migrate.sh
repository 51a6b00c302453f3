#!/usr/bin/env bash
# scripts/demo-migrate.sh - the migration from Connect Sync group writeback v2,
# end to end in the lab, on a fresh Debian 12 machine, as root:
#   ./scripts/demo-migrate.sh
#
# 1. builds bin/writeback (and bin/writeback-lab, the test instruments) and brings up (or resets) the lab with
#    --connect-sync: besides the sample tenant, OU=ConnectSync holds 5 groups
#    as Connect Sync group writeback v2 left them (both CN formats, a
#    mail-enabled and a global group, an anchor conflict, an AD contact the
#    cloud group lacks, a cloud-only member), and the emulator their cloud groups;
# 2. writeback migrate assess: the verdict, with the names of the members who
#    would lose access; then the runbook's fix for the conflict (the stale
#    msDS-ExternalDirectoryObjectId cleared with ldapmodify);
# 3. migrate prepare (journaled), migrate verify (accepting the contact's
#    removal from Payroll with --accept-removals), connect-sync-script;
# 4. migrate handover (its plan: no rename, delete or create), writeback apply,
#    and the CNs before and after: 0 renames, same objectGUIDs;
# 5. a membership change in Entra (the emulator's admin API) flows to AD with
#    the next apply.
#
# Knobs: WRITEBACK_LAB_DIR and WRITEBACK_LAB_ADDR select another lab instance.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH:/usr/sbin:/sbin
command -v go >/dev/null || { echo "demo-migrate.sh: Go not found (expected /usr/local/go/bin/go)" >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if ! command -v curl >/dev/null; then
  [[ $(id -u) == 0 ]] || { echo "demo-migrate.sh: curl missing; run as root or install curl" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl ca-certificates >/dev/null
fi

step "building bin/writeback"
mkdir -p bin
go build -o bin/writeback ./cmd/writeback
go build -o bin/writeback-lab ./cmd/writeback-lab   # the test instruments: lab AD and Graph emulator
W=$PWD/bin/writeback
L=$PWD/bin/writeback-lab

if "$L" env >/dev/null 2>&1; then
  step "writeback-lab --connect-sync reset   (pristine AD and tenant, plus the Connect-Sync-shaped OU)"
  "$L" --connect-sync reset >/dev/null
else
  step "writeback-lab --connect-sync up   (Samba AD DC + Graph emulator + a Connect-Sync-shaped OU)"
  "$L" --connect-sync up >/dev/null
fi
eval "$("$L" env)"
OUT=$LAB_DIR/migrate-demo
rm -rf "$OUT"; mkdir -p "$OUT"
CFG=$OUT/writeback.yaml
"$L" config >"$CFG"
BASE="OU=ConnectSync,$LAB_BASE_DN"
echo "config: $CFG (the output of 'writeback-lab config'); Connect Sync wrote to $BASE"

ldap() {
  local base=$1; shift
  LDAPTLS_CACERT=$LAB_CA_CERT ldapsearch -LLL -o ldif-wrap=no -H "$LAB_LDAPS_URL" -D "$LAB_BIND_DN" \
    -y "$LAB_PASSWORD_FILE.raw" -b "$base" "$@"
}
# cns: "objectGUID CN" of every group in the OU, sorted
cns() { ldap "$BASE" "(objectClass=group)" cn objectGUID | awk '/^dn: /{if(g!="")print g, c; g=""; c=""} /^cn: /{c=substr($0,5)} /^objectGUID:: /{g=$2} END{if(g!="")print g, c}' | sort; }

step "writeback migrate assess --base '$BASE' --html assessment.html"
rc=0
"$W" migrate assess --config "$CFG" --base "$BASE" --html "$OUT/assessment.html" || rc=$?
[[ $rc == 3 ]] || { echo "demo-migrate.sh: assess exited $rc, expected 3 (not ready: a conflict and a member removal)" >&2; exit 1; }

step "the runbook's fix for anchor-conflict: the stale msDS-ExternalDirectoryObjectId on Project Atlas is cleared by hand"
atlas=$(ldap "$BASE" "(&(objectClass=group)(displayName=Project Atlas))" 1.1 | sed -n 's/^dn: //p')
printf 'dn: %s\nchangetype: modify\ndelete: msDS-ExternalDirectoryObjectId\n' "$atlas" |
  LDAPTLS_CACERT=$LAB_CA_CERT ldapmodify -H "$LAB_LDAPS_URL" -D "$LAB_BIND_DN" -y "$LAB_PASSWORD_FILE.raw"

step "writeback migrate prepare --dry-run, then prepare --journal prepare.journal"
"$W" migrate prepare --config "$CFG" --base "$BASE" --dry-run
"$W" migrate prepare --config "$CFG" --base "$BASE" --journal "$OUT/prepare.journal"

step "writeback migrate verify --accept-removals Payroll   (the approver accepts that External Auditor leaves Payroll)"
"$W" migrate verify --config "$CFG" --base "$BASE" --accept-removals Payroll | tail -n 12

step "writeback migrate connect-sync-script   (steps 2-6, for the Connect Sync server)"
"$W" migrate connect-sync-script --ad-connector "$(echo "$LAB_BASE_DN" | sed 's/DC=//g; s/,/./g')" --out "$OUT/migrate-connect-sync.ps1"

cns >"$OUT/cns.before"
step "writeback migrate handover --accept-removals Payroll   (writes the configuration, then its plan must rename, delete and create nothing)"
"$W" migrate handover --config "$CFG" --base "$BASE" --accept-removals Payroll --out "$OUT/writeback.migrated.yaml"

step "writeback apply --config writeback.migrated.yaml --yes"
"$W" apply --config "$OUT/writeback.migrated.yaml" --yes 2>"$OUT/apply.log" | grep -E '^(Plan:|Warnings:|Apply complete)'
cns >"$OUT/cns.after"
if diff -u "$OUT/cns.before" "$OUT/cns.after"; then
  echo "  0 renames: every group keeps its CN and objectGUID ($(wc -l <"$OUT/cns.after") groups in $BASE)"
else
  echo "demo-migrate.sh: a group was renamed or replaced" >&2; exit 1
fi

step "a membership change in Entra: add Yuki Nakamura to Helpdesk Tier 2 (emulator admin API), then writeback apply"
admin() { curl -sS --fail-with-body --cacert "$LAB_EMULATOR_CA" -H 'Content-Type: application/json' "$@"; echo; }
yuki=$(grep -B1 -F '"displayName": "Yuki Nakamura"' "$LAB_EMULATOR_DIR/tenant.json" | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -n1)
helpdesk=$(ldap "$BASE" "(&(objectClass=group)(displayName=Helpdesk Tier 2))" adminDescription | sed -n 's/^adminDescription: Group_//p')
admin -X POST "$LAB_EMULATOR_ADMIN_URL"groups/"$helpdesk"/members -d "{\"ids\":[\"$yuki\"]}" >/dev/null
"$W" apply --config "$OUT/writeback.migrated.yaml" --yes 2>>"$OUT/apply.log" | grep -E '^(Plan:|Apply complete)'
yuki_dn=$(ldap "$LAB_SAMPLE_USERS_OU" "(sAMAccountName=yuki.nakamura)" 1.1 | sed -n 's/^dn: //p')
if [[ -n $(ldap "$BASE" "(&(displayName=Helpdesk Tier 2)(member=$yuki_dn))" 1.1) ]]; then
  echo "  -> in AD: $yuki_dn is a member of Helpdesk Tier 2"
else
  echo "demo-migrate.sh: the member did not reach AD" >&2; exit 1
fi

step "done"
echo "Files in $OUT: assessment.html (the change request), prepare.journal (for 'writeback migrate rollback'),"
echo "migrate-connect-sync.ps1, writeback.migrated.yaml. './scripts/demo-migrate.sh' again starts over."

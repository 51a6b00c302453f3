#!/usr/bin/env bash
# demo-two-dcs.sh: writeback run against the two-DC lab (ad.servers [DC1, DC2]); DC1 is
# stopped while it runs, a new cloud group must reach AD on DC2; DC1 comes back, the
# DCs replicate, and no anchor may be on two groups, no CNF object may exist, on
# either DC. Needs 'writeback-lab up --dcs 2' first (root). Uses WRITEBACK_LAB_DIR /
# WRITEBACK_LAB_ADDR like the lab; bin/writeback and bin/writeback-lab built from this tree.
set -u
cd "$(dirname "$0")/.."
go build -o bin/ ./cmd/writeback ./cmd/writeback-lab || exit 1
work=$(mktemp -d)
bin/writeback-lab config | sed "s#^  url: .*#  servers: ['$(bin/writeback-lab env | sed -n "s/^export LAB_LDAPS_URL='\(.*\)'/\1/p")', 'ldaps://$(bin/writeback-lab env | sed -n "s/^export LAB_ADDR='\(.*\)'/\1/p" | awk -F. '{print $1"."$2"."$3"."$4+1}'):636']#; /^  gcUrl:/d; s#^  path: .*#  path: $work/writeback.db#" >"$work/wb.yaml"
eval "$(bin/writeback-lab env)"
DC2ADDR=$(echo "$LAB_ADDR" | awk -F. '{print $1"."$2"."$3"."$4+1}')
P=$(cat $LAB_PASSWORD_FILE | head -1); B=$LAB_BIND_DN; OU=$LAB_TARGET_OU
A="curl -sS --cacert $LAB_EMULATOR_CA"
rm -f $work/writeback.db
bin/writeback run --config $work/wb.yaml > $work/run.log 2>&1 &
RUN=$!
echo "run pid $RUN"
for i in $(seq 1 60); do grep -q "round" $work/run.log && break; sleep 1; done
sleep 3
echo "--- status before"; bin/writeback status --config $work/wb.yaml 2>&1 | grep -i "domain controller\|provisioned"
U=$($A "${LAB_EMULATOR_ADMIN_URL}tenant" | python3 -c 'import json,sys; t=json.load(sys.stdin); print(t["users"][0]["id"], t["users"][1]["id"])')
set -- $U
DC1PID=$(sed -n 's/^LAB_PID=//p' "$LAB_DIR/lab.env")
echo "--- stopping DC1 (pid $DC1PID)"; kill $DC1PID; sleep 2
G=$($A -X POST "${LAB_EMULATOR_ADMIN_URL}groups" -d "{\"displayName\":\"e2e failover $(date +%s)\",\"securityEnabled\":true}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
$A -X POST "${LAB_EMULATOR_ADMIN_URL}groups/$G/members" -d "{\"ids\":[\"$1\",\"$2\"]}" >/dev/null
echo "new cloud group $G"
for i in $(seq 1 30); do
  n=$(ldapsearch -LLL -x -H ldap://$DC2ADDR -D "$B" -w "$P" -b "$OU" "(msDS-ExternalDirectoryObjectId=Group_$G)" member | grep -c "^member:")
  [[ $n == 2 ]] && { echo "group on DC2 with $n members after ${i}s"; break; }; sleep 1
done
echo "--- status on DC2"; bin/writeback status --config $work/wb.yaml 2>&1 | grep -i "domain controller\|provisioned"
echo "--- DC1 back"; bin/writeback-lab -q up >/dev/null 2>&1; sleep 5
bin/writeback-lab replicate; sleep 6; bin/writeback-lab replicate
for h in "$LAB_ADDR" "$DC2ADDR"; do
  vals=$(ldapsearch -LLL -x -H ldap://$h -D "$B" -w "$P" -b "$OU" "(msDS-ExternalDirectoryObjectId=Group_*)" msDS-ExternalDirectoryObjectId | sed -n 's/^msDS-ExternalDirectoryObjectId: //p')
  total=$(echo "$vals" | grep -c .); dup=$(echo "$vals" | sort | uniq -d | grep -c .)
  cnf=$(ldapsearch -LLL -x -H ldap://$h -D "$B" -w "$P" -b "$OU" "(cn=*CNF:*)" dn | grep -c "^dn:")
  m=$(ldapsearch -LLL -x -H ldap://$h -D "$B" -w "$P" -b "$OU" "(msDS-ExternalDirectoryObjectId=Group_$G)" member | grep -c "^member:")
  echo "DC $h: $total anchored groups, $dup duplicated anchors, $cnf CNF objects, new group members $m"
done
grep -i "moved\|domain controller\|round stopped" $work/run.log | cut -c1-250 | head -8
kill $RUN; wait $RUN 2>/dev/null
# The sample tenant's group IDs are fixed: leave no anchored group in the lab's
# target OU, or tests that provision the sample tenant elsewhere collide with it.
ldapsearch -LLL -o ldif-wrap=no -x -H "ldap://$LAB_ADDR" -D "$B" -w "$P" -b "$OU" "(msDS-ExternalDirectoryObjectId=Group_*)" dn |
  python3 -c 'import sys,base64
for l in sys.stdin:
    l=l.rstrip("\n")
    if l.startswith("dn:: "): print(base64.b64decode(l[5:]).decode())
    elif l.startswith("dn: "): print(l[4:])' >"$work/delete.txt"
ldapdelete -c -x -H "ldap://$LAB_ADDR" -D "$B" -w "$P" -f "$work/delete.txt" && bin/writeback-lab replicate
echo done

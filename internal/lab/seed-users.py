#!/usr/bin/python3
# seed-users.py - add many disabled users straight into a stopped lab DC's sam.ldb.
#
#   seed-users.py SMB_CONF OU PREFIX SAM_PREFIX FROM TO [CHUNK]
#
# Users CN=<PREFIX><i>,<OU> with sAMAccountName <SAM_PREFIX><i> for FROM <= i < TO.
# Goes through Samba's own dsdb module stack (SamDB on the sam.ldb), so objectGUID,
# objectSid (from the DC's RID pool), security descriptors and replication metadata
# are assigned exactly as an LDAP add would; it only skips the LDAP server, its
# per-request transaction and fsync, which is what makes LDAP adds slow (100-200/s).
# Commits every CHUNK users (default 10000): ldb keeps a transaction's index changes
# in memory, and a very large one slows down. Prints "seeded N" per commit on stderr.
import sys
import time

import ldb
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB


def main():
    if len(sys.argv) not in (7, 8):
        sys.exit("usage: seed-users.py SMB_CONF OU PREFIX SAM_PREFIX FROM TO [CHUNK]")
    conf, ou, prefix, sam_prefix = sys.argv[1:5]
    first, last = int(sys.argv[5]), int(sys.argv[6])
    chunk = int(sys.argv[7]) if len(sys.argv) == 8 else 10000
    lp = LoadParm()
    lp.load(conf)
    db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
    try:
        db.add({"dn": ou, "objectClass": "organizationalUnit"})
    except ldb.LdbError as e:
        if e.args[0] != ldb.ERR_ENTRY_ALREADY_EXISTS:
            raise
    start = time.monotonic()
    i = first
    while i < last:
        end = min(i + chunk, last)
        db.transaction_start()
        try:
            for n in range(i, end):
                db.add({
                    "dn": "CN=%s%d,%s" % (prefix, n, ou),
                    "objectClass": ["top", "person", "organizationalPerson", "user"],
                    "sAMAccountName": "%s%d" % (sam_prefix, n),
                    "userAccountControl": "514",  # disabled: no password needed
                })
        except Exception:
            db.transaction_cancel()
            raise
        db.transaction_commit()
        i = end
        el = time.monotonic() - start
        print("seeded %d (%.0f/s)" % (i - first, (i - first) / el if el else 0), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()

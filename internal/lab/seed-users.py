#!/usr/bin/python3
# seed-users.py - add many disabled users straight into a STOPPED lab DC's database.
#
#   seed-users.py SMB_CONF OU PREFIX SAM_PREFIX FROM TO
#
# Creates CN=<PREFIX><i>,<OU> with sAMAccountName <SAM_PREFIX><i> for FROM <= i < TO
# (and the OU if it is missing). Prints "seeded N (R/s)" on stderr now and then.
#
# Why not LDAP, or SamDB.add: both run every add through Samba's dsdb module stack,
# ~7 ms of CPU per user, so 100-200 users/s. Here the first user goes through that
# stack (SamDB) and becomes the template: the others are clones of it written in one
# transaction straight into the domain partition's key-value store, with Samba's
# schema attached so the indexes are built exactly as Samba builds them. Each clone
# gets its own objectGUID, objectSid (RIDs taken from the RID Manager's available
# pool, which is then advanced so the DC never hands them out again), USN and names;
# the security descriptor, replication metadata and everything else are the
# template's, which is what the stack would have produced for the same OU.
# A lab-only shortcut: never run this on a real DC.
import os
import struct
import sys
import time

import ldb
import samba.dsdb
import subprocess
from samba.auth import system_session
from samba.dcerpc import security
from samba.ndr import ndr_pack
from samba.param import LoadParm
from samba.samdb import SamDB


SET_SEQ = """
import sys, tdb
t = tdb.open(sys.argv[1])
t.transaction_start()
if int(t.get(b"SEQ_NUM")) < int(sys.argv[2]):
    t.store(b"SEQ_NUM", sys.argv[2].encode(), tdb.REPLACE)
t.transaction_commit()
"""


CHUNK = int(os.environ.get("SEED_CHUNK", "500"))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def main():
    if len(sys.argv) != 7:
        sys.exit("usage: seed-users.py SMB_CONF OU PREFIX SAM_PREFIX FROM TO")
    conf, ou, prefix, sam_prefix = sys.argv[1:5]
    first, last = int(sys.argv[5]), int(sys.argv[6])
    if last <= first:
        return
    lp = LoadParm()
    lp.load(conf)
    samdb = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
    base = str(samdb.domain_dn())
    domain_sid = samdb.get_domain_sid()
    try:
        samdb.add({"dn": ou, "objectClass": "organizationalUnit"})
    except ldb.LdbError as e:
        if e.args[0] != ldb.ERR_ENTRY_ALREADY_EXISTS:
            raise

    start = time.monotonic()
    # the template, through the whole stack
    tmpl_dn = "CN=%s%d,%s" % (prefix, first, ou)
    samdb.add({
        "dn": tmpl_dn,
        "objectClass": ["top", "person", "organizationalPerson", "user"],
        "sAMAccountName": "%s%d" % (sam_prefix, first),
        "userAccountControl": "514",  # disabled: no password needed
    })
    n = last - first - 1
    if n == 0:
        log("seeded 1")
        return

    part = samdb.search(base="@PARTITION", scope=ldb.SCOPE_BASE, attrs=["partition", "backendStore"])[0]
    store = str(part.get("backendStore", idx=0) or "tdb")
    path = None
    for v in part["partition"]:
        pdn, _, p = str(v).partition(":")
        if ldb.Dn(samdb, pdn) == ldb.Dn(samdb, base):
            path = p
    if path is None:
        sys.exit("seed-users: no partition for %s in @PARTITION" % base)
    if not os.path.isabs(path):
        path = os.path.join(os.path.dirname(lp.private_path("sam.ldb")), path)
    url = ("mdb://" if store == "mdb" else "tdb://") + path

    # no modules: writes go straight to the key-value store; Samba's schema gives
    # the attribute syntaxes the index keys are canonicalised with
    raw = samba.Ldb(url=url, lp=lp, options=["modules:"])
    samba.dsdb._dsdb_set_schema_from_ldb(raw, samdb)
    tmpl = raw.search(base=tmpl_dn, scope=ldb.SCOPE_BASE, attrs=["*"])[0]
    skip = {"dn", "distinguishedname", "cn", "name", "samaccountname", "objectguid",
            "objectsid", "usncreated", "usnchanged"}
    common = {k: tmpl[k] for k in tmpl.keys() if k.lower() not in skip}

    meta_path = os.path.join(os.path.dirname(path), "metadata.tdb")
    # before our transaction: samdb's read locks would wait for it forever
    usn = samdb.sequence_number(ldb.SEQ_HIGHEST_SEQ)
    raw.transaction_start()
    try:
        rid_dn = "CN=RID Manager$,CN=System," + base
        pool = int(str(raw.search(base=rid_dn, scope=ldb.SCOPE_BASE, attrs=["rIDAvailablePool"])[0]["rIDAvailablePool"][0]))
        rid_lo, rid_hi = pool & 0xFFFFFFFF, pool >> 32
        if rid_lo + n > rid_hi:
            sys.exit("seed-users: RID pool exhausted")
        # reserve the RIDs and USNs first: an interrupted run leaves gaps, never reuses one
        m = ldb.Message(ldb.Dn(raw, rid_dn))
        m["rIDAvailablePool"] = ldb.MessageElement(str(rid_hi << 32 | (rid_lo + n)), ldb.FLAG_MOD_REPLACE, "rIDAvailablePool")
        raw.modify(m)
        m = ldb.Message(ldb.Dn(raw, "@REPLCHANGED"))
        m["uSNHighest"] = ldb.MessageElement(str(usn + n), ldb.FLAG_MOD_REPLACE, "uSNHighest")
        raw.modify(m)
        raw.transaction_commit()
    except BaseException:
        raw.transaction_cancel()
        raise
    subprocess.run([sys.executable, "-c", SET_SEQ, meta_path, str(usn + n)], check=True)
    raw.transaction_start()
    try:
        # ever-growing GUIDs: ldb keeps index lists sorted by GUID, so appending at
        # the end avoids moving the list on every add
        guid_base = time.time_ns() << 64 | 0xFF << 120
        t0 = time.monotonic()
        for k in range(n):
            i = first + 1 + k
            m = ldb.Message(ldb.Dn(raw, "CN=%s%d,%s" % (prefix, i, ou)))
            for a, el in common.items():
                m[a] = el
            cn = "%s%d" % (prefix, i)
            m["cn"] = ldb.MessageElement(cn, ldb.FLAG_MOD_ADD, "cn")
            m["name"] = ldb.MessageElement(cn, ldb.FLAG_MOD_ADD, "name")
            m["sAMAccountName"] = ldb.MessageElement("%s%d" % (sam_prefix, i), ldb.FLAG_MOD_ADD, "sAMAccountName")
            g = (guid_base + k).to_bytes(16, "big")
            m["objectGUID"] = ldb.MessageElement(g, ldb.FLAG_MOD_ADD, "objectGUID")
            sid = security.dom_sid("%s-%d" % (domain_sid, rid_lo + k))
            m["objectSid"] = ldb.MessageElement(ndr_pack(sid), ldb.FLAG_MOD_ADD, "objectSid")
            u = str(usn + 1 + k)
            m["uSNCreated"] = ldb.MessageElement(u, ldb.FLAG_MOD_ADD, "uSNCreated")
            m["uSNChanged"] = ldb.MessageElement(u, ldb.FLAG_MOD_ADD, "uSNChanged")
            raw.add(m)
            if (k + 1) % CHUNK == 0:
                # ldb merges each add's index changes into the transaction's, at a
                # cost that grows with the transaction: commit often
                raw.transaction_commit()
                raw.transaction_start()
            if (k + 1) % 10000 == 0:
                log("seeded %d (%.0f/s)" % (k + 2, (k + 1) / (time.monotonic() - t0)))
        raw.transaction_commit()
    except BaseException:
        raw.transaction_cancel()
        raise
    el = time.monotonic() - start
    log("seeded %d in %.1fs (%.0f/s)" % (n + 1, el, (n + 1) / el))


if __name__ == "__main__":
    main()

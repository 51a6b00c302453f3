#!/usr/bin/python3
# seed-users.py - add many disabled users straight into a STOPPED lab DC's database.
#
#   seed-users.py SMB_CONF OU PREFIX SAM_PREFIX FROM TO [DIGITS]
#
# Creates CN=<PREFIX><i>,<OU> with sAMAccountName <SAM_PREFIX><i>, displayName
# <PREFIX><i> and userPrincipalName <SAM_PREFIX><i>@<dns domain> for FROM <= i < TO
# (i zero-padded to DIGITS digits; the OU is created if missing). Prints
# "seeded N (R/s)" on stderr now and then.
#
# Why not LDAP, or SamDB.add: both run every add through Samba's dsdb module stack,
# ~7 ms of CPU per user, so 100-200 users/s. Here the first user goes through that
# stack (SamDB) and becomes the template: the others are clones of it written
# straight into the domain partition's key-value store, with Samba's schema
# attached so the indexes are built exactly as Samba builds them. Each clone gets
# its own objectGUID, objectSid (RIDs taken from the RID Manager's available pool,
# which is then advanced so the DC never hands them out again), USN (also in its
# replication metadata) and names; the security descriptor and everything else
# are the template's, which is what the stack would have produced for the same OU.
# A lab-only shortcut: never run this on a real DC.
#
# Speed: ldb keeps one index record per indexed value, holding the sorted GUIDs of
# every object with that value (objectClass=user, objectCategory, sAMAccountType,
# primaryGroupID, userAccountControl, the OU's one-level index, ...). By default
# every add runs in a nested transaction that first copies each of those lists,
# GUID by GUID, so an add costs O(domain size) and seeding O(n^2) (34-70 users/s
# at 20-50k users). ldb's batch_mode option drops the nested transactions (a
# failed add then fails the whole transaction, which is all we want): an add
# appends to the lists in place, and the lists are written once per commit.
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

# Users per transaction: a commit writes every index list touched (the big ones
# are 16 bytes per user), and the transaction's index cache and dirty pages stay
# in memory until then (~2 KiB per user).
CHUNK = int(os.environ.get("SEED_CHUNK", "25000"))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def main():
    if len(sys.argv) not in (7, 8):
        sys.exit("usage: seed-users.py SMB_CONF OU PREFIX SAM_PREFIX FROM TO [DIGITS]")
    conf, ou, prefix, sam_prefix = sys.argv[1:5]
    first, last = int(sys.argv[5]), int(sys.argv[6])
    digits = int(sys.argv[7]) if len(sys.argv) == 8 else 0
    if last <= first:
        return
    fmt = "%%0%dd" % digits if digits > 0 else "%d"
    lp = LoadParm()
    lp.load(conf)
    samdb = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
    base = str(samdb.domain_dn())
    domain_sid = samdb.get_domain_sid()
    upn_suffix = "@" + samdb.domain_dns_name()
    try:
        samdb.add({"dn": ou, "objectClass": "organizationalUnit"})
    except ldb.LdbError as e:
        if e.args[0] != ldb.ERR_ENTRY_ALREADY_EXISTS:
            raise

    start = time.monotonic()
    # the template, through the whole stack
    cn0, sam0 = prefix + fmt % first, sam_prefix + fmt % first
    tmpl_dn = "CN=%s,%s" % (cn0, ou)
    samdb.add({
        "dn": tmpl_dn,
        "objectClass": ["top", "person", "organizationalPerson", "user"],
        "sAMAccountName": sam0,
        "displayName": cn0,
        "userPrincipalName": sam0 + upn_suffix,
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

    # No modules: writes go straight to the key-value store; Samba's schema gives
    # the attribute syntaxes the index keys are canonicalised with. batch_mode: no
    # nested transaction per add (see the top). The index cache is a hash table
    # of every index record the transaction touches (~10 per user).
    chunk = max(1, min(CHUNK, n))
    raw = samba.Ldb(url=url, lp=lp, flags=ldb.FLG_NOSYNC,
                    options=["modules:", "batch_mode:1",
                             "transaction_index_cache_size:%d" % (chunk * 12 + 1000)])
    samba.dsdb._dsdb_set_schema_from_ldb(raw, samdb)
    tmpl = raw.search(base=tmpl_dn, scope=ldb.SCOPE_BASE, attrs=["*"])[0]
    skip = {"dn", "distinguishedname", "cn", "name", "samaccountname", "objectguid",
            "objectsid", "usncreated", "usnchanged", "displayname", "userprincipalname",
            "replpropertymetadata"}
    common = [(k, tmpl[k]) for k in tmpl.keys() if k.lower() not in skip]

    # replPropertyMetaDataBlob v1: 16-byte header, then 48-byte entries whose
    # originating_usn and local_usn (at +32, +40) are the template's USN: give
    # each clone its own
    tmpl_usn = int(str(tmpl["uSNChanged"][0]))
    meta = bytes(tmpl["replPropertyMetaData"][0])
    version, _, count, _ = struct.unpack_from("<IIII", meta, 0)
    if version != 1 or len(meta) != 16 + 48 * count:
        sys.exit("seed-users: unexpected replPropertyMetaData layout (version %d, %d bytes)" % (version, len(meta)))
    usn_offsets = []
    for i in range(count):
        for off in (16 + 48 * i + 32, 16 + 48 * i + 40):
            if struct.unpack_from("<Q", meta, off)[0] == tmpl_usn:
                usn_offsets.append(off)

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

    # ever-growing GUIDs: ldb keeps index lists sorted by GUID, so each add appends
    # at the end instead of moving the list
    guid_base = time.time_ns() << 64 | 0xFF << 120
    sid_prefix = "%s-" % domain_sid
    add = raw.add
    t0 = time.monotonic()
    done = 0
    while done < n:
        end = min(n, done + chunk)
        raw.transaction_start()
        try:
            for k in range(done, end):
                i = first + 1 + k
                cn = prefix + fmt % i
                sam = sam_prefix + fmt % i
                m = ldb.Message(ldb.Dn(raw, "CN=%s,%s" % (cn, ou)))
                for a, el in common:
                    m[a] = el
                m["cn"] = ldb.MessageElement(cn, ldb.FLAG_MOD_ADD, "cn")
                m["name"] = ldb.MessageElement(cn, ldb.FLAG_MOD_ADD, "name")
                m["displayName"] = ldb.MessageElement(cn, ldb.FLAG_MOD_ADD, "displayName")
                m["sAMAccountName"] = ldb.MessageElement(sam, ldb.FLAG_MOD_ADD, "sAMAccountName")
                m["userPrincipalName"] = ldb.MessageElement(sam + upn_suffix, ldb.FLAG_MOD_ADD, "userPrincipalName")
                m["objectGUID"] = ldb.MessageElement((guid_base + k).to_bytes(16, "big"), ldb.FLAG_MOD_ADD, "objectGUID")
                sid = security.dom_sid(sid_prefix + str(rid_lo + k))
                m["objectSid"] = ldb.MessageElement(ndr_pack(sid), ldb.FLAG_MOD_ADD, "objectSid")
                u = usn + 1 + k
                m["uSNCreated"] = ldb.MessageElement(str(u), ldb.FLAG_MOD_ADD, "uSNCreated")
                m["uSNChanged"] = ldb.MessageElement(str(u), ldb.FLAG_MOD_ADD, "uSNChanged")
                b = bytearray(meta)
                for off in usn_offsets:
                    struct.pack_into("<Q", b, off, u)
                m["replPropertyMetaData"] = ldb.MessageElement(bytes(b), ldb.FLAG_MOD_ADD, "replPropertyMetaData")
                add(m)
            raw.transaction_commit()
        except BaseException:
            raw.transaction_cancel()
            raise
        done = end
        el = time.monotonic() - t0
        log("seeded %d (%.0f/s)" % (done + 1, done / el))
    el = time.monotonic() - start
    log("seeded %d in %.1fs (%.0f/s)" % (n + 1, el, (n + 1) / el))


if __name__ == "__main__":
    main()

"""Helpers for the newlyAdded, too-stale and trimmed-oplog tests.

data_hash hashes every document of every user database (everything but
admin, config and local) by _id order, so two members with the same hash hold
the same data. fill writes about `mb` megabytes of incompressible documents
through the primary. oplog_first_ts is the oldest entry a member's oplog still
holds. stored_config reads the config as the member stored it
(local.system.replset), with the server-internal newlyAdded fields that
replSetGetConfig hides. start_member starts an extra empty tallyd of the set
(not yet in the config) with more flags."""
import hashlib
import os

import bson
import pymongo

from conftest import Server, SECONDARY

TEST_ARGS = ["--setParameter", "enableTestCommands=1"]


def data_hash(client):
    h = hashlib.sha256()
    for dbname in sorted(client.list_database_names()):
        if dbname in ("admin", "config", "local"):
            continue
        db = client[dbname]
        for name in sorted(db.list_collection_names()):
            h.update(("%s.%s" % (dbname, name)).encode())
            for d in db[name].find({}, sort=[("_id", 1)]):
                h.update(bson.encode(d))
    return h.hexdigest()


def fill(client, mb, coll="fill", db="stale", start=0, doc_kb=8, w=None):
    """Inserts mb megabytes in docs of doc_kb KB; returns the next _id."""
    c = client[db].get_collection(coll) if w is None else \
        client[db].get_collection(coll, write_concern=pymongo.WriteConcern(w=w, wtimeout=60000))
    n = mb * 1024 // doc_kb
    k = start
    while k < start + n:
        batch = [{"_id": i, "pad": os.urandom(doc_kb * 1024)} for i in range(k, min(k + 32, start + n))]
        c.insert_many(batch)
        k += len(batch)
    return k


def oplog_first_ts(client):
    e = client.local.oplog.rs.find_one({}, sort=[("$natural", 1)])
    return e["ts"] if e else None


def stored_config(rs, i):
    docs = list(rs.direct(i).local.system.replset.find({}))
    assert len(docs) == 1, docs
    return docs[0]


def newly_added_ids(cfg):
    return [m["_id"] for m in cfg["members"] if m.get("newlyAdded")]


def start_member(rs, extra_args=()):
    """An extra empty tallyd of the set, started (not yet in the config)."""
    s = Server(extra_args=["--replSet", rs.name] + list(extra_args))
    rs.members.append(s)
    s.start()
    return len(rs.members) - 1


def wait_caught_up(rs, i, timeout_s=120):
    """Member i is SECONDARY and has the primary's newest optime."""
    def done():
        p = rs.primaries()
        if len(p) != 1:
            return False
        s = rs.try_command(i, {"replSetGetStatus": 1}, timeout_s=2)
        ps = rs.try_command(p[0], {"replSetGetStatus": 1}, timeout_s=2)
        if not s or not ps or s.get("myState") != SECONDARY or ps.get("ok") != 1:
            return False
        return s["optimes"]["appliedOpTime"] == ps["optimes"]["appliedOpTime"]
    rs.wait_until("member %d catches up" % i, done, timeout_s)

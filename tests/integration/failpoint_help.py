"""Helpers for the fault tests: replica sets whose members accept the test
commands, fail point shortcuts, and the consistency checks run after crashes.

oplog_replay_ids(client, db, coll) replays a member's own oplog for one
collection (inserts add the _id, deletes remove it, a drop of the collection
or its database empties the set) and data_matches_oplog compares that with
the _ids the member actually holds. A member whose data committed without its
oplog entry (or the reverse) fails it; so does a member that applied a delete
twice or lost an insert. lmdb_check runs mdb_stat over a data directory: it
reads every sub-database's B-tree header and fails on a damaged file.
"""
import os
import shutil
import subprocess

from conftest import ReplSet, Server

TEST_ARGS = ["--setParameter", "enableTestCommands=1"]


def test_replset(n=3, **kwargs):
    """A ReplSet (not started) whose members run with enableTestCommands=1."""
    rs = ReplSet(n=n, **kwargs)
    for m in rs.members:
        m.extra_args += TEST_ARGS
    return rs


test_replset.__test__ = False  # a factory, not a test


def test_server():
    s = Server(extra_args=list(TEST_ARGS))
    return s


test_server.__test__ = False


def fp(rs, i, name, mode, data=None):
    """configureFailPoint on member i; returns the reply (asserts ok)."""
    doc = {"configureFailPoint": name, "mode": mode}
    if data is not None:
        doc["data"] = data
    r = rs.command(i, doc)
    assert r.get("ok") == 1, r
    return r


def oplog_replay_ids(client, db, coll):
    ns = "%s.%s" % (db, coll)
    ids = {}
    for e in client.local["oplog.rs"].find({}, sort=[("$natural", 1)]):
        op = e.get("op")
        if op == "i" and e.get("ns") == ns:
            ids[repr(e["o"]["_id"])] = e["o"]["_id"]
        elif op == "d" and e.get("ns") == ns:
            ids.pop(repr(e["o"]["_id"]), None)
        elif op == "c" and e.get("ns") == db + ".$cmd":
            o = e.get("o", {})
            if o.get("drop") == coll or "dropDatabase" in o:
                ids.clear()
    return set(ids)


def data_matches_oplog(client, db, coll):
    """(ok, detail): the member's _ids equal its oplog's replay."""
    replay = oplog_replay_ids(client, db, coll)
    data = {repr(d["_id"]) for d in client[db][coll].find({}, {"_id": 1})}
    if data == replay:
        return True, "%d documents" % len(data)
    return False, "in data only: %s; in oplog only: %s" % (sorted(data - replay)[:10], sorted(replay - data)[:10])


def lmdb_check(dbpath):
    """Runs mdb_stat -a on dbpath; returns its output (asserts exit 0)."""
    exe = shutil.which("mdb_stat")
    assert exe, "mdb_stat (lmdb-utils) is not installed"
    p = subprocess.run([exe, "-a", dbpath], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, "mdb_stat failed on %s:\n%s" % (dbpath, out)
    assert "Entries" in out, out
    return out


def lmdb_entries(path, sub_db):
    """Entries of one named sub-database of the LMDB environment at path."""
    exe = shutil.which("mdb_stat")
    p = subprocess.run([exe, "-s", sub_db, path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Entries:"):
            return int(line.split(":")[1])
    raise AssertionError("no Entries line in mdb_stat output:\n" + out)


def emulate_power_loss(dbpath):
    """After kill -9: replaces the data file with the writerSkipFsync snapshot
    (the state as of the last fsync), as a machine crash would have left it."""
    snap = os.path.join(dbpath, "unsynced-snapshot", "data.mdb")
    assert os.path.exists(snap), "no unsynced snapshot in %s" % dbpath
    os.replace(snap, os.path.join(dbpath, "data.mdb"))
    lock = os.path.join(dbpath, "lock.mdb")
    if os.path.exists(lock):
        os.unlink(lock)
    shutil.rmtree(os.path.join(dbpath, "unsynced-snapshot"))

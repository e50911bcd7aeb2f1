"""Snapshot-based initial sync, resync and the tallySnapshot command.

A member added to a set holding data copies a consistent snapshot of a
healthy member (tallySnapshot), restarts itself with it and then fetches the
oplog from the snapshot's optime; its data must end equal to the primary's,
also when writes go on during the copy, when it is killed mid-copy, and when
the set's oplog no longer starts at the beginning. The snapshot command's
edge cases are checked on its own."""
import hashlib
import os
import subprocess
import threading
import time

import bson
import pymongo
import pytest

from conftest import ReplSet, Server, PRIMARY, SECONDARY
from members_help import reconfig, new_member, member_entry

STARTUP2, RECOVERING, ARBITER = 5, 3, 7


def data_hash(client, dbname="test"):
    """A hash of every document of every collection of dbname, by _id order."""
    h = hashlib.sha256()
    db = client[dbname]
    for name in sorted(db.list_collection_names()):
        h.update(name.encode())
        for d in db[name].find({}, sort=[("_id", 1)]):
            h.update(bson.encode(d))
    return h.hexdigest()


def add_member(rs, **opts):
    i = new_member(rs)
    p = rs.wait_primary()
    ids = None

    def change(cfg):
        nonlocal ids
        ids = max(m["_id"] for m in cfg["members"]) + 1
        cfg["members"].append(member_entry(rs, i, ids, **opts))
    r = reconfig(rs, p, change)
    assert r.get("ok") == 1, r
    return i


def wait_caught_up(rs, i, timeout_s=90):
    """Member i is SECONDARY and has the primary's newest optime."""
    def done():
        p = rs.primaries()
        if len(p) != 1:
            return False
        s = rs.try_command(i, {"replSetGetStatus": 1}, timeout_s=2)
        ps = rs.try_command(p[0], {"replSetGetStatus": 1}, timeout_s=2)
        if not s or not ps or s.get("myState") != SECONDARY:
            return False
        return s["optimes"]["appliedOpTime"] == ps["optimes"]["appliedOpTime"]
    rs.wait_until("member %d catches up" % i, done, timeout_s)


def stream_snapshot(client, chunk=None):
    cmd = {"tallySnapshot": 1}
    if chunk:
        cmd["chunkBytes"] = chunk
    r = client.admin.command(cmd)
    meta = r["cursor"]["firstBatch"][0]["meta"]
    cid = r["cursor"]["id"]
    data, end, seq = [], None, 0
    while cid:
        g = client.admin.command({"getMore": cid, "collection": "$snapshot"})
        cid = g["cursor"]["id"]
        for ch in g["cursor"]["nextBatch"]:
            if "data" in ch:
                assert ch["seq"] == seq
                seq += 1
                data.append(bytes(ch["data"]))
            else:
                end = ch
    return meta, b"".join(data), end


@pytest.fixture
def rs_data(replset):
    rs = replset(3)
    c = rs.client()
    c.test.big.insert_many([{"_id": i, "pad": "x" * 500, "n": i} for i in range(5000)])
    c.test.small.insert_one({"_id": "a"})
    c.test.big.create_index("n")
    return rs


def test_snapshot_stream_matches_its_checksum_and_opens_as_a_data_directory(rs_data):
    rs = rs_data
    p = rs.wait_primary()
    meta, data, end = stream_snapshot(rs.direct(p), chunk=65536)
    assert meta["format"] == "tally-lmdb-1"
    assert meta["setName"] == "rs0"
    assert isinstance(meta["dataSize"], int) and meta["dataSize"] > 0
    assert end["end"] is True and end["bytes"] == len(data)
    assert end["sha256"] == hashlib.sha256(data).hexdigest()
    # The optime is exactly the newest oplog entry of the copy.
    s = Server()
    try:
        with open(os.path.join(s.dbpath, "data.mdb"), "wb") as f:
            f.write(data)
        s.start()
        c = s.client()
        assert c.test.big.count_documents({}) == 5000
        last = c.local.oplog.rs.find_one(sort=[("$natural", -1)])
        assert last["ts"] == meta["optime"]["ts"] and last["t"] == meta["optime"]["t"]
        s.stop()
    finally:
        s.cleanup()


def test_snapshot_refuses_bad_chunk_sizes_and_an_arbiter(replset):
    rs = replset(3, up=False, members=[{}, {}, {"arbiterOnly": True}])
    rs.initiate()
    p = rs.wait_primary(30)
    for bad in (1024, 65535, 16 * 1024 * 1024 + 1, -1):
        r = rs.command(p, {"tallySnapshot": 1, "chunkBytes": bad})
        assert r["ok"] == 0 and r["code"] == 2, r
    r = rs.command(p, {"tallySnapshot": 1, "chunkBytes": "big"})
    assert r["ok"] == 0 and r["code"] == 14, r
    rs.wait_state(2, ARBITER)
    r = rs.command(2, {"tallySnapshot": 1})
    assert r["ok"] == 0 and "arbiter" in r["errmsg"], r
    r = rs.command(p, {"tallySnapshot": 1}, db="test")
    assert r["ok"] == 0, r


def test_snapshot_kill_cursors_mid_stream_and_the_concurrency_limit(rs_data):
    rs = rs_data
    p = rs.wait_primary()
    c = rs.direct(p)
    ids = []
    for _ in range(3):
        r = c.admin.command({"tallySnapshot": 1, "chunkBytes": 65536})
        ids.append(r["cursor"]["id"])
    r = rs.command(p, {"tallySnapshot": 1})
    assert r["ok"] == 0 and "too many snapshots" in r["errmsg"], r
    g = c.admin.command({"getMore": ids[0], "collection": "$snapshot", "batchSize": 1})
    assert g["cursor"]["id"] == ids[0] and len(g["cursor"]["nextBatch"]) == 1
    assert g["cursor"]["nextBatch"][0]["seq"] == 0
    k = c.admin.command({"killCursors": "$snapshot", "cursors": ids})
    assert sorted(k["cursorsKilled"]) == sorted(ids)
    with pytest.raises(pymongo.errors.OperationFailure) as ex:
        c.admin.command({"getMore": ids[0], "collection": "$snapshot"})
    assert ex.value.code == 43
    # Slots are free again; two at once both complete and agree.
    results = []

    def one():
        results.append(stream_snapshot(rs.direct(p)))
    ts = [threading.Thread(target=one) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert len(results) == 2
    for meta, data, end in results:
        assert end["sha256"] == hashlib.sha256(data).hexdigest()
    # Writes still work after all that.
    rs.client().test.after.insert_one({"_id": 1})


def test_closing_the_connection_stops_the_copy(rs_data):
    rs = rs_data
    p = rs.wait_primary()
    for _ in range(2):
        c = pymongo.MongoClient(rs.host(p), directConnection=True)
        c.admin.command({"tallySnapshot": 1, "chunkBytes": 65536})
        c.close()
    # The slots come back once the reaper sees the connections closed.
    deadline = time.monotonic() + 20
    ok = 0
    while time.monotonic() < deadline:
        got = []
        for _ in range(3):
            r = rs.command(p, {"tallySnapshot": 1, "chunkBytes": 65536})
            got.append(r)
        ok = sum(1 for r in got if r["ok"] == 1)
        for r in got:
            if r["ok"] == 1:
                rs.command(p, {"killCursors": "$snapshot", "cursors": [r["cursor"]["id"]]})
        if ok == 3:
            break
        time.sleep(0.5)
    assert ok == 3
    assert "stopped: its connection closed" in rs.members[p].log_text()


def test_a_new_member_copies_a_snapshot_while_writes_go_on_and_catches_up(rs_data):
    rs = rs_data
    c = rs.client()
    stop = threading.Event()
    n_written = [0]

    def writer():
        k = 0
        while not stop.is_set():
            try:
                c.test.live.insert_one({"_id": k, "pad": "y" * 200})
                k += 1
                n_written[0] = k
            except pymongo.errors.PyMongoError:
                time.sleep(0.05)
    t = threading.Thread(target=writer)
    t.start()
    try:
        i = add_member(rs)
        rs.wait_until("member %d starts copying" % i,
                      lambda: "initial sync: copying a snapshot" in rs.members[i].log_text(), 60)
        time.sleep(1.0)
    finally:
        stop.set()
        t.join(30)
    assert n_written[0] > 0
    wait_caught_up(rs, i)
    p = rs.wait_primary()
    log = rs.members[i].log_text()
    assert "Restarting (re-exec) to swap in the initial sync copy" in log
    assert "the copy replaced the data files" in log
    assert data_hash(rs.direct(i)) == data_hash(rs.direct(p))
    assert rs.direct(i).test.live.count_documents({}) == n_written[0]
    # Its vote was not copied from the source: it never voted.
    assert not os.path.exists(os.path.join(rs.members[i].dbpath, "initialsync.pending"))
    assert not os.path.exists(os.path.join(rs.members[i].dbpath, "initialsync"))
    # Replication goes on from the snapshot's optime.
    c.test.later.insert_one({"_id": 1})
    rs.wait_converged("test", "later", [1])


def test_a_member_killed_mid_copy_restarts_the_initial_sync_and_ends_consistent(replset):
    rs = replset(3)
    c = rs.client()
    # Large enough that the copy takes a moment.
    for b in range(20):
        c.test.big.insert_many([{"_id": b * 1000 + k, "pad": os.urandom(2000)} for k in range(1000)])
    i = new_member(rs)
    p = rs.wait_primary()
    # Killed as soon as the first bytes are on disk: ~40 MB are still to come.
    reconfig(rs, p, lambda cfg: cfg["members"].append(member_entry(rs, i, 10)))
    dbpath = rs.members[i].dbpath

    def copying():
        f = os.path.join(dbpath, "initialsync", "data.mdb")
        return os.path.exists(f) and os.path.getsize(f) > 0
    rs.wait_until("member copies", copying, 60, interval_s=0.01)
    rs.kill9(i)
    assert os.path.exists(os.path.join(dbpath, "initialsync.pending"))
    rs.members[i].start()
    wait_caught_up(rs, i)
    assert data_hash(rs.direct(i)) == data_hash(rs.direct(p))
    assert not os.path.exists(os.path.join(dbpath, "initialsync.pending"))
    # The second start found the copy unfinished (no READY) and began again.
    log = rs.members[i].log_text()
    assert "removing an unfinished copy" in log or "the copy replaced the data files" in log


def test_status_shows_initial_sync_progress(rs_data):
    rs = rs_data
    i = add_member(rs)
    seen = []

    def has_status():
        s = rs.try_command(i, {"replSetGetStatus": 1}, timeout_s=1)
        if s and s.get("ok") == 1 and "initialSyncStatus" in s:
            seen.append(s["initialSyncStatus"])
        return bool(seen) or (s is not None and s.get("myState") == SECONDARY)
    rs.wait_until("status while syncing", has_status, 60, interval_s=0.02)
    wait_caught_up(rs, i)
    if seen:
        st = seen[0]
        assert st["maxFailedInitialSyncAttempts"] == 10
        assert "failedInitialSyncAttempts" in st


def tally_binary():
    path = os.environ.get("TALLY", "bin/tally")
    return path if os.path.isabs(path) else os.path.join(os.path.dirname(__file__), "..", "..", path)


def test_tally_resync_refuses_bad_usage():
    out = subprocess.run([tally_binary(), "resync"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "--host" in out.stderr


def test_tally_resync_brings_back_a_member(rs_data):
    rs = rs_data
    p = rs.wait_primary()
    s = (p + 1) % 3
    r = rs.command(p, {"resync": 1})
    assert r["ok"] == 0 and r["code"] == 20, r
    rs.client().test.more.insert_one({"_id": 7})
    out = subprocess.run([tally_binary(), "resync", "--host", rs.host(s), "--timeout", "120"],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "resync started" in out.stdout and "SECONDARY again" in out.stdout
    wait_caught_up(rs, s)
    assert "Restarting (re-exec)" in rs.members[s].log_text()
    assert data_hash(rs.direct(s)) == data_hash(rs.direct(p))

"""Crash recovery of a replica set under load.

A 3-member set (fast timers) takes inserts from 4 writer threads (pymongo,
w:"majority", retryable writes) while members are killed with kill -9: each
member in turn (restarted, and rejoined before the next), then all three at
once. After the writers stop and the set converges:
  - every acknowledged insert is on every member (none lost), and no member
    holds an _id that no writer ever sent;
  - every member's data equals the replay of its own oplog for the
    collection (failpoint_help.data_matches_oplog: inserts add, deletes
    remove, drops clear), so data and oplog committed together;
  - mdb_stat reads every sub-database of every member's data file.
A second test emulates a machine crash that loses un-fsynced writes: with
the writerSkipFsync fail point on a secondary, its commits are acknowledged
but not fsync'd; after kill -9 its data file is replaced by the last synced
state (fewer records, checked), and the member must recover consistently and
catch up again without any acknowledged write going missing.
"""
import threading
import time

import pymongo
from pymongo.write_concern import WriteConcern

from failpoint_help import data_matches_oplog, emulate_power_loss, fp, lmdb_check, lmdb_entries, test_replset

DB, COLL = "crash", "docs"


class Writers:
    """n threads inserting unique _ids with w:majority through one client."""

    def __init__(self, rs, n=4):
        self.client = rs.client(retryWrites=True, serverSelectionTimeoutMS=30000, socketTimeoutMS=20000)
        self.coll = self.client[DB][COLL].with_options(write_concern=WriteConcern(w="majority", wtimeout=20000))
        self.acked, self.attempted = set(), set()
        self.n_errors = 0
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(t,), daemon=True) for t in range(n)]

    def run(self, t):
        seq = 0
        while not self.stop_ev.is_set():
            _id = "w%d-%d" % (t, seq)
            seq += 1
            with self.lock:
                self.attempted.add(_id)
            try:
                self.coll.insert_one({"_id": _id, "t": t})
                with self.lock:
                    self.acked.add(_id)
            except pymongo.errors.PyMongoError:
                # Outcome unknown (digest 3.7): the insert may or may not exist.
                with self.lock:
                    self.n_errors += 1
                time.sleep(0.05)

    def start(self):
        for th in self.threads:
            th.start()
        return self

    def wait_progress(self, n_more, timeout_s=30):
        with self.lock:
            target = len(self.acked) + n_more
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.acked) >= target:
                    return
            time.sleep(0.05)
        raise AssertionError("writers made no progress (%d acknowledged, %d errors)" % (len(self.acked),
                                                                                          self.n_errors))

    def stop(self):
        self.stop_ev.set()
        for th in self.threads:
            th.join(60)


def check_member(rs, i, acked, attempted):
    c = rs.direct(i)
    ids = {d["_id"] for d in c[DB][COLL].find({}, {"_id": 1})}
    lost = acked - ids
    assert not lost, "member %d lost %d acknowledged writes, e.g. %s" % (i, len(lost), sorted(lost)[:5])
    invented = ids - attempted
    assert not invented, "member %d holds writes nobody sent: %s" % (i, sorted(invented)[:5])
    ok, detail = data_matches_oplog(c, DB, COLL)
    assert ok, "member %d: data and oplog disagree: %s" % (i, detail)
    lmdb_check(rs.members[i].dbpath)


def rejoin(rs, timeout_s=40):
    rs.wait_primary(timeout_s)
    rs.wait_all_secondaries(timeout_s)


def test_no_acknowledged_write_is_lost_when_members_are_killed_in_turn_and_all_at_once():
    rs = test_replset(3)
    try:
        rs.up()
        w = Writers(rs).start()
        try:
            w.wait_progress(30)
            for i in range(3):
                rs.kill9(i)
                w_before = len(w.acked)
                rs.members[i].start()
                rejoin(rs)
                w.wait_progress(20)
                assert len(w.acked) > w_before
            for i in range(3):
                rs.kill9(i)
            for i in range(3):
                rs.members[i].start()
            rejoin(rs)
            w.wait_progress(20)
        finally:
            w.stop()
        with w.lock:
            acked, attempted = set(w.acked), set(w.attempted)
        assert len(acked) >= 100, "too little load to mean anything: %d" % len(acked)
        rs.wait_converged(DB, COLL, timeout_s=40)
        for i in range(3):
            check_member(rs, i, acked, attempted)
    finally:
        rs.cleanup()


def test_a_secondary_that_loses_unsynced_writes_recovers_consistently():
    rs = test_replset(3)
    try:
        p = rs.up()
        s = [i for i in range(3) if i != p][0]
        w = Writers(rs, n=2).start()
        try:
            w.wait_progress(20)
            fp(rs, s, "writerSkipFsync", "alwaysOn")
            w.wait_progress(100)
            dbpath = rs.members[s].dbpath
            rs.kill9(s)
            # The crash really loses data: the synced snapshot holds fewer records.
            assert lmdb_entries(dbpath + "/unsynced-snapshot", "records") < lmdb_entries(dbpath, "records")
            emulate_power_loss(dbpath)
            lmdb_check(dbpath)
            rs.members[s].start()
            rejoin(rs)
            w.wait_progress(20)
        finally:
            w.stop()
        with w.lock:
            acked, attempted = set(w.acked), set(w.attempted)
        rs.wait_converged(DB, COLL, timeout_s=40)
        for i in range(3):
            check_member(rs, i, acked, attempted)
    finally:
        rs.cleanup()


def test_the_oplog_check_catches_data_without_its_oplog_entry():
    """The consistency check can fail: a document written only to a member's
    data (a standalone-style write with the oplog hook off is impossible
    through the API, so the check is run against a crafted view)."""
    class FakeColl:
        def __init__(self, docs):
            self.docs = docs

        def find(self, *a, **k):
            return iter(self.docs)

    class FakeDb(dict):
        pass

    oplog = [{"op": "i", "ns": "crash.docs", "o": {"_id": 1}},
             {"op": "i", "ns": "crash.docs", "o": {"_id": 2}},
             {"op": "d", "ns": "crash.docs", "o": {"_id": 2}}]
    local = FakeDb({"oplog.rs": FakeColl(oplog)})
    good = {"local": local, "crash": FakeDb({"docs": FakeColl([{"_id": 1}])})}
    bad = {"local": local, "crash": FakeDb({"docs": FakeColl([{"_id": 1}, {"_id": 2}])})}

    class Client(dict):
        def __getattr__(self, k):
            return self[k]

    assert data_matches_oplog(Client(good), "crash", "docs")[0]
    ok, detail = data_matches_oplog(Client(bad), "crash", "docs")
    assert not ok and "2" in detail

"""Replica sets under failure: kill -9 the primary during majority writes,
restart it, step it down, freeze members, priority takeover, and one run at
the default timers.

Each test has its own 3-member set (fast timers unless stated). Writers are
pymongo clients with replicaSet=rs0 and retryWrites off, so every insert is
sent once: an acknowledged w:"majority" insert must survive every failover;
an insert that failed with a network or not-primary error is "unknown" and
may or may not be there. Every wait is bounded.
"""
import socket
import threading
import time

import pymongo
from bson.objectid import ObjectId
from pymongo.write_concern import WriteConcern

from conftest import SECONDARY, raw_command

# An election with fast timers takes electionTimeout (1 s, + up to 15 %) plus
# a dry run and a real run over 200 ms heartbeats; allow generous slack for
# 2 busy cores and sanitizer builds.
FAILOVER_BOUND_S = 8.0


class Writer(threading.Thread):
    """Inserts {_id: n} with w:"majority" in a loop and records outcomes."""

    def __init__(self, rs, db="t_failover", coll="docs", wtimeout=5000):
        super().__init__(daemon=True)
        client = rs.client(serverSelectionTimeoutMS=10000, socketTimeoutMS=10000)
        self.coll = client[db].get_collection(coll, write_concern=WriteConcern(w="majority", wtimeout=wtimeout))
        self.acked = []      # (monotonic time, _id)
        self.unknown = []
        self.errors = []
        self.stop_flag = threading.Event()
        self.next_id = 0

    def run(self):
        while not self.stop_flag.is_set():
            i = self.next_id
            self.next_id += 1
            try:
                self.coll.insert_one({"_id": i})
                self.acked.append((time.monotonic(), i))
            except pymongo.errors.PyMongoError as e:
                self.unknown.append(i)
                self.errors.append(repr(e)[:200])
                time.sleep(0.05)

    def stop(self):
        self.stop_flag.set()
        self.join(30)
        assert not self.is_alive(), "writer thread did not stop"

    def acked_ids(self):
        return sorted(i for _, i in self.acked)

    def acked_after(self, t):
        return [i for when, i in self.acked if when > t]


def wait_for_acks(w, n, timeout_s=10):
    deadline = time.monotonic() + timeout_s
    while len(w.acked) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(w.acked) >= n, "only %d writes acknowledged; errors: %s" % (len(w.acked), w.errors[-5:])


def check_no_acknowledged_write_lost(rs, w, db="t_failover", coll="docs"):
    p = rs.wait_primary()
    c = rs.direct(p)
    present = sorted(d["_id"] for d in c[db][coll].find({}, {"_id": 1}))
    lost = sorted(set(w.acked_ids()) - set(present))
    assert lost == [], "acknowledged majority writes lost: %r" % lost[:50]
    attempted = set(range(w.next_id))
    assert set(present) <= attempted, "documents nobody wrote: %r" % sorted(set(present) - attempted)[:20]
    assert len(present) == len(set(present))
    return present


def test_killing_the_primary_during_majority_writes_elects_a_new_one_and_loses_no_acknowledged_write(replset):
    rs = replset()
    old = rs.wait_primary()
    w = Writer(rs)
    w.start()
    try:
        wait_for_acks(w, 30)
        killed_at = time.monotonic()
        rs.kill9(old)
        new = rs.wait_primary(timeout_s=FAILOVER_BOUND_S, exclude=(old,))
        elected_in = time.monotonic() - killed_at
        assert new != old
        # Writes continue through the new primary.
        deadline = time.monotonic() + 15
        while len(w.acked_after(killed_at + elected_in)) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(w.acked_after(killed_at + elected_in)) >= 20, \
            "writes did not resume after the election: %s" % w.errors[-5:]
    finally:
        w.stop()
    assert elected_in < FAILOVER_BOUND_S
    present = check_no_acknowledged_write_lost(rs, w)
    # Both survivors hold every acknowledged write once replication settles.
    rs.wait_converged("t_failover", "docs", timeout_s=15)
    assert len(present) >= len(w.acked)


def test_the_killed_primary_rejoins_as_a_secondary_and_catches_up(replset):
    rs = replset()
    old = rs.wait_primary()
    c = rs.client()
    coll = c.t_rejoin.docs.with_options(write_concern=WriteConcern(w="majority", wtimeout=10000))
    coll.insert_many([{"_id": i} for i in range(100)])
    rs.kill9(old)
    new = rs.wait_primary(timeout_s=FAILOVER_BOUND_S, exclude=(old,))
    # Written while the old primary is down: it must fetch these.
    deadline = time.monotonic() + 15
    while True:
        try:
            coll.insert_many([{"_id": i} for i in range(100, 200)])
            break
        except pymongo.errors.AutoReconnect:
            assert time.monotonic() < deadline, "the new primary never accepted writes"
            time.sleep(0.2)
    rs.restart(old)
    rs.wait_state(old, SECONDARY, timeout_s=20)
    assert rs.primaries() == [new]
    assert rs.wait_converged("t_rejoin", "docs", list(range(200)), timeout_s=20) == list(range(200))
    # And it keeps following: a w:3 write reaches it.
    coll.with_options(write_concern=WriteConcern(w=3, wtimeout=10000)).insert_one({"_id": "after"})
    assert rs.direct(old).t_rejoin.docs.find_one({"_id": "after"}) is not None


def test_electionId_strictly_increases_and_setVersion_never_decreases_across_elections(replset):
    rs = replset()
    seen = []
    p = rs.wait_primary()
    h = rs.hello(p)
    seen.append((h["electionId"], h["setVersion"], rs.status(p)["term"]))
    # Election 2: step down.
    r = rs.command(p, {"replSetStepDown": 30, "secondaryCatchUpPeriodSecs": 10})
    assert r["ok"] == 1, r
    p2 = rs.wait_primary(timeout_s=FAILOVER_BOUND_S, exclude=(p,))
    h = rs.hello(p2)
    seen.append((h["electionId"], h["setVersion"], rs.status(p2)["term"]))
    # Election 3: kill -9.
    rs.kill9(p2)
    p3 = rs.wait_primary(timeout_s=FAILOVER_BOUND_S, exclude=(p2,))
    h = rs.hello(p3)
    seen.append((h["electionId"], h["setVersion"], rs.status(p3)["term"]))
    for (e1, v1, t1), (e2, v2, t2) in zip(seen, seen[1:]):
        assert isinstance(e2, ObjectId)
        assert e2.binary > e1.binary, seen
        assert v2 >= v1, seen
        assert t2 > t1, seen
        assert int.from_bytes(e2.binary[4:], "big") == t2


def test_replSetStepDown_hands_the_primary_role_to_another_member(replset):
    rs = replset()
    p = rs.wait_primary()
    c = rs.client()
    c.t_stepdown.docs.with_options(write_concern=WriteConcern(w="majority")).insert_one({"_id": 1})
    # The command's own connection stays open after a step-down (4.2+).
    s = socket.create_connection(("127.0.0.1", rs.members[p].port), timeout=30)
    try:
        r = raw_command(s, {"replSetStepDown": 20, "secondaryCatchUpPeriodSecs": 10, "$db": "admin"})[1]
        assert r["ok"] == 1, r
        h = raw_command(s, {"hello": 1, "$db": "admin"})[1]
        assert h["isWritablePrimary"] is False and h["secondary"] is True
        r = raw_command(s, {"insert": "docs", "documents": [{"_id": 2}], "$db": "t_stepdown"})[1]
        assert r["ok"] == 0 and r["code"] == 10107, r
    finally:
        s.close()
    new = rs.wait_primary(timeout_s=FAILOVER_BOUND_S, exclude=(p,))
    assert new != p
    # The stepped-down member may not stand for 20 s: it stays a secondary.
    time.sleep(2.5)
    assert rs.primaries() == [new]
    assert rs.states()[p] == SECONDARY
    assert rs.direct(new).t_stepdown.docs.find_one({"_id": 1}) == {"_id": 1}


def test_replSetStepDown_validates_its_arguments(replset):
    rs = replset()
    p = rs.wait_primary()
    r = rs.command(p, {"replSetStepDown": 10, "secondaryCatchUpPeriodSecs": 20})
    assert r["ok"] == 0 and r["code"] == 2, r   # catch-up longer than the step-down period
    assert rs.primaries() == [p]


def test_replSetFreeze_keeps_a_secondary_from_standing(replset):
    rs = replset()
    p = rs.wait_primary()
    frozen, other = [i for i in range(3) if i != p]
    r = rs.command(p, {"replSetFreeze": 30})
    assert r["ok"] == 0 and r["code"] == 95 and r["codeName"] == "NotSecondary", r
    r = rs.command(frozen, {"replSetFreeze": 30})
    assert r["ok"] == 1, r
    r = rs.command(p, {"replSetStepDown": 30, "secondaryCatchUpPeriodSecs": 10})
    assert r["ok"] == 1, r
    new = rs.wait_primary(timeout_s=FAILOVER_BOUND_S, exclude=(p,))
    assert new == other, "a frozen member must not become primary"
    r = rs.command(frozen, {"replSetFreeze": 0})
    assert r["ok"] == 1, r


def test_a_higher_priority_member_takes_the_primary_role_back_after_restart(replset):
    rs = replset(members=[{"priority": 2}, {}, {}])
    # Whoever wins the first election, priority 2 ends up primary.
    rs.wait_until("member 0 (priority 2) primary", lambda: rs.primaries() == [0], 20)
    c = rs.client()
    coll = c.t_takeover.docs.with_options(write_concern=WriteConcern(w="majority", wtimeout=10000))
    coll.insert_many([{"_id": i} for i in range(20)])
    rs.kill9(0)
    mid = rs.wait_primary(timeout_s=FAILOVER_BOUND_S, exclude=(0,))
    assert mid in (1, 2)
    deadline = time.monotonic() + 15
    while True:
        try:
            coll.insert_many([{"_id": i} for i in range(20, 40)])
            break
        except pymongo.errors.AutoReconnect:
            assert time.monotonic() < deadline, "the interim primary never accepted writes"
            time.sleep(0.2)
    rs.restart(0)
    # Priority takeover: after catching up, member 0 calls an election.
    rs.wait_until("member 0 (priority 2) primary again", lambda: rs.primaries() == [0], 20)
    st = rs.status(0)
    assert st["electionCandidateMetrics"]["lastElectionReason"] == "priorityTakeover"
    assert rs.wait_converged("t_takeover", "docs", list(range(40)), timeout_s=15) == list(range(40))


def test_with_the_default_timers_an_election_completes_within_30_seconds(replset):
    rs = replset(up=False, settings=None)
    started = time.monotonic()
    rs.initiate()
    rs.wait_primary(timeout_s=30)
    assert time.monotonic() - started < 30
    st = rs.status(rs.wait_primary())
    assert st["heartbeatIntervalMillis"] == 2000
    cfg = rs.command(0, {"replSetGetConfig": 1})["config"]
    assert cfg["settings"]["electionTimeoutMillis"] == 10000

"""Replica sets without a majority, and write concern that cannot be met.

A primary that can no longer reach a majority (the other two killed with
kill -9 or frozen with SIGSTOP) must step down within about one election
timeout, refuse writes with NotWritablePrimary 10107 saying no majority is
reachable, and keep serving reads that allow a secondary. A write whose
write concern cannot be satisfied is applied locally and answered with ok: 1
and writeConcernError code 64 after wtimeout. Each test has its own 3-member
set with fast timers.
"""
import time

import pymongo
import pytest
from pymongo.read_preferences import ReadPreference
from pymongo.write_concern import WriteConcern

from conftest import SECONDARY

NO_MAJORITY = "no majority"
STEPDOWN_BOUND_S = 6.0


def seed(rs, db, n=10):
    c = rs.client()
    c[db].docs.with_options(write_concern=WriteConcern(w=3, wtimeout=10000)).insert_many(
        [{"_id": i} for i in range(n)])


def check_read_only_minority(rs, p, db):
    """p is alone: not primary, says why, refuses writes, allows secondaryOk reads."""
    rs.wait_until("the isolated primary steps down",
                  lambda: rs.hello(p).get("isWritablePrimary") is False, STEPDOWN_BOUND_S)
    h = rs.hello(p)
    assert h["secondary"] is True and h["setName"] == "rs0" and "electionId" not in h, h
    assert rs.status(p)["myState"] == SECONDARY
    r = rs.command(p, {"insert": "docs", "documents": [{"_id": "x"}]}, db=db)
    assert r["ok"] == 0 and r["code"] == 10107 and r["codeName"] == "NotWritablePrimary", r
    assert NO_MAJORITY in r["errmsg"], r["errmsg"]
    r = rs.command(p, {"insert": "docs", "documents": [{"_id": "x"}],
                       "$readPreference": {"mode": "secondaryPreferred"}}, db=db)
    assert r["ok"] == 0 and r["code"] == 10107, r
    # Reads with a read preference that allows a secondary still work and see the data.
    r = rs.command(p, {"find": "docs", "$readPreference": {"mode": "secondaryPreferred"}}, db=db)
    assert r["ok"] == 1 and len(r["cursor"]["firstBatch"]) == 10, r
    r = rs.command(p, {"find": "docs"}, db=db)
    assert r["ok"] == 0 and r["code"] == 13435, r
    # pymongo with secondaryPreferred reads through the set client as well.
    c = rs.client(serverSelectionTimeoutMS=2000)
    coll = c[db].get_collection("docs", read_preference=ReadPreference.SECONDARY_PREFERRED)
    assert coll.count_documents({}) == 10
    # ... and finds no primary to write to.
    with pytest.raises(pymongo.errors.ServerSelectionTimeoutError):
        c[db].docs.insert_one({"_id": "y"})
    # It does not stand for election either: no majority, no votes.
    time.sleep(2.5)
    assert rs.hello(p).get("isWritablePrimary") is False


def test_a_primary_whose_peers_were_killed_steps_down_and_refuses_writes_saying_no_majority_is_reachable(replset):
    rs = replset()
    p = rs.wait_primary()
    seed(rs, "t_minority_kill")
    for i in range(3):
        if i != p:
            rs.kill9(i)
    check_read_only_minority(rs, p, "t_minority_kill")
    # Refused heartbeats mark a member down after a few retries, at the
    # latest after heartbeatTimeoutSecs (10 s).
    rs.wait_until("the killed members shown as down", lambda: all(
        m["health"] == 0 for m in rs.status(p)["members"] if not m.get("self")), 11)
    st = rs.status(p)
    others = [m for m in st["members"] if not m.get("self")]
    for m in others:
        assert m["health"] == 0 and m["state"] == 8, m
        assert m["stateStr"] == "(not reachable/healthy)"
    # Bring one back: two of three is a majority again.
    back = [i for i in range(3) if i != p][0]
    rs.restart(back)
    rs.wait_primary(timeout_s=15)


def test_a_primary_whose_peers_are_paused_steps_down_and_a_primary_returns_when_they_resume(replset):
    rs = replset()
    p = rs.wait_primary()
    seed(rs, "t_minority_stop")
    peers = [i for i in range(3) if i != p]
    for i in peers:
        rs.pause(i)
    check_read_only_minority(rs, p, "t_minority_stop")
    for i in peers:
        rs.resume(i)
    new = rs.wait_primary(timeout_s=15)
    rs.wait_all_secondaries(15)
    c = rs.client()
    c.t_minority_stop.docs.with_options(write_concern=WriteConcern(w="majority", wtimeout=10000)).insert_one(
        {"_id": "after"})
    ids = rs.wait_converged("t_minority_stop", "docs", timeout_s=15)
    assert "after" in ids and len(ids) == 11, ids
    assert rs.direct(new).t_minority_stop.docs.count_documents({}) == 11


def test_w3_with_a_member_down_times_out_with_writeConcernError_64(replset):
    rs = replset()
    p = rs.wait_primary()
    down = [i for i in range(3) if i != p][0]
    rs.kill9(down)
    c = rs.client()
    coll = c.t_wc.docs
    started = time.monotonic()
    with pytest.raises(pymongo.errors.WTimeoutError) as info:
        coll.with_options(write_concern=WriteConcern(w=3, wtimeout=1000)).insert_one({"_id": 1})
    took = time.monotonic() - started
    assert 0.9 <= took < 10, took
    err = info.value
    assert err.code == 64
    # pymongo 3.11 puts the writeConcernError document itself in details.
    wce = err.details
    assert wce["code"] == 64 and wce["errInfo"]["wtimeout"] is True, wce
    # The write itself was applied and replicates to the live secondary.
    assert rs.direct(p).t_wc.docs.find_one({"_id": 1}) == {"_id": 1}
    # w:"majority" (2 of 3) still succeeds with one member down.
    coll.with_options(write_concern=WriteConcern(w="majority", wtimeout=5000)).insert_one({"_id": 2})
    # Raw reply shape: ok 1, n 1, writeConcernError at the top level.
    r = rs.command(p, {"insert": "docs", "documents": [{"_id": 3}],
                       "writeConcern": {"w": 3, "wtimeout": 500}}, db="t_wc")
    assert r["ok"] == 1 and r["n"] == 1 and r["writeConcernError"]["code"] == 64, r
    assert isinstance(r["writeConcernError"]["errmsg"], str)
    # Updates and deletes report it the same way.
    r = rs.command(p, {"update": "docs", "updates": [{"q": {"_id": 3}, "u": {"$set": {"a": 1}}}],
                       "writeConcern": {"w": 3, "wtimeout": 500}}, db="t_wc")
    assert r["ok"] == 1 and r["nModified"] == 1 and r["writeConcernError"]["code"] == 64, r


def test_w_majority_with_the_majority_unreachable_times_out_with_writeConcernError_64(replset):
    rs = replset()
    p = rs.wait_primary()
    seed(rs, "t_wcmaj")
    for i in range(3):
        if i != p:
            rs.pause(i)
    # Right after the pause the primary still believes it leads (it steps down
    # only after an election timeout of silence): the write is applied locally
    # and the majority wait times out.
    r = rs.command(p, {"insert": "docs", "documents": [{"_id": "m"}],
                       "writeConcern": {"w": "majority", "wtimeout": 300}}, db="t_wcmaj")
    assert r["ok"] == 1 and r["n"] == 1, r
    assert r["writeConcernError"]["code"] == 64, r
    assert r["writeConcernError"]["errInfo"]["wtimeout"] is True


def test_w_greater_than_the_number_of_members_fails_at_once(replset):
    rs = replset()
    p = rs.wait_primary()
    r = rs.command(p, {"insert": "docs", "documents": [{"_id": 1}], "writeConcern": {"w": 5}}, db="t_wcbig")
    # mongod: ok 1 with writeConcernError UnsatisfiableWriteConcern (100).
    assert r["ok"] == 1 and r["writeConcernError"]["code"] == 100, r


def test_a_write_without_write_concern_defaults_to_majority(replset):
    rs = replset()
    p = rs.wait_primary()
    peers = [i for i in range(3) if i != p]
    for i in peers:
        rs.pause(i)
    started = time.monotonic()
    # No writeConcern: the implicit default for P-S-S is majority, so it can
    # not be acknowledged; the primary steps down and the wait ends with an
    # interruption (11602) or a timeout, never a plain success.
    r = rs.command(p, {"insert": "docs", "documents": [{"_id": 1}]}, db="t_wcdefault", timeout_s=20)
    assert time.monotonic() - started < 20
    assert r.get("ok") == 0 or "writeConcernError" in r, r
    if "writeConcernError" in r:
        assert r["writeConcernError"]["code"] in (11602, 64, 189), r


def test_read_concern_majority_sees_only_what_a_majority_holds(replset):
    rs = replset()
    p = rs.wait_primary()
    seed(rs, "t_rcmaj")
    # Committed data: a majority read returns it at once.
    r = rs.command(p, {"find": "docs", "readConcern": {"level": "majority"}}, db="t_rcmaj")
    assert r["ok"] == 1 and len(r["cursor"]["firstBatch"]) == 10, r
    for i in range(3):
        if i != p:
            rs.pause(i)
    try:
        # A w:1 write the paused members never see: a local read shows it, a
        # majority read would have to show it too, so it waits and gives up.
        r = rs.command(p, {"insert": "docs", "documents": [{"_id": "local-only"}],
                           "writeConcern": {"w": 1}}, db="t_rcmaj")
        assert r["ok"] == 1 and r["n"] == 1, r
        r = rs.command(p, {"find": "docs", "filter": {"_id": "local-only"},
                           "$readPreference": {"mode": "primaryPreferred"}}, db="t_rcmaj")
        assert len(r["cursor"]["firstBatch"]) == 1, r
        r = rs.command(p, {"find": "docs", "readConcern": {"level": "majority"}, "maxTimeMS": 500,
                           "$readPreference": {"mode": "primaryPreferred"}}, db="t_rcmaj")
        assert r["ok"] == 0 and r["code"] == 50 and r["codeName"] == "MaxTimeMSExpired", r
        assert "majority" in r["errmsg"], r
    finally:
        for i in range(3):
            if i != p:
                rs.resume(i)

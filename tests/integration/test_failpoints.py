"""Fail points (configureFailPoint / waitForFailPoint) and readConcern
"linearizable".

The commands exist only with --setParameter enableTestCommands=1. Each point
is shown to fire at its site, {times: N} to count down, and off to disable
it. Linearizable reads: served only by the primary, with the newest majority
write; a primary cut off from the majority (both secondaries frozen with
SIGSTOP) never answers one with ok: 1, it fails or times out instead.
"""
import threading
import time

import pymongo
import pytest
from bson.timestamp import Timestamp
from pymongo.write_concern import WriteConcern

from conftest import PRIMARY, SECONDARY, Server
from failpoint_help import fp, test_replset, test_server


@pytest.fixture(scope="module")
def rs():
    r = test_replset(3)
    try:
        r.up()
        yield r
    finally:
        r.cleanup()


def primary_and_secondaries(rs):
    p = rs.wait_primary()
    return p, [i for i in range(3) if i != p]


def wait_fp(rs, i, name, n, timeout_ms=20000):
    r = rs.command(i, {"waitForFailPoint": name, "timesEntered": n, "maxTimeMS": timeout_ms},
                   timeout_s=timeout_ms / 1000 + 5)
    assert r.get("ok") == 1, r
    return r


# -- the commands ---------------------------------------------------------

def test_fail_point_commands_do_not_exist_without_enable_test_commands():
    s = Server().start()
    try:
        c = s.client()
        for cmd in ({"configureFailPoint": "dummy", "mode": "alwaysOn"},
                    {"waitForFailPoint": "dummy", "timesEntered": 1, "maxTimeMS": 10}):
            with pytest.raises(pymongo.errors.OperationFailure) as ei:
                c.admin.command(cmd)
            assert ei.value.code == 59 and ei.value.details["codeName"] == "CommandNotFound"
    finally:
        s.stop()


def test_configure_fail_point_shapes_and_errors(rs):
    p, _ = primary_and_secondaries(rs)
    r = fp(rs, p, "dummy", {"times": 2}, {"x": 1})
    base = r["count"]
    assert isinstance(base, int)
    r = rs.command(p, {"configureFailPoint": "noSuchPoint", "mode": "off"})
    assert r["ok"] == 0 and r["code"] == 266 and r["codeName"] == "FailPointSetFailed"
    assert "noSuchPoint" in r["errmsg"]
    for bad in ("sometimes", 3, {"times": -1}, {"often": 1}, {"activationProbability": 2}):
        r = rs.command(p, {"configureFailPoint": "dummy", "mode": bad})
        assert r["ok"] == 0 and r["code"] == 2 and r["codeName"] == "BadValue", (bad, r)
    r = rs.command(p, {"configureFailPoint": "dummy", "mode": "alwaysOn", "data": 5})
    assert r["ok"] == 0 and r["code"] == 14, r
    r = rs.command(p, {"configureFailPoint": "dummy", "mode": "off"}, db="test")
    assert r["ok"] == 0 and r["code"] == 13, r
    fp(rs, p, "dummy", "off")


def test_wait_for_fail_point_times_out_with_max_time_ms_expired(rs):
    p, _ = primary_and_secondaries(rs)
    n = fp(rs, p, "dummy", "off")["count"]
    r = rs.command(p, {"waitForFailPoint": "dummy", "timesEntered": n + 1, "maxTimeMS": 100})
    assert r["ok"] == 0 and r["code"] == 50 and r["codeName"] == "MaxTimeMSExpired", r
    r = rs.command(p, {"waitForFailPoint": "dummy", "timesEntered": n, "maxTimeMS": 100})
    assert r["ok"] == 1, r


# -- failCommand ------------------------------------------------------------

def test_fail_command_times_counts_down_only_on_the_named_commands(rs):
    p, _ = primary_and_secondaries(rs)
    db = rs.direct(p).fp_failcmd
    fp(rs, p, "failCommand", {"times": 2}, {"failCommands": ["insert"], "errorCode": 11600})
    assert db.command("ping")["ok"] == 1          # not named: runs, consumes nothing
    db.docs.find_one()
    for _ in range(2):
        r = rs.command(p, {"insert": "docs", "documents": [{"_id": 1}]}, db="fp_failcmd")
        assert r["ok"] == 0 and r["code"] == 11600 and r["codeName"] == "InterruptedAtShutdown", r
        assert r["errmsg"] == "Failing command via 'failCommand' failpoint"
    r = rs.command(p, {"insert": "docs", "documents": [{"_id": 1}]}, db="fp_failcmd")
    assert r["ok"] == 1 and r["n"] == 1, r
    assert db.docs.count_documents({}) == 1
    assert fp(rs, p, "failCommand", "off")["count"] >= 2


def test_fail_command_error_labels_write_concern_error_and_namespace(rs):
    p, _ = primary_and_secondaries(rs)
    fp(rs, p, "failCommand", "alwaysOn", {"failCommands": ["find"], "errorCode": 91,
                                           "errorLabels": ["MyLabel"], "namespace": "fp_ns.a"})
    try:
        r = rs.command(p, {"find": "a"}, db="fp_ns")
        assert r["ok"] == 0 and r["code"] == 91 and r["errorLabels"] == ["MyLabel"], r
        r = rs.command(p, {"find": "b"}, db="fp_ns")           # another namespace
        assert r["ok"] == 1, r
    finally:
        fp(rs, p, "failCommand", "off")
    wce = {"code": 64, "codeName": "WriteConcernFailed", "errmsg": "injected"}
    fp(rs, p, "failCommand", {"times": 1}, {"failCommands": ["insert"], "writeConcernError": wce})
    r = rs.command(p, {"insert": "c", "documents": [{"_id": 1}]}, db="fp_ns")
    assert r["ok"] == 1 and r["n"] == 1 and r["writeConcernError"]["errmsg"] == "injected", r


def test_fail_command_block_connection_delays_the_command(rs):
    p, _ = primary_and_secondaries(rs)
    fp(rs, p, "failCommand", {"times": 1}, {"failCommands": ["count"], "blockConnection": True,
                                             "blockTimeMS": 600})
    t0 = time.monotonic()
    r = rs.command(p, {"count": "docs"}, db="fp_block")
    assert r["ok"] == 1, r
    assert time.monotonic() - t0 >= 0.55
    t0 = time.monotonic()
    assert rs.command(p, {"count": "docs"}, db="fp_block")["ok"] == 1
    assert time.monotonic() - t0 < 0.55


def test_fail_command_leaves_internal_commands_alone_unless_asked(rs):
    p, secs = primary_and_secondaries(rs)
    fp(rs, p, "failCommand", "alwaysOn", {"failCommands": ["replSetHeartbeat"], "errorCode": 6})
    try:
        r = rs.command(p, {"replSetHeartbeat": "rs0", "configVersion": 1, "from": "x:1", "fromId": 9, "term": 0})
        assert r.get("code") != 6, r
    finally:
        fp(rs, p, "failCommand", "off")


# -- writer points ----------------------------------------------------------

def test_writer_before_commit_delays_the_write(rs):
    p, _ = primary_and_secondaries(rs)
    c = rs.client()
    coll = c.fp_writer.docs.with_options(write_concern=WriteConcern(w=1))
    fp(rs, p, "writerBeforeCommit", {"times": 1}, {"delayMs": 700})
    t0 = time.monotonic()
    coll.insert_one({"_id": "slow"})
    assert time.monotonic() - t0 >= 0.65
    t0 = time.monotonic()
    coll.insert_one({"_id": "fast"})
    assert time.monotonic() - t0 < 0.65


def test_writer_after_commit_before_ack_holds_the_reply_of_a_visible_write(rs):
    p, _ = primary_and_secondaries(rs)
    c = rs.client()
    coll = c.fp_ack.docs.with_options(write_concern=WriteConcern(w=1))
    coll.insert_one({"_id": "warm"})
    n = fp(rs, p, "writerAfterCommitBeforeAck", "alwaysOn")["count"]
    done = threading.Event()

    def write():
        coll.insert_one({"_id": "held"})
        done.set()

    t = threading.Thread(target=write)
    t.start()
    try:
        wait_fp(rs, p, "writerAfterCommitBeforeAck", n + 1)
        # Committed (readers see it) but not acknowledged.
        rs.wait_until("the committed write is visible", lambda: rs.command(
            p, {"find": "docs", "filter": {"_id": "held"}}, db="fp_ack")["cursor"]["firstBatch"], 10)
        assert not done.is_set()
    finally:
        fp(rs, p, "writerAfterCommitBeforeAck", "off")
    t.join(20)
    assert done.is_set()


# -- replication points -----------------------------------------------------

def test_stop_repl_producer_stops_a_secondary_fetching_until_off(rs):
    p, secs = primary_and_secondaries(rs)
    s = secs[0]
    c = rs.client()
    fp(rs, s, "stopReplProducer", "alwaysOn")
    try:
        c.fp_prod.docs.with_options(write_concern=WriteConcern(w=1)).insert_one({"_id": "late"})
        # The other secondary may sync from this one (chaining): only the
        # stopped member is checked, after ample time for one fetch.
        time.sleep(1.5)
        assert "late" not in rs.ids_on(s, "fp_prod", "docs")
    finally:
        fp(rs, s, "stopReplProducer", "off")
    rs.wait_until("the secondary fetches again", lambda: "late" in rs.ids_on(s, "fp_prod", "docs"), 15)


def test_rs_sync_apply_stop_pauses_applying_and_majority_still_needs_two(rs):
    p, secs = primary_and_secondaries(rs)
    c = rs.client()
    # Both secondaries fetch from the primary: with chaining, one could sync
    # from the other, whose stopped applier would then starve it as well.
    rs.sync_from_primary(p, secs)
    n = fp(rs, secs[0], "rsSyncApplyStop", "alwaysOn")["count"]
    fp(rs, secs[1], "rsSyncApplyStop", "alwaysOn")
    try:
        coll = c.fp_apply.docs
        r = rs.command(p, {"insert": "docs", "documents": [{"_id": "x"}],
                           "writeConcern": {"w": "majority", "wtimeout": 1000}}, db="fp_apply")
        assert r["ok"] == 1 and r["writeConcernError"]["code"] == 64, r
        wait_fp(rs, secs[0], "rsSyncApplyStop", n + 1)
        assert "x" not in rs.ids_on(secs[0], "fp_apply", "docs")
        fp(rs, secs[1], "rsSyncApplyStop", "off")
        coll.with_options(write_concern=WriteConcern(w="majority", wtimeout=15000)).insert_one({"_id": "y"})
    finally:
        fp(rs, secs[0], "rsSyncApplyStop", "off")
        fp(rs, secs[1], "rsSyncApplyStop", "off")
    rs.wait_converged("fp_apply", "docs", want_ids=["x", "y"])


def test_drop_heartbeats_from_one_host_makes_the_primary_see_it_down(rs):
    p, secs = primary_and_secondaries(rs)
    s = secs[0]

    def health_of_s():
        st = rs.status(p)
        return [m["health"] for m in st["members"] if m["name"] == rs.host(s)][0]

    fp(rs, s, "dropHeartbeats", "alwaysOn", {"host": rs.host(p)})
    try:
        rs.wait_until("the primary sees the member down", lambda: health_of_s() == 0, 20)
    finally:
        fp(rs, s, "dropHeartbeats", "off")
    rs.wait_until("the primary sees the member again", lambda: health_of_s() == 1, 20)


def test_hang_before_persist_vote_fires_in_an_election_and_off_lets_it_finish(rs):
    p, secs = primary_and_secondaries(rs)
    counts = {s: fp(rs, s, "hangBeforePersistVote", {"times": 1}, {"delayMs": 300})["count"] for s in secs}
    r = rs.command(p, {"replSetStepDown": 10, "force": True}, timeout_s=15)
    assert r["ok"] == 1, r
    rs.wait_until("a voter persisted a vote through the point",
                  lambda: any(rs.command(s, {"waitForFailPoint": "hangBeforePersistVote",
                                             "timesEntered": counts[s] + 1, "maxTimeMS": 200}).get("ok") == 1
                              for s in secs), 20)
    newp = rs.wait_primary(20)
    assert newp != p
    for s in secs:
        fp(rs, s, "hangBeforePersistVote", "off")
    rs.wait_all_secondaries(20)


# -- readConcern linearizable ----------------------------------------------

def test_linearizable_read_returns_the_newest_majority_write_and_writes_a_no_op(rs):
    p, _ = primary_and_secondaries(rs)
    c = rs.client()
    coll = c.fp_lin.reg.with_options(write_concern=WriteConcern(w="majority", wtimeout=10000))
    coll.replace_one({"_id": "r"}, {"_id": "r", "v": 1}, upsert=True)
    coll.replace_one({"_id": "r"}, {"_id": "r", "v": 2})
    for cmd in ({"find": "reg", "filter": {"_id": "r"}},
                {"aggregate": "reg", "pipeline": [{"$match": {"_id": "r"}}], "cursor": {}}):
        cmd = dict(cmd, readConcern={"level": "linearizable"}, maxTimeMS=10000)
        r = rs.command(p, cmd, db="fp_lin")
        assert r["ok"] == 1 and r["cursor"]["firstBatch"] == [{"_id": "r", "v": 2}], r
    r = rs.command(p, {"count": "reg", "readConcern": {"level": "linearizable"}}, db="fp_lin")
    assert r["ok"] == 1 and r["n"] == 1, r
    r = rs.command(p, {"distinct": "reg", "key": "v", "readConcern": {"level": "linearizable"}}, db="fp_lin")
    assert r["ok"] == 1 and r["values"] == [2], r
    noops = list(rs.direct(p).local["oplog.rs"].find({"op": "n", "o.msg": "linearizable read"}))
    assert len(noops) >= 4


def test_linearizable_read_is_refused_on_a_secondary_and_with_after_times(rs):
    p, secs = primary_and_secondaries(rs)
    r = rs.command(secs[0], {"find": "reg", "readConcern": {"level": "linearizable"},
                             "$readPreference": {"mode": "secondaryPreferred"}}, db="fp_lin")
    assert r["ok"] == 0 and r["code"] == 10107 and r["codeName"] == "NotWritablePrimary", r
    assert r["errmsg"] == "cannot satisfy linearizable read concern on non-primary node"
    r = rs.command(p, {"find": "reg", "readConcern": {"level": "linearizable",
                                                      "afterClusterTime": Timestamp(1, 1)}}, db="fp_lin")
    assert r["ok"] == 0 and r["code"] == 72, r
    r = rs.command(p, {"find": "reg", "readConcern": {"level": "linearizable",
                                                      "afterOpTime": {"ts": Timestamp(1, 2), "t": 1}}},
                   db="fp_lin")
    assert r["ok"] == 0 and r["code"] == 9, r


def test_linearizable_read_on_a_standalone_is_not_a_replica_set():
    s = test_server().start()
    try:
        r = s.client().fp.command("find", "x", readConcern={"level": "linearizable"}, check=False)
        assert r["ok"] == 0 and r["code"] == 123 and r["codeName"] == "NotAReplicaSet", r
    finally:
        s.stop()


def test_a_primary_cut_off_from_the_majority_never_serves_a_linearizable_read(replset):
    from failpoint_help import TEST_ARGS  # noqa: F401 (the plain set is enough here)
    r3 = replset(3)
    p = r3.wait_primary()
    secs = [i for i in range(3) if i != p]
    c = r3.client()
    c.fp_cut.reg.with_options(write_concern=WriteConcern(w="majority", wtimeout=10000)).insert_one(
        {"_id": "r", "v": 1})
    for s in secs:
        r3.pause(s)
    try:
        t0 = time.monotonic()
        try:
            r = r3.command(p, {"find": "reg", "readConcern": {"level": "linearizable"}, "maxTimeMS": 1500},
                           db="fp_cut", timeout_s=20)
        except OSError:
            r = {"ok": 0, "code": "socket"}
        assert r["ok"] == 0, r
        assert r["code"] in (50, 10107, 11602, 189), r
        assert time.monotonic() - t0 < 15
    finally:
        for s in secs:
            r3.resume(s)
    r3.wait_primary(20)

"""Retryable writes on a replica set: a (session, txnNumber) runs once.

Raw commands carry {lsid, txnNumber} by hand, as drivers do, so a "retry"
is simply the same command sent again. Checked: the first reply comes back
without a second execution (insert, update, delete, findAndModify); an older
txnNumber is refused with TransactionTooOld (225); commands that may not be
retryable are refused as mongod does; the session record replicates, so a
retry on the new primary after a step-down still returns the stored reply;
and a pymongo client with retryWrites=True writing through kill -9 of the
primary loses nothing acknowledged and surfaces no DuplicateKey.
"""
import threading
import time
import uuid

import pymongo
import pytest
from bson.binary import Binary
from bson.int64 import Int64
from pymongo.errors import OperationFailure
from pymongo.write_concern import WriteConcern

FAILOVER_BOUND_S = 8.0


def new_lsid():
    return {"id": Binary(uuid.uuid4().bytes, 4)}


def cmd(rs, i, doc, db="t_retry"):
    return rs.command(i, doc, db=db, timeout_s=10.0)


def majority(doc):
    out = dict(doc)
    out["writeConcern"] = {"w": "majority", "wtimeout": 10000}
    return out


def count(rs, i, coll, flt=None, db="t_retry"):
    r = cmd(rs, i, {"count": coll, "query": flt or {}}, db=db)
    assert r["ok"] == 1, r
    return r["n"]


def test_the_same_txnNumber_twice_inserts_once_and_returns_the_first_reply(rs3):
    p = rs3.wait_primary()
    lsid = new_lsid()
    ins = {"insert": "ins", "documents": [{"_id": 1}, {"_id": 2}], "lsid": lsid, "txnNumber": Int64(1)}
    first = cmd(rs3, p, ins)
    assert first["ok"] == 1 and first["n"] == 2, first
    assert "retriedStmtIds" not in first
    again = cmd(rs3, p, ins)
    # No DuplicateKey: nothing ran, the stored reply came back.
    assert again["ok"] == 1 and again["n"] == 2 and "writeErrors" not in again, again
    assert again["retriedStmtIds"] == [0, 1]
    assert count(rs3, p, "ins") == 2
    # Even with other documents: a retry is answered from the record, not re-run.
    changed = dict(ins, documents=[{"_id": 3}])
    r = cmd(rs3, p, changed)
    assert r["ok"] == 1 and r["n"] == 2, r
    assert count(rs3, p, "ins") == 2
    # The next txnNumber runs.
    r = cmd(rs3, p, dict(ins, documents=[{"_id": 3}], txnNumber=Int64(2)))
    assert r["ok"] == 1 and r["n"] == 1 and "retriedStmtIds" not in r, r
    assert count(rs3, p, "ins") == 3


def test_an_older_txnNumber_is_refused_with_TransactionTooOld(rs3):
    p = rs3.wait_primary()
    lsid = new_lsid()
    r = cmd(rs3, p, {"insert": "old", "documents": [{"_id": 1}], "lsid": lsid, "txnNumber": Int64(5)})
    assert r["ok"] == 1, r
    r = cmd(rs3, p, {"insert": "old", "documents": [{"_id": 2}], "lsid": lsid, "txnNumber": Int64(4)})
    assert r["ok"] == 0 and r["code"] == 225 and r["codeName"] == "TransactionTooOld", r
    assert "txnNumber 4" in r["errmsg"] and "txnNumber 5" in r["errmsg"], r
    # Not a retryable error: no label, and nothing written.
    assert "errorLabels" not in r
    assert count(rs3, p, "old") == 1
    # Another session is independent.
    r = cmd(rs3, p, {"insert": "old", "documents": [{"_id": 2}], "lsid": new_lsid(), "txnNumber": Int64(1)})
    assert r["ok"] == 1 and r["n"] == 1, r


def test_a_retried_update_returns_the_original_counts_and_does_not_apply_twice(rs3):
    p = rs3.wait_primary()
    assert cmd(rs3, p, {"insert": "upd", "documents": [{"_id": 1, "n": 0}]})["ok"] == 1
    lsid = new_lsid()
    u = {"update": "upd", "lsid": lsid, "txnNumber": Int64(7),
         "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}},
                     {"q": {"_id": 2}, "u": {"$set": {"n": 10}}, "upsert": True}]}
    first = cmd(rs3, p, u)
    assert first["ok"] == 1 and first["n"] == 2 and first["nModified"] == 1, first
    assert first["upserted"] == [{"index": 1, "_id": 2}]
    again = cmd(rs3, p, u)
    assert again["ok"] == 1 and again["n"] == 2 and again["nModified"] == 1, again
    assert again["upserted"] == [{"index": 1, "_id": 2}]
    docs = cmd(rs3, p, {"find": "upd", "filter": {}, "sort": {"_id": 1}})["cursor"]["firstBatch"]
    assert docs == [{"_id": 1, "n": 1}, {"_id": 2, "n": 10}]


def test_a_retried_delete_reports_the_first_count(rs3):
    p = rs3.wait_primary()
    assert cmd(rs3, p, {"insert": "del", "documents": [{"_id": 1}, {"_id": 2}]})["ok"] == 1
    d = {"delete": "del", "lsid": new_lsid(), "txnNumber": Int64(1), "deletes": [{"q": {}, "limit": 1}]}
    assert cmd(rs3, p, d)["n"] == 1
    again = cmd(rs3, p, d)
    assert again["ok"] == 1 and again["n"] == 1, again
    # The retry deleted nothing more.
    assert count(rs3, p, "del") == 1


def test_a_retried_findAndModify_returns_the_same_value_and_lastErrorObject(rs3):
    p = rs3.wait_primary()
    assert cmd(rs3, p, {"insert": "fam", "documents": [{"_id": 1, "v": 1}]})["ok"] == 1
    f = {"findAndModify": "fam", "query": {"_id": 1}, "update": {"$inc": {"v": 1}}, "new": True,
         "lsid": new_lsid(), "txnNumber": Int64(3)}
    first = cmd(rs3, p, f)
    assert first["ok"] == 1 and first["value"] == {"_id": 1, "v": 2}, first
    again = cmd(rs3, p, f)
    assert again["ok"] == 1, again
    assert again["value"] == first["value"]
    assert again["lastErrorObject"] == first["lastErrorObject"]
    assert again["retriedStmtId"] == 0
    assert cmd(rs3, p, {"find": "fam", "filter": {"_id": 1}})["cursor"]["firstBatch"] == [{"_id": 1, "v": 2}]
    # An upsert retried does not insert a second document either.
    up = {"findAndModify": "fam", "query": {"k": "u"}, "update": {"$set": {"x": 1}}, "upsert": True,
          "lsid": new_lsid(), "txnNumber": Int64(1)}
    first = cmd(rs3, p, up)
    assert first["lastErrorObject"]["upserted"] is not None, first
    again = cmd(rs3, p, up)
    assert again["lastErrorObject"] == first["lastErrorObject"]
    assert count(rs3, p, "fam", {"k": "u"}) == 1


def test_a_first_attempt_with_write_errors_is_answered_with_the_same_errors(rs3):
    p = rs3.wait_primary()
    assert cmd(rs3, p, {"insert": "werr", "documents": [{"_id": 1}]})["ok"] == 1
    ins = {"insert": "werr", "documents": [{"_id": 0}, {"_id": 1}, {"_id": 2}], "ordered": False,
           "lsid": new_lsid(), "txnNumber": Int64(1)}
    first = cmd(rs3, p, ins)
    assert first["n"] == 2 and [e["index"] for e in first["writeErrors"]] == [1], first
    again = cmd(rs3, p, ins)
    assert again["n"] == 2 and [e["code"] for e in again["writeErrors"]] == [11000], again
    assert again["retriedStmtIds"] == [0, 2]
    assert count(rs3, p, "werr") == 3


def test_commands_that_cannot_be_retryable_writes_are_refused(rs3):
    p = rs3.wait_primary()
    lsid = new_lsid()
    r = cmd(rs3, p, {"update": "bad", "updates": [{"q": {}, "u": {"$set": {"a": 1}}, "multi": True}],
                     "lsid": lsid, "txnNumber": Int64(1)})
    assert r["ok"] == 0 and r["code"] == 72 and "multi=true" in r["errmsg"], r
    r = cmd(rs3, p, {"delete": "bad", "deletes": [{"q": {}, "limit": 0}], "lsid": lsid, "txnNumber": Int64(1)})
    assert r["ok"] == 0 and r["code"] == 72 and "limit=0" in r["errmsg"], r
    r = cmd(rs3, p, {"find": "bad", "filter": {}, "lsid": lsid, "txnNumber": Int64(1)})
    assert r["ok"] == 0 and r["code"] == 50768, r
    r = cmd(rs3, p, {"insert": "bad", "documents": [{}], "txnNumber": Int64(1)})
    assert r["ok"] == 0 and r["code"] == 72, r     # txnNumber without lsid
    r = cmd(rs3, p, {"insert": "bad", "documents": [{}], "lsid": lsid, "txnNumber": 1})
    assert r["ok"] == 0 and r["code"] == 14, r     # int32, not long
    r = cmd(rs3, p, {"insert": "bad", "documents": [{}], "lsid": {"id": 5}, "txnNumber": Int64(1)})
    assert r["ok"] == 0 and r["code"] == 14, r
    r = cmd(rs3, p, {"insert": "bad", "documents": [{}], "lsid": {"id": Binary(b"short", 4)},
                     "txnNumber": Int64(1)})
    assert r["ok"] == 0 and r["code"] == 2, r
    r = cmd(rs3, p, {"insert": "bad", "documents": [{}], "lsid": lsid, "txnNumber": Int64(-1)})
    assert r["ok"] == 0 and r["code"] == 2, r
    assert count(rs3, p, "bad") == 0
    # Multi statements stay fine without a txnNumber.
    r = cmd(rs3, p, {"update": "bad", "updates": [{"q": {}, "u": {"$set": {"a": 1}}, "multi": True}]})
    assert r["ok"] == 1, r


def test_a_standalone_refuses_txnNumber_the_way_drivers_recognise(db):
    with pytest.raises(OperationFailure) as ei:
        db.command({"insert": "c", "documents": [{"_id": 1}], "lsid": new_lsid(), "txnNumber": Int64(1)})
    assert ei.value.code == 20
    assert str(ei.value).startswith("Transaction numbers")
    assert db.c.count_documents({}) == 0
    # Drivers see a Standalone and send no txnNumber: retryWrites stays harmless.
    db.c.insert_one({"_id": 2})
    assert db.c.count_documents({}) == 1


def test_a_retry_landing_on_a_secondary_is_labelled_retryable(rs3):
    p = rs3.wait_primary()
    s = [i for i in range(3) if i != p][0]
    r = cmd(rs3, s, {"insert": "sec", "documents": [{"_id": 1}], "lsid": new_lsid(), "txnNumber": Int64(1)})
    assert r["ok"] == 0 and r["code"] == 10107, r
    assert r["errorLabels"] == ["RetryableWriteError"], r


def test_pymongo_sessions_with_retryWrites_send_txnNumbers_that_are_accepted(rs3):
    c = rs3.client(retryWrites=True)
    coll = c.t_retry.get_collection("py", write_concern=WriteConcern(w="majority", wtimeout=10000))
    with c.start_session() as s:
        coll.insert_one({"_id": 1}, session=s)
        coll.insert_many([{"_id": i} for i in range(2, 50)], session=s)
        coll.update_one({"_id": 1}, {"$set": {"a": 1}}, session=s)
        assert coll.find_one_and_update({"_id": 2}, {"$set": {"b": 1}}, session=s,
                                        return_document=True) == {"_id": 2, "b": 1}
        coll.delete_one({"_id": 3}, session=s)
        # Multi-document writes go without txnNumber and still work.
        assert coll.update_many({}, {"$set": {"m": 1}}, session=s).modified_count == 48
        assert coll.delete_many({"_id": {"$gte": 40}}, session=s).deleted_count == 10
        session_id = s.session_id["id"]
    assert coll.count_documents({}) == 38
    # The session's record is in config.transactions, which replicates.
    p = rs3.wait_primary()
    rec = rs3.direct(p).config.transactions.find_one({"_id": session_id})
    assert rec is not None and rec["txnNum"] >= 5, rec


def test_the_record_replicates_so_a_retry_after_stepdown_returns_the_stored_reply(replset):
    rs = replset()
    p = rs.wait_primary()
    lsid = new_lsid()
    ins = majority({"insert": "sd", "documents": [{"_id": 1}, {"_id": 2}], "lsid": lsid, "txnNumber": Int64(9)})
    f = majority({"findAndModify": "sd", "query": {"_id": 1}, "update": {"$inc": {"c": 1}}, "new": True,
                  "lsid": new_lsid(), "txnNumber": Int64(1)})
    first = cmd(rs, p, ins)
    assert first["ok"] == 1 and first["n"] == 2, first
    ffirst = cmd(rs, p, f)
    assert ffirst["value"] == {"_id": 1, "c": 1}, ffirst
    r = rs.command(p, {"replSetStepDown": 30, "secondaryCatchUpPeriodSecs": 10})
    assert r["ok"] == 1, r
    new = rs.wait_primary(timeout_s=FAILOVER_BOUND_S, exclude=(p,))
    # The old primary now refuses, with the label that makes clients retry.
    r = cmd(rs, p, ins)
    assert r["ok"] == 0 and r["code"] == 10107 and r["errorLabels"] == ["RetryableWriteError"], r
    again = cmd(rs, new, ins)
    assert again["ok"] == 1 and again["n"] == 2 and "writeErrors" not in again, again
    assert again["retriedStmtIds"] == [0, 1]
    fagain = cmd(rs, new, f)
    assert fagain["ok"] == 1 and fagain["value"] == {"_id": 1, "c": 1}, fagain
    assert cmd(rs, new, {"find": "sd", "filter": {"_id": 1}})["cursor"]["firstBatch"] == [{"_id": 1, "c": 1}]
    assert count(rs, new, "sd") == 2
    # Older txnNumbers are refused on the new primary too.
    r = cmd(rs, new, dict(ins, txnNumber=Int64(8)))
    assert r["ok"] == 0 and r["code"] == 225, r


class RetryingWriter(threading.Thread):
    """Inserts {_id: n} through a retryWrites=True client in a loop."""

    def __init__(self, rs):
        super().__init__(daemon=True)
        client = rs.client(retryWrites=True, serverSelectionTimeoutMS=15000, socketTimeoutMS=10000)
        self.coll = client.t_retry.get_collection("loop", write_concern=WriteConcern(w="majority",
                                                                                      wtimeout=10000))
        self.acked = []
        self.failed = []
        self.errors = []
        self.stop_flag = threading.Event()
        self.next_id = 0

    def run(self):
        while not self.stop_flag.is_set():
            i = self.next_id
            self.next_id += 1
            try:
                self.coll.insert_one({"_id": i})
                self.acked.append(i)
            except pymongo.errors.PyMongoError as e:
                self.failed.append(i)
                self.errors.append(repr(e)[:300])
                time.sleep(0.05)

    def stop(self):
        self.stop_flag.set()
        self.join(40)
        assert not self.is_alive(), "writer thread did not stop"


def test_a_retryWrites_client_through_repeated_kill9_failovers_loses_and_duplicates_nothing(replset):
    rs = replset()
    w = RetryingWriter(rs)
    w.start()
    try:
        for _ in range(3):
            n = len(w.acked)
            deadline = time.monotonic() + 20
            while len(w.acked) < n + 30 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(w.acked) >= n + 30, "writes stalled: %s" % w.errors[-5:]
            old = rs.wait_primary()
            rs.kill9(old)
            rs.wait_primary(timeout_s=FAILOVER_BOUND_S, exclude=(old,))
            rs.restart(old)
        n = len(w.acked)
        deadline = time.monotonic() + 20
        while len(w.acked) < n + 30 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        w.stop()
    dup = [e for e in w.errors if "E11000" in e or "DuplicateKey" in e]
    assert dup == [], dup[:5]
    p = rs.wait_primary()
    present = sorted(d["_id"] for d in rs.direct(p).t_retry.loop.find({}, {"_id": 1}))
    assert len(present) == len(set(present))
    lost = sorted(set(w.acked) - set(present))
    assert lost == [], "acknowledged writes lost: %r" % lost[:20]
    assert set(present) <= set(range(w.next_id))
    # Every attempted insert either succeeded (acked) or failed outright and
    # may or may not be there; acked ones are each there exactly once.
    assert len(present) >= len(w.acked)


def test_pymongo_retries_a_replicated_but_unacknowledged_insert_on_the_new_primary_without_duplicating(replset):
    """The insert reaches the primary and one secondary, the primary dies
    before answering (w:3 waits for the paused third member), and pymongo
    retries on the new primary: the session record answers, not DuplicateKey."""
    rs = replset()
    p = rs.wait_primary()
    a, b = [i for i in range(3) if i != p]
    c = rs.client(retryWrites=True, socketTimeoutMS=30000)
    coll = c.t_retry.get_collection("unacked", write_concern=WriteConcern(w=3, wtimeout=25000))
    coll.insert_one({"_id": "warm-up"})
    rs.sync_from_primary(p, [a])
    rs.pause(b)
    outcome = {}

    def write():
        try:
            outcome["result"] = coll.insert_one({"_id": "x"}).inserted_id
        except pymongo.errors.PyMongoError as e:
            outcome["error"] = repr(e)

    t = threading.Thread(target=write, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while rs.direct(a, readPreference="secondaryPreferred").t_retry.unacked.find_one({"_id": "x"}) is None:
        assert time.monotonic() < deadline, "the insert never reached the secondary"
        time.sleep(0.05)
    assert t.is_alive(), "the w:3 insert was answered while a member was paused: %r" % outcome
    rs.kill9(p)
    rs.resume(b)
    new = rs.wait_primary(timeout_s=FAILOVER_BOUND_S, exclude=(p,))
    rs.restart(p)
    t.join(40)
    assert not t.is_alive(), "the retried insert never finished"
    assert outcome == {"result": "x"}, outcome
    assert rs.direct(new).t_retry.unacked.count_documents({"_id": "x"}) == 1

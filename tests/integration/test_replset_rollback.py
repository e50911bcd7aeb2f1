"""Rollback of writes that never reached a majority, and sync-source liveness.

Rollback: with both secondaries frozen (SIGSTOP) the primary P still accepts
w:1 writes for up to electionTimeout; they are acknowledged locally and never
replicated. P is then killed, the others elect a new primary and take a
majority write, and P restarts: it must rejoin as a SECONDARY, undo its
diverged entries (inserts removed, updated and deleted documents restored to
their pre-images), save the documents it removed or overwrote as BSON under
<dbpath>/rollback/<db>.<coll>/, catch up, and end with exactly the data of the
other members, with every majority-acknowledged write everywhere.

Liveness: a secondary whose sync source dies must choose another source, so
w:"majority" writes keep succeeding with one member down.
"""
import glob
import os
import time

import bson
import pymongo
from pymongo.write_concern import WriteConcern

from conftest import SECONDARY

DB = "t_rollback"
SETUP_ATTEMPTS = 4
# A frozen secondary may still hold an await-data getMore parked on P: P would
# answer it with the new entries, and the secondary would read them from its
# socket after SIGCONT. The fetcher's await time is 1 s, so P takes the
# writes after PARKED_S, when those getMores have been answered (empty), and
# an election timeout of 3 s keeps P primary that long.
PARKED_S = 1.5
ROLLBACK_SETTINGS = {"heartbeatIntervalMillis": 200, "electionTimeoutMillis": 3000}
# Election, restart and rollback with 200/1000 ms timers, with slack for two
# busy cores and sanitizer builds.
BOUND_S = 20.0


def _docs_on(rs, i, db, coll):
    c = rs.direct(i)
    try:
        return sorted(c[db][coll].find({}), key=lambda d: repr(d["_id"]))
    finally:
        c.close()
        rs._clients.remove(c)


def _wait_same_docs(rs, db, coll, timeout_s=BOUND_S):
    """Every running member holds identical documents of db.coll; returns them."""
    def same():
        seen = []
        for i in range(len(rs.members)):
            if not rs.is_up(i):
                continue
            try:
                seen.append(_docs_on(rs, i, db, coll))
            except pymongo.errors.PyMongoError:
                return None
        return seen[0] or [None] if seen and all(s == seen[0] for s in seen) else None
    got = rs.wait_until("all members hold the same %s.%s" % (db, coll), same, timeout_s, 0.2)
    return [] if got == [None] else got


def _diverge(rs):
    """Freezes both secondaries and makes P take w:1 writes only it will ever
    have; kills P. Returns (P, the new primary). Retries when P stepped down
    before every write was acknowledged (a slow machine)."""
    for attempt in range(SETUP_ATTEMPTS):
        p = rs.wait_primary(BOUND_S)
        rs.wait_all_secondaries(BOUND_S)
        secondaries = [i for i in range(len(rs.members)) if i != p]
        c = rs.direct(p, serverSelectionTimeoutMS=2000, socketTimeoutMS=2000)
        docs = c[DB].get_collection("docs", write_concern=WriteConcern(w=1))
        other = c[DB].get_collection("other", write_concern=WriteConcern(w=1))
        docs.find_one({})  # connect before the clock starts
        tag = "lost%d" % attempt
        for s in secondaries:
            rs.pause(s)
        time.sleep(PARKED_S)
        try:
            docs.insert_one({"_id": tag + "a", "n": 1})
            docs.insert_one({"_id": tag + "b", "n": 2})
            docs.update_one({"_id": "upd"}, {"$set": {"v": "diverged"}, "$inc": {"k": 1}})
            docs.delete_one({"_id": "del"})
            other.insert_one({"_id": tag + "c"})
            ok = True
        except pymongo.errors.PyMongoError:
            ok = False
        rs.kill9(p)
        for s in secondaries:
            rs.resume(s)
        if ok:
            return p, rs.wait_primary(BOUND_S), tag
        # P stepped down too early: whatever it took is rolled back later
        # anyway, but this test wants all four kinds of change; start over
        # with P as a member again.
        rs.wait_primary(BOUND_S)
        rs.restart(p)
        rs.wait_all_secondaries(BOUND_S)
        _fix_baseline(rs)
    raise AssertionError("the primary stepped down before the w:1 writes, %d times" % SETUP_ATTEMPTS)


def _fix_baseline(rs):
    c = rs.client()
    docs = c[DB].get_collection("docs", write_concern=WriteConcern(w=3, wtimeout=10000))
    docs.replace_one({"_id": "upd"}, {"_id": "upd", "v": "orig", "k": 0}, upsert=True)
    docs.replace_one({"_id": "del"}, {"_id": "del", "v": "keep"}, upsert=True)


def _rollback_docs(rs, i):
    """Every document in member i's rollback files, by namespace directory."""
    out = {}
    root = os.path.join(rs.members[i].dbpath, "rollback")
    for path in sorted(glob.glob(os.path.join(root, "*", "*.bson"))):
        ns = os.path.basename(os.path.dirname(path))
        with open(path, "rb") as f:
            out.setdefault(ns, []).extend(bson.decode_all(f.read()))
    return out


def test_old_primary_rolls_back_unreplicated_writes_and_rejoins(replset):
    rs = replset(n=3, settings=ROLLBACK_SETTINGS)
    c = rs.client()
    maj = WriteConcern(w="majority", wtimeout=10000)
    docs = c[DB].get_collection("docs", write_concern=maj)
    docs.insert_many([{"_id": "base%d" % k, "k": k} for k in range(5)])
    docs.insert_one({"_id": "upd", "v": "orig", "k": 0})
    docs.insert_one({"_id": "del", "v": "keep"})
    c[DB].get_collection("other", write_concern=maj).insert_one({"_id": "o1"})
    _wait_same_docs(rs, DB, "docs")

    p, new_p, tag = _diverge(rs)
    assert new_p != p
    docs.insert_one({"_id": "after", "term": "new"})

    rs.restart(p)
    rs.wait_state(p, SECONDARY, BOUND_S)

    def has_after():
        return any(d["_id"] == "after" for d in _docs_on(rs, p, DB, "docs"))
    rs.wait_until("the old primary holds the new primary's write", has_after, BOUND_S)

    want = sorted([{"_id": "base%d" % k, "k": k} for k in range(5)] +
                  [{"_id": "upd", "v": "orig", "k": 0}, {"_id": "del", "v": "keep"},
                   {"_id": "after", "term": "new"}], key=lambda d: repr(d["_id"]))
    assert _wait_same_docs(rs, DB, "docs") == want
    assert _wait_same_docs(rs, DB, "other") == [{"_id": "o1"}]

    saved = _rollback_docs(rs, p)
    # pymongo sends the w:1 writes as retryable writes: their session records
    # (and the implicit creation of config.transactions) are rolled back too.
    sessions = saved.pop("config.transactions", [])
    assert all("txnNum" in d for d in sessions), sessions
    assert sorted(saved) == [DB + ".docs", DB + ".other"], saved
    # The documents rollback removed or overwrote: the two inserts and the
    # diverged version of the update (the delete left nothing to save).
    assert sorted(saved[DB + ".docs"], key=lambda d: d["_id"]) == [
        {"_id": tag + "a", "n": 1}, {"_id": tag + "b", "n": 2}, {"_id": "upd", "v": "diverged", "k": 1}]
    assert saved[DB + ".other"] == [{"_id": tag + "c"}]

    # The old primary serves majority writes as a member of the set again.
    c[DB].get_collection("docs", write_concern=WriteConcern(w=3, wtimeout=10000)).insert_one({"_id": "w3"})
    for i in range(3):
        assert any(d["_id"] == "w3" for d in _docs_on(rs, i, DB, "docs"))

    def healthy():
        st = rs.status(new_p)
        mine = [m for m in st["members"] if m["name"] == rs.host(p)]
        return mine and mine[0]["health"] == 1 and mine[0]["stateStr"] == "SECONDARY"
    rs.wait_until("the old primary is healthy in replSetGetStatus", healthy, BOUND_S)
    own = rs.status(p)
    assert own["ok"] == 1 and own["myState"] == SECONDARY

    # Restarting the rolled-back member keeps its data (the rollback was durable).
    rs.restart(p)
    rs.wait_state(p, SECONDARY, BOUND_S)
    assert _wait_same_docs(rs, DB, "docs") == _docs_on(rs, new_p, DB, "docs")


def _sync_source(rs, i):
    st = rs.try_command(i, {"replSetGetStatus": 1})
    return st.get("syncSourceHost") if st and st.get("ok") == 1 else None


def test_secondary_replaces_a_dead_sync_source(replset):
    rs = replset(n=3, settings={"heartbeatIntervalMillis": 200, "electionTimeoutMillis": 1000,
                                "chainingAllowed": True})
    p = rs.wait_primary(BOUND_S)
    a, b = [i for i in range(3) if i != p]
    c = rs.client()
    maj = c[DB].get_collection("chain", write_concern=WriteConcern(w="majority", wtimeout=3000))
    maj.insert_one({"_id": 0})

    # Chain a <- b <- P: b first (it may sync from a right now; a would refuse
    # a source that syncs from it), then a.
    for member, source in ((b, p), (a, b)):
        reply = rs.command(member, {"replSetSyncFrom": rs.host(source)})
        assert reply.get("ok") == 1 and reply["syncFromRequested"] == rs.host(source), reply
        rs.wait_until("member %d syncs from %d" % (member, source),
                      lambda: _sync_source(rs, member) == rs.host(source), BOUND_S)
    maj.insert_one({"_id": 1})
    assert _sync_source(rs, a) == rs.host(b)

    rs.kill9(b)
    t0 = time.monotonic()
    # The first write may wait while a notices; every write must succeed.
    for k in range(2, 12):
        maj.insert_one({"_id": k})
    elapsed = time.monotonic() - t0
    assert elapsed < 8.0, "majority writes took %.1fs with the sync source dead" % elapsed
    assert _sync_source(rs, a) == rs.host(p)
    st = rs.status(a)
    assert st["optimes"]["appliedOpTime"]["t"] >= 1
    assert st["optimes"]["lastCommittedOpTime"]["t"] >= 1
    assert sorted(d["_id"] for d in _docs_on(rs, a, DB, "chain")) == list(range(12))

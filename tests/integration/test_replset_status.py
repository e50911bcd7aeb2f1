"""Replica sets, read-mostly: initiate, hello in every state, replSetGetStatus
and replSetGetConfig shapes, replicated writes seen on every member, read and
write rules on secondaries, and the errors of replSetInitiate.

One shared 3-member set (fast timers: heartbeats 200 ms, election timeout
1000 ms) serves the tests that do not change its membership or leader;
uninitiated members are started per test. Expectations are mongod 6.0's.
"""
import datetime

import pymongo
import pytest
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.timestamp import Timestamp
from pymongo.read_preferences import ReadPreference
from pymongo.write_concern import WriteConcern

from conftest import PRIMARY, SECONDARY


def secondaries_of(rs):
    p = rs.wait_primary()
    return p, [i for i in range(len(rs.members)) if i != p]


# -- an uninitiated member ---------------------------------------------------

def test_an_uninitiated_member_answers_hello_as_a_replica_set_ghost(replset):
    rs = replset(n=1, up=False)
    for cmd in ({"hello": 1}, {"isMaster": 1}):
        h = rs.command(0, cmd)
        assert h["ok"] == 1
        key = "isWritablePrimary" if "hello" in cmd else "ismaster"
        assert h[key] is False and h["secondary"] is False
        assert h["isreplicaset"] is True
        assert isinstance(h["info"], str) and h["info"]
        for absent in ("setName", "setVersion", "hosts", "primary", "me", "electionId"):
            assert absent not in h, (absent, h)
        assert isinstance(h["maxWireVersion"], int) and h["maxWireVersion"] == 17


def test_an_uninitiated_member_has_no_status_or_config_yet(replset):
    rs = replset(n=1, up=False)
    st = rs.status(0)
    assert st["ok"] == 0 and st["code"] == 94 and st["codeName"] == "NotYetInitialized", st
    cfg = rs.command(0, {"replSetGetConfig": 1})
    assert cfg["ok"] == 0 and cfg["code"] == 94, cfg


def test_an_uninitiated_member_refuses_writes_and_reads_but_allows_the_local_database(replset):
    rs = replset(n=1, up=False)
    r = rs.command(0, {"insert": "c", "documents": [{"_id": 1}]}, db="test")
    assert r["ok"] == 0 and r["code"] == 10107, r
    r = rs.command(0, {"find": "c", "$readPreference": {"mode": "secondaryPreferred"}}, db="test")
    assert r["ok"] == 0 and r["code"] == 13436, r
    r = rs.command(0, {"insert": "scratch", "documents": [{"_id": 1}]}, db="local")
    assert r["ok"] == 1 and r["n"] == 1, r


def invalid_config_cases(rs):
    me = rs.host(0)
    other = "127.0.0.1:%d" % (rs.members[0].port + 1)
    base = lambda members, **kw: dict({"_id": "rs0", "version": 1, "members": members}, **kw)
    return [
        # (config, code, words the message must contain)
        (base([{"_id": 0, "host": me}, {"_id": 0, "host": other}]), 93, ["_id"]),
        (base([{"_id": 0, "host": me}, {"_id": 1, "host": me}]), 93, ["host"]),
        (base([{"_id": 0, "host": me, "priority": 1001}]), 93, ["priority"]),
        (base([{"_id": 0, "host": me, "votes": 2}]), 93, ["votes"]),
        (base([{"_id": 0, "host": me}], version=2), 93, ["version"]),
        (base([]), 93, ["members"]),
        (base([{"_id": 0, "host": me, "priority": 0}]), 93, ["priority"]),
        (base([{"_id": 0, "host": me}, {"_id": 1, "host": other, "arbiterOnly": True, "priority": 5}]), 93,
         ["arbiter"]),
        (base([{"_id": 0, "host": me}], protocolVersion=0), 93, ["protocolVersion"]),
        (base([{"_id": i, "host": "127.0.0.1:%d" % (30000 + i)} for i in range(8)]
              + [{"_id": 8, "host": me}]), 93, ["voting members"]),
        (dict(base([{"_id": 0, "host": me}]), _id="other"), 93, ["other", "rs0"]),
        (base([{"_id": 0, "host": me}], settings={"replicaSetId": ObjectId()}), 93, ["replicaSetId"]),
    ]


def test_replSetInitiate_rejects_invalid_configs_with_93_naming_the_field(replset):
    rs = replset(n=1, up=False)
    failures = []
    for cfg, code, words in invalid_config_cases(rs):
        r = rs.command(0, {"replSetInitiate": cfg})
        msg = r.get("errmsg", "")
        if r.get("ok") != 0 or r.get("code") != code or r.get("codeName") != "InvalidReplicaSetConfig" \
                or not all(w.lower() in msg.lower() for w in words):
            failures.append((cfg, r))
    assert failures == []
    # Nothing was installed: the member is still a ghost.
    assert rs.hello(0)["isreplicaset"] is True


def test_replSetInitiate_with_a_config_that_does_not_name_this_member_fails_with_NodeNotFound(replset):
    rs = replset(n=1, up=False)
    cfg = {"_id": "rs0", "version": 1, "members": [{"_id": 0, "host": "127.0.0.1:1"}]}
    r = rs.command(0, {"replSetInitiate": cfg})
    assert r["ok"] == 0 and r["code"] == 74 and r["codeName"] == "NodeNotFound", r
    assert "maps to this node" in r["errmsg"]


def test_replSetInitiate_with_a_non_document_builds_a_one_member_default_config(replset):
    # mongod treats any non-object argument like rs.initiate() with no config.
    rs = replset(n=1, up=False)
    r = rs.command(0, {"replSetInitiate": "rs0"})
    assert r["ok"] == 1, r
    assert rs.wait_primary(timeout_s=15) == 0
    cfg = rs.command(0, {"replSetGetConfig": 1})["config"]
    assert cfg["_id"] == "rs0" and len(cfg["members"]) == 1 and cfg["version"] == 1


def test_a_one_member_set_elects_itself_at_once(replset):
    rs = replset(n=1, up=False)
    rs.initiate()
    assert rs.wait_primary(timeout_s=10) == 0
    h = rs.hello(0)
    assert h["hosts"] == [rs.host(0)] and h["primary"] == rs.host(0)


# -- the shared three-member set ----------------------------------------------

def test_a_three_member_set_has_one_primary_and_two_secondaries(rs3):
    rs3.wait_all_secondaries()
    states = rs3.states()
    assert sorted(states) == [PRIMARY, SECONDARY, SECONDARY], states


def test_a_second_replSetInitiate_fails_with_AlreadyInitialized(rs3):
    for i in range(3):
        r = rs3.command(i, {"replSetInitiate": rs3.config()})
        assert r["ok"] == 0 and r["code"] == 23 and r["codeName"] == "AlreadyInitialized", r


def test_hello_on_the_primary_has_every_replica_set_field_with_its_type(rs3):
    p = rs3.wait_primary()
    # A majority write moves the commit point, so majorityOpTime is real.
    rs3.client().t_hello.c.with_options(write_concern=WriteConcern(w="majority", wtimeout=10000)).insert_one({})
    h = rs3.hello(p)
    assert h["ok"] == 1
    assert h["isWritablePrimary"] is True and h["secondary"] is False
    assert h["setName"] == "rs0"
    assert type(h["setVersion"]) is int and h["setVersion"] >= 1
    assert sorted(h["hosts"]) == sorted(rs3.hosts())
    assert h["primary"] == rs3.host(p) and h["me"] == rs3.host(p)
    assert isinstance(h["electionId"], ObjectId)
    assert h["electionId"].binary[:4] == b"\x7f\xff\xff\xff"
    lw = h["lastWrite"]
    now = datetime.datetime.utcnow()
    day = datetime.timedelta(days=1)
    assert isinstance(lw["opTime"]["ts"], Timestamp) and isinstance(lw["opTime"]["t"], Int64)
    assert isinstance(lw["lastWriteDate"], datetime.datetime)
    assert isinstance(lw["majorityOpTime"]["ts"], Timestamp)
    assert isinstance(lw["majorityWriteDate"], datetime.datetime)
    assert abs(lw["lastWriteDate"] - now) < day and abs(lw["majorityWriteDate"] - now) < day, lw
    assert lw["opTime"]["t"] >= 1 and h["electionId"] != ObjectId("7fffffff0000000000000000")
    assert "isreplicaset" not in h and "arbiterOnly" not in h and "hidden" not in h
    assert h["logicalSessionTimeoutMinutes"] == 30 and h["maxWireVersion"] == 17
    # The term in the electionId is the term in replSetGetStatus.
    term = int.from_bytes(h["electionId"].binary[4:], "big")
    assert term == rs3.status(p)["term"]
    m = rs3.command(p, {"isMaster": 1})
    assert m["ismaster"] is True and "isWritablePrimary" not in m and m["setName"] == "rs0"


def test_hello_on_a_secondary_names_the_primary_and_has_no_electionId(rs3):
    p, secs = secondaries_of(rs3)
    for s in secs:
        h = rs3.hello(s)
        assert h["isWritablePrimary"] is False and h["secondary"] is True, h
        assert h["setName"] == "rs0" and h["me"] == rs3.host(s)
        assert sorted(h["hosts"]) == sorted(rs3.hosts())
        assert "electionId" not in h
        assert isinstance(h["lastWrite"]["lastWriteDate"], datetime.datetime)
    # The primary hint may lag a heartbeat behind; wait for it.
    rs3.wait_until("secondaries name the primary",
                   lambda: all(rs3.hello(s).get("primary") == rs3.host(p) for s in secs), 5)


def test_replSetGetStatus_has_the_fields_rs_status_prints(rs3):
    p, secs = secondaries_of(rs3)
    # Heartbeats must have brought every member's view up to date.
    rs3.wait_until("the primary sees two healthy secondaries",
                   lambda: sorted(m["state"] for m in rs3.status(p)["members"]) == [1, 2, 2], 5)
    for i in range(3):
        st = rs3.status(i)
        assert st["ok"] == 1
        assert st["set"] == "rs0"
        assert isinstance(st["date"], datetime.datetime)
        assert st["myState"] == (PRIMARY if i == p else SECONDARY)
        assert isinstance(st["term"], Int64) and st["term"] >= 1
        assert st["heartbeatIntervalMillis"] == 200
        assert st["majorityVoteCount"] == 2 and st["writeMajorityCount"] == 2
        assert st["votingMembersCount"] == 3 and st["writableVotingMembersCount"] == 3
        for k in ("lastCommittedOpTime", "readConcernMajorityOpTime", "appliedOpTime", "durableOpTime"):
            assert isinstance(st["optimes"][k]["ts"], Timestamp), k
            assert isinstance(st["optimes"][k]["t"], Int64), k
        for k in ("lastCommittedWallTime", "lastAppliedWallTime", "lastDurableWallTime"):
            assert isinstance(st["optimes"][k], datetime.datetime), k
        members = st["members"]
        assert [m["_id"] for m in members] == [0, 1, 2]
        assert [m["name"] for m in members] == rs3.hosts()
        selfs = [m for m in members if m.get("self")]
        assert len(selfs) == 1 and selfs[0]["name"] == rs3.host(i)
        for m in members:
            assert m["health"] == 1, m
            assert m["stateStr"] == {1: "PRIMARY", 2: "SECONDARY"}[m["state"]]
            assert isinstance(m["uptime"], int)
            assert isinstance(m["optime"]["ts"], Timestamp) and isinstance(m["optime"]["t"], Int64)
            assert isinstance(m["optimeDate"], datetime.datetime)
            assert m["configVersion"] == 1 and "configTerm" in m
            assert isinstance(m["syncSourceHost"], str) and "syncSourceId" in m
            if not m.get("self"):
                assert isinstance(m["lastHeartbeat"], datetime.datetime)
                assert isinstance(m["lastHeartbeatRecv"], datetime.datetime)
                assert isinstance(m["pingMs"], int)
            if m["state"] == PRIMARY:
                assert isinstance(m["electionTime"], Timestamp)
                assert isinstance(m["electionDate"], datetime.datetime)
                assert m["syncSourceHost"] == ""
        assert sum(1 for m in members if m["state"] == PRIMARY) == 1
        if i == p:
            ecm = st["electionCandidateMetrics"]
            assert ecm["lastElectionReason"] == "electionTimeout", ecm
            assert ecm["electionTerm"] == st["term"] and ecm["numVotesNeeded"] == 2, ecm
            assert abs(ecm["lastElectionDate"] - st["date"]) < datetime.timedelta(hours=1), ecm
    # The primary's view: its term equals every secondary's once heartbeats ran.
    assert len({rs3.status(i)["term"] for i in range(3)}) == 1


def test_replSetGetConfig_returns_the_initiated_config_with_the_defaults_filled_in(rs3):
    ids = set()
    for i in range(3):
        r = rs3.command(i, {"replSetGetConfig": 1})
        assert r["ok"] == 1, r
        c = r["config"]
        assert c["_id"] == "rs0" and c["version"] == 1
        assert isinstance(c["term"], int) and c["term"] >= 0
        assert c["protocolVersion"] == 1 and c["writeConcernMajorityJournalDefault"] is True
        assert [m["host"] for m in c["members"]] == rs3.hosts()
        for n, m in enumerate(c["members"]):
            assert m["_id"] == n
            assert m["arbiterOnly"] is False and m["buildIndexes"] is True and m["hidden"] is False
            assert m["priority"] == 1 and m["votes"] == 1 and m["tags"] == {}
            assert m["secondaryDelaySecs"] == 0
        s = c["settings"]
        assert s["heartbeatIntervalMillis"] == 200 and s["electionTimeoutMillis"] == 1000
        assert s["chainingAllowed"] is True and s["heartbeatTimeoutSecs"] == 10
        assert s["catchUpTimeoutMillis"] == -1 and s["catchUpTakeoverDelayMillis"] == 30000
        assert s["getLastErrorModes"] == {} and s["getLastErrorDefaults"] == {"w": 1, "wtimeout": 0}
        assert isinstance(s["replicaSetId"], ObjectId)
        ids.add(s["replicaSetId"])
    assert len(ids) == 1, "every member must hold the same config"


def test_local_system_replset_holds_the_config(rs3):
    p = rs3.wait_primary()
    c = rs3.direct(p)
    docs = list(c.local["system.replset"].find())
    assert len(docs) == 1 and docs[0]["_id"] == "rs0" and docs[0]["version"] == 1


def test_pymongo_with_replicaSet_finds_the_primary_and_majority_writes_replicate_everywhere(rs3):
    p = rs3.wait_primary()
    c = rs3.client()
    c.admin.command("ping")  # selects the primary, so the topology knows it
    assert c.primary == ("127.0.0.1", rs3.members[p].port)
    coll = c.t_basic.docs.with_options(write_concern=WriteConcern(w="majority", wtimeout=10000))
    coll.drop()
    coll.insert_many([{"_id": i, "v": "x" * i} for i in range(50)])
    coll.update_one({"_id": 3}, {"$set": {"v": "changed"}})
    coll.delete_one({"_id": 4})
    want = [i for i in range(50) if i != 4]
    assert rs3.wait_converged("t_basic", "docs", want) == want
    for i in range(3):
        assert rs3.direct(i).t_basic.docs.find_one({"_id": 3})["v"] == "changed"
    # Secondary read preference through the set client sees the data too.
    sec = c.t_basic.get_collection("docs", read_preference=ReadPreference.SECONDARY)
    assert sec.count_documents({}) == 49


def test_a_w3_write_is_on_every_member_when_acknowledged(rs3):
    c = rs3.client()
    coll = c.t_w3.docs.with_options(write_concern=WriteConcern(w=3, wtimeout=10000))
    coll.insert_one({"_id": "w3"})
    for i in range(3):
        assert rs3.direct(i).t_w3.docs.find_one({"_id": "w3"}) == {"_id": "w3"}


def test_collections_and_indexes_created_on_the_primary_appear_on_secondaries(rs3):
    c = rs3.client()
    db = c.t_ddl
    db.create_collection("made")
    db.made.create_index([("a", 1)], unique=True, name="a_1")
    db.made.with_options(write_concern=WriteConcern(w=3, wtimeout=10000)).insert_one({"_id": 1, "a": 1})
    for i in range(3):
        d = rs3.direct(i).t_ddl
        assert "made" in d.list_collection_names()
        assert "a_1" in d.made.index_information()


def test_reads_on_a_secondary_without_secondaryOk_fail_with_13435(rs3):
    p, secs = secondaries_of(rs3)
    s = secs[0]
    for cmd in ({"find": "c"}, {"count": "c"}, {"aggregate": "c", "pipeline": [], "cursor": {}},
                {"listCollections": 1}, {"distinct": "c", "key": "a"}):
        r = rs3.command(s, cmd, db="t_reads")
        assert r["ok"] == 0 and r["code"] == 13435 and r["codeName"] == "NotPrimaryNoSecondaryOk", (cmd, r)
        ok = dict(cmd, **{"$readPreference": {"mode": "secondaryPreferred"}})
        r = rs3.command(s, ok, db="t_reads")
        assert r["ok"] == 1, (ok, r)
    # The primary serves reads with or without a read preference.
    assert rs3.command(p, {"find": "c"}, db="t_reads")["ok"] == 1
    # Always-allowed commands work on a secondary without secondaryOk.
    for cmd in ({"ping": 1}, {"buildInfo": 1}, {"replSetGetStatus": 1}, {"replSetGetConfig": 1},
                {"serverStatus": 1}):
        assert rs3.command(s, cmd)["ok"] == 1, cmd


def test_writes_on_a_secondary_fail_with_NotWritablePrimary_even_with_secondaryOk(rs3):
    p, secs = secondaries_of(rs3)
    s = secs[0]
    rp = {"$readPreference": {"mode": "secondaryPreferred"}}
    for cmd in ({"insert": "c", "documents": [{"_id": 1}]},
                {"update": "c", "updates": [{"q": {}, "u": {"$set": {"a": 1}}}]},
                {"delete": "c", "deletes": [{"q": {}, "limit": 0}]},
                {"findAndModify": "c", "query": {}, "remove": True},
                {"create": "newcoll"}, {"drop": "c"},
                {"createIndexes": "c", "indexes": [{"key": {"z": 1}, "name": "z_1"}]}):
        r = rs3.command(s, dict(cmd, **rp), db="t_secwrites")
        assert r["ok"] == 0 and r["code"] == 10107 and r["codeName"] == "NotWritablePrimary", (cmd, r)
    r = rs3.command(s, {"replSetStepDown": 10})
    assert r["ok"] == 0 and r["code"] == 10107, r
    # The local database is writable on every member.
    r = rs3.command(s, {"insert": "scratch", "documents": [{"_id": 1}]}, db="local")
    assert r["ok"] == 1 and r["n"] == 1, r
    # And nothing written to local replicates.
    assert rs3.direct(p).local.scratch.find_one({"_id": 1}) is None


def test_pymongo_direct_to_a_secondary_raises_NotMasterError_on_write(rs3):
    p, secs = secondaries_of(rs3)
    c = rs3.direct(secs[0])
    with pytest.raises(pymongo.errors.NotMasterError):
        c.t_direct.c.insert_one({"_id": 1})


def test_the_oplog_records_writes_and_every_member_has_the_same_entries(rs3):
    c = rs3.client()
    coll = c.t_oplog.docs.with_options(write_concern=WriteConcern(w=3, wtimeout=10000))
    coll.insert_one({"_id": 1})
    coll.update_one({"_id": 1}, {"$set": {"a": 1}})
    coll.delete_one({"_id": 1})
    views = []
    for i in range(3):
        d = rs3.direct(i)
        entries = list(d.local["oplog.rs"].find({"ns": "t_oplog.docs"}).sort("$natural", 1))
        views.append([(e["ts"], e["t"], e["op"]) for e in entries])
        assert [e["op"] for e in entries] == ["i", "u", "d"], entries
        assert entries[0]["o"] == {"_id": 1}
        assert isinstance(entries[0]["ts"], Timestamp) and isinstance(entries[0]["wall"], datetime.datetime)
    assert views[0] == views[1] == views[2]

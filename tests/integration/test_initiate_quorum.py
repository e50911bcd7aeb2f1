"""replSetInitiate's quorum check (replication digest 6.2): before a new set's
config is installed, the initiator sends a heartbeat with checkEmpty: true to
every other member and refuses, with mongod's codes and a message naming the
member, when one is unreachable (NodeNotFound 74), already has a config or
runs under another set name (NewReplicaSetConfigurationIncompatible 103), or
holds data (CannotInitializeNodeWithData 110). The initiator may hold data
(the others copy it). A refused initiate leaves every member uninitialised."""
import threading
import time

import pytest

from conftest import PRIMARY, SECONDARY, ReplSet, Server

NOT_YET_INITIALIZED = 94


def initiate(rs, cfg, on=0, timeout_s=60):
    return rs.command(on, {"replSetInitiate": cfg}, timeout_s=timeout_s)


def config_with(rs, hosts, name=None, settings=None):
    cfg = {"_id": name or rs.name, "version": 1,
           "members": [{"_id": i, "host": h} for i, h in enumerate(hosts)]}
    cfg["settings"] = dict(settings or rs.settings or {})
    return cfg


def assert_uninitialised(rs, i):
    st = rs.command(i, {"replSetGetStatus": 1})
    assert st["ok"] == 0 and st["code"] == NOT_YET_INITIALIZED, st


def test_all_members_reachable_and_empty_initiates(replset):
    rs = replset(n=3, up=False)
    reply = initiate(rs, rs.config())
    assert reply["ok"] == 1, reply
    rs.wait_primary()
    rs.wait_all_secondaries()
    assert "quorum check passed" in rs.members[0].log_text()


def test_a_member_that_is_down_fails_the_initiate_naming_it(replset):
    rs = replset(n=3, up=False)
    rs.members[2].stop()
    reply = initiate(rs, rs.config())
    assert reply["ok"] == 0 and reply["code"] == 74, reply
    assert reply["codeName"] == "NodeNotFound", reply
    assert "replSetInitiate quorum check failed because not all proposed set members responded " \
           "affirmatively: " in reply["errmsg"], reply
    assert rs.host(2) + " failed with" in reply["errmsg"], reply
    assert rs.host(1) not in reply["errmsg"], reply
    for i in (0, 1):
        assert_uninitialised(rs, i)
    # Once the member is back, the same initiate succeeds.
    rs.members[2].start()
    reply = initiate(rs, rs.config())
    assert reply["ok"] == 1, reply
    rs.wait_primary()
    rs.wait_all_secondaries()


def test_a_member_that_does_not_answer_fails_after_the_heartbeat_timeout(replset):
    rs = replset(n=3, up=False, settings={"heartbeatIntervalMillis": 200, "electionTimeoutMillis": 1000,
                                          "heartbeatTimeoutSecs": 2})
    rs.pause(2)
    started = time.monotonic()
    reply = initiate(rs, rs.config())
    took = time.monotonic() - started
    assert reply["ok"] == 0 and reply["code"] == 74, reply
    assert rs.host(2) + " failed with" in reply["errmsg"] and "timed out" in reply["errmsg"], reply
    # The heartbeat timeout bounds the wait (generous slack for a busy machine).
    assert took < 30, took
    # The loop was never blocked: other commands answered meanwhile, and still do.
    assert rs.command(0, {"ping": 1})["ok"] == 1
    assert_uninitialised(rs, 0)
    rs.resume(2)


def test_a_second_initiate_while_the_check_runs_is_refused(replset):
    rs = replset(n=3, up=False, settings={"heartbeatIntervalMillis": 200, "electionTimeoutMillis": 1000,
                                          "heartbeatTimeoutSecs": 3})
    rs.pause(2)
    first = {}

    def run_first():
        first["reply"] = initiate(rs, rs.config())

    t = threading.Thread(target=run_first)
    t.start()
    try:
        time.sleep(0.2)
        second = initiate(rs, rs.config(), timeout_s=30)
        # Meanwhile the check was not blocking the server.
        assert rs.command(0, {"hello": 1})["ok"] == 1
    finally:
        t.join(60)
        rs.resume(2)
    # Whichever arrived first ran the check (and timed out on the paused
    # member); the other was refused while it ran.
    replies = sorted([first["reply"], second], key=lambda r: r.get("code", 0))
    assert [r.get("code") for r in replies] == [74, 109], replies
    assert "Already initializing" in replies[1]["errmsg"], replies


def test_a_member_already_in_a_set_fails_the_initiate(replset):
    other = replset(n=1, name="rs0")  # an initiated one-member set of the same name
    rs = replset(n=2, up=False)
    hosts = rs.hosts() + [other.host(0)]
    reply = initiate(rs, config_with(rs, hosts))
    assert reply["ok"] == 0 and reply["code"] == 103, reply
    assert reply["codeName"] == "NewReplicaSetConfigurationIncompatible", reply
    assert other.host(0) in reply["errmsg"], reply
    assert "Our config version of 1 is no larger than the version on" in reply["errmsg"], reply
    assert "already a member of replica set rs0" in reply["errmsg"], reply
    for i in range(2):
        assert_uninitialised(rs, i)
    # The other set is untouched.
    assert other.hello(0)["isWritablePrimary"] is True


def test_a_member_started_for_another_set_fails_the_initiate(replset):
    other = replset(n=1, up=False, name="elsewhere")
    rs = replset(n=2, up=False)
    reply = initiate(rs, config_with(rs, rs.hosts() + [other.host(0)]))
    assert reply["ok"] == 0 and reply["code"] == 103, reply
    assert "Our set name did not match that of " + other.host(0) in reply["errmsg"], reply
    assert "elsewhere" in reply["errmsg"], reply
    assert_uninitialised(rs, 0)
    assert_uninitialised(other, 0)


def with_data(rs, i):
    """Gives member i of a started, uninitialised set some data: it runs as a
    standalone for a moment, then again as a member."""
    m = rs.members[i]
    m.stop()
    solo = Server(dbpath=m.dbpath, port=m.port)
    try:
        solo.start()
        solo.client().test.c.insert_one({"_id": "old"})
        solo.stop()
    finally:
        solo.cleanup()
    m.start()


def test_a_member_with_data_fails_the_initiate(replset):
    rs = replset(n=3, up=False)
    with_data(rs, 1)
    reply = initiate(rs, rs.config())
    assert reply["ok"] == 0 and reply["code"] == 110, reply
    assert reply["codeName"] == "CannotInitializeNodeWithData", reply
    assert reply["errmsg"] == "'%s' has data already, cannot initiate set." % rs.host(1), reply
    for i in range(3):
        assert_uninitialised(rs, i)


def test_the_initiator_may_hold_data_and_the_others_copy_it(replset):
    rs = replset(n=3, up=False)
    with_data(rs, 0)
    reply = initiate(rs, rs.config())
    assert reply["ok"] == 1, reply
    rs.wait_primary()
    rs.wait_all_secondaries(timeout_s=30)
    assert rs.wait_converged("test", "c", ["old"]) == ["old"]


def test_a_probe_is_answered_by_an_uninitialised_member(replset):
    rs = replset(n=1, up=False)
    reply = rs.command(0, {"replSetHeartbeat": "rs0", "configVersion": 1, "hbv": 1, "from": "127.0.0.1:1",
                           "fromId": -1, "term": -1, "checkEmpty": True})
    assert reply["ok"] == 1 and reply["hasData"] is False and reply["v"] == -2, reply
    wrong = rs.command(0, {"replSetHeartbeat": "nope", "configVersion": 1, "hbv": 1, "from": "127.0.0.1:1",
                           "checkEmpty": True})
    assert wrong["ok"] == 0 and wrong["code"] == 185, wrong
    bad = rs.command(0, {"replSetHeartbeat": "rs0", "checkEmpty": True})
    assert bad["ok"] == 0, bad
    # An ordinary heartbeat to a member without a config is still refused.
    plain = rs.command(0, {"replSetHeartbeat": "rs0", "configVersion": 1, "hbv": 1, "from": "127.0.0.1:1"})
    assert plain["ok"] == 0 and plain["code"] == NOT_YET_INITIALIZED, plain


def test_the_harness_and_a_one_member_initiate_still_work(replset):
    solo = replset(n=1)
    assert solo.hello(0)["isWritablePrimary"] is True
    rs = replset(n=1, up=False)
    reply = rs.command(0, {"replSetInitiate": {}})
    assert reply["ok"] == 1, reply
    rs.wait_primary()

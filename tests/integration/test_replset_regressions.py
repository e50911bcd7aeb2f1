"""Regression tests for replication bugs found by the simulator and the fault suite.

- A tailing oplog cursor never continues across a rollback of the member it reads
  (CappedPositionLost, 136), so a secondary that fetched entries of a dead branch from
  a deposed primary rolls them back instead of appending the new branch after them,
  and never takes a commit point from a branch it does not share.
- replSetUpdatePosition carries the sender's term; a primary hearing of a newer one
  steps down.
- A member recognises itself in the config by any of its --bind_ip addresses, and
  never by an address it does not listen on.
"""
import re
import socket
import time

import pymongo
import pytest
from bson.timestamp import Timestamp

from conftest import FAST_SETTINGS, PRIMARY, Server, raw_command
from failpoint_help import fp, test_replset

CAPPED_POSITION_LOST = 136
NODE_NOT_FOUND = 74


def oplog(rs, i):
    """Member i's oplog as [((secs, inc), t)], oldest first."""
    c = rs.direct(i)
    try:
        return [((e["ts"].time, e["ts"].inc), e.get("t"))
                for e in c.local["oplog.rs"].find({}, {"ts": 1, "t": 1}).sort("$natural", 1)]
    finally:
        c.close()


def last_optime(rs, i):
    ops = oplog(rs, i)
    return ops[-1] if ops else None


def committed_in_log(member):
    """Every optime member's log says its commit point advanced to, as ((secs, inc), t)."""
    out = set()
    for m in re.finditer(r"commit point advanced to \{ts: (\d+)\|(\d+), t: (-?\d+)\}", member.log_text()):
        out.add(((int(m.group(1)), int(m.group(2))), int(m.group(3))))
    return out


def sync_source(rs, i):
    st = rs.command(i, {"replSetGetStatus": 1})
    return st.get("syncSourceHost", "")


def dead_branch(rs):
    """Primary p writes entries nobody else has; y is elected without them (x votes),
    writes a new branch; x then fetches the dead branch from the deposed p, which
    holds its rollback back (stopReplProducer). Returns (p, x, y, dead_only)."""
    p = rs.up()
    base = rs.direct(p)
    base.t.c.with_options(write_concern=pymongo.WriteConcern(w=3, wtimeout=20000)).insert_one({"_id": "all"})
    x, y = [i for i in range(3) if i != p]
    for i in (x, y):
        # Chaining may have picked the other secondary: both must tail p.
        rs.command(i, {"replSetSyncFrom": rs.host(p)})
        rs.wait_until("member %d syncs from the primary" % i, lambda: sync_source(rs, i) == rs.host(p), 15)
    for i in (x, y):
        fp(rs, i, "stopReplProducer", "alwaysOn")
    w1 = pymongo.WriteConcern(w=1)
    for k in range(5):
        base.t.c.with_options(write_concern=w1).insert_one({"_id": "dead%d" % k})
    # The member that will win must be at least as fresh as the one that votes for it.
    if last_optime(rs, x) > last_optime(rs, y):
        x, y = y, x
    assert sync_source(rs, x) == rs.host(p)
    fp(rs, p, "stopReplProducer", "alwaysOn")  # the deposed primary does not roll back yet
    r = rs.command(y, {"replSetStepUp": 1}, timeout_s=15)
    assert r.get("ok") == 1, r
    rs.wait_until("member %d writable primary" % y,
                  lambda: (rs.try_command(y, {"hello": 1}, timeout_s=2) or {}).get("isWritablePrimary"), 15)
    rs.wait_until("old primary stepped down",
                  lambda: rs.try_command(p, {"hello": 1}) and
                  not rs.try_command(p, {"hello": 1}).get("isWritablePrimary"), 15)
    newp = rs.direct(y)
    for k in range(5):
        newp.t.c.with_options(write_concern=w1).insert_one({"_id": "new%d" % k})
    dead = oplog(rs, p)
    on_new_branch = set(oplog(rs, y))
    dead_only = [e for e in dead if e not in on_new_branch]
    assert len(dead_only) >= 5, dead_only
    # x resumes and tails the deposed primary, which still holds x's newest entry.
    fp(rs, x, "stopReplProducer", "off")
    rs.wait_until("x fetched the dead branch", lambda: last_optime(rs, x) == dead[-1], 20)
    assert sync_source(rs, x) == rs.host(p)
    return p, x, y, dead_only


def wait_converged(rs, x, y, p):
    def converged():
        want = oplog(rs, y)
        return oplog(rs, x) == want and oplog(rs, p) == want
    rs.wait_until("x and the old primary converged on the new branch", converged, 30)
    assert "Starting rollback" in rs.members[x].log_text()
    assert rs.ids_on(x, "t", "c") == rs.ids_on(y, "t", "c")


def test_secondary_tailing_a_deposed_primary_rolls_back_when_the_primary_does():
    # catchUpTimeoutMillis 0: the new primary must not fetch the dead branch before writing.
    rs = test_replset(3, settings=dict(FAST_SETTINGS, catchUpTimeoutMillis=0))
    try:
        p, x, y, dead_only = dead_branch(rs)
        # A client's tailing cursor on the deposed primary, positioned at its newest entry.
        sock = socket.create_connection(("127.0.0.1", rs.members[p].port), timeout=20)
        (secs, inc), _ = dead_only[-1]
        reply = raw_command(sock, {"find": "oplog.rs", "filter": {"ts": {"$gte": Timestamp(secs, inc)}},
                                   "tailable": True, "awaitData": True, "$db": "local",
                                   "$readPreference": {"mode": "secondaryPreferred"}})[1]
        assert reply.get("ok") == 1, reply
        cursor_id = reply["cursor"]["id"]
        assert cursor_id != 0 and len(reply["cursor"]["firstBatch"]) == 1

        # The deposed primary rolls back and takes the new branch; x's cursor on it
        # must not carry x from the dead branch straight onto the new one.
        fp(rs, p, "stopReplProducer", "off")
        wait_converged(rs, x, y, p)

        # Nor does the client's cursor go on past the truncation.
        more = raw_command(sock, {"getMore": cursor_id, "collection": "oplog.rs", "maxTimeMS": 200,
                                  "$db": "local"})[1]
        sock.close()
        assert more.get("ok") == 0 and more.get("code") == CAPPED_POSITION_LOST, more
    finally:
        rs.cleanup()


def test_diverged_secondary_takes_no_commit_point_from_a_source_it_diverged_from():
    rs = test_replset(3, settings=dict(FAST_SETTINGS, catchUpTimeoutMillis=0))
    try:
        p, x, y, dead_only = dead_branch(rs)
        # x holds still while the others commit the new branch past x's newest entry.
        fp(rs, x, "stopReplProducer", "alwaysOn")
        fp(rs, p, "stopReplProducer", "off")
        y_last = last_optime(rs, y)

        def committed_new_branch():
            st = rs.try_command(y, {"replSetGetStatus": 1}) or {}
            cp = st.get("optimes", {}).get("lastCommittedOpTime", {})
            return cp.get("t", -1) == y_last[1] and (cp["ts"].time, cp["ts"].inc) >= y_last[0]
        rs.wait_until("new branch committed", committed_new_branch, 30)
        fp(rs, x, "stopReplProducer", "off")
        wait_converged(rs, x, y, p)
        wrong = committed_in_log(rs.members[x]) & set(dead_only)
        assert not wrong, "x marked entries it then rolled back as committed: %r" % sorted(wrong)
    finally:
        rs.cleanup()


def test_tailing_oplog_cursor_survives_when_nothing_is_truncated():
    rs = test_replset(3)
    try:
        p = rs.up()
        c = rs.direct(p)
        c.t.c.insert_one({"_id": 0})
        sock = socket.create_connection(("127.0.0.1", rs.members[p].port), timeout=20)
        last = oplog(rs, p)[-1]
        reply = raw_command(sock, {"find": "oplog.rs",
                                   "filter": {"ts": {"$gte": Timestamp(*last[0])}},
                                   "tailable": True, "awaitData": True, "$db": "local"})[1]
        cid = reply["cursor"]["id"]
        assert cid != 0
        c.t.c.insert_one({"_id": 1})
        more = raw_command(sock, {"getMore": cid, "collection": "oplog.rs", "maxTimeMS": 2000, "$db": "local"})[1]
        sock.close()
        assert more.get("ok") == 1, more
        docs = more["cursor"]["nextBatch"]
        assert any(d.get("o", {}).get("_id") == 1 for d in docs), docs
    finally:
        rs.cleanup()


def test_update_position_from_a_newer_term_steps_the_primary_down():
    rs = test_replset(3)
    try:
        p = rs.up()
        term = rs.status(p)["term"]
        s = [i for i in range(3) if i != p][0]
        me = rs.status(s)
        mine = [m for m in me["members"] if m.get("self")][0]
        entry = {"appliedOpTime": mine["optime"], "appliedWallTime": mine["optimeDate"],
                 "durableOpTime": mine["optime"], "durableWallTime": mine["optimeDate"],
                 "memberId": mine["_id"], "cfgver": rs.command(p, {"replSetGetConfig": 1})["config"]["version"]}
        r = rs.command(p, {"replSetUpdatePosition": 1, "optimes": [entry], "term": term + 5})
        rs.wait_until("primary stepped down", lambda: rs.try_command(p, {"hello": 1}) and
                      not rs.try_command(p, {"hello": 1}).get("isWritablePrimary"), 10)
        assert rs.status(p)["term"] >= term + 5, r
    finally:
        rs.cleanup()


def test_update_position_accepts_the_term_in_repl_data():
    rs = test_replset(3)
    try:
        p = rs.up()
        term = rs.status(p)["term"]
        r = rs.command(p, {"replSetUpdatePosition": 1, "optimes": [], "$replData": {"term": term + 3}})
        rs.wait_until("primary stepped down", lambda: rs.try_command(p, {"hello": 1}) and
                      not rs.try_command(p, {"hello": 1}).get("isWritablePrimary"), 10)
        assert rs.status(p)["term"] >= term + 3, r
    finally:
        rs.cleanup()


def test_update_position_in_the_current_term_keeps_the_primary():
    rs = test_replset(3)
    try:
        p = rs.up()
        term = rs.status(p)["term"]
        r = rs.command(p, {"replSetUpdatePosition": 1, "optimes": [], "term": term})
        assert r.get("ok") == 1, r
        time.sleep(0.5)
        assert rs.hello(p).get("isWritablePrimary") is True
        assert rs.status(p)["term"] == term
    finally:
        rs.cleanup()


class BoundServer(Server):
    """A tallyd listening only on another loopback address."""

    def __init__(self, addr, **kwargs):
        super().__init__(**kwargs)
        self.addr = addr

    def argv(self):
        argv = super().argv()
        k = argv.index("--bind_ip")
        argv[k + 1] = self.addr
        return argv

    def raw_cmd(self, doc, timeout_s=10.0):
        body = dict(doc)
        body["$db"] = "admin"
        s = socket.create_connection((self.addr, self.port), timeout=timeout_s)
        try:
            return raw_command(s, body)[1]
        finally:
            s.close()


def loopback_alias_usable(addr):
    try:
        s = socket.socket()
        s.bind((addr, 0))
        s.close()
        return True
    except OSError:
        return False


@pytest.fixture
def bound_member():
    if not loopback_alias_usable("127.0.0.2"):
        pytest.skip("127.0.0.2 cannot be bound here")
    s = BoundServer("127.0.0.2", extra_args=["--replSet", "rsb"])
    s.start()
    yield s
    s.cleanup()


def test_member_recognises_itself_by_its_bind_address(bound_member):
    s = bound_member
    host = "127.0.0.2:%d" % s.port
    r = s.raw_cmd({"replSetInitiate": {"_id": "rsb", "version": 1, "members": [{"_id": 0, "host": host}]}})
    assert r.get("ok") == 1, r
    deadline = time.monotonic() + 20
    st = {}
    while time.monotonic() < deadline:
        st = s.raw_cmd({"replSetGetStatus": 1})
        if st.get("myState") == PRIMARY:
            break
        time.sleep(0.1)
    assert st.get("myState") == PRIMARY, st
    me = [m for m in st["members"] if m.get("self")]
    assert me and me[0]["name"] == host


def test_member_does_not_claim_a_loopback_address_it_does_not_listen_on(bound_member):
    s = bound_member
    # Another process may hold 127.0.0.1 with the same port: that is not this member.
    r = s.raw_cmd({"replSetInitiate": {"_id": "rsb", "version": 1,
                                       "members": [{"_id": 0, "host": "127.0.0.1:%d" % s.port}]}})
    assert r.get("ok") == 0 and r.get("code") == NODE_NOT_FOUND, r


def test_member_bound_to_two_addresses_answers_to_either():
    if not loopback_alias_usable("127.0.0.3"):
        pytest.skip("127.0.0.3 cannot be bound here")
    s = BoundServer("127.0.0.1,127.0.0.3", extra_args=["--replSet", "rsc"])
    s.addr = "127.0.0.1,127.0.0.3"
    try:
        s.start()
        host = "127.0.0.3:%d" % s.port
        body = {"replSetInitiate": {"_id": "rsc", "version": 1, "members": [{"_id": 0, "host": host}]},
                "$db": "admin"}
        sock = socket.create_connection(("127.0.0.3", s.port), timeout=10)
        try:
            r = raw_command(sock, body)[1]
        finally:
            sock.close()
        assert r.get("ok") == 1, r
    finally:
        s.cleanup()


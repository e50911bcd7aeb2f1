"""Awaitable hello, topologyVersion and exhaust streaming (wire-compat 2.6).

Raw-socket tests pin the server side of the streaming monitoring protocol:
the topologyVersion shape on every hello and state-change error, a parked
hello that waits for maxAwaitTimeMS and wakes at once on a stepdown, the
exhaust stream (moreToCome replies chained by responseTo), mongod's errors
for bad combinations, and clean-up when a client leaves or the server stops.
Then pymongo 3.11, which streams as soon as replies carry topologyVersion,
follows a kill -9 failover with retryable writes and no error."""
import os
import signal
import socket
import struct
import threading
import time

import bson
import pymongo
import pytest
from bson.int64 import Int64
from bson.objectid import ObjectId

from conftest import op_msg, op_query, recv_message

EXHAUST_ALLOWED = 1 << 16
MORE_TO_COME = 1 << 1


def hello_doc(**fields):
    doc = {"hello": 1, "$db": "admin"}
    doc.update(fields)
    return doc


def connect(port, timeout_s=30.0):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout_s)


def first_hello(sock):
    sock.sendall(op_msg(hello_doc(), request_id=1))
    return recv_message(sock)[1]


def raw_hello(port, doc, flags=0, timeout_s=30.0):
    with connect(port, timeout_s) as s:
        s.sendall(op_msg(doc, request_id=3, flags=flags))
        return recv_message(s)


def assert_topology_version(tv):
    assert set(tv) == {"processId", "counter"}
    assert isinstance(tv["processId"], ObjectId)
    assert isinstance(tv["counter"], Int64)
    assert tv["counter"] >= 0


def raw_tv(d):
    """The reply's topologyVersion with the counter re-typed as Int64 (as a
    driver sends it back)."""
    tv = d["topologyVersion"]
    return {"processId": tv["processId"], "counter": Int64(tv["counter"])}


def wait_for(what, pred, timeout_s=20.0, interval_s=0.1):
    deadline = time.monotonic() + timeout_s
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval_s)


# -- standalone: shape ------------------------------------------------------

def test_every_hello_form_carries_the_same_topology_version(server):
    with server.raw() as s:
        d1 = first_hello(s)
        s.sendall(op_msg({"isMaster": 1, "$db": "admin"}, request_id=2))
        d2 = recv_message(s)[1]
        s.sendall(op_query("admin.$cmd", {"ismaster": 1}, request_id=3))
        h3, d3 = recv_message(s)
    assert h3[3] == 1  # OP_REPLY
    for d in (d1, d2, d3):
        assert d["ok"] == 1.0
        assert_topology_version(d["topologyVersion"])
    assert d1["topologyVersion"] == d2["topologyVersion"] == d3["topologyVersion"]


def test_topology_version_is_stable_across_connections(server):
    with server.raw() as a, server.raw() as b:
        assert first_hello(a)["topologyVersion"] == first_hello(b)["topologyVersion"]


def test_a_restart_gets_a_new_process_id(new_server):
    srv = new_server().start()
    with srv.raw() as s:
        before = first_hello(s)["topologyVersion"]
    srv.restart()
    with srv.raw() as s:
        after = first_hello(s)["topologyVersion"]
    assert after["processId"] != before["processId"]


# -- standalone: awaiting ---------------------------------------------------

def test_awaitable_hello_waits_about_max_await_time_when_nothing_changes(server):
    with server.raw() as s:
        tv = raw_tv(first_hello(s))
        t0 = time.monotonic()
        s.sendall(op_msg(hello_doc(topologyVersion=tv, maxAwaitTimeMS=1200), request_id=2))
        h, d = recv_message(s)
        took = time.monotonic() - t0
    assert took >= 0.6, "answered after %.3f s, before half of maxAwaitTimeMS" % took
    assert h[2] == 2 and h[4] == 0  # responseTo the request, no moreToCome without exhaust
    assert d["ok"] == 1.0 and d["isWritablePrimary"] is True
    assert d["topologyVersion"] == tv


def test_awaitable_hello_from_another_process_is_answered_at_once(server):
    with server.raw() as s:
        first_hello(s)
        other = {"processId": ObjectId(), "counter": Int64(0)}
        t0 = time.monotonic()
        s.sendall(op_msg(hello_doc(topologyVersion=other, maxAwaitTimeMS=20000), request_id=2))
        d = recv_message(s)[1]
    assert time.monotonic() - t0 < 10
    assert d["ok"] == 1.0 and d["topologyVersion"]["processId"] != other["processId"]


def test_awaitable_is_master_over_op_query_waits_too(server):
    with server.raw() as s:
        tv = raw_tv(first_hello(s))
        t0 = time.monotonic()
        s.sendall(op_query("admin.$cmd", {"isMaster": 1, "topologyVersion": tv, "maxAwaitTimeMS": 600}))
        h, d = recv_message(s)
    assert time.monotonic() - t0 >= 0.3
    assert h[3] == 1 and d["ismaster"] is True and d["topologyVersion"] == tv


def test_a_parked_hello_is_not_logged_as_a_slow_command(server):
    with server.raw() as s:
        tv = raw_tv(first_hello(s))
        s.sendall(op_msg(hello_doc(topologyVersion=tv, maxAwaitTimeMS=300), request_id=2))
        assert recv_message(s)[1]["ok"] == 1.0
    assert "Slow query: hello" not in server.log_text()


# -- standalone: errors -----------------------------------------------------

@pytest.mark.parametrize("fields, flags, code", [
    ({"topologyVersion": {"processId": ObjectId(), "counter": Int64(0)}}, 0, 31368),
    ({"maxAwaitTimeMS": 100}, 0, 31368),
    ({}, EXHAUST_ALLOWED, 51756),
    ({"topologyVersion": "x", "maxAwaitTimeMS": 100}, 0, 14),
    ({"topologyVersion": {"processId": "x", "counter": Int64(0)}, "maxAwaitTimeMS": 100}, 0, 14),
    ({"topologyVersion": {"processId": ObjectId(), "counter": "1"}, "maxAwaitTimeMS": 100}, 0, 14),
    ({"topologyVersion": {"processId": ObjectId()}, "maxAwaitTimeMS": 100}, 0, 40414),
    ({"topologyVersion": {"counter": Int64(0)}, "maxAwaitTimeMS": 100}, 0, 40414),
    ({"topologyVersion": {"processId": ObjectId(), "counter": Int64(0), "x": 1}, "maxAwaitTimeMS": 100}, 0, 40415),
    ({"topologyVersion": {"processId": ObjectId(), "counter": Int64(0)}, "maxAwaitTimeMS": -1}, 0, 31373),
    ({"topologyVersion": {"processId": ObjectId(), "counter": Int64(0)}, "maxAwaitTimeMS": "1"}, 0, 14),
    ({"topologyVersion": {"processId": ObjectId(), "counter": Int64(0)}, "maxAwaitTimeMS": 1.5}, 0, 2),
])
def test_bad_awaitable_hello_requests_get_mongods_errors(server, fields, flags, code):
    h, d = raw_hello(server.port, hello_doc(**fields), flags=flags)
    assert d["ok"] == 0.0 and d["code"] == code, d
    assert h[4] & MORE_TO_COME == 0  # never moreToCome on ok: 0


def test_a_counter_ahead_of_the_server_is_refused(server):
    with server.raw() as s:
        tv = raw_tv(first_hello(s))
        tv["counter"] = Int64(tv["counter"] + 5)
        s.sendall(op_msg(hello_doc(topologyVersion=tv, maxAwaitTimeMS=100), request_id=2))
        d = recv_message(s)[1]
    assert d["ok"] == 0.0 and d["code"] == 31382


def test_a_bad_request_leaves_the_connection_usable(server):
    with server.raw() as s:
        s.sendall(op_msg(hello_doc(maxAwaitTimeMS=5), request_id=2, flags=EXHAUST_ALLOWED))
        assert recv_message(s)[1]["code"] == 31368
        s.sendall(op_msg({"ping": 1, "$db": "admin"}, request_id=3))
        h, d = recv_message(s)
    assert h[2] == 3 and d["ok"] == 1.0


# -- standalone: exhaust ----------------------------------------------------

def test_exhaust_streams_replies_with_more_to_come_chained_by_response_to(server):
    with server.raw() as s:
        tv = raw_tv(first_hello(s))
        t0 = time.monotonic()
        s.sendall(op_msg(hello_doc(topologyVersion=tv, maxAwaitTimeMS=250), request_id=40,
                         flags=EXHAUST_ALLOWED))
        want_response_to = 40
        for _ in range(4):
            h, d = recv_message(s)
            assert h[4] & MORE_TO_COME, "streamed reply without moreToCome"
            assert h[2] == want_response_to
            assert d["ok"] == 1.0 and d["topologyVersion"] == tv
            want_response_to = h[1]
        took = time.monotonic() - t0
    # Four rounds of a 250 ms wait: the stream waits, it does not spin.
    assert took >= 0.5, "4 streamed replies in %.3f s" % took
    with server.raw() as s:
        assert first_hello(s)["ok"] == 1.0


def test_exhaust_with_a_stale_counter_answers_first_then_waits(server):
    with server.raw() as s:
        tv = raw_tv(first_hello(s))
        other = {"processId": ObjectId(), "counter": Int64(0)}
        t0 = time.monotonic()
        s.sendall(op_msg(hello_doc(topologyVersion=other, maxAwaitTimeMS=600), request_id=41,
                         flags=EXHAUST_ALLOWED))
        h1, d1 = recv_message(s)
        t1 = time.monotonic()
        h2, d2 = recv_message(s)
        t2 = time.monotonic()
    assert t1 - t0 < 0.5 * 600 / 1000 + 5  # not parked on a foreign processId
    assert h1[4] & MORE_TO_COME and h2[4] & MORE_TO_COME
    assert d1["topologyVersion"] == d2["topologyVersion"] == tv
    assert t2 - t1 >= 0.3, "the second round did not wait (%.3f s)" % (t2 - t1)


def test_sending_another_command_ends_the_stream(server):
    with server.raw() as s:
        tv = raw_tv(first_hello(s))
        s.sendall(op_msg(hello_doc(topologyVersion=tv, maxAwaitTimeMS=20000), request_id=50,
                         flags=EXHAUST_ALLOWED))
        time.sleep(0.3)
        t0 = time.monotonic()
        s.sendall(op_msg({"ping": 1, "$db": "admin"}, request_id=51))
        h1, d1 = recv_message(s)
        h2, d2 = recv_message(s)
    assert time.monotonic() - t0 < 10
    assert h1[2] == 50 and h1[4] & MORE_TO_COME == 0 and d1["ok"] == 1.0
    assert h2[2] == 51 and d2["ok"] == 1.0


def test_exhaust_is_ignored_for_other_commands(server):
    h, d = raw_hello(server.port, {"ping": 1, "$db": "admin"}, flags=EXHAUST_ALLOWED)
    assert d["ok"] == 1.0 and h[4] & MORE_TO_COME == 0


def test_clients_leaving_parked_and_streaming_hellos_leave_the_server_healthy(server):
    socks = []
    for i in range(12):
        s = server.raw()
        tv = raw_tv(first_hello(s))
        flags = EXHAUST_ALLOWED if i % 2 else 0
        s.sendall(op_msg(hello_doc(topologyVersion=tv, maxAwaitTimeMS=30000), request_id=9, flags=flags))
        socks.append(s)
    time.sleep(0.3)
    for i, s in enumerate(socks):
        if i % 3 == 0:
            # An abortive close (RST) as well as a FIN.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()

    def all_gone():
        with server.raw() as s:
            s.sendall(op_msg({"serverStatus": 1, "$db": "admin"}, request_id=2))
            return recv_message(s)[1]["connections"]["current"] == 1
    wait_for("the parked connections to close", all_gone, timeout_s=10)
    with server.raw() as s:
        assert first_hello(s)["ok"] == 1.0
    assert server.is_running()


def test_shutdown_answers_parked_hellos_promptly(new_server):
    srv = new_server().start()
    results = []

    def park(flags):
        try:
            with srv.raw(timeout_s=30) as s:
                tv = raw_tv(first_hello(s))
                s.sendall(op_msg(hello_doc(topologyVersion=tv, maxAwaitTimeMS=60000), request_id=9,
                                 flags=flags))
                results.append(recv_message(s))
        except (OSError, EOFError) as e:
            results.append(e)

    threads = [threading.Thread(target=park, args=(f,)) for f in (0, EXHAUST_ALLOWED)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.proc.wait(timeout=20)
    for t in threads:
        t.join(20)
    assert time.monotonic() - t0 < 15
    assert rc == 0
    assert len(results) == 2
    for r in results:
        assert not isinstance(r, Exception), r
        h, d = r
        assert h[4] & MORE_TO_COME == 0
        assert d["ok"] == 0.0 and d["code"] == 91, d
        assert_topology_version(d["topologyVersion"])


# -- replica set ------------------------------------------------------------

def port_of(rs, i):
    return rs.members[i].port


def test_replica_set_hello_and_state_change_errors_carry_topology_version(rs3):
    p = rs3.wait_primary()
    sec = next(i for i in range(3) if i != p)
    with connect(port_of(rs3, sec)) as s:
        hello = first_hello(s)
        assert_topology_version(hello["topologyVersion"])
        s.sendall(op_msg({"insert": "c", "documents": [{"x": 1}], "$db": "t_hs"}, request_id=2))
        ins = recv_message(s)[1]
        s.sendall(op_msg({"find": "c", "$db": "t_hs"}, request_id=3))
        fnd = recv_message(s)[1]
    assert ins["code"] == 10107 and fnd["code"] == 13435
    for d in (ins, fnd):
        assert_topology_version(d["topologyVersion"])
        assert d["topologyVersion"]["processId"] == hello["topologyVersion"]["processId"]
    with connect(port_of(rs3, p)) as s:
        s.sendall(op_msg({"ping": 1, "$db": "admin"}, request_id=4))
        assert "topologyVersion" not in recv_message(s)[1]


def test_members_have_distinct_process_ids(rs3):
    pids = set()
    for i in range(3):
        with connect(port_of(rs3, i)) as s:
            pids.add(first_hello(s)["topologyVersion"]["processId"])
    assert len(pids) == 3


def test_stepdown_wakes_a_parked_hello_on_the_primary(replset):
    rs = replset()
    p = rs.wait_primary()
    with connect(port_of(rs, p)) as s:
        h0 = first_hello(s)
        assert h0["isWritablePrimary"] is True
        tv = raw_tv(h0)
        s.sendall(op_msg(hello_doc(topologyVersion=tv, maxAwaitTimeMS=25000), request_id=2))
        time.sleep(0.3)
        t0 = time.monotonic()
        reply = rs.command(p, {"replSetStepDown": 60, "force": True}, timeout_s=20)
        assert reply["ok"] == 1.0, reply
        h, d = recv_message(s)
        took = time.monotonic() - t0
    assert took < 10, "the parked hello answered only after %.3f s" % took
    assert d["isWritablePrimary"] is False
    assert d["topologyVersion"]["processId"] == tv["processId"]
    assert d["topologyVersion"]["counter"] > tv["counter"]


def test_a_secondary_streams_the_new_primary_after_a_kill(replset):
    rs = replset()
    p = rs.wait_primary()
    sec = next(i for i in range(3) if i != p)
    old = rs.host(p)
    with connect(port_of(rs, sec)) as s:
        tv = raw_tv(first_hello(s))
        s.sendall(op_msg(hello_doc(topologyVersion=tv, maxAwaitTimeMS=2000), request_id=2,
                         flags=EXHAUST_ALLOWED))
        rs.kill9(p)
        deadline = time.monotonic() + 30
        seen = None
        counters = []
        while time.monotonic() < deadline:
            h, d = recv_message(s)
            assert h[4] & MORE_TO_COME and d["ok"] == 1.0
            counters.append(d["topologyVersion"]["counter"])
            if d.get("primary") and d["primary"] != old:
                seen = d["primary"]
                break
    assert seen in rs.hosts() and seen != old
    assert counters == sorted(counters) and counters[-1] > tv["counter"]


def test_pymongo_streams_and_follows_a_kill9_failover_with_retryable_writes(replset):
    rs = replset()
    p = rs.wait_primary()
    c = rs.client(retryWrites=True, heartbeatFrequencyMS=10000, serverSelectionTimeoutMS=30000,
                  socketTimeoutMS=20000)
    coll = c.t_hs_failover.c
    coll.insert_one({"_id": -1})
    # pymongo 3.11 streams once a reply carried topologyVersion.
    wait_for("pymongo to see topologyVersion",
             lambda: all(sd.topology_version is not None
                         for sd in c._topology.description.server_descriptions().values()),
             timeout_s=20)
    errors = []
    acked = []
    stop = threading.Event()

    def writer():
        n = 0
        while not stop.is_set():
            try:
                coll.insert_one({"_id": n})
                acked.append(n)
            except pymongo.errors.PyMongoError as e:
                errors.append(repr(e))
            n += 1
            time.sleep(0.01)

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(1.0)
    before = len(acked)
    rs.kill9(p)
    try:
        new_p = rs.wait_primary(timeout_s=30, exclude=(p,))
        wait_for("writes to continue on the new primary", lambda: len(acked) > before + 20, timeout_s=30)
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors[:5]
    assert new_p != p
    assert c.primary == ("127.0.0.1", port_of(rs, new_p))

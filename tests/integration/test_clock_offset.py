"""The clockOffset fail point: one member's protocol wall clock skewed at run
time (docs/testing.md, "Fail points").

A primary whose clock runs hours ahead stamps its oplog entries (ts and wall)
and its status dates hours ahead; when its clock jumps back, its timestamps
keep increasing from the floor it set. A deposed primary with a fast clock
(the case that broke protocol v0) cannot win with its larger timestamps:
its unreplicated entries are rolled back because the new primary's term is
higher, and acknowledged majority writes survive. Bad offsets are refused.
"""
import calendar
import time

import pytest
from pymongo.write_concern import WriteConcern

from conftest import SECONDARY
from failpoint_help import fp, test_replset

HOUR_S = 3600
SLACK_S = 30


@pytest.fixture
def rs():
    r = test_replset(3)
    try:
        r.up()
        yield r
    finally:
        r.cleanup()


def last_entry(rs, i):
    c = rs.direct(i)
    return c.local["oplog.rs"].find_one({}, sort=[("$natural", -1)])


def ts_key(ts):
    return (ts.time, ts.inc)


def epoch(dt):
    """Seconds since the epoch of a BSON date as pymongo decodes it (naive UTC)."""
    return calendar.timegm(dt.utctimetuple())


def near(got_s, want_s):
    return abs(got_s - want_s) <= SLACK_S


def test_a_fast_primary_stamps_entries_and_status_dates_ahead_and_keeps_timestamps_increasing_when_it_jumps_back(rs):
    p = rs.wait_primary()
    coll = rs.client().t.c.with_options(write_concern=WriteConcern(w="majority", wtimeout=15000))
    fp(rs, p, "clockOffset", "alwaysOn", {"ms": 2 * HOUR_S * 1000})
    coll.insert_one({"_id": 1})
    e = last_entry(rs, p)
    assert e["op"] == "i" and e["o"] == {"_id": 1}
    assert near(e["ts"].time, time.time() + 2 * HOUR_S), e
    assert near(epoch(e["wall"]), time.time() + 2 * HOUR_S), e
    st = rs.status(p)
    assert near(epoch(st["date"]), time.time() + 2 * HOUR_S), st["date"]
    ahead = e["ts"]

    # The clock jumps back three hours: timestamps continue from the floor.
    fp(rs, p, "clockOffset", "alwaysOn", {"ms": -HOUR_S * 1000})
    for k in range(2, 12):
        coll.insert_one({"_id": k})
    e = last_entry(rs, p)
    assert ts_key(e["ts"]) > ts_key(ahead), (e["ts"], ahead)
    assert e["ts"].time == ahead.time, (e["ts"], ahead)
    assert near(epoch(e["wall"]), time.time() - HOUR_S), e
    assert near(epoch(rs.status(p)["date"]), time.time() - HOUR_S)

    # The secondaries (real clocks) replicate the skewed entries as they are.
    rs.wait_converged("t", "c", want_ids=list(range(1, 12)))
    for i in range(3):
        assert last_entry(rs, i)["ts"] == e["ts"]

    # Off: the real clock again; timestamps still increase.
    fp(rs, p, "clockOffset", "off")
    coll.insert_one({"_id": 12})
    e2 = last_entry(rs, p)
    assert ts_key(e2["ts"]) > ts_key(e["ts"])
    assert near(epoch(e2["wall"]), time.time())
    assert near(epoch(rs.status(p)["date"]), time.time())


def test_a_deposed_primary_with_a_clock_hours_ahead_rolls_back_its_entries_and_loses_no_majority_write(rs):
    p = rs.wait_primary()
    others = [i for i in range(3) if i != p]
    client = rs.client()
    coll = client.t.c.with_options(write_concern=WriteConcern(w="majority", wtimeout=15000))
    coll.insert_one({"_id": "before"})
    rs.wait_converged("t", "c", want_ids=["before"])

    # The primary's clock runs 5 hours ahead and its secondaries stop
    # fetching: its w:1 writes carry timestamps no one else has.
    for i in others:
        fp(rs, i, "stopReplProducer", "alwaysOn")
    fp(rs, p, "clockOffset", "alwaysOn", {"ms": 5 * HOUR_S * 1000})
    direct = rs.direct(p)
    for k in range(5):
        direct.t.c.with_options(write_concern=WriteConcern(w=1)).insert_one({"_id": "fast%d" % k})
    fast_ts = last_entry(rs, p)["ts"]
    assert fast_ts.time > time.time() + 4 * HOUR_S
    rs.kill9(p)
    for i in others:
        fp(rs, i, "stopReplProducer", "off")

    # The other two elect a primary with a real clock and take majority writes.
    q = rs.wait_primary(timeout_s=30, exclude=(p,))
    assert q != p
    for k in range(5):
        coll.insert_one({"_id": "after%d" % k})
    assert last_entry(rs, q)["ts"].time < fast_ts.time

    # The old primary comes back (its clock offset gone with the process):
    # a higher term wins over bigger timestamps, so it rolls back.
    rs.restart(p)
    want = sorted(["before"] + ["after%d" % k for k in range(5)])
    got = rs.wait_converged("t", "c", want_ids=want, timeout_s=60)
    assert got == want
    rs.wait_state(p, SECONDARY, timeout_s=30)
    tops = [last_entry(rs, i)["ts"] for i in range(3)]
    assert tops[0] == tops[1] == tops[2], tops


def test_configure_refuses_a_clock_offset_without_ms_or_out_of_range_or_of_the_wrong_type(rs):
    p = rs.wait_primary()
    cases = [
        (None, 2),
        ({"delayMs": 10}, 2),
        ({"ms": "60000"}, 14),
        ({"ms": 400 * 24 * HOUR_S * 1000}, 2),
        ({"ms": -400 * 24 * HOUR_S * 1000}, 2),
    ]
    for data, code in cases:
        doc = {"configureFailPoint": "clockOffset", "mode": "alwaysOn"}
        if data is not None:
            doc["data"] = data
        r = rs.command(p, doc)
        assert r.get("ok") == 0 and r.get("code") == code, (data, r)
    # Nothing was set: the clock is the real one.
    assert near(epoch(rs.status(p)["date"]), time.time())
    assert rs.command(p, {"configureFailPoint": "clockOffset", "mode": "off"}).get("ok") == 1

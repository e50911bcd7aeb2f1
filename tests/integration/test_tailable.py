"""Tailable cursors on capped collections: a TAILABLE_AWAIT cursor sees
documents inserted after it was opened; tailable on a normal collection is
refused; awaitData waits instead of spinning."""
import threading
import time

import pytest
from pymongo import CursorType
from pymongo.errors import OperationFailure


def test_tailable_await_cursor_sees_later_inserts(db):
    db.create_collection("cap", capped=True, size=1 << 20)
    db.cap.insert_many([{"_id": i} for i in range(3)])
    cur = db.cap.find({}, cursor_type=CursorType.TAILABLE_AWAIT).max_await_time_ms(500)
    got = [next(cur)["_id"] for _ in range(3)]
    assert got == [0, 1, 2]

    def writer():
        time.sleep(0.3)
        for i in range(3, 6):
            db.cap.insert_one({"_id": i})
            time.sleep(0.05)

    t = threading.Thread(target=writer)
    t.start()
    deadline = time.monotonic() + 10
    while len(got) < 6 and time.monotonic() < deadline and cur.alive:
        try:
            got.append(cur.next()["_id"])
        except StopIteration:
            pass
    t.join()
    cur.close()
    assert got == [0, 1, 2, 3, 4, 5]


def test_tailable_cursor_on_empty_capped_collection_stays_open(db):
    db.create_collection("cap", capped=True, size=1 << 20)
    r = db.command({"find": "cap", "tailable": True, "awaitData": True})
    # mongod keeps a tailable cursor open even when the first batch is empty.
    assert r["cursor"]["firstBatch"] == []
    cid = r["cursor"]["id"]
    db.cap.insert_one({"_id": "late"})
    if cid:
        g = db.command({"getMore": cid, "collection": "cap", "maxTimeMS": 1000})
        assert g["cursor"]["nextBatch"] == [{"_id": "late"}]
        db.command({"killCursors": "cap", "cursors": [cid]})
    else:
        pytest.fail("tailable cursor on an empty capped collection was closed (mongod keeps it open)")


def test_await_data_getmore_waits_for_max_time(db):
    db.create_collection("cap", capped=True, size=1 << 20)
    db.cap.insert_one({"_id": 1})
    r = db.command({"find": "cap", "tailable": True, "awaitData": True})
    cid = r["cursor"]["id"]
    assert cid != 0
    t0 = time.monotonic()
    g = db.command({"getMore": cid, "collection": "cap", "maxTimeMS": 400})
    waited = time.monotonic() - t0
    assert g["cursor"]["nextBatch"] == []
    assert g["cursor"]["id"] == cid
    assert 0.3 <= waited < 5.0, "awaitData getMore returned after %.2fs" % waited
    db.command({"killCursors": "cap", "cursors": [cid]})


def test_await_data_getmore_wakes_early_on_insert(db):
    db.create_collection("cap", capped=True, size=1 << 20)
    db.cap.insert_one({"_id": 1})
    r = db.command({"find": "cap", "tailable": True, "awaitData": True})
    cid = r["cursor"]["id"]

    def writer():
        time.sleep(0.2)
        db.cap.insert_one({"_id": 2})

    t = threading.Thread(target=writer)
    t.start()
    t0 = time.monotonic()
    g = db.command({"getMore": cid, "collection": "cap", "maxTimeMS": 5000})
    waited = time.monotonic() - t0
    t.join()
    assert g["cursor"]["nextBatch"] == [{"_id": 2}]
    assert waited < 3.0
    db.command({"killCursors": "cap", "cursors": [cid]})


def test_tailable_on_a_normal_collection_is_refused(db):
    db.plain.insert_one({})
    with pytest.raises(OperationFailure) as ei:
        db.command({"find": "plain", "tailable": True})
    assert ei.value.code == 2  # BadValue: "error processing query ... tailable cursor requested on non capped collection"


def test_tailable_cursor_is_not_blocking_other_clients(db, client):
    db.create_collection("cap", capped=True, size=1 << 20)
    db.cap.insert_one({"_id": 1})
    r = db.command({"find": "cap", "tailable": True, "awaitData": True})
    cid = r["cursor"]["id"]
    result = {}

    def waiter():
        result["g"] = db.command({"getMore": cid, "collection": "cap", "maxTimeMS": 1500})

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    assert client.admin.command("ping")["ok"] == 1.0
    assert time.monotonic() - t0 < 1.0, "a waiting getMore must not stall the server"
    t.join()
    db.command({"killCursors": "cap", "cursors": [cid]})

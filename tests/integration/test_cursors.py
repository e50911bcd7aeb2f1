"""Cursors: batchSize + getMore across many documents, cursor ids and
namespaces, killCursors, exhausted and unknown cursors, and cursors on
aggregate and listCollections."""
import pytest
from bson.int64 import Int64
from pymongo.errors import CursorNotFound, OperationFailure


N = 1000


@pytest.fixture
def many(db):
    db.c.insert_many([{"_id": i, "pad": "p" * 50} for i in range(N)])
    return db


def test_default_find_iterates_everything_in_order(many):
    got = [d["_id"] for d in many.c.find().sort("_id", 1)]
    assert got == list(range(N))


def test_batch_size_drives_getmore(many):
    got = [d["_id"] for d in many.c.find({}, batch_size=7).sort("_id", 1)]
    assert got == list(range(N))


def test_first_batch_default_is_101(many):
    r = many.command({"find": "c"})
    assert len(r["cursor"]["firstBatch"]) == 101
    assert isinstance(r["cursor"]["id"], Int64) and r["cursor"]["id"] != 0


def test_raw_getmore_reply_shape(many):
    r = many.command({"find": "c", "batchSize": 10, "sort": {"_id": 1}})
    cid = r["cursor"]["id"]
    assert len(r["cursor"]["firstBatch"]) == 10
    g = many.command({"getMore": cid, "collection": "c", "batchSize": 5})
    assert g["ok"] == 1.0
    assert g["cursor"]["id"] == cid
    assert g["cursor"]["ns"] == many.name + ".c"
    assert [d["_id"] for d in g["cursor"]["nextBatch"]] == [10, 11, 12, 13, 14]
    many.command({"killCursors": "c", "cursors": [cid]})


def test_getmore_to_the_end_returns_cursor_id_zero(many):
    r = many.command({"find": "c", "batchSize": 400, "sort": {"_id": 1}})
    cid = r["cursor"]["id"]
    seen = len(r["cursor"]["firstBatch"])
    while cid:
        g = many.command({"getMore": cid, "collection": "c", "batchSize": 400})
        seen += len(g["cursor"]["nextBatch"])
        cid = g["cursor"]["id"]
    assert seen == N


def test_getmore_on_exhausted_cursor_fails_with_cursor_not_found(many):
    r = many.command({"find": "c", "batchSize": 2})
    cid = r["cursor"]["id"]
    many.command({"killCursors": "c", "cursors": [cid]})
    with pytest.raises(OperationFailure) as ei:
        many.command({"getMore": cid, "collection": "c"})
    assert ei.value.code == 43  # CursorNotFound
    assert ei.value.details["codeName"] == "CursorNotFound"


def test_kill_cursors_reports_killed_and_not_found(many):
    r = many.command({"find": "c", "batchSize": 2})
    cid = r["cursor"]["id"]
    k = many.command({"killCursors": "c", "cursors": [cid, Int64(123456789)]})
    assert k["cursorsKilled"] == [cid]
    assert k["cursorsNotFound"] == [123456789]
    assert k["cursorsAlive"] == [] and k["cursorsUnknown"] == []


def test_getmore_with_wrong_collection_fails(many):
    r = many.command({"find": "c", "batchSize": 2})
    cid = r["cursor"]["id"]
    with pytest.raises(OperationFailure) as ei:
        many.command({"getMore": cid, "collection": "other"})
    assert ei.value.code in (13, 43)
    many.command({"killCursors": "c", "cursors": [cid]})


def test_getmore_id_must_be_a_long(many):
    with pytest.raises(OperationFailure) as ei:
        many.command({"getMore": 5, "collection": "c"})
    assert ei.value.code == 14  # TypeMismatch


def test_pymongo_cursor_close_kills_the_server_cursor(many):
    cur = many.c.find({}, batch_size=3)
    next(cur)
    cid = cur.cursor_id
    assert cid
    cur.close()
    with pytest.raises(OperationFailure):
        many.command({"getMore": Int64(cid), "collection": "c"})


def test_cursor_sees_a_stable_order_while_documents_are_inserted(many):
    cur = many.c.find({}, batch_size=50).sort("_id", 1)
    first = [next(cur)["_id"] for _ in range(60)]
    many.c.insert_many([{"_id": N + i} for i in range(10)])
    rest = [d["_id"] for d in cur]
    got = first + rest
    assert got[:N] == list(range(N))
    assert len(set(got)) == len(got), "no document may be returned twice"


def test_cursor_survives_updates_and_deletes_of_unread_docs(many):
    cur = many.c.find({}, batch_size=100).sort("_id", 1)
    head = [next(cur)["_id"] for _ in range(100)]
    many.c.delete_many({"_id": {"$gte": 500}})
    rest = [d["_id"] for d in cur]
    got = head + rest
    assert got[:500] == list(range(500))
    assert len(set(got)) == len(got)


def test_limit_with_batch_size_closes_the_cursor_at_limit(many):
    r = many.command({"find": "c", "batchSize": 10, "limit": 25})
    cid = r["cursor"]["id"]
    total = len(r["cursor"]["firstBatch"])
    while cid:
        g = many.command({"getMore": cid, "collection": "c", "batchSize": 10})
        total += len(g["cursor"]["nextBatch"])
        cid = g["cursor"]["id"]
    assert total == 25


def test_aggregate_cursor_with_batch_size(many):
    r = many.command({"aggregate": "c", "pipeline": [{"$match": {"_id": {"$lt": 300}}}],
                      "cursor": {"batchSize": 50}})
    assert len(r["cursor"]["firstBatch"]) == 50
    assert r["cursor"]["id"] != 0
    got = list(many.c.aggregate([{"$match": {"_id": {"$lt": 300}}}], batchSize=50))
    assert len(got) == 300
    many.command({"killCursors": "c", "cursors": [r["cursor"]["id"]]})


def test_aggregate_without_cursor_option_fails(many):
    with pytest.raises(OperationFailure) as ei:
        many.command({"aggregate": "c", "pipeline": []})
    assert ei.value.code == 9  # FailedToParse: "The 'cursor' option is required"


def test_many_open_cursors_at_once(many):
    curs = [many.c.find({}, batch_size=2).sort("_id", 1) for _ in range(50)]
    firsts = [next(c)["_id"] for c in curs]
    assert firsts == [0] * 50
    for c in curs:
        assert next(c)["_id"] == 1
        c.close()


def test_sort_with_getmore_over_non_indexed_field(many):
    got = [d["_id"] for d in many.c.find({}, batch_size=33).sort("pad", 1).sort([("pad", 1), ("_id", -1)])]
    assert got == list(range(N - 1, -1, -1))


def test_cursor_not_found_error_class_in_pymongo(many):
    r = many.command({"find": "c", "batchSize": 1})
    cid = r["cursor"]["id"]
    many.command({"killCursors": "c", "cursors": [cid]})
    with pytest.raises(CursorNotFound):
        many.command({"getMore": cid, "collection": "c"})

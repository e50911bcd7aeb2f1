"""Indexes: create single, compound, unique; list; drop; DuplicateKey
11000 with keyPattern/keyValue; and that queries give the same answers with
and without an index (behaviour, not explain)."""
import pytest
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure


def index_names(coll):
    return sorted(ix["name"] for ix in coll.list_indexes())


def test_new_collection_has_the_id_index(db):
    db.c.insert_one({"a": 1})
    ixs = list(db.c.list_indexes())
    assert len(ixs) == 1
    assert ixs[0]["name"] == "_id_" and dict(ixs[0]["key"]) == {"_id": 1}
    assert ixs[0]["v"] == 2


def test_create_single_and_compound_indexes(db):
    assert db.c.create_index("a") == "a_1"
    assert db.c.create_index([("b", ASCENDING), ("c", DESCENDING)]) == "b_1_c_-1"
    assert index_names(db.c) == ["_id_", "a_1", "b_1_c_-1"]
    info = {ix["name"]: ix for ix in db.c.list_indexes()}
    assert list(info["b_1_c_-1"]["key"].items()) == [("b", 1), ("c", -1)]


def test_create_indexes_raw_reply(db):
    r = db.command({"createIndexes": "c", "indexes": [{"key": {"x": 1}, "name": "x_1"}]})
    assert r["ok"] == 1.0
    assert r["numIndexesBefore"] == 1 and r["numIndexesAfter"] == 2
    assert r["createdCollectionAutomatically"] is True
    r = db.command({"createIndexes": "c", "indexes": [{"key": {"x": 1}, "name": "x_1"}]})
    assert r["numIndexesBefore"] == 2 and r["numIndexesAfter"] == 2
    assert r.get("note") == "all indexes already exist"


def test_same_name_different_key_conflicts(db):
    db.c.create_index("a", name="myix")
    with pytest.raises(OperationFailure) as ei:
        db.c.create_index("b", name="myix")
    assert ei.value.code in (85, 86)  # IndexOptionsConflict / IndexKeySpecsConflict


def test_same_key_different_options_conflicts(db):
    db.c.create_index("a")
    with pytest.raises(OperationFailure) as ei:
        db.c.create_index("a", unique=True)
    assert ei.value.code in (85, 86)


def test_unique_index_rejects_duplicates_with_details(db):
    db.c.create_index("email", unique=True)
    db.c.insert_one({"_id": 1, "email": "a@x"})
    with pytest.raises(DuplicateKeyError) as ei:
        db.c.insert_one({"_id": 2, "email": "a@x"})
    d = ei.value.details
    assert d["code"] == 11000
    assert d["keyPattern"] == {"email": 1}
    assert d["keyValue"] == {"email": "a@x"}
    assert "email_1" in d["errmsg"]
    assert "dup key" in d["errmsg"]
    assert db.c.count_documents({}) == 1


def test_unique_compound_index_details(db):
    db.c.create_index([("a", 1), ("b", 1)], unique=True)
    db.c.insert_one({"a": 1, "b": 2})
    db.c.insert_one({"a": 1, "b": 3})
    with pytest.raises(DuplicateKeyError) as ei:
        db.c.insert_one({"a": 1, "b": 2})
    assert ei.value.details["keyPattern"] == {"a": 1, "b": 1}
    assert ei.value.details["keyValue"] == {"a": 1, "b": 2}


def test_unique_index_treats_missing_as_null(db):
    db.c.create_index("u", unique=True)
    db.c.insert_one({"_id": 1})
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"_id": 2})
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"_id": 3, "u": None})


def test_unique_index_numbers_equal_across_types(db):
    db.c.create_index("n", unique=True)
    db.c.insert_one({"n": 1})
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"n": 1.0})


def test_update_into_a_duplicate_fails_and_leaves_the_doc(db):
    db.c.create_index("k", unique=True)
    db.c.insert_many([{"_id": 1, "k": 1}, {"_id": 2, "k": 2}])
    with pytest.raises(DuplicateKeyError):
        db.c.update_one({"_id": 2}, {"$set": {"k": 1}})
    assert db.c.find_one({"_id": 2})["k"] == 2


def test_creating_a_unique_index_over_duplicates_fails(db):
    db.c.insert_many([{"k": 1}, {"k": 1}])
    with pytest.raises(OperationFailure) as ei:
        db.c.create_index("k", unique=True)
    assert ei.value.code == 11000
    assert index_names(db.c) == ["_id_"]


def test_unordered_insert_with_unique_index_reports_each_dup(db):
    db.c.create_index("k", unique=True)
    with pytest.raises(BulkWriteError) as ei:
        db.c.insert_many([{"k": 1}, {"k": 1}, {"k": 2}, {"k": 2}], ordered=False)
    assert [w["index"] for w in ei.value.details["writeErrors"]] == [1, 3]
    assert db.c.count_documents({}) == 2


def test_drop_index_by_name_and_by_key(db):
    db.c.create_index("a")
    db.c.create_index([("b", 1), ("c", 1)])
    db.c.drop_index("a_1")
    assert index_names(db.c) == ["_id_", "b_1_c_1"]
    db.c.drop_index([("b", 1), ("c", 1)])
    assert index_names(db.c) == ["_id_"]


def test_drop_all_indexes_keeps_id(db):
    db.c.create_indexes([IndexModel("a"), IndexModel("b")])
    db.c.drop_indexes()
    assert index_names(db.c) == ["_id_"]


def test_dropping_the_id_index_is_refused(db):
    db.c.insert_one({})
    with pytest.raises(OperationFailure) as ei:
        db.c.drop_index("_id_")
    assert ei.value.code == 72  # InvalidOptions


def test_dropping_a_missing_index_fails_with_27(db):
    db.c.insert_one({})
    with pytest.raises(OperationFailure) as ei:
        db.c.drop_index("nope_1")
    assert ei.value.code == 27  # IndexNotFound


def test_index_on_missing_collection_list_fails_with_26(db):
    # pymongo's list_indexes() hides code 26 (it returns an empty cursor), so
    # the command is sent raw.
    with pytest.raises(OperationFailure) as ei:
        db.command("listIndexes", "nothing")
    assert ei.value.code == 26  # NamespaceNotFound
    assert list(db.nothing.list_indexes()) == []


def test_invalid_index_key_fails(db):
    with pytest.raises(OperationFailure) as ei:
        db.command({"createIndexes": "c", "indexes": [{"key": {}, "name": "e"}]})
    assert ei.value.code in (67, 9)  # CannotCreateIndex / FailedToParse


def test_queries_agree_with_and_without_an_index(db):
    docs = [{"_id": i, "a": i % 7, "b": (i * 13) % 11, "s": "k%03d" % (i % 50),
             "arr": [i % 5, (i + 1) % 5]} for i in range(700)]
    db.c.insert_many(docs)
    filters = [
        {"a": 3}, {"a": {"$gt": 4}}, {"a": {"$in": [1, 2]}}, {"a": {"$gte": 2, "$lt": 4}},
        {"a": 3, "b": {"$lte": 5}}, {"s": {"$regex": "^k00"}}, {"arr": 2}, {"arr": {"$gt": 3}},
        {"a": None}, {"$or": [{"a": 1}, {"b": 2}]}, {"a": {"$ne": 3}},
    ]
    sorts = [[("a", 1), ("_id", 1)], [("b", -1), ("_id", -1)]]
    before = {(i, j): [d["_id"] for d in db.c.find(f).sort(s)]
              for i, f in enumerate(filters) for j, s in enumerate(sorts)}
    db.c.create_index("a")
    db.c.create_index([("a", 1), ("b", -1)])
    db.c.create_index("s")
    db.c.create_index("arr")
    after = {(i, j): [d["_id"] for d in db.c.find(f).sort(s)]
             for i, f in enumerate(filters) for j, s in enumerate(sorts)}
    assert before == after


def test_index_follows_updates_and_deletes(db):
    db.c.create_index("a")
    db.c.insert_many([{"_id": i, "a": i} for i in range(100)])
    db.c.update_many({"a": {"$lt": 10}}, {"$inc": {"a": 1000}})
    db.c.delete_many({"a": {"$gte": 90, "$lt": 100}})
    assert db.c.count_documents({"a": {"$lt": 10}}) == 0
    assert db.c.count_documents({"a": {"$gte": 1000}}) == 10
    assert sorted(d["_id"] for d in db.c.find({"a": {"$gte": 85, "$lt": 1000}})) == list(range(85, 90))


def test_index_on_array_field_multikey(db):
    db.c.create_index("tags")
    db.c.insert_many([{"_id": 1, "tags": ["a", "b"]}, {"_id": 2, "tags": ["b"]}, {"_id": 3, "tags": "a"}])
    assert sorted(d["_id"] for d in db.c.find({"tags": "a"})) == [1, 3]
    assert sorted(d["_id"] for d in db.c.find({"tags": {"$all": ["a", "b"]}})) == [1]


def test_hint_by_index_name(db):
    db.c.create_index("a")
    db.c.insert_many([{"a": i} for i in range(10)])
    assert len(list(db.c.find({"a": {"$lt": 3}}).hint("a_1"))) == 3


def test_hint_to_a_missing_index_fails(db):
    db.c.insert_one({"a": 1})
    with pytest.raises(OperationFailure) as ei:
        list(db.c.find({}).hint("zzz_1"))
    assert ei.value.code == 2


def test_indexed_find_on_large_collection_is_fast(db):
    import time
    db.c.insert_many([{"_id": i, "k": i} for i in range(20000)])
    db.c.create_index("k")
    t0 = time.monotonic()
    for i in range(0, 20000, 40):
        assert db.c.find_one({"k": i})["_id"] == i
    elapsed = time.monotonic() - t0
    # 500 point lookups through an index: far below a full scan each.
    assert elapsed < 5.0, "500 indexed lookups took %.1fs" % elapsed


def test_list_indexes_after_restart_of_collection_drop(db):
    db.c.create_index("a")
    db.c.drop()
    db.c.insert_one({"a": 1})
    assert index_names(db.c) == ["_id_"]


def test_updating_a_document_absent_from_a_sparse_index(db):
    # The document has no key in the sparse index before or after the
    # update: the index maintenance compares two empty key sets.
    db.c.create_index([("s", 1)], sparse=True)
    db.c.insert_one({"_id": 1, "a": 1})
    assert db.c.update_one({"_id": 1}, {"$set": {"a": 2}}).modified_count == 1
    db.c.update_one({"_id": 1}, {"$set": {"s": 5}})
    assert [d["_id"] for d in db.c.find({"s": 5}).hint("s_1")] == [1]
    db.c.update_one({"_id": 1}, {"$unset": {"s": ""}})
    assert list(db.c.find({"s": 5})) == []
    assert db.c.find_one({"_id": 1}) == {"_id": 1, "a": 2}

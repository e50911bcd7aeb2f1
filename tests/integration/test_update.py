"""update and delete end to end: every update operator family, replacement,
upsert (with the query's equality fields seeded), update_many, arrays with
positional operators, pipelines, the raw reply shape, errors, delete_one and
delete_many."""
import datetime

import pytest
from bson.int64 import Int64
from bson.timestamp import Timestamp
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import OperationFailure, WriteError


def one(db, _id=1):
    return db.c.find_one({"_id": _id})


def test_set_and_unset(db):
    db.c.insert_one({"_id": 1, "a": 1, "b": 2})
    r = db.c.update_one({"_id": 1}, {"$set": {"a": 10, "c.d": 5}, "$unset": {"b": ""}})
    assert (r.matched_count, r.modified_count) == (1, 1)
    assert one(db) == {"_id": 1, "a": 10, "c": {"d": 5}}


def test_set_to_the_same_value_is_not_a_modification(db):
    db.c.insert_one({"_id": 1, "a": 1})
    r = db.c.update_one({"_id": 1}, {"$set": {"a": 1}})
    assert (r.matched_count, r.modified_count) == (1, 0)


def test_inc_mul_keep_numeric_types(db):
    db.c.insert_one({"_id": 1, "i": 1, "l": Int64(5), "d": 1.5})
    db.c.update_one({"_id": 1}, {"$inc": {"i": 2, "l": 1, "d": 1, "new": 3}, })
    doc = one(db)
    assert doc["i"] == 3 and not isinstance(doc["i"], (Int64, float))
    assert doc["l"] == 6 and isinstance(doc["l"], Int64)
    assert doc["d"] == 2.5
    assert doc["new"] == 3
    db.c.update_one({"_id": 1}, {"$mul": {"i": 2, "missing": 5}})
    doc = one(db)
    assert doc["i"] == 6 and doc["missing"] == 0


def test_inc_overflow_promotes_int32_to_int64(db):
    db.c.insert_one({"_id": 1, "i": 2147483647})
    db.c.update_one({"_id": 1}, {"$inc": {"i": 1}})
    doc = one(db)
    assert doc["i"] == 2147483648 and isinstance(doc["i"], Int64)


def test_inc_on_a_string_fails_with_type_mismatch(db):
    db.c.insert_one({"_id": 1, "s": "x"})
    with pytest.raises(WriteError) as ei:
        db.c.update_one({"_id": 1}, {"$inc": {"s": 1}})
    assert ei.value.code == 14


def test_min_max(db):
    db.c.insert_one({"_id": 1, "lo": 5, "hi": 5})
    db.c.update_one({"_id": 1}, {"$min": {"lo": 3}, "$max": {"hi": 9}})
    assert one(db) == {"_id": 1, "lo": 3, "hi": 9}
    db.c.update_one({"_id": 1}, {"$min": {"lo": 4}, "$max": {"hi": 1}})
    assert one(db) == {"_id": 1, "lo": 3, "hi": 9}


def test_rename(db):
    db.c.insert_one({"_id": 1, "a": 1, "n": {"x": 2}})
    db.c.update_one({"_id": 1}, {"$rename": {"a": "b", "n.x": "y"}})
    assert one(db) == {"_id": 1, "b": 1, "n": {}, "y": 2}


def test_current_date_and_set_on_insert(db):
    db.c.insert_one({"_id": 1})
    db.c.update_one({"_id": 1}, {"$currentDate": {"d": True, "t": {"$type": "timestamp"}},
                                 "$setOnInsert": {"ignored": 1}})
    doc = one(db)
    assert isinstance(doc["d"], datetime.datetime)
    assert isinstance(doc["t"], Timestamp)
    assert "ignored" not in doc


def test_push_with_each_position_slice_sort(db):
    db.c.insert_one({"_id": 1, "a": [3, 1]})
    db.c.update_one({"_id": 1}, {"$push": {"a": 2}})
    assert one(db)["a"] == [3, 1, 2]
    db.c.update_one({"_id": 1}, {"$push": {"a": {"$each": [9, 0], "$sort": 1, "$slice": 4}}})
    assert one(db)["a"] == [0, 1, 2, 3]
    db.c.update_one({"_id": 1}, {"$push": {"a": {"$each": [7], "$position": 0}}})
    assert one(db)["a"] == [7, 0, 1, 2, 3]
    db.c.update_one({"_id": 1}, {"$push": {"b": 1}})
    assert one(db)["b"] == [1]


def test_push_onto_a_non_array_fails(db):
    db.c.insert_one({"_id": 1, "a": 1})
    with pytest.raises(WriteError) as ei:
        db.c.update_one({"_id": 1}, {"$push": {"a": 2}})
    assert ei.value.code == 2  # BadValue: "The field 'a' must be an array"


def test_add_to_set_pull_pull_all_pop(db):
    db.c.insert_one({"_id": 1, "a": [1, 2, 3, 2], "o": [{"k": 1}, {"k": 2}]})
    db.c.update_one({"_id": 1}, {"$addToSet": {"a": {"$each": [2, 4]}}})
    assert one(db)["a"] == [1, 2, 3, 2, 4]
    db.c.update_one({"_id": 1}, {"$pull": {"a": 2}})
    assert one(db)["a"] == [1, 3, 4]
    db.c.update_one({"_id": 1}, {"$pull": {"a": {"$gte": 4}, "o": {"k": 1}}})
    assert one(db)["a"] == [1, 3] and one(db)["o"] == [{"k": 2}]
    db.c.update_one({"_id": 1}, {"$pullAll": {"a": [1, 9]}})
    assert one(db)["a"] == [3]
    db.c.update_one({"_id": 1}, {"$push": {"a": {"$each": [5, 6]}}})
    db.c.update_one({"_id": 1}, {"$pop": {"a": -1}})
    assert one(db)["a"] == [5, 6]
    db.c.update_one({"_id": 1}, {"$pop": {"a": 1}})
    assert one(db)["a"] == [5]


def test_positional_operators(db):
    db.c.insert_one({"_id": 1, "g": [{"n": "a", "v": 1}, {"n": "b", "v": 2}, {"n": "c", "v": 3}]})
    db.c.update_one({"_id": 1, "g.n": "b"}, {"$set": {"g.$.v": 20}})
    assert [x["v"] for x in one(db)["g"]] == [1, 20, 3]
    db.c.update_one({"_id": 1}, {"$inc": {"g.$[].v": 1}})
    assert [x["v"] for x in one(db)["g"]] == [2, 21, 4]
    db.c.update_one({"_id": 1}, {"$set": {"g.$[e].v": 0}}, array_filters=[{"e.v": {"$gt": 3}}])
    assert [x["v"] for x in one(db)["g"]] == [2, 0, 0]
    db.c.update_one({"_id": 1}, {"$set": {"g.0.v": 99}})
    assert one(db)["g"][0]["v"] == 99


def test_set_through_a_missing_array_index_pads_with_null(db):
    db.c.insert_one({"_id": 1, "a": [1]})
    db.c.update_one({"_id": 1}, {"$set": {"a.3": 4}})
    assert one(db)["a"] == [1, None, None, 4]


def test_replacement_keeps_id(db):
    db.c.insert_one({"_id": 1, "a": 1, "b": 2})
    r = db.c.replace_one({"_id": 1}, {"z": 26})
    assert r.modified_count == 1
    assert one(db) == {"_id": 1, "z": 26}


def test_replacement_cannot_change_id(db):
    db.c.insert_one({"_id": 1})
    with pytest.raises(WriteError) as ei:
        db.c.replace_one({"_id": 1}, {"_id": 2, "z": 1})
    assert ei.value.code == 66  # ImmutableField


def test_set_id_fails_with_immutable_field(db):
    db.c.insert_one({"_id": 1})
    with pytest.raises(WriteError) as ei:
        db.c.update_one({"_id": 1}, {"$set": {"_id": 5}})
    assert ei.value.code == 66


def test_upsert_inserts_query_equality_fields(db):
    r = db.c.update_one({"name": "x", "age": {"$gt": 3}, "k.j": 7}, {"$set": {"v": 1}}, upsert=True)
    assert r.matched_count == 0 and r.modified_count == 0
    assert r.upserted_id is not None
    doc = db.c.find_one({"_id": r.upserted_id})
    assert doc["name"] == "x" and doc["v"] == 1 and doc["k"] == {"j": 7}
    assert "age" not in doc


def test_upsert_with_set_on_insert_and_explicit_id(db):
    r = db.c.update_one({"_id": 42}, {"$setOnInsert": {"created": True}, "$inc": {"n": 1}}, upsert=True)
    assert r.upserted_id == 42
    db.c.update_one({"_id": 42}, {"$setOnInsert": {"created": False}, "$inc": {"n": 1}}, upsert=True)
    assert one(db, 42) == {"_id": 42, "created": True, "n": 2}


def test_upsert_replacement(db):
    r = db.c.replace_one({"_id": 5}, {"r": 1}, upsert=True)
    assert r.upserted_id == 5
    assert one(db, 5) == {"_id": 5, "r": 1}


def test_update_many_modifies_every_match(db):
    db.c.insert_many([{"_id": i, "g": i % 2} for i in range(10)])
    r = db.c.update_many({"g": 0}, {"$set": {"even": True}})
    assert (r.matched_count, r.modified_count) == (5, 5)
    assert db.c.count_documents({"even": True}) == 5


def test_update_one_modifies_only_one(db):
    db.c.insert_many([{"_id": i, "g": 1} for i in range(3)])
    r = db.c.update_one({"g": 1}, {"$set": {"hit": 1}})
    assert r.matched_count == 1
    assert db.c.count_documents({"hit": 1}) == 1


def test_update_with_an_aggregation_pipeline(db):
    db.c.insert_one({"_id": 1, "a": 2, "b": 3})
    db.c.update_one({"_id": 1}, [{"$set": {"sum": {"$add": ["$a", "$b"]}}}, {"$unset": "b"}])
    assert one(db) == {"_id": 1, "a": 2, "sum": 5}


def test_raw_update_reply_with_upserted_array(db):
    db.c.insert_one({"_id": 1, "a": 1})
    r = db.command({"update": "c", "updates": [
        {"q": {"_id": 1}, "u": {"$set": {"a": 2}}},
        {"q": {"_id": 2}, "u": {"$set": {"a": 3}}, "upsert": True},
        {"q": {"_id": 1}, "u": {"$bogus": {"a": 1}}},
    ]})
    assert r["ok"] == 1.0
    assert r["n"] == 2
    assert r["nModified"] == 1
    assert r["upserted"] == [{"index": 1, "_id": 2}]
    assert r["writeErrors"][0]["index"] == 2
    assert r["writeErrors"][0]["code"] == 9  # FailedToParse: Unknown modifier: $bogus


def test_unknown_update_operator_is_a_write_error(db):
    db.c.insert_one({"_id": 1})
    with pytest.raises(WriteError) as ei:
        db.c.update_one({"_id": 1}, {"$frobnicate": {"a": 1}})
    assert ei.value.code == 9
    assert "$frobnicate" in str(ei.value)


def test_conflicting_update_paths_fail(db):
    db.c.insert_one({"_id": 1})
    with pytest.raises(WriteError) as ei:
        db.c.update_one({"_id": 1}, {"$set": {"a": 1}, "$inc": {"a": 1}})
    assert ei.value.code == 40  # ConflictingUpdateOperators


def test_empty_update_document_is_a_replacement(db):
    db.c.insert_one({"_id": 1, "a": 1})
    db.c.replace_one({"_id": 1}, {})
    assert one(db) == {"_id": 1}


def test_update_multi_with_replacement_fails(db):
    db.c.insert_one({"_id": 1})
    r = db.command({"update": "c", "updates": [{"q": {}, "u": {"x": 1}, "multi": True}]}, check=False)
    # mongod reports it either for the whole command or for the statement.
    code = r["code"] if r["ok"] == 0 else r["writeErrors"][0]["code"]
    assert code == 9
    assert one(db) == {"_id": 1}


def test_bulk_write_mixes_operations(db):
    from pymongo import DeleteOne, InsertOne, ReplaceOne
    r = db.c.bulk_write([InsertOne({"_id": 1}), InsertOne({"_id": 2}),
                         UpdateOne({"_id": 1}, {"$set": {"a": 1}}),
                         ReplaceOne({"_id": 3}, {"b": 1}, upsert=True),
                         DeleteOne({"_id": 2})])
    assert r.inserted_count == 2
    assert r.matched_count == 1 and r.modified_count == 1
    assert r.upserted_ids == {3: 3}
    assert r.deleted_count == 1
    assert sorted(d["_id"] for d in db.c.find()) == [1, 3]


def test_delete_one_and_many(db):
    db.c.insert_many([{"_id": i, "g": i % 3} for i in range(9)])
    assert db.c.delete_one({"g": 1}).deleted_count == 1
    assert db.c.delete_many({"g": 1}).deleted_count == 2
    assert db.c.delete_many({}).deleted_count == 6
    assert db.c.count_documents({}) == 0


def test_delete_with_no_match_reports_zero(db):
    assert db.c.delete_one({"x": 1}).deleted_count == 0


def test_raw_delete_limit_must_be_0_or_1(db):
    db.c.insert_many([{"_id": 1}, {"_id": 2}])
    with pytest.raises(OperationFailure) as ei:
        db.command({"delete": "c", "deletes": [{"q": {}, "limit": 5}]})
    assert ei.value.code == 9  # "The limit field in delete objects must be 0 or 1"
    assert db.c.count_documents({}) == 2


def test_find_one_and_update_returns_before_or_after(db):
    db.c.insert_many([{"_id": 1, "n": 1, "g": "a"}, {"_id": 2, "n": 2, "g": "a"}])
    before = db.c.find_one_and_update({"g": "a"}, {"$inc": {"n": 10}}, sort=[("n", -1)])
    assert before == {"_id": 2, "n": 2, "g": "a"}
    after = db.c.find_one_and_update({"g": "a"}, {"$inc": {"n": 10}}, sort=[("n", 1)],
                                     projection={"_id": 0, "n": 1}, return_document=ReturnDocument.AFTER)
    assert after == {"n": 11}


def test_find_one_and_update_upsert_returns_the_new_doc(db):
    got = db.c.find_one_and_update({"_id": 7}, {"$set": {"x": 1}}, upsert=True,
                                   return_document=ReturnDocument.AFTER)
    assert got == {"_id": 7, "x": 1}
    assert db.c.find_one_and_update({"_id": 8}, {"$set": {"x": 1}}, upsert=True) is None
    assert one(db, 8) == {"_id": 8, "x": 1}


def test_find_one_and_replace_and_delete(db):
    db.c.insert_many([{"_id": 1, "v": 1}, {"_id": 2, "v": 2}])
    old = db.c.find_one_and_replace({"_id": 1}, {"v": 100})
    assert old == {"_id": 1, "v": 1}
    assert one(db) == {"_id": 1, "v": 100}
    gone = db.c.find_one_and_delete({}, sort=[("v", 1)])
    assert gone == {"_id": 2, "v": 2}
    assert db.c.find_one_and_delete({"_id": 99}) is None


def test_find_and_modify_raw_reply_has_last_error_object(db):
    db.c.insert_one({"_id": 1, "v": 1})
    r = db.command({"findAndModify": "c", "query": {"_id": 1}, "update": {"$set": {"v": 2}}, "new": True})
    assert r["ok"] == 1.0
    assert r["value"] == {"_id": 1, "v": 2}
    assert r["lastErrorObject"]["n"] == 1
    assert r["lastErrorObject"]["updatedExisting"] is True
    r = db.command({"findAndModify": "c", "query": {"_id": 5}, "update": {"$set": {"v": 2}}, "upsert": True})
    assert r["value"] is None
    assert r["lastErrorObject"]["updatedExisting"] is False
    assert r["lastErrorObject"]["upserted"] == 5
    r = db.command({"findAndModify": "c", "query": {"_id": 5}, "remove": True})
    assert r["value"] == {"_id": 5, "v": 2}
    assert r["lastErrorObject"]["n"] == 1


def test_find_and_modify_needs_update_or_remove(db):
    with pytest.raises(OperationFailure) as ei:
        db.command({"findAndModify": "c", "query": {}})
    assert ei.value.code == 9


def test_find_and_modify_duplicate_key_error(db):
    db.c.insert_many([{"_id": 1}, {"_id": 2}])
    with pytest.raises(OperationFailure) as ei:
        db.c.find_one_and_replace({"x": 9}, {"_id": 1}, upsert=True)
    assert ei.value.code == 11000

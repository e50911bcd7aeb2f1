"""find: every filter operator family, dotted paths through arrays and
embedded documents, projection, compound sort with MongoDB's cross-type
order, skip/limit, and the raw reply shape."""
import datetime

import pytest
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.regex import Regex
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import OperationFailure


@pytest.fixture
def people(db):
    db.p.insert_many([
        {"_id": 1, "name": "ann", "age": 30, "tags": ["a", "b"], "addr": {"city": "oslo", "zip": 100},
         "scores": [{"k": "math", "v": 90}, {"k": "art", "v": 40}]},
        {"_id": 2, "name": "bob", "age": 25, "tags": ["b", "c"], "addr": {"city": "rome", "zip": 200},
         "scores": [{"k": "math", "v": 50}]},
        {"_id": 3, "name": "cid", "age": 35, "tags": [], "addr": {"city": "oslo"}, "scores": []},
        {"_id": 4, "name": "dan", "age": None, "tags": ["a"]},
        {"_id": 5, "name": "Eve", "tags": "a", "age": Int64(40)},
    ])
    return db.p


def ids(cursor):
    return sorted(d["_id"] for d in cursor)


def test_empty_filter_returns_everything(people):
    assert ids(people.find()) == [1, 2, 3, 4, 5]


def test_equality_and_implicit_and(people):
    assert ids(people.find({"name": "ann"})) == [1]
    assert ids(people.find({"name": "ann", "age": 30})) == [1]
    assert ids(people.find({"name": "ann", "age": 31})) == []


def test_comparison_operators(people):
    assert ids(people.find({"age": {"$gt": 30}})) == [3, 5]
    assert ids(people.find({"age": {"$gte": 30}})) == [1, 3, 5]
    assert ids(people.find({"age": {"$lt": 30}})) == [2]
    assert ids(people.find({"age": {"$lte": 30}})) == [1, 2]
    assert ids(people.find({"age": {"$gt": 26, "$lt": 36}})) == [1, 3]
    assert ids(people.find({"age": {"$eq": 25}})) == [2]


def test_ne_matches_missing_fields(people):
    assert ids(people.find({"age": {"$ne": 30}})) == [2, 3, 4, 5]
    assert ids(people.find({"addr.zip": {"$ne": 100}})) == [2, 3, 4, 5]


def test_numbers_compare_across_types(people):
    assert ids(people.find({"age": 40.0})) == [5]
    assert ids(people.find({"age": Decimal128("25")})) == [2]
    assert ids(people.find({"age": Int64(30)})) == [1]


def test_comparison_does_not_cross_type_brackets(people):
    # $gt with a number never matches strings, null or missing.
    assert ids(people.find({"name": {"$gt": 1}})) == []
    assert ids(people.find({"age": {"$gt": "a"}})) == []


def test_null_matches_null_and_missing(people):
    assert ids(people.find({"age": None})) == [4]
    assert ids(people.find({"addr": None})) == [4, 5]
    assert ids(people.find({"addr.zip": None})) == [3, 4, 5]


def test_in_and_nin(people):
    assert ids(people.find({"name": {"$in": ["ann", "cid", "zed"]}})) == [1, 3]
    assert ids(people.find({"name": {"$nin": ["ann", "cid"]}})) == [2, 4, 5]
    assert ids(people.find({"age": {"$in": [None, 25]}})) == [2, 4]
    assert ids(people.find({"tags": {"$in": ["c"]}})) == [2]


def test_in_with_a_regex(people):
    assert ids(people.find({"name": {"$in": [Regex("^a"), "bob"]}})) == [1, 2]


def test_logical_operators(people):
    assert ids(people.find({"$or": [{"name": "ann"}, {"age": 25}]})) == [1, 2]
    assert ids(people.find({"$and": [{"age": {"$gte": 25}}, {"age": {"$lte": 30}}]})) == [1, 2]
    assert ids(people.find({"$nor": [{"name": "ann"}, {"name": "bob"}]})) == [3, 4, 5]
    assert ids(people.find({"age": {"$not": {"$gt": 28}}})) == [2, 4]


def test_not_with_a_regex(people):
    assert ids(people.find({"name": {"$not": Regex("^[a-c]")}})) == [4, 5]


def test_exists(people):
    assert ids(people.find({"addr": {"$exists": True}})) == [1, 2, 3]
    assert ids(people.find({"addr.zip": {"$exists": False}})) == [3, 4, 5]
    assert ids(people.find({"age": {"$exists": True}})) == [1, 2, 3, 4, 5]


def test_type_by_alias_and_number(people):
    assert ids(people.find({"age": {"$type": "long"}})) == [5]
    assert ids(people.find({"age": {"$type": "number"}})) == [1, 2, 3, 5]
    assert ids(people.find({"age": {"$type": 10}})) == [4]
    assert ids(people.find({"tags": {"$type": "array"}})) == [1, 2, 3, 4]
    assert ids(people.find({"tags": {"$type": "string"}})) == [1, 2, 4, 5]
    assert ids(people.find({"age": {"$type": ["null", "long"]}})) == [4, 5]


def test_regex_and_options(people):
    assert ids(people.find({"name": {"$regex": "^e", "$options": "i"}})) == [5]
    assert ids(people.find({"name": Regex("^E")})) == [5]
    assert ids(people.find({"addr.city": {"$regex": "sl"}})) == [1, 3]
    assert ids(people.find({"tags": {"$regex": "^c"}})) == [2]


def test_mod(people):
    assert ids(people.find({"age": {"$mod": [10, 5]}})) == [2, 3]


def test_expr_compares_fields(db):
    db.c.insert_many([{"_id": 1, "a": 5, "b": 3}, {"_id": 2, "a": 1, "b": 3}])
    assert ids(db.c.find({"$expr": {"$gt": ["$a", "$b"]}})) == [1]


def test_array_all_size_elem_match(people):
    assert ids(people.find({"tags": {"$all": ["a", "b"]}})) == [1]
    assert ids(people.find({"tags": {"$size": 2}})) == [1, 2]
    assert ids(people.find({"tags": {"$size": 0}})) == [3]
    assert ids(people.find({"scores": {"$elemMatch": {"k": "math", "v": {"$gt": 60}}}})) == [1]
    # Without $elemMatch the two conditions may match different elements.
    assert ids(people.find({"scores.k": "art", "scores.v": 90})) == [1]
    assert ids(people.find({"scores": {"$elemMatch": {"k": "art", "v": 90}}})) == []


def test_elem_match_on_scalars(db):
    db.c.insert_many([{"_id": 1, "x": [1, 15, 30]}, {"_id": 2, "x": [5, 40]}])
    assert ids(db.c.find({"x": {"$elemMatch": {"$gt": 10, "$lt": 20}}})) == [1]
    # Range without $elemMatch: any element may satisfy each bound.
    assert ids(db.c.find({"x": {"$gt": 10, "$lt": 20}})) == [1, 2]


def test_scalar_equality_matches_array_elements_and_whole_arrays(people):
    assert ids(people.find({"tags": "a"})) == [1, 4, 5]
    assert ids(people.find({"tags": ["a", "b"]})) == [1]
    assert ids(people.find({"tags": ["b", "a"]})) == []


def test_dotted_paths_through_arrays_of_documents(people):
    assert ids(people.find({"scores.k": "math"})) == [1, 2]
    assert ids(people.find({"scores.v": {"$gte": 90}})) == [1]


def test_numeric_path_component_indexes_an_array(people):
    assert ids(people.find({"tags.0": "a"})) == [1, 4]
    assert ids(people.find({"scores.0.v": 50})) == [2]
    assert ids(people.find({"tags.1": {"$exists": True}})) == [1, 2]


def test_nested_arrays_only_unwind_one_level(db):
    db.c.insert_many([{"_id": 1, "a": [[1, 2]]}, {"_id": 2, "a": [1, 2]}])
    assert ids(db.c.find({"a": 1})) == [2]
    assert ids(db.c.find({"a": [1, 2]})) == [1, 2]


def test_embedded_document_equality_is_exact_and_ordered(people):
    assert ids(people.find({"addr": {"city": "oslo", "zip": 100}})) == [1]
    assert ids(people.find({"addr": {"zip": 100, "city": "oslo"}})) == []


def test_bitwise_operators(db):
    db.c.insert_many([{"_id": 1, "f": 0b1010}, {"_id": 2, "f": 0b0110}])
    assert ids(db.c.find({"f": {"$bitsAllSet": [1, 3]}})) == [1]
    assert ids(db.c.find({"f": {"$bitsAnySet": 0b0100}})) == [2]
    assert ids(db.c.find({"f": {"$bitsAllClear": [0]}})) == [1, 2]
    assert ids(db.c.find({"f": {"$bitsAnyClear": [3]}})) == [2]


def test_unknown_query_operator_fails_with_bad_value(people):
    with pytest.raises(OperationFailure) as ei:
        list(people.find({"age": {"$foo": 1}}))
    assert ei.value.code == 2
    assert "unknown operator" in str(ei.value)


def test_top_level_unknown_operator_fails(people):
    with pytest.raises(OperationFailure) as ei:
        list(people.find({"$foo": [{"a": 1}]}))
    assert ei.value.code == 2


def test_or_needs_a_nonempty_array(people):
    with pytest.raises(OperationFailure) as ei:
        list(people.find({"$or": []}))
    assert ei.value.code == 2


def test_projection_inclusion_keeps_id_unless_excluded(people):
    assert people.find_one({"_id": 1}, {"name": 1}) == {"_id": 1, "name": "ann"}
    assert people.find_one({"_id": 1}, {"name": 1, "_id": 0}) == {"name": "ann"}
    assert people.find_one({"_id": 1}, {"addr.city": 1}) == {"_id": 1, "addr": {"city": "oslo"}}


def test_projection_exclusion(people):
    doc = people.find_one({"_id": 2}, {"scores": 0, "tags": 0, "addr.zip": 0})
    assert doc == {"_id": 2, "name": "bob", "age": 25, "addr": {"city": "rome"}}


def test_projection_through_arrays_of_documents(people):
    assert people.find_one({"_id": 1}, {"scores.k": 1, "_id": 0}) == {"scores": [{"k": "math"}, {"k": "art"}]}


def test_projection_slice_and_elem_match(people):
    assert people.find_one({"_id": 1}, {"tags": {"$slice": 1}, "name": 1}) == \
        {"_id": 1, "name": "ann", "tags": ["a"]}
    assert people.find_one({"_id": 1}, {"tags": {"$slice": -1}, "_id": 0, "name": 1}) == \
        {"name": "ann", "tags": ["b"]}
    got = people.find_one({"_id": 1}, {"scores": {"$elemMatch": {"k": "art"}}})
    assert got == {"_id": 1, "scores": [{"k": "art", "v": 40}]}


def test_positional_projection(people):
    got = people.find_one({"scores.k": "art"}, {"scores.$": 1})
    assert got == {"_id": 1, "scores": [{"k": "art", "v": 40}]}


def test_projection_with_expressions_and_literals(people):
    got = people.find_one({"_id": 1}, {"n": "$name", "lit": {"$literal": 5}, "_id": 0})
    assert got == {"n": "ann", "lit": 5}


def test_mixed_inclusion_and_exclusion_is_an_error(people):
    with pytest.raises(OperationFailure) as ei:
        people.find_one({}, {"name": 1, "age": 0})
    assert ei.value.code == 31254


def test_sort_ascending_descending_and_compound(db):
    db.c.insert_many([{"_id": i, "a": i % 3, "b": i} for i in range(9)])
    got = [d["_id"] for d in db.c.find().sort([("a", ASCENDING), ("b", DESCENDING)])]
    assert got == [6, 3, 0, 7, 4, 1, 8, 5, 2]


def test_sort_uses_cross_type_bson_order(db):
    from bson.max_key import MaxKey
    from bson.min_key import MinKey
    docs = [
        {"_id": "minkey", "v": MinKey()},
        {"_id": "null", "v": None},
        {"_id": "int", "v": 3},
        {"_id": "double", "v": 2.5},
        {"_id": "long", "v": Int64(4)},
        {"_id": "dec", "v": Decimal128("3.5")},
        {"_id": "str", "v": "abc"},
        {"_id": "obj", "v": {"a": 1}},
        {"_id": "arr", "v": [10, 20]},
        {"_id": "oid", "v": ObjectId("5f0000000000000000000001")},
        {"_id": "bool", "v": False},
        {"_id": "date", "v": datetime.datetime(2020, 1, 1)},
        {"_id": "maxkey", "v": MaxKey()},
        {"_id": "missing"},
    ]
    db.c.insert_many(docs)
    got = [d["_id"] for d in db.c.find().sort([("v", 1), ("_id", 1)])]
    # Missing sorts as null; the array sorts by its smallest element (10)
    # among the numbers on ascending sort.
    assert got == ["minkey", "missing", "null", "double", "int", "dec", "long", "arr",
                   "str", "obj", "oid", "bool", "date", "maxkey"]


def test_descending_sort_by_array_uses_largest_element(db):
    db.c.insert_many([{"_id": 1, "v": [1, 9]}, {"_id": 2, "v": 5}, {"_id": 3, "v": [3, 4]}])
    assert [d["_id"] for d in db.c.find().sort("v", -1)] == [1, 2, 3]
    assert [d["_id"] for d in db.c.find().sort("v", 1)] == [1, 3, 2]


def test_sort_on_embedded_field_and_strings(people):
    got = [d["_id"] for d in people.find({"addr": {"$exists": True}}).sort([("addr.city", 1), ("_id", -1)])]
    assert got == [3, 1, 2]
    # Strings compare by bytes: upper case before lower case.
    assert [d["name"] for d in people.find().sort("name", 1)] == ["Eve", "ann", "bob", "cid", "dan"]


def test_skip_and_limit(db):
    db.c.insert_many([{"_id": i} for i in range(20)])
    got = [d["_id"] for d in db.c.find().sort("_id", 1).skip(5).limit(4)]
    assert got == [5, 6, 7, 8]
    assert [d["_id"] for d in db.c.find().sort("_id", -1).limit(2)] == [19, 18]
    assert len(list(db.c.find().skip(18))) == 2
    assert len(list(db.c.find().skip(100))) == 0


def test_negative_limit_returns_a_single_batch(db):
    db.c.insert_many([{"_id": i} for i in range(10)])
    assert len(list(db.c.find().limit(-3))) == 3


def test_raw_find_reply_shape(db):
    db.c.insert_many([{"_id": i} for i in range(3)])
    r = db.command({"find": "c", "filter": {}, "sort": {"_id": 1}})
    assert r["ok"] == 1.0
    assert isinstance(r["cursor"]["id"], Int64) and r["cursor"]["id"] == 0
    assert r["cursor"]["ns"] == db.name + ".c"
    assert r["cursor"]["firstBatch"] == [{"_id": 0}, {"_id": 1}, {"_id": 2}]


def test_find_on_missing_collection_returns_empty(db):
    r = db.command({"find": "nothing_here"})
    assert r["cursor"]["firstBatch"] == [] and r["cursor"]["id"] == 0


def test_find_with_single_batch_and_limit(db):
    db.c.insert_many([{"_id": i} for i in range(200)])
    r = db.command({"find": "c", "batchSize": 10, "singleBatch": True})
    assert len(r["cursor"]["firstBatch"]) == 10
    assert r["cursor"]["id"] == 0


def test_find_with_hint_on_id(db):
    db.c.insert_many([{"_id": i} for i in range(5)])
    assert len(list(db.c.find({"_id": {"$gt": 1}}).hint([("_id", 1)]))) == 3


def test_find_one_by_object_id(db):
    oid = db.c.insert_one({"x": 1}).inserted_id
    assert db.c.find_one(oid)["x"] == 1


def test_find_accepts_comment_and_max_time(db):
    db.c.insert_one({"_id": 1})
    assert list(db.c.find({}).comment("hi").max_time_ms(5000)) == [{"_id": 1}]


def test_count_documents_with_filter_skip_limit(people):
    assert people.count_documents({}) == 5
    assert people.count_documents({"tags": "a"}) == 3
    assert people.count_documents({}, skip=1, limit=2) == 2


def test_estimated_document_count(people):
    assert people.estimated_document_count() == 5


def test_count_command_raw(people):
    r = people.database.command({"count": "p", "query": {"age": {"$gte": 30}}})
    assert r["n"] == 3 and r["ok"] == 1.0


def test_distinct_unwinds_arrays(people):
    assert sorted(people.distinct("tags")) == ["a", "b", "c"]
    assert sorted(people.distinct("addr.city")) == ["oslo", "rome"]
    assert sorted(people.distinct("name", {"age": {"$gt": 28}})) == ["Eve", "ann", "cid"]


def test_distinct_treats_numeric_types_as_equal(db):
    db.c.insert_many([{"v": 1}, {"v": 1.0}, {"v": Int64(1)}, {"v": 2}])
    assert sorted(db.c.distinct("v")) == [1, 2]


def test_sort_with_no_matching_documents_returns_empty(db):
    db.c.insert_many([{"_id": i, "a": i} for i in range(5)])
    assert list(db.c.find({"a": 99}).sort("a", 1)) == []
    assert list(db.c.find({"a": 99}).sort("a", -1).limit(3)) == []
    assert list(db.empty_coll.find().sort("a", 1)) == []

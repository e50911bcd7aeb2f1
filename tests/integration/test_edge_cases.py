"""Edge cases of MongoDB 6.0 query, update and aggregation semantics that
clones commonly get wrong: NaN and decimal ordering, null/missing in $in,
$unset on array elements, $pull with conditions on embedded documents,
$push with $sort on a field, $addToSet of documents, upsert fields from
$eq and $and, $min over mixed types, $sum of decimals, and more."""
import datetime
import math

from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.regex import Regex
from pymongo import ReturnDocument


def ids(cur):
    return sorted(d["_id"] for d in cur)


def test_nan_sorts_before_every_other_number(db):
    db.c.insert_many([{"_id": 1, "v": 1}, {"_id": 2, "v": float("nan")}, {"_id": 3, "v": -math.inf},
                      {"_id": 4, "v": Decimal128("-1E+400")}])
    got = [d["_id"] for d in db.c.find().sort("v", 1)]
    assert got[0] == 2
    assert got[-1] == 1


def test_nan_equals_nan_in_a_query(db):
    db.c.insert_many([{"_id": 1, "v": float("nan")}, {"_id": 2, "v": 0}])
    assert ids(db.c.find({"v": float("nan")})) == [1]
    assert ids(db.c.find({"v": {"$gt": float("nan")}})) == []


def test_decimal_equals_double_of_same_value(db):
    db.c.insert_many([{"_id": 1, "v": Decimal128("0.5")}, {"_id": 2, "v": 0.5}, {"_id": 3, "v": Decimal128("0.1")}])
    assert ids(db.c.find({"v": 0.5})) == [1, 2]
    assert ids(db.c.find({"v": {"$lt": Decimal128("0.3")}})) == [3]


def test_in_with_null_matches_missing_and_null(db):
    db.c.insert_many([{"_id": 1}, {"_id": 2, "a": None}, {"_id": 3, "a": 1}])
    assert ids(db.c.find({"a": {"$in": [None]}})) == [1, 2]
    assert ids(db.c.find({"a": {"$nin": [None]}})) == [3]


def test_exists_false_on_array_index_and_size_on_non_array(db):
    db.c.insert_many([{"_id": 1, "a": [1]}, {"_id": 2, "a": [1, 2]}, {"_id": 3, "a": 5}])
    assert ids(db.c.find({"a.1": {"$exists": False}})) == [1, 3]
    assert ids(db.c.find({"a": {"$size": 1}})) == [1]


def test_string_and_date_ranges(db):
    d0 = datetime.datetime(2020, 1, 1)
    db.c.insert_many([{"_id": 1, "s": "apple", "d": d0},
                      {"_id": 2, "s": "banana", "d": d0 + datetime.timedelta(days=1)},
                      {"_id": 3, "s": "cherry", "d": d0 + datetime.timedelta(days=2)}])
    assert ids(db.c.find({"s": {"$gt": "b"}})) == [2, 3]
    assert ids(db.c.find({"d": {"$gte": d0 + datetime.timedelta(hours=12)}})) == [2, 3]
    assert ids(db.c.find({"s": {"$lt": "banana"}})) == [1]


def test_regex_options_multiline_and_dotall(db):
    db.c.insert_many([{"_id": 1, "t": "first\nsecond"}, {"_id": 2, "t": "second"}])
    assert ids(db.c.find({"t": {"$regex": "^second", "$options": "m"}})) == [1, 2]
    assert ids(db.c.find({"t": {"$regex": "^second"}})) == [2]
    assert ids(db.c.find({"t": {"$regex": "first.second", "$options": "s"}})) == [1]
    assert ids(db.c.find({"t": Regex("FIRST", "i")})) == [1]


def test_all_with_elem_match(db):
    db.c.insert_many([{"_id": 1, "q": [{"s": "M", "n": 1}, {"s": "L", "n": 2}]},
                      {"_id": 2, "q": [{"s": "M", "n": 5}]}])
    f = {"q": {"$all": [{"$elemMatch": {"s": "M", "n": {"$lt": 3}}}, {"$elemMatch": {"s": "L"}}]}}
    assert ids(db.c.find(f)) == [1]


def test_unset_on_array_element_sets_null(db):
    db.c.insert_one({"_id": 1, "a": [1, 2, 3]})
    db.c.update_one({"_id": 1}, {"$unset": {"a.1": ""}})
    assert db.c.find_one({"_id": 1})["a"] == [1, None, 3]


def test_pull_with_condition_on_embedded_documents(db):
    db.c.insert_one({"_id": 1, "r": [{"s": 8, "c": "a"}, {"s": 3, "c": "b"}, {"s": 9, "c": "a"}]})
    db.c.update_one({"_id": 1}, {"$pull": {"r": {"s": {"$gte": 8}, "c": "a"}}})
    assert db.c.find_one({"_id": 1})["r"] == [{"s": 3, "c": "b"}]


def test_push_sort_by_embedded_field(db):
    db.c.insert_one({"_id": 1, "q": [{"n": 3}, {"n": 1}]})
    db.c.update_one({"_id": 1}, {"$push": {"q": {"$each": [{"n": 2}], "$sort": {"n": -1}}}})
    assert db.c.find_one({"_id": 1})["q"] == [{"n": 3}, {"n": 2}, {"n": 1}]


def test_add_to_set_compares_whole_documents_in_order(db):
    db.c.insert_one({"_id": 1, "s": [{"a": 1, "b": 2}]})
    db.c.update_one({"_id": 1}, {"$addToSet": {"s": {"a": 1, "b": 2}}})
    db.c.update_one({"_id": 1}, {"$addToSet": {"s": {"b": 2, "a": 1}}})
    assert db.c.find_one({"_id": 1})["s"] == [{"a": 1, "b": 2}, {"b": 2, "a": 1}]


def test_add_to_set_treats_equal_numbers_of_different_types_as_equal(db):
    db.c.insert_one({"_id": 1, "s": [1]})
    db.c.update_one({"_id": 1}, {"$addToSet": {"s": {"$each": [1.0, Int64(1), 2]}}})
    assert db.c.find_one({"_id": 1})["s"] == [1, 2]


def test_upsert_takes_fields_from_eq_and_and(db):
    r = db.c.update_one({"_id": {"$eq": 5}}, {"$set": {"x": 1}}, upsert=True)
    assert r.upserted_id == 5
    db.c.update_one({"$and": [{"_id": 6}, {"k": "v"}]}, {"$set": {"x": 1}}, upsert=True)
    assert db.c.find_one({"_id": 6}) == {"_id": 6, "k": "v", "x": 1}


def test_upsert_with_dotted_set_on_insert(db):
    db.c.update_one({"_id": 1}, {"$setOnInsert": {"a.b.c": 1}, "$set": {"z": 0}}, upsert=True)
    assert db.c.find_one({"_id": 1}) == {"_id": 1, "a": {"b": {"c": 1}}, "z": 0}


def test_set_field_order_appends_new_fields_in_lexicographic_order(db):
    db.c.insert_one({"_id": 1, "m": 1})
    db.c.update_one({"_id": 1}, {"$set": {"z": 1, "b": 1, "a": 1}})
    # mongod applies a modifier's fields in sorted order, so new fields are
    # appended a, b, z.
    assert list(db.c.find_one({"_id": 1}).keys()) == ["_id", "m", "a", "b", "z"]


def test_inc_on_missing_nested_path_creates_documents(db):
    db.c.insert_one({"_id": 1})
    db.c.update_one({"_id": 1}, {"$inc": {"a.b.c": Int64(2)}})
    doc = db.c.find_one({"_id": 1})
    assert doc == {"_id": 1, "a": {"b": {"c": 2}}}
    assert isinstance(doc["a"]["b"]["c"], Int64)


def test_set_through_a_scalar_fails_with_path_not_viable(db):
    db.c.insert_one({"_id": 1, "a": 5})
    import pytest
    from pymongo.errors import WriteError
    with pytest.raises(WriteError) as ei:
        db.c.update_one({"_id": 1}, {"$set": {"a.b": 1}})
    assert ei.value.code == 28  # PathNotViable


def test_find_one_and_update_with_projection_and_sort_across_types(db):
    db.c.insert_many([{"_id": 1, "p": 2.5}, {"_id": 2, "p": 3}, {"_id": 3, "p": Int64(1)}])
    doc = db.c.find_one_and_update({}, {"$set": {"hit": True}}, sort=[("p", -1)],
                                   projection={"_id": 1}, return_document=ReturnDocument.AFTER)
    assert doc == {"_id": 2}


def test_group_accumulators_over_mixed_and_missing_values(db):
    db.c.insert_many([{"g": 1, "v": 3}, {"g": 1, "v": "str"}, {"g": 1}, {"g": 1, "v": None}])
    got = list(db.c.aggregate([{"$group": {"_id": "$g", "mn": {"$min": "$v"}, "mx": {"$max": "$v"},
                                           "first": {"$first": "$missing"}, "push": {"$push": "$v"}}}]))
    assert got == [{"_id": 1, "mn": 3, "mx": "str", "first": None, "push": [3, "str", None]}]


def test_sum_and_avg_result_types(db):
    db.c.insert_many([{"v": Decimal128("1.5")}, {"v": 2}])
    got = list(db.c.aggregate([{"$group": {"_id": None, "s": {"$sum": "$v"}, "a": {"$avg": "$v"}}}]))[0]
    assert got["s"] == Decimal128("3.5")
    assert got["a"] == Decimal128("1.75")
    db.d.insert_many([{"v": 1}, {"v": 2}])
    got = list(db.d.aggregate([{"$group": {"_id": None, "a": {"$avg": "$v"}}}]))[0]
    assert got["a"] == 1.5 and isinstance(got["a"], float)


def test_group_by_numeric_value_merges_types(db):
    db.c.insert_many([{"k": 1}, {"k": 1.0}, {"k": Int64(1)}, {"k": 2}])
    got = list(db.c.aggregate([{"$group": {"_id": "$k", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}]))
    assert [g["n"] for g in got] == [3, 1]


def test_sort_then_limit_returns_the_top_k(db):
    db.c.insert_many([{"_id": i, "v": (i * 37) % 101} for i in range(101)])
    got = list(db.c.aggregate([{"$sort": {"v": -1}}, {"$limit": 3}, {"$project": {"_id": 0, "v": 1}}]))
    assert got == [{"v": 100}, {"v": 99}, {"v": 98}]
    assert list(db.c.aggregate([{"$skip": 500}])) == []


def test_project_dotted_path_through_array_of_documents(db):
    db.c.insert_one({"_id": 1, "a": [{"b": 1, "c": 2}, {"b": 3, "c": 4}, 5]})
    got = list(db.c.aggregate([{"$project": {"a.b": 1, "_id": 0}}]))
    assert got == [{"a": [{"b": 1}, {"b": 3}]}]
    assert db.c.find_one({}, {"a.c": 0, "_id": 0}) == {"a": [{"b": 1}, {"b": 3}, 5]}


def test_distinct_of_nested_arrays_unwinds_one_level(db):
    db.c.insert_many([{"a": [[1, 2], 3]}, {"a": 3}])
    got = db.c.distinct("a")
    assert sorted(map(repr, got)) == sorted(map(repr, [[1, 2], 3]))


def test_count_with_limit_zero_means_no_limit(db):
    db.c.insert_many([{} for _ in range(7)])
    assert db.command({"count": "c", "limit": 0})["n"] == 7
    assert db.command({"count": "c", "limit": -2})["n"] == 2
    assert db.command({"count": "c", "skip": 5})["n"] == 2


def test_elem_match_projection_with_find_sort_and_limit(db):
    db.c.insert_many([{"_id": i, "arr": [{"k": j, "v": i * j} for j in range(3)]} for i in range(5)])
    got = list(db.c.find({}, {"arr": {"$elemMatch": {"k": 2}}}).sort("_id", -1).limit(2))
    assert got == [{"_id": 4, "arr": [{"k": 2, "v": 8}]}, {"_id": 3, "arr": [{"k": 2, "v": 6}]}]


def test_replace_one_preserves_id_position_and_types(db):
    db.c.insert_one({"_id": Int64(9), "a": 1})
    db.c.replace_one({"_id": 9}, {"b": 2, "c": {"d": [1, 2]}})
    doc = db.c.find_one()
    assert list(doc.keys()) == ["_id", "b", "c"]
    assert isinstance(doc["_id"], Int64)

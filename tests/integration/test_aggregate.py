"""aggregate: each supported stage ($match $project $addFields/$set $unset
$sort $skip $limit $group $unwind $count $sortByCount $replaceRoot/
$replaceWith), the accumulators, expression operators, type rules of $sum,
database-level errors for bad pipelines."""
import pytest
from bson.int64 import Int64
from pymongo.errors import OperationFailure


@pytest.fixture
def sales(db):
    db.s.insert_many([
        {"_id": 1, "item": "abc", "price": 10, "qty": 2, "tags": ["x", "y"], "d": {"m": 1}},
        {"_id": 2, "item": "jkl", "price": 20, "qty": 1, "tags": ["x"], "d": {"m": 1}},
        {"_id": 3, "item": "xyz", "price": 5, "qty": 10, "tags": [], "d": {"m": 2}},
        {"_id": 4, "item": "xyz", "price": 5, "qty": 20, "d": {"m": 2}},
        {"_id": 5, "item": "abc", "price": 10, "qty": 10, "tags": ["y", "z"], "d": {"m": 3}},
    ])
    return db.s


def agg(coll, pipeline):
    return list(coll.aggregate(pipeline))


def test_match_sort_skip_limit(sales):
    got = agg(sales, [{"$match": {"price": {"$gte": 10}}}, {"$sort": {"_id": -1}}, {"$skip": 1}, {"$limit": 2}])
    assert [d["_id"] for d in got] == [2, 1]


def test_project_inclusion_exclusion_and_computed(sales):
    got = agg(sales, [{"$match": {"_id": 1}}, {"$project": {"item": 1, "total": {"$multiply": ["$price", "$qty"]}}}])
    assert got == [{"_id": 1, "item": "abc", "total": 20}]
    got = agg(sales, [{"$match": {"_id": 1}}, {"$project": {"tags": 0, "d": 0, "_id": 0}}])
    assert got == [{"item": "abc", "price": 10, "qty": 2}]


def test_add_fields_set_unset(sales):
    got = agg(sales, [{"$match": {"_id": 2}}, {"$addFields": {"t": {"$add": ["$price", 1]}, "d.n": 5}},
                      {"$set": {"u": "$item"}}, {"$unset": ["tags", "price"]}])
    assert got == [{"_id": 2, "item": "jkl", "qty": 1, "d": {"m": 1, "n": 5}, "t": 21, "u": "jkl"}]


def test_group_with_every_accumulator(sales):
    got = agg(sales, [{"$sort": {"_id": 1}}, {"$group": {
        "_id": "$item",
        "n": {"$sum": 1},
        "qty": {"$sum": "$qty"},
        "avg": {"$avg": "$qty"},
        "min": {"$min": "$qty"},
        "max": {"$max": "$qty"},
        "first": {"$first": "$_id"},
        "last": {"$last": "$_id"},
        "ids": {"$push": "$_id"},
        "prices": {"$addToSet": "$price"},
        "cnt": {"$count": {}},
    }}, {"$sort": {"_id": 1}}])
    assert [g["_id"] for g in got] == ["abc", "jkl", "xyz"]
    abc = got[0]
    assert abc["n"] == 2 and abc["qty"] == 12 and abc["avg"] == 6.0
    assert abc["min"] == 2 and abc["max"] == 10
    assert abc["first"] == 1 and abc["last"] == 5
    assert abc["ids"] == [1, 5]
    assert abc["prices"] == [10]
    assert abc["cnt"] == 2


def test_sum_of_int32_stays_int32_and_widens(sales, db):
    got = agg(sales, [{"$group": {"_id": None, "n": {"$sum": 1}}}])
    assert got == [{"_id": None, "n": 5}]
    assert type(got[0]["n"]) is int
    db.big.insert_many([{"v": 2147483647}, {"v": 2147483647}])
    big = agg(db.big, [{"$group": {"_id": None, "s": {"$sum": "$v"}}}])[0]["s"]
    assert big == 4294967294 and isinstance(big, Int64)
    db.big.insert_one({"v": 0.5})
    mixed = agg(db.big, [{"$group": {"_id": None, "s": {"$sum": "$v"}}}])[0]["s"]
    assert mixed == 4294967294.5 and isinstance(mixed, float)


def test_sum_ignores_non_numbers_and_avg_of_nothing_is_null(db):
    db.c.insert_many([{"v": "x"}, {"v": None}, {}])
    got = agg(db.c, [{"$group": {"_id": 0, "s": {"$sum": "$v"}, "a": {"$avg": "$v"}}}])
    assert got == [{"_id": 0, "s": 0, "a": None}]


def test_group_by_compound_key_and_null(sales):
    got = agg(sales, [{"$group": {"_id": {"i": "$item", "p": "$price"}, "n": {"$sum": 1}}},
                      {"$sort": {"_id.i": 1}}])
    assert got[0] == {"_id": {"i": "abc", "p": 10}, "n": 2}
    got = agg(sales, [{"$group": {"_id": "$nope", "n": {"$sum": 1}}}])
    assert got == [{"_id": None, "n": 5}]


def test_group_without_id_fails(sales):
    with pytest.raises(OperationFailure) as ei:
        agg(sales, [{"$group": {"n": {"$sum": 1}}}])
    assert ei.value.code == 15955  # "a group specification must include an _id"


def test_unwind_forms(sales):
    got = agg(sales, [{"$unwind": "$tags"}, {"$project": {"tags": 1}}])
    assert [(d["_id"], d["tags"]) for d in got] == [(1, "x"), (1, "y"), (2, "x"), (5, "y"), (5, "z")]
    got = agg(sales, [{"$unwind": {"path": "$tags", "includeArrayIndex": "i",
                                   "preserveNullAndEmptyArrays": True}}, {"$project": {"tags": 1, "i": 1}}])
    assert [d["_id"] for d in got] == [1, 1, 2, 3, 4, 5, 5]
    assert got[1]["i"] == 1 and got[3]["i"] is None and "tags" not in got[3]


def test_count_and_sort_by_count(sales):
    assert agg(sales, [{"$match": {"price": 5}}, {"$count": "n"}]) == [{"n": 2}]
    got = agg(sales, [{"$unwind": "$tags"}, {"$sortByCount": "$tags"}])
    assert got[0] == {"_id": "x", "count": 2} or got[0] == {"_id": "y", "count": 2}
    assert sorted((d["_id"], d["count"]) for d in got) == [("x", 2), ("y", 2), ("z", 1)]


def test_count_on_empty_input_returns_nothing(sales):
    assert agg(sales, [{"$match": {"price": 999}}, {"$count": "n"}]) == []


def test_replace_root_and_replace_with(sales):
    assert agg(sales, [{"$match": {"_id": 1}}, {"$replaceRoot": {"newRoot": "$d"}}]) == [{"m": 1}]
    assert agg(sales, [{"$match": {"_id": 2}}, {"$replaceWith": {"a": "$item"}}]) == [{"a": "jkl"}]


def test_replace_root_with_a_non_document_fails(sales):
    with pytest.raises(OperationFailure) as ei:
        agg(sales, [{"$replaceRoot": {"newRoot": "$item"}}])
    assert ei.value.code == 40228


def test_expression_operators(sales):
    got = agg(sales, [{"$match": {"_id": 1}}, {"$project": {
        "_id": 0,
        "sub": {"$subtract": ["$qty", 1]},
        "div": {"$divide": ["$price", 4]},
        "mod": {"$mod": ["$price", 3]},
        "cond": {"$cond": [{"$gt": ["$qty", 1]}, "many", "one"]},
        "ifnull": {"$ifNull": ["$missing", "dflt"]},
        "concat": {"$concat": ["$item", "-", "z"]},
        "upper": {"$toUpper": "$item"},
        "size": {"$size": "$tags"},
        "eq": {"$eq": ["$price", 10]},
        "and": {"$and": [True, {"$lt": ["$qty", 5]}]},
        "in": {"$in": ["x", "$tags"]},
        "elem": {"$arrayElemAt": ["$tags", -1]},
        "sub1": {"$substrBytes": ["$item", 1, 2]},
        "lit": {"$literal": "$notafield"},
    }}])
    assert got == [{"sub": 1, "div": 2.5, "mod": 1, "cond": "many", "ifnull": "dflt", "concat": "abc-z",
                    "upper": "ABC", "size": 2, "eq": True, "and": True, "in": True, "elem": "y",
                    "sub1": "bc", "lit": "$notafield"}]


def test_divide_by_zero_fails(sales):
    with pytest.raises(OperationFailure) as ei:
        agg(sales, [{"$project": {"x": {"$divide": ["$price", 0]}}}])
    assert ei.value.code == 2  # BadValue "can't $divide by zero"


def test_unknown_stage_fails_with_40324(sales):
    with pytest.raises(OperationFailure) as ei:
        agg(sales, [{"$bogusStage": {}}])
    assert ei.value.code == 40324
    assert "$bogusStage" in str(ei.value)


def test_unknown_expression_operator_fails(sales):
    with pytest.raises(OperationFailure) as ei:
        agg(sales, [{"$project": {"x": {"$bogusOp": 1}}}])
    assert ei.value.code == 168  # InvalidPipelineOperator


def test_pipeline_must_be_an_array(sales):
    with pytest.raises(OperationFailure) as ei:
        sales.database.command({"aggregate": "s", "pipeline": {"$match": {}}, "cursor": {}})
    assert ei.value.code == 14


def test_stage_must_have_exactly_one_field(sales):
    with pytest.raises(OperationFailure) as ei:
        agg(sales, [{"$match": {}, "$limit": 1}])
    assert ei.value.code == 40323


def test_limit_must_be_positive(sales):
    with pytest.raises(OperationFailure) as ei:
        agg(sales, [{"$limit": 0}])
    assert ei.value.code == 15958


def test_aggregate_on_missing_collection_is_empty(db):
    assert agg(db.none, [{"$match": {}}]) == []


def test_sort_by_computed_field_after_group(sales):
    got = agg(sales, [{"$group": {"_id": "$item", "q": {"$sum": "$qty"}}}, {"$sort": {"q": -1}}])
    assert [(d["_id"], d["q"]) for d in got] == [("xyz", 30), ("abc", 12), ("jkl", 1)]


def test_count_documents_uses_an_aggregate_that_works(sales):
    assert sales.count_documents({"tags": "x"}) == 2
    assert sales.count_documents({"tags": "x"}, skip=1) == 1


def test_group_on_many_documents(db):
    db.c.insert_many([{"k": i % 10, "v": i} for i in range(5000)])
    got = agg(db.c, [{"$group": {"_id": "$k", "s": {"$sum": "$v"}, "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}])
    assert len(got) == 10
    assert all(g["n"] == 500 for g in got)
    assert sum(g["s"] for g in got) == sum(range(5000))

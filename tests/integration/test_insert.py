"""insert: one and many, ordered and unordered, write errors, _id generation,
BSON types surviving a round trip, and limits on document shape."""
import datetime
import re
import uuid

import pytest
from bson.binary import STANDARD, Binary
from bson.codec_options import CodecOptions
from bson.code import Code
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp
from conftest import send_command
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure


def test_insert_one_generates_an_object_id(db):
    r = db.c.insert_one({"a": 1})
    assert isinstance(r.inserted_id, ObjectId)
    doc = db.c.find_one({"_id": r.inserted_id})
    assert doc == {"_id": r.inserted_id, "a": 1}


def test_insert_keeps_a_client_supplied_id_of_any_type(db):
    ids = [1, "s", 2.5, {"x": 1}, Int64(7), datetime.datetime(2020, 1, 1), ObjectId(), None]
    for i in ids:
        db.c.insert_one({"_id": i})
    assert db.c.count_documents({}) == len(ids)
    assert db.c.find_one({"_id": {"x": 1}}) == {"_id": {"x": 1}}


def test_id_field_is_stored_first(db):
    db.c.insert_one({"a": 1, "b": 2, "_id": 5})
    raw = db.c.find_one({"_id": 5})
    assert list(raw.keys())[0] == "_id"


def test_every_bson_type_round_trips(db):
    doc = {
        "_id": 1,
        "double": 1.5,
        "string": "héllo",
        "doc": {"a": {"b": 1}},
        "array": [1, "two", [3]],
        "binary": Binary(b"\x00\x01\x02", 0),
        "uuid": Binary(b"0123456789abcdef", 4),
        "oid": ObjectId("5f0000000000000000000001"),
        "bool": True,
        "date": datetime.datetime(2021, 5, 6, 7, 8, 9, 123000),
        "null": None,
        "regex": Regex("^a.c$", "i"),
        "code": Code("function(){}"),
        "int32": 42,
        "ts": Timestamp(1600000000, 3),
        "int64": Int64(1 << 40),
        "dec": Decimal128("1.2345"),
        "minkey": MinKey(),
        "maxkey": MaxKey(),
    }
    db.c.insert_one(doc)
    got = db.c.find_one({"_id": 1})
    # pymongo decodes subtype 0 as bytes and subtype 4 as uuid.UUID.
    expect = dict(doc, binary=b"\x00\x01\x02", uuid=uuid.UUID(bytes=b"0123456789abcdef"))
    assert got == expect
    raw = db.c.with_options(codec_options=CodecOptions(uuid_representation=STANDARD)).find_one(
        {"_id": 1}, {"_id": 0, "binary": 1, "uuid": 1})
    assert raw["uuid"] == uuid.UUID(bytes=b"0123456789abcdef")
    assert isinstance(got["int64"], Int64)
    assert not isinstance(got["int32"], Int64)
    assert isinstance(got["double"], float)


def test_insert_many_ordered_returns_all_ids(db):
    r = db.c.insert_many([{"i": i} for i in range(100)])
    assert len(r.inserted_ids) == 100
    assert db.c.count_documents({}) == 100


def test_duplicate_id_raises_duplicate_key_with_code_11000(db):
    db.c.insert_one({"_id": 1})
    with pytest.raises(DuplicateKeyError) as ei:
        db.c.insert_one({"_id": 1})
    assert ei.value.code == 11000
    assert "duplicate key" in str(ei.value)


def test_ordered_insert_stops_at_the_first_error(db):
    with pytest.raises(BulkWriteError) as ei:
        db.c.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 1}, {"_id": 3}], ordered=True)
    d = ei.value.details
    assert d["nInserted"] == 2
    assert len(d["writeErrors"]) == 1
    we = d["writeErrors"][0]
    assert we["index"] == 2 and we["code"] == 11000
    assert "errmsg" in we
    assert sorted(x["_id"] for x in db.c.find()) == [1, 2]


def test_unordered_insert_continues_after_errors(db):
    with pytest.raises(BulkWriteError) as ei:
        db.c.insert_many([{"_id": 1}, {"_id": 1}, {"_id": 2}, {"_id": 2}, {"_id": 3}], ordered=False)
    d = ei.value.details
    assert d["nInserted"] == 3
    assert [w["index"] for w in d["writeErrors"]] == [1, 3]
    assert all(w["code"] == 11000 for w in d["writeErrors"])
    assert sorted(x["_id"] for x in db.c.find()) == [1, 2, 3]


def test_raw_insert_reply_has_n_and_write_errors(db):
    r = db.command({"insert": "c", "documents": [{"_id": 1}, {"_id": 1}], "ordered": False})
    assert r["ok"] == 1.0
    assert r["n"] == 1
    assert r["writeErrors"][0]["index"] == 1
    assert r["writeErrors"][0]["code"] == 11000
    assert "keyPattern" in r["writeErrors"][0] and r["writeErrors"][0]["keyPattern"] == {"_id": 1}
    assert r["writeErrors"][0]["keyValue"] == {"_id": 1}


def test_insert_creates_the_collection_implicitly(db):
    assert "fresh" not in db.list_collection_names()
    db.fresh.insert_one({"a": 1})
    assert "fresh" in db.list_collection_names()


def test_array_id_is_rejected(db):
    with pytest.raises(OperationFailure) as ei:
        db.c.insert_one({"_id": [1, 2]})
    # "can't use an array for _id" (BadValue; some paths report InvalidIdField)
    assert ei.value.code in (2, 53)
    assert db.c.count_documents({}) == 0


def test_regex_id_is_rejected(db):
    with pytest.raises(OperationFailure):
        db.c.insert_one({"_id": re.compile("x")})


def test_dollar_prefixed_top_level_field_is_refused_by_insert(db):
    # Tally refuses top-level $-prefixed field names (MongoDB 5.0+ would store
    # them, but no filter or replacement could reach them afterwards); nested
    # ones are stored. Raw command: pymongo 3.11 would refuse the key itself.
    r = db.command({"insert": "c", "documents": [{"_id": 1, "$price": 5}, {"_id": 2, "loc": {"$db": "x"}}],
                    "ordered": False})
    assert r["n"] == 1
    assert [(e["index"], e["code"]) for e in r["writeErrors"]] == [(0, 52)]
    assert "$price" in r["writeErrors"][0]["errmsg"]
    assert db.c.find_one({"_id": 1}) is None
    assert db.c.find_one({"_id": 2}) == {"_id": 2, "loc": {"$db": "x"}}


def test_replacement_with_dollar_prefixed_top_level_field_is_rejected(db):
    db.c.insert_one({"_id": 1})
    r = db.command({"update": "c", "updates": [{"q": {"_id": 1}, "u": {"a": 1, "$bad": 1}}]})
    assert r["nModified"] == 0
    assert r["writeErrors"][0]["code"] == 52  # DollarPrefixedFieldName
    assert db.c.find_one({"_id": 1}) == {"_id": 1}


def test_dotted_field_names_are_accepted_in_5_0_and_later(db):
    r = db.command({"insert": "c", "documents": [{"_id": 1, "a.b": 1}]})
    assert r["n"] == 1
    assert db.c.find_one({"_id": 1})["a.b"] == 1


def test_insert_with_write_concern_w0_is_unacknowledged_but_applied(db):
    from pymongo import WriteConcern
    coll = db.get_collection("c", write_concern=WriteConcern(w=0))
    r = coll.insert_one({"_id": 9})
    assert r.acknowledged is False
    # The next acknowledged command on the same connection sees the write.
    assert db.c.find_one({"_id": 9}) == {"_id": 9}


def test_insert_accepts_and_ignores_majority_write_concern(db):
    from pymongo import WriteConcern
    coll = db.get_collection("c", write_concern=WriteConcern(w="majority", wtimeout=1000, j=True))
    coll.insert_one({"_id": 1})
    assert db.c.count_documents({}) == 1


def test_insert_many_with_100k_documents_in_batches(db):
    n = 20000
    db.c.insert_many([{"_id": i, "pad": "x" * 20} for i in range(n)])
    assert db.c.estimated_document_count() == n
    assert db.c.count_documents({"_id": {"$gte": n - 10}}) == 10


def test_insert_documents_of_wrong_type_is_a_type_error(server, db):
    # Raw socket: pymongo cannot encode a non-array "documents".
    r = send_command(server, dict({"insert": "c", "documents": "nope"}, **{"$db": db.name}))
    assert r["ok"] == 0.0
    assert r["code"] == 14  # TypeMismatch


def test_insert_into_invalid_collection_name_fails(db):
    with pytest.raises(OperationFailure) as ei:
        db.command({"insert": "", "documents": [{"a": 1}]})
    assert ei.value.code == 73  # InvalidNamespace


def test_document_just_under_16mib_round_trips(db):
    blob = "z" * (16 * 1024 * 1024 - 200)
    db.c.insert_one({"_id": 1, "blob": blob})
    got = db.c.find_one({"_id": 1})
    assert len(got["blob"]) == len(blob)
    assert db.c.find_one({"_id": 1}, {"blob": 0}) == {"_id": 1}


def test_many_medium_documents_in_one_insert_many_are_split_and_all_stored(db):
    # 60 x 1 MiB is more than one 48 MB message: pymongo splits the batch.
    db.c.insert_many([{"_id": i, "blob": "b" * (1 << 20)} for i in range(60)])
    assert db.c.count_documents({}) == 60

"""Collections and databases: create (incl. capped), list, drop, rename,
dropDatabase, listDatabases, collStats and dbStats."""
import pytest
from pymongo.errors import CollectionInvalid, OperationFailure


def test_create_and_list_collections(db):
    db.create_collection("a")
    db.create_collection("b")
    assert sorted(db.list_collection_names()) == ["a", "b"]


def test_create_existing_collection_fails_with_48(db):
    db.create_collection("a")
    with pytest.raises(OperationFailure) as ei:
        db.command({"create": "a"})
    assert ei.value.code == 48  # NamespaceExists


def test_list_collections_raw_reply_shape(db):
    db.create_collection("a")
    r = db.command({"listCollections": 1})
    assert r["cursor"]["ns"] == db.name + ".$cmd.listCollections"
    assert r["cursor"]["id"] == 0
    info = r["cursor"]["firstBatch"][0]
    assert info["name"] == "a" and info["type"] == "collection"
    assert info["options"] == {}
    assert info["info"]["readOnly"] is False
    assert "uuid" in info["info"]
    assert info["idIndex"]["name"] == "_id_"


def test_list_collections_filter_and_name_only(db):
    for n in ("x1", "x2", "y1"):
        db.create_collection(n)
    r = db.command({"listCollections": 1, "filter": {"name": {"$regex": "^x"}}, "nameOnly": True})
    got = r["cursor"]["firstBatch"]
    assert sorted(c["name"] for c in got) == ["x1", "x2"]
    assert all(set(c.keys()) <= {"name", "type"} for c in got)


def test_create_capped_collection_reports_options(db):
    db.create_collection("cap", capped=True, size=4096, max=5)
    opts = db.cap.options()
    assert opts["capped"] is True
    assert opts["size"] >= 4096
    assert opts["max"] == 5


def test_capped_collection_keeps_only_the_newest_documents(db):
    db.create_collection("cap", capped=True, size=100000, max=5)
    for i in range(12):
        db.cap.insert_one({"_id": i})
    assert [d["_id"] for d in db.cap.find()] == [7, 8, 9, 10, 11]


def test_capped_collection_respects_size_in_bytes(db):
    db.create_collection("cap", capped=True, size=4096)
    for i in range(200):
        db.cap.insert_one({"_id": i, "pad": "x" * 100})
    ids = [d["_id"] for d in db.cap.find()]
    assert ids[-1] == 199
    assert len(ids) < 200
    assert ids == list(range(ids[0], 200))


def test_capped_without_size_fails(db):
    with pytest.raises(OperationFailure):
        db.command({"create": "cap", "capped": True})


def test_drop_collection(db):
    db.a.insert_one({})
    assert db.command({"drop": "a"})["ok"] == 1.0
    assert "a" not in db.list_collection_names()


def test_drop_missing_collection_fails_with_26(db):
    with pytest.raises(OperationFailure) as ei:
        db.command({"drop": "nope"})
    assert ei.value.code == 26


def test_pymongo_drop_of_missing_collection_is_quiet(db):
    db.nope.drop()


def test_rename_collection_keeps_documents_and_indexes(db, client):
    db.a.insert_many([{"_id": i, "k": i} for i in range(5)])
    db.a.create_index("k")
    db.a.rename("b")
    assert "a" not in db.list_collection_names()
    assert db.b.count_documents({}) == 5
    assert "k_1" in [ix["name"] for ix in db.b.list_indexes()]


def test_rename_onto_existing_needs_drop_target(db):
    db.a.insert_one({"_id": 1})
    db.b.insert_one({"_id": 2})
    with pytest.raises(OperationFailure) as ei:
        db.a.rename("b")
    assert ei.value.code == 48
    db.a.rename("b", dropTarget=True)
    assert [d["_id"] for d in db.b.find()] == [1]


def test_rename_missing_source_fails_with_26(db):
    with pytest.raises(OperationFailure) as ei:
        db.client.admin.command({"renameCollection": db.name + ".none", "to": db.name + ".other"})
    assert ei.value.code == 26


def test_rename_across_databases(db, client):
    other = db.name[:50] + "_o"
    client.drop_database(other)
    db.a.insert_one({"_id": 1})
    client.admin.command({"renameCollection": db.name + ".a", "to": other + ".z"})
    assert client[other].z.find_one() == {"_id": 1}
    assert "a" not in db.list_collection_names()
    client.drop_database(other)


def test_drop_database_and_list_database_names(db, client):
    db.a.insert_one({})
    assert db.name in client.list_database_names()
    client.drop_database(db.name)
    assert db.name not in client.list_database_names()
    assert db.list_collection_names() == []


def test_list_databases_reply_shape(db, client):
    db.a.insert_one({"x": "y" * 1000})
    r = client.admin.command({"listDatabases": 1})
    entry = [d for d in r["databases"] if d["name"] == db.name][0]
    assert isinstance(entry["sizeOnDisk"], (int, float))
    assert entry["empty"] is False
    assert "totalSize" in r
    names = client.admin.command({"listDatabases": 1, "nameOnly": True})["databases"]
    assert {"name": db.name} in names


def test_list_databases_must_run_on_admin(db):
    with pytest.raises(OperationFailure) as ei:
        db.command({"listDatabases": 1})
    assert ei.value.code == 13


def test_coll_stats(db):
    db.a.insert_many([{"_id": i, "pad": "z" * 100} for i in range(50)])
    db.a.create_index("pad")
    s = db.command({"collStats": "a"})
    assert s["ok"] == 1.0
    assert s["ns"] == db.name + ".a"
    assert s["count"] == 50
    assert s["size"] >= 50 * 100
    assert s["avgObjSize"] > 100
    assert s["nindexes"] == 2
    assert set(s["indexSizes"]) == {"_id_", "pad_1"}
    assert s["capped"] is False
    assert "storageSize" in s and "totalIndexSize" in s


def test_coll_stats_on_missing_collection(db):
    with pytest.raises(OperationFailure) as ei:
        db.command({"collStats": "none"})
    assert ei.value.code == 26


def test_db_stats(db):
    db.a.insert_many([{"_id": i} for i in range(10)])
    db.b.insert_one({})
    s = db.command("dbStats")
    assert s["ok"] == 1.0
    assert s["db"] == db.name
    assert s["collections"] == 2
    assert s["objects"] == 11
    assert s["indexes"] == 2
    for k in ("dataSize", "storageSize", "indexSize", "avgObjSize"):
        assert k in s


def test_invalid_collection_names_are_rejected(db):
    for bad in ("a$b", ".a"):
        with pytest.raises(OperationFailure) as ei:
            db.command({"create": bad})
        assert ei.value.code == 73, bad  # InvalidNamespace


def test_create_collection_via_pymongo_helper_fails_on_existing(db):
    db.create_collection("a")
    with pytest.raises(CollectionInvalid):
        db.create_collection("a")


def test_list_collections_on_empty_database(db):
    assert db.command({"listCollections": 1})["cursor"]["firstBatch"] == []

"""Features Tally does not build in this phase must fail with a clear error
rather than silently misbehaving: transactions, collation, and unsupported
aggregation stages."""
import pytest
from pymongo.errors import OperationFailure, PyMongoError


def test_transaction_fails_with_an_error_naming_transactions(db, client):
    db.c.insert_one({"_id": 0})
    with client.start_session() as s:
        with pytest.raises(PyMongoError) as ei:
            s.start_transaction()
            db.c.insert_one({"_id": 1}, session=s)
            s.commit_transaction()
    assert "transaction" in str(ei.value).lower()
    # The write inside the failed transaction must not have been applied.
    assert db.c.find_one({"_id": 1}) is None


def test_raw_autocommit_false_is_rejected(db, client):
    from bson.int64 import Int64
    import uuid
    from bson.binary import Binary
    lsid = {"id": Binary(uuid.uuid4().bytes, 4)}
    with pytest.raises(OperationFailure) as ei:
        db.command({"insert": "c", "documents": [{"_id": 5}], "lsid": lsid, "txnNumber": Int64(1),
                    "autocommit": False, "startTransaction": True})
    assert "transaction" in str(ei.value).lower()
    assert db.c.find_one({"_id": 5}) is None


def test_commit_transaction_command_is_a_clear_error(client):
    with pytest.raises(OperationFailure) as ei:
        client.admin.command("commitTransaction")
    assert "transaction" in str(ei.value).lower() or ei.value.code in (59, 115)


def test_collation_on_find_fails_clearly(db):
    from pymongo.collation import Collation
    db.c.insert_one({"a": "x"})
    with pytest.raises(OperationFailure) as ei:
        list(db.c.find({"a": "X"}, collation=Collation(locale="en", strength=2)))
    assert "collation" in str(ei.value).lower()


def test_collation_on_create_index_fails_clearly(db):
    from pymongo.collation import Collation
    with pytest.raises(OperationFailure) as ei:
        db.c.create_index("a", collation=Collation(locale="fr"))
    assert "collation" in str(ei.value).lower()


def test_simple_collation_is_accepted(db):
    from pymongo.collation import Collation
    db.c.insert_one({"a": "x"})
    assert len(list(db.c.find({"a": "x"}, collation=Collation(locale="simple")))) == 1


def test_unsupported_aggregation_stage_names_the_stage(db):
    db.c.insert_one({"a": 1})
    with pytest.raises(OperationFailure) as ei:
        list(db.c.aggregate([{"$lookup": {"from": "o", "localField": "a", "foreignField": "b", "as": "j"}}]))
    assert "$lookup" in str(ei.value)


def test_sasl_start_without_users_fails_cleanly(client):
    with pytest.raises(OperationFailure):
        client.admin.command({"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": b"n,,n=u,r=abc"})
    assert client.admin.command("ping")["ok"] == 1.0

"""Bad input must never crash the server. Each test sends something broken
(at the socket level or as a malformed command) and then checks that the
same server still answers a normal client. Where mongod replies with an
error rather than closing the connection, the reply is checked too."""
import socket
import struct

import bson
import pytest
from pymongo.errors import DocumentTooLarge, OperationFailure, WriteError

from conftest import OP_MSG, op_msg, op_query, recv_message, send_command


@pytest.fixture(autouse=True)
def server_still_answers(server):
    yield
    assert server.is_running(), "tallyd died:\n" + server.dump()
    c = server.client(serverSelectionTimeoutMS=3000)
    assert c.admin.command("ping")["ok"] == 1.0
    c.test_bad_input.c.insert_one({"alive": True})
    assert c.test_bad_input.c.count_documents({"alive": True}) >= 1
    c.close()


def closed_or_error(sock, timeout_s=5.0):
    """Returns 'closed' if the server closed the connection, or the reply
    document if it answered."""
    sock.settimeout(timeout_s)
    try:
        _, doc = recv_message(sock)
        return doc
    except (EOFError, ConnectionResetError, BrokenPipeError):
        return "closed"


def header(length, opcode=OP_MSG, request_id=1):
    return struct.pack("<iiii", length, request_id, 0, opcode)


def test_truncated_header_then_close(server):
    with server.raw() as s:
        s.sendall(b"\x10\x00\x00")


def test_truncated_header_then_silence_does_not_block_others(server):
    with server.raw() as s:
        s.sendall(b"\x20\x00\x00\x00\x01")
        c = server.client()
        assert c.admin.command("ping")["ok"] == 1.0
        c.close()


def test_message_length_bigger_than_sent_then_close(server):
    msg = op_msg({"ping": 1, "$db": "admin"})
    lie = struct.pack("<i", len(msg) + 1000) + msg[4:]
    with server.raw() as s:
        s.sendall(lie)
        s.shutdown(socket.SHUT_WR)
        assert closed_or_error(s) == "closed"


def test_message_length_smaller_than_sent_is_rejected(server):
    msg = op_msg({"ping": 1, "$db": "admin"})
    lie = struct.pack("<i", len(msg) - 6) + msg[4:]
    with server.raw() as s:
        s.sendall(lie)
        r = closed_or_error(s)
        assert r == "closed" or r.get("ok") == 0.0


def test_message_length_below_header_size_closes(server):
    with server.raw() as s:
        s.sendall(header(8) + b"\x00" * 16)
        assert closed_or_error(s) == "closed"


def test_negative_message_length_closes(server):
    with server.raw() as s:
        s.sendall(header(-5) + b"\x00" * 16)
        assert closed_or_error(s) == "closed"


def test_message_length_over_48mb_closes_without_reading_it(server):
    with server.raw() as s:
        s.sendall(header(48000001 + 1000))
        assert closed_or_error(s) == "closed"


def test_invalid_bson_in_op_msg_gets_an_error_or_close(server):
    bad_doc = struct.pack("<i", 20) + b"\x02a\x00" + struct.pack("<i", 1000) + b"xx\x00\x00"
    body = struct.pack("<I", 0) + b"\x00" + bad_doc
    with server.raw() as s:
        s.sendall(header(16 + len(body)) + body)
        r = closed_or_error(s)
        assert r == "closed" or (r["ok"] == 0.0 and isinstance(r["code"], int))


def test_bson_length_mismatch_inside_section(server):
    doc = bson.BSON.encode({"ping": 1, "$db": "admin"})
    bad = struct.pack("<i", len(doc) + 50) + doc[4:]
    body = struct.pack("<I", 0) + b"\x00" + bad
    with server.raw() as s:
        s.sendall(header(16 + len(body)) + body)
        r = closed_or_error(s)
        assert r == "closed" or r["ok"] == 0.0


def test_document_with_unterminated_string_key(server):
    body = struct.pack("<I", 0) + b"\x00" + struct.pack("<i", 9) + b"\x10abcd"
    with server.raw() as s:
        s.sendall(header(16 + len(body)) + body)
        r = closed_or_error(s)
        assert r == "closed" or r["ok"] == 0.0


def test_unknown_opcode_closes_or_errors(server):
    with server.raw() as s:
        s.sendall(header(16 + 4, opcode=9999) + b"\x00\x00\x00\x00")
        r = closed_or_error(s)
        assert r == "closed" or r["ok"] == 0.0


def test_legacy_op_insert_is_refused(server):
    body = struct.pack("<i", 0) + b"test.c\x00" + bson.BSON.encode({"a": 1})
    with server.raw() as s:
        s.sendall(header(16 + len(body), opcode=2002) + body)
        r = closed_or_error(s, timeout_s=5.0)
        assert r == "closed" or r.get("ok") == 0.0


def test_unknown_required_flag_bit_is_rejected(server):
    # Bits 0-15 are required: an unknown one must fail the message.
    with server.raw() as s:
        s.sendall(op_msg({"ping": 1, "$db": "admin"}, flags=1 << 4))
        r = closed_or_error(s)
        assert r == "closed" or r["ok"] == 0.0


def test_unknown_optional_flag_bit_is_ignored(server):
    with server.raw() as s:
        s.sendall(op_msg({"ping": 1, "$db": "admin"}, flags=1 << 20))
        _, doc = recv_message(s)
        assert doc["ok"] == 1.0


def test_bad_checksum_is_rejected(server):
    doc = bson.BSON.encode({"ping": 1, "$db": "admin"})
    body = struct.pack("<I", 1) + b"\x00" + doc  # checksumPresent
    total = 16 + len(body) + 4
    msg = header(total) + body + struct.pack("<I", 0xDEADBEEF)
    with server.raw() as s:
        s.sendall(msg)
        r = closed_or_error(s)
        assert r == "closed" or r["ok"] == 0.0


def test_good_crc32c_checksum_is_accepted(server):
    doc = bson.BSON.encode({"ping": 1, "$db": "admin"})
    body = struct.pack("<I", 1) + b"\x00" + doc
    total = 16 + len(body) + 4
    data = header(total) + body
    msg = data + struct.pack("<I", crc32c(data))
    with server.raw() as s:
        s.sendall(msg)
        h, r = recv_message(s)
        assert r["ok"] == 1.0
        assert h[4] & 1 == 0, "server replies never carry a checksum"


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_more_to_come_gets_no_reply(server):
    with server.raw() as s:
        s.sendall(op_msg({"insert": "c", "documents": [{"mtc": 1}], "$db": "test_bad_input",
                          "writeConcern": {"w": 0}}, flags=1 << 1, request_id=5))
        s.sendall(op_msg({"ping": 1, "$db": "admin"}, request_id=6))
        h, r = recv_message(s)
        assert h[2] == 6, "the first reply must answer the ping: moreToCome requests get none"
        assert r["ok"] == 1.0


def test_two_kind_zero_sections_are_rejected(server):
    d = bson.BSON.encode({"ping": 1, "$db": "admin"})
    body = struct.pack("<I", 0) + b"\x00" + d + b"\x00" + d
    with server.raw() as s:
        s.sendall(header(16 + len(body)) + body)
        r = closed_or_error(s)
        assert r == "closed" or r["ok"] == 0.0


def test_unknown_section_kind_is_rejected(server):
    d = bson.BSON.encode({"ping": 1, "$db": "admin"})
    body = struct.pack("<I", 0) + b"\x00" + d + b"\x07" + d
    with server.raw() as s:
        s.sendall(header(16 + len(body)) + body)
        r = closed_or_error(s)
        assert r == "closed" or r["ok"] == 0.0


def test_kind_one_sequence_with_bad_size(server):
    d = bson.BSON.encode({"insert": "c", "$db": "test_bad_input"})
    item = bson.BSON.encode({"x": 1})
    seq = b"\x01" + struct.pack("<i", 4 + len("documents\x00") + len(item) + 100) + b"documents\x00" + item
    body = struct.pack("<I", 0) + b"\x00" + d + seq
    with server.raw() as s:
        s.sendall(header(16 + len(body)) + body)
        r = closed_or_error(s)
        assert r == "closed" or r["ok"] == 0.0


def test_kind_one_sequence_is_merged_into_the_command(server):
    d = bson.BSON.encode({"insert": "seq", "$db": "test_bad_input"})
    items = bson.BSON.encode({"_id": "s1"}) + bson.BSON.encode({"_id": "s2"})
    ident = b"documents\x00"
    seq = b"\x01" + struct.pack("<i", 4 + len(ident) + len(items)) + ident + items
    body = struct.pack("<I", 0) + b"\x00" + d + seq
    with server.raw() as s:
        s.sendall(header(16 + len(body)) + body)
        _, r = recv_message(s)
        assert r["ok"] == 1.0 and r["n"] == 2


def test_garbage_bytes_close_the_connection(server):
    with server.raw() as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        r = closed_or_error(s)
        assert r == "closed" or r["ok"] == 0.0


def test_op_query_on_a_non_command_namespace_is_refused(server):
    with server.raw() as s:
        s.sendall(op_query("test.c", {"a": 1}))
        r = closed_or_error(s)
        # mongod answers an OP_REPLY with $err (Unsupported OP_QUERY command).
        assert r == "closed" or "$err" in r or r.get("ok") == 0


def test_half_a_message_then_disconnect_many_times(server):
    msg = op_msg({"insert": "c", "documents": [{"x": "y" * 1000}], "$db": "test_bad_input"})
    for cut in (1, 5, 15, 16, 17, 21, len(msg) // 2, len(msg) - 1):
        with server.raw() as s:
            s.sendall(msg[:cut])


def test_document_over_16mib_is_refused_with_a_clear_error(db):
    big = {"_id": 1, "blob": "x" * (16 * 1024 * 1024 + 10)}
    with pytest.raises((DocumentTooLarge, OperationFailure, WriteError)) as ei:
        db.c.insert_one(big)
    assert "too large" in str(ei.value).lower() or "size" in str(ei.value).lower()
    assert db.c.count_documents({}) == 0


def test_raw_insert_of_document_over_16mib_returns_bson_object_too_large(server):
    doc = {"_id": 1, "blob": "x" * (16 * 1024 * 1024 + 100)}
    cmd = bson.BSON.encode({"insert": "big", "$db": "test_bad_input"})
    item = bson.BSON.encode(doc)
    ident = b"documents\x00"
    seq = b"\x01" + struct.pack("<i", 4 + len(ident) + len(item)) + ident + item
    body = struct.pack("<I", 0) + b"\x00" + cmd + seq
    with server.raw(timeout_s=30) as s:
        s.sendall(header(16 + len(body)) + body)
        r = closed_or_error(s, timeout_s=30)
    assert r == "closed" or r["ok"] == 0.0 or r["writeErrors"][0]["code"] in (10334, 2)


def test_update_that_grows_a_document_past_16mib_fails(db):
    db.c.insert_one({"_id": 1, "a": "x" * (9 * 1024 * 1024)})
    with pytest.raises(OperationFailure):
        db.c.update_one({"_id": 1}, {"$set": {"b": "y" * (9 * 1024 * 1024)}})
    assert "b" not in db.c.find_one({"_id": 1}, {"a": 0})


def nested(depth):
    d = {"leaf": 1}
    for _ in range(depth):
        d = {"n": d}
    return d


def test_nesting_depth_200_is_refused_not_crashing(db):
    with pytest.raises(Exception):
        db.c.insert_one({"_id": 1, "deep": nested(200)})
    assert db.c.find_one({"_id": 1}) is None


def test_nesting_depth_200_in_a_filter_is_refused(db):
    with pytest.raises(OperationFailure):
        list(db.c.find({"$and": [nested(200)]}))


def test_deep_and_nesting_in_a_filter(db):
    f = {"a": 1}
    for _ in range(150):
        f = {"$and": [f]}
    with pytest.raises(OperationFailure):
        list(db.c.find(f))


def test_nesting_depth_100_is_accepted(db):
    db.c.insert_one({"_id": 1, "deep": nested(90)})
    assert db.c.find_one({"_id": 1}) is not None


def test_dollar_prefixed_top_level_field_in_insert_is_refused(db):
    r = db.command({"insert": "c", "documents": [{"_id": 1, "$where": "x", "$inc": {"a": 1}}]})
    assert r["n"] == 0
    assert r["writeErrors"][0]["code"] == 52  # DollarPrefixedFieldName
    assert db.c.count_documents({}) == 0


def test_unknown_update_operator(db):
    db.c.insert_one({"_id": 1})
    with pytest.raises(WriteError) as ei:
        db.c.update_one({"_id": 1}, {"$nope": {"a": 1}})
    assert ei.value.code == 9


@pytest.mark.parametrize("cmd,code", [
    ({"find": "c", "filter": "x"}, 14),
    ({"find": "c", "limit": "x"}, 14),
    ({"find": "c", "skip": -1}, 51024),
    ({"find": "c", "batchSize": -1}, 51024),
    ({"find": "c", "sort": "x"}, 14),
    ({"find": "c", "projection": 5}, 14),
    ({"insert": "c", "documents": [1]}, 14),
    ({"update": "c", "updates": "x"}, 14),
    ({"update": "c", "updates": [{"q": {}}]}, 40414),
    ({"delete": "c", "deletes": [{"q": 1, "limit": 0}]}, 14),
    ({"delete": "c", "deletes": [{"q": {}}]}, 40414),
    ({"findAndModify": "c", "query": "x", "remove": True}, 14),
    ({"aggregate": "c", "pipeline": [5], "cursor": {}}, 14),
    ({"count": "c", "query": 5}, 14),
    ({"distinct": "c", "key": 5}, 14),
    ({"createIndexes": "c", "indexes": "x"}, 14),
    ({"getMore": "x", "collection": "c"}, 14),
    ({"killCursors": "c", "cursors": "x"}, 14),
    ({"listCollections": 1, "filter": "x"}, 14),
    ({"find": "c", "unknownFieldXyz": 1}, 40415),
])
def test_wrong_types_for_command_fields(server, db, cmd, code):
    # Raw socket: pymongo would refuse to encode several of these.
    r = send_command(server, dict(cmd, **{"$db": db.name}))
    assert r["ok"] == 0.0, r
    assert r["code"] == code, r
    assert isinstance(r.get("codeName"), str) and isinstance(r.get("errmsg"), str)


def test_empty_command_document(server):
    with server.raw() as s:
        s.sendall(op_msg({"$db": "admin"}))
        r = closed_or_error(s)
        assert r == "closed" or r["ok"] == 0.0


def test_command_name_that_is_very_long(server):
    with server.raw() as s:
        s.sendall(op_msg({"x" * 100000: 1, "$db": "admin"}))
        _, r = recv_message(s)
        assert r["ok"] == 0.0 and r["code"] == 59


def test_invalid_database_name_in_db_field(server):
    with server.raw() as s:
        s.sendall(op_msg({"insert": "c", "documents": [{}], "$db": "bad db$"}))
        _, r = recv_message(s)
        assert r["ok"] == 0.0 and r["code"] == 73


def test_many_connections_opened_and_dropped(server):
    socks = [server.raw() for _ in range(200)]
    for s in socks:
        s.close()


def test_slowloris_byte_by_byte_message_works(server):
    msg = op_msg({"ping": 1, "$db": "admin"}, request_id=99)
    with server.raw() as s:
        for i in range(len(msg)):
            s.send(msg[i:i + 1])
        h, r = recv_message(s)
        assert h[2] == 99 and r["ok"] == 1.0


def test_pipelined_requests_on_one_connection(server):
    msgs = b"".join(op_msg({"ping": 1, "$db": "admin"}, request_id=i) for i in range(1, 51))
    with server.raw() as s:
        s.sendall(msgs)
        got = [recv_message(s)[0][2] for _ in range(50)]
    assert got == list(range(1, 51))


def test_client_disconnects_while_an_await_data_getmore_waits(server, db):
    db.create_collection("cap", capped=True, size=1 << 16)
    db.cap.insert_one({"_id": 1})
    r = db.command({"find": "cap", "tailable": True, "awaitData": True})
    cid = r["cursor"]["id"]
    with server.raw() as s:
        s.sendall(op_msg({"getMore": cid, "collection": "cap", "maxTimeMS": 3000, "$db": db.name}))
    # The socket is gone while the getMore is parked; inserts wake it later.
    db.cap.insert_one({"_id": 2})
    import time
    time.sleep(0.3)
    assert db.cap.count_documents({}) == 2


def test_client_disconnects_before_reading_write_replies(server, db):
    for i in range(50):
        with server.raw() as s:
            s.sendall(op_msg({"insert": "c", "documents": [{"_id": i}], "$db": db.name}))
    import time
    deadline = time.monotonic() + 5
    while db.c.count_documents({}) < 50 and time.monotonic() < deadline:
        time.sleep(0.05)
    # Every write that reached the server is applied even though nobody read
    # the reply.
    assert db.c.count_documents({}) == 50


def test_interleaved_bad_and_good_messages_on_many_sockets(server):
    socks = [server.raw() for _ in range(20)]
    for i, s in enumerate(socks):
        if i % 2:
            s.sendall(b"\xff" * 40)
        else:
            s.sendall(op_msg({"ping": 1, "$db": "admin"}, request_id=i))
    for i, s in enumerate(socks):
        if not i % 2:
            h, r = recv_message(s)
            assert h[2] == i and r["ok"] == 1.0
        s.close()

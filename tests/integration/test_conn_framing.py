"""Connection framing: how the server cuts the byte stream into messages.

The connection reads whatever the socket holds and decodes complete messages
in place, so these tests pin the framing cases a driver rarely produces:
several messages in one segment, a message trickled in byte by byte, a large
message read across many segments, a half-closed client still getting its
reply, and an invalid length closing only that connection."""
import socket
import struct
import time

import bson

from conftest import op_msg, recv_message


def test_two_messages_in_one_segment_get_two_replies_in_order(server):
    with server.raw() as s:
        s.sendall(op_msg({"ping": 1, "$db": "admin"}, request_id=11) +
                  op_msg({"hello": 1, "$db": "admin"}, request_id=12))
        h1, d1 = recv_message(s)
        h2, d2 = recv_message(s)
    assert h1[2] == 11 and d1["ok"] == 1.0
    assert h2[2] == 12 and d2["isWritablePrimary"] is True


def test_a_message_sent_one_byte_at_a_time_is_answered(server):
    msg = op_msg({"ping": 1, "$db": "admin"}, request_id=21)
    with server.raw() as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(msg)):
            s.send(msg[i:i + 1])
            if i % 7 == 0:
                time.sleep(0.001)
        h, d = recv_message(s)
    assert h[2] == 21 and d["ok"] == 1.0


def test_a_large_insert_read_across_many_segments_is_stored_whole(server, client):
    big = "x" * (8 * 1024 * 1024)
    msg = op_msg({"insert": "big", "documents": [{"_id": 1, "s": big}], "$db": "t_framing"}, request_id=31)
    with server.raw() as s:
        for off in range(0, len(msg), 100000):
            s.sendall(msg[off:off + 100000])
        h, d = recv_message(s)
    assert h[2] == 31 and d["ok"] == 1.0 and d["n"] == 1
    doc = client.t_framing.big.find_one({"_id": 1})
    assert len(doc["s"]) == len(big)
    client.drop_database("t_framing")


def test_more_to_come_then_a_command_in_one_segment(server, client):
    with server.raw() as s:
        s.sendall(op_msg({"insert": "mtc", "documents": [{"_id": 1}], "$db": "t_framing2"},
                         request_id=41, flags=2) +
                  op_msg({"count": "mtc", "$db": "t_framing2"}, request_id=42))
        h, d = recv_message(s)
    assert h[2] == 42 and d["n"] == 1
    client.drop_database("t_framing2")


def test_a_half_closed_client_still_gets_its_reply(server):
    with server.raw() as s:
        s.sendall(op_msg({"insert": "hc", "documents": [{"_id": 1}], "$db": "t_framing3"}, request_id=51))
        s.shutdown(socket.SHUT_WR)
        h, d = recv_message(s)
        assert h[2] == 51 and d["n"] == 1
        assert s.recv(1) == b"", "the server closes once the reply is out"


def test_an_invalid_length_after_a_valid_message_closes_the_connection(server, client):
    with server.raw() as s:
        s.sendall(op_msg({"ping": 1, "$db": "admin"}, request_id=61) + struct.pack("<iiii", 3, 62, 0, 2013))
        h, d = recv_message(s)
        assert h[2] == 61 and d["ok"] == 1.0
        s.settimeout(5)
        assert s.recv(1) == b""
    assert client.admin.command("ping")["ok"] == 1.0

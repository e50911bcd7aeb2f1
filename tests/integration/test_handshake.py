"""Handshake and server-information commands: hello/isMaster over OP_QUERY and
OP_MSG with the exact BSON types drivers check, buildInfo, getParameter,
getLog, ping, serverStatus, and the error for an unknown command."""
import datetime

import pytest
from bson.int64 import Int64
from bson.objectid import ObjectId

from conftest import OP_MSG, OP_REPLY, op_msg, op_query, recv_message


def is_int32(v):
    return isinstance(v, int) and not isinstance(v, (bool, Int64))


def check_standalone_hello(doc, primary_key):
    assert doc["ok"] == 1.0 and isinstance(doc["ok"], float)
    assert doc[primary_key] is True
    assert is_int32(doc["maxBsonObjectSize"]) and doc["maxBsonObjectSize"] == 16777216
    assert is_int32(doc["maxMessageSizeBytes"]) and doc["maxMessageSizeBytes"] == 48000000
    assert is_int32(doc["maxWriteBatchSize"]) and doc["maxWriteBatchSize"] == 100000
    assert is_int32(doc["minWireVersion"]) and doc["minWireVersion"] == 0
    assert is_int32(doc["maxWireVersion"]) and doc["maxWireVersion"] == 17
    assert isinstance(doc["localTime"], datetime.datetime)
    assert is_int32(doc["logicalSessionTimeoutMinutes"]) and doc["logicalSessionTimeoutMinutes"] == 30
    assert isinstance(doc["connectionId"], int) and not isinstance(doc["connectionId"], bool)
    assert doc["readOnly"] is False
    # A standalone never claims to be a replica-set member or a mongos.
    assert "setName" not in doc
    assert "msg" not in doc
    assert "isreplicaset" not in doc
    # Streaming monitoring: {processId: ObjectId, counter: Int64} (test_hello_streaming.py has the rest).
    assert set(doc["topologyVersion"]) == {"processId", "counter"}
    assert isinstance(doc["topologyVersion"]["processId"], ObjectId)
    assert isinstance(doc["topologyVersion"]["counter"], Int64)


def test_hello_over_op_msg_has_exact_types(server):
    with server.raw() as s:
        s.sendall(op_msg({"hello": 1, "helloOk": True, "$db": "admin"}, request_id=41))
        header, doc = recv_message(s)
    assert header[3] == OP_MSG
    assert header[2] == 41, "responseTo must echo the request id"
    assert header[4] == 0, "reply flags must be 0"
    check_standalone_hello(doc, "isWritablePrimary")
    assert doc["helloOk"] is True
    assert "ismaster" not in doc


def test_is_master_over_op_msg_uses_the_ismaster_key(server):
    with server.raw() as s:
        s.sendall(op_msg({"isMaster": 1, "$db": "admin"}))
        _, doc = recv_message(s)
    check_standalone_hello(doc, "ismaster")
    assert "isWritablePrimary" not in doc


@pytest.mark.parametrize("name", ["isMaster", "ismaster", "hello"])
def test_legacy_handshake_over_op_query_gets_an_op_reply(server, name):
    with server.raw() as s:
        s.sendall(op_query("admin.$cmd", {name: 1, "helloOk": True,
                                          "client": {"driver": {"name": "raw", "version": "0"}}},
                           request_id=77))
        header, doc = recv_message(s)
    assert header[3] == OP_REPLY
    assert header[2] == 77
    assert header[5] == 1, "numberReturned must be 1"
    assert header[6] == 0, "cursorID must be 0"
    check_standalone_hello(doc, "isWritablePrimary" if name == "hello" else "ismaster")


def test_op_query_hello_works_on_any_database_cmd_namespace(server):
    with server.raw() as s:
        s.sendall(op_query("test.$cmd", {"isMaster": 1}))
        _, doc = recv_message(s)
    check_standalone_hello(doc, "ismaster")


def test_connection_ids_differ_between_connections(server):
    ids = []
    for _ in range(2):
        with server.raw() as s:
            s.sendall(op_msg({"hello": 1, "$db": "admin"}))
            ids.append(recv_message(s)[1]["connectionId"])
    assert ids[0] != ids[1]


def test_several_commands_on_one_connection_answer_in_order(server):
    with server.raw() as s:
        for rid in (100, 101, 102):
            s.sendall(op_msg({"ping": 1, "$db": "admin"}, request_id=rid))
            header, doc = recv_message(s)
            assert header[2] == rid
            assert doc["ok"] == 1.0


def test_pymongo_sees_a_standalone_server(client):
    assert client.is_primary
    assert client.address[0] == "127.0.0.1"
    assert client.admin.command("ping") == {"ok": 1.0}


def test_ping_works_on_any_database(client):
    assert client["some_db"].command("ping")["ok"] == 1.0


def test_build_info_reports_a_6_0_version(client):
    info = client.admin.command("buildInfo")
    assert info["ok"] == 1.0
    assert isinstance(info["version"], str) and info["version"].startswith("6.0")
    arr = info["versionArray"]
    assert isinstance(arr, list) and len(arr) == 4 and all(is_int32(x) for x in arr)
    assert arr[:2] == [6, 0]
    assert "ferretdb" not in info
    assert info.get("bits") == 64
    assert isinstance(info.get("maxBsonObjectSize"), int)


def test_build_info_lower_case_alias_answers_too(client):
    assert client.admin.command("buildinfo")["versionArray"][:2] == [6, 0]


def test_get_parameter_returns_a_known_parameter(client):
    r = client.admin.command({"getParameter": 1, "featureCompatibilityVersion": 1})
    assert r["ok"] == 1.0
    assert r["featureCompatibilityVersion"]["version"] == "6.0"


def test_get_parameter_star_lists_parameters(client):
    r = client.admin.command({"getParameter": "*"})
    assert r["ok"] == 1.0
    assert "featureCompatibilityVersion" in r


def test_get_parameter_unknown_fails_without_foreign_product_names(client):
    import pymongo.errors
    with pytest.raises(pymongo.errors.OperationFailure) as ei:
        client.admin.command({"getParameter": 1, "noSuchParameterAtAll": 1})
    assert "documentdb" not in str(ei.value).lower()
    assert ei.value.code is not None


def test_get_parameter_must_run_on_admin(client):
    import pymongo.errors
    with pytest.raises(pymongo.errors.OperationFailure) as ei:
        client.test.command({"getParameter": 1, "featureCompatibilityVersion": 1})
    assert ei.value.code == 13  # Unauthorized: "getParameter may only be run against the admin database."


def test_get_log_star_lists_log_names(client):
    r = client.admin.command({"getLog": "*"})
    assert r["ok"] == 1.0
    assert "global" in r["names"]
    assert "startupWarnings" in r["names"]


def test_get_log_startup_warnings_has_count_and_lines(client):
    r = client.admin.command({"getLog": "startupWarnings"})
    assert is_int32(r["totalLinesWritten"]) or isinstance(r["totalLinesWritten"], int)
    assert isinstance(r["log"], list)


def test_get_log_global_returns_json_lines(client):
    r = client.admin.command({"getLog": "global"})
    assert isinstance(r["log"], list)
    assert r["log"], "the global log holds at least the start-up lines"
    assert all(isinstance(line, str) for line in r["log"])


def test_server_status_has_the_common_sections(client):
    s = client.admin.command("serverStatus")
    assert s["ok"] == 1.0
    assert isinstance(s["host"], str)
    assert s["version"].startswith("6.0")
    assert s["process"] in ("mongod", "tallyd")
    assert isinstance(s["pid"], int)
    assert isinstance(s["uptime"], (int, float))
    assert isinstance(s["localTime"], datetime.datetime)
    conns = s["connections"]
    assert conns["current"] >= 1
    assert "available" in conns and "totalCreated" in conns
    for k in ("insert", "query", "update", "delete", "getmore", "command"):
        assert k in s["opcounters"]


def test_server_status_opcounters_count_inserts(client):
    before = client.admin.command("serverStatus")["opcounters"]["insert"]
    client.t_opcounters.c.insert_many([{"a": i} for i in range(3)])
    after = client.admin.command("serverStatus")["opcounters"]["insert"]
    assert after - before >= 3
    client.drop_database("t_opcounters")


def test_unknown_command_fails_with_code_59_and_code_name(client):
    import pymongo.errors
    with pytest.raises(pymongo.errors.OperationFailure) as ei:
        client.admin.command("noSuchCommandXyz")
    assert ei.value.code == 59
    d = ei.value.details
    assert d["ok"] == 0.0
    assert d["codeName"] == "CommandNotFound"
    assert "noSuchCommandXyz" in d["errmsg"]


def test_unknown_command_raw_reply_shape(server):
    with server.raw() as s:
        s.sendall(op_msg({"atlasVersion": 1, "$db": "admin"}))
        _, doc = recv_message(s)
    assert doc["ok"] == 0.0 and isinstance(doc["ok"], float)
    assert doc["code"] == 59 and is_int32(doc["code"])
    assert doc["codeName"] == "CommandNotFound"
    assert isinstance(doc["errmsg"], str)


def test_command_without_db_field_is_rejected_but_connection_survives(server):
    with server.raw() as s:
        s.sendall(op_msg({"ping": 1}))
        _, doc = recv_message(s)
        assert doc["ok"] == 0.0
        assert doc["code"] == 40571  # "OP_MSG requests require a $db argument"
        s.sendall(op_msg({"ping": 1, "$db": "admin"}))
        _, doc = recv_message(s)
        assert doc["ok"] == 1.0


def test_list_commands_includes_the_crud_commands(client):
    r = client.admin.command("listCommands")
    for name in ("find", "insert", "update", "delete", "aggregate", "hello"):
        assert name in r["commands"]


def test_whatsmyuri_reports_the_client_address(client):
    r = client.admin.command("whatsmyuri")
    assert r["you"].startswith("127.0.0.1:")


def test_connection_status_without_auth_is_empty(client):
    r = client.admin.command("connectionStatus")
    assert r["authInfo"]["authenticatedUsers"] == []


def test_host_info_has_system_and_os(client):
    r = client.admin.command("hostInfo")
    assert "system" in r and "os" in r
    assert isinstance(r["system"]["hostname"], str)


def test_get_cmd_line_opts_shows_the_port(server, client):
    r = client.admin.command("getCmdLineOpts")
    assert isinstance(r["argv"], list)
    assert r["parsed"]["net"]["port"] == server.port


def test_end_sessions_and_kill_all_sessions_succeed(client):
    assert client.admin.command({"endSessions": []})["ok"] == 1.0
    assert client.admin.command({"killAllSessions": []})["ok"] == 1.0


def test_hello_object_id_free_and_no_election_id_on_standalone(client):
    r = client.admin.command("hello")
    assert "electionId" not in r
    assert not any(isinstance(v, ObjectId) for v in r.values())

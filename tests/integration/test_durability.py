"""Durability and lifecycle: every acknowledged write survives kill -9
(three rounds, several writer threads, kill at a random moment), a clean
SIGTERM shutdown exits 0 and keeps the data, the shutdown command, restart
on the same dbpath keeps indexes and collections, and a YAML config file
(--config) sets the port and paths."""
import os
import random
import threading
import time

import pymongo
import pytest
from pymongo.errors import AutoReconnect, PyMongoError

N_THREADS = 4


def run_writers(srv, stop, acked, errors, tag="w"):
    def work(tid):
        c = pymongo.MongoClient("127.0.0.1", srv.port, serverSelectionTimeoutMS=2000,
                                socketTimeoutMS=5000, retryWrites=False)
        coll = c.dur.c
        i = 0
        while not stop.is_set():
            _id = "%s-t%d-%d" % (tag, tid, i)
            try:
                coll.insert_one({"_id": _id, "pad": "p" * 200})
                acked[tid].append(_id)
            except (AutoReconnect, PyMongoError):
                # The server went away: this write is not acknowledged.
                errors[tid] += 1
                if stop.is_set():
                    break
                time.sleep(0.01)
            i += 1
        c.close()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(N_THREADS)]
    for t in threads:
        t.start()
    return threads


def test_acknowledged_writes_survive_kill_9(new_server):
    srv = new_server()
    srv.start()
    all_acked = set()
    rng = random.Random(os.getpid() ^ int(time.time()))
    for round_no in range(3):
        stop = threading.Event()
        acked = [[] for _ in range(N_THREADS)]
        errors = [0] * N_THREADS
        threads = run_writers(srv, stop, acked, errors, tag="r%d" % round_no)
        time.sleep(0.5 + rng.random() * 1.5)
        srv.kill9()
        stop.set()
        for t in threads:
            t.join(30)
        round_acked = {x for lst in acked for x in lst}
        assert round_acked, "round %d: no write was acknowledged before the kill" % round_no
        all_acked |= round_acked
        srv.start()
        c = srv.client()
        present = {d["_id"] for d in c.dur.c.find({}, {"_id": 1})}
        missing = all_acked - present
        assert not missing, "round %d: %d acknowledged writes lost after kill -9, e.g. %s" % (
            round_no, len(missing), sorted(missing)[:5])
        assert c.dur.c.count_documents({}) >= len(all_acked)
    srv.stop()


def test_sigterm_exits_zero_and_data_survives_restart(new_server):
    srv = new_server()
    srv.start()
    c = srv.client()
    c.d.c.insert_many([{"_id": i} for i in range(1000)])
    c.d.c.create_index("x")
    c.d.create_collection("cap", capped=True, size=8192)
    assert srv.stop() == 0
    srv.start()
    c = srv.client()
    assert c.d.c.count_documents({}) == 1000
    assert "x_1" in [ix["name"] for ix in c.d.c.list_indexes()]
    assert c.d.cap.options().get("capped") is True
    srv.stop()


def test_sigterm_while_clients_are_writing_exits_zero(new_server):
    srv = new_server()
    srv.start()
    stop = threading.Event()
    acked = [[] for _ in range(N_THREADS)]
    errors = [0] * N_THREADS
    threads = run_writers(srv, stop, acked, errors)
    time.sleep(1.0)
    rc = srv.stop(check=False)
    stop.set()
    for t in threads:
        t.join(30)
    assert rc == 0, srv.dump()
    srv.start()
    c = srv.client()
    present = {d["_id"] for d in c.dur.c.find({}, {"_id": 1})}
    lost = {x for lst in acked for x in lst} - present
    assert not lost, "%d acknowledged writes lost across a clean shutdown" % len(lost)
    srv.stop()


def test_shutdown_command_stops_the_server_cleanly(new_server):
    srv = new_server()
    srv.start()
    c = srv.client()
    c.s.c.insert_one({"_id": 1})
    try:
        c.admin.command("shutdown")
    except (AutoReconnect, PyMongoError):
        pass  # mongod closes the connection instead of replying
    rc = srv.proc.wait(20)
    assert rc == 0
    srv.proc = None
    srv.start()
    assert srv.client().s.c.find_one() == {"_id": 1}
    srv.stop()


def test_shutdown_command_outside_admin_is_refused(new_server):
    srv = new_server()
    srv.start()
    c = srv.client()
    with pytest.raises(pymongo.errors.OperationFailure) as ei:
        c.test.command("shutdown")
    assert ei.value.code == 13
    assert srv.is_running()
    srv.stop()


def test_second_server_on_the_same_dbpath_refuses_to_start(new_server):
    a = new_server()
    a.start()
    b = new_server(dbpath=a.dbpath)
    with pytest.raises(Exception):
        b.start(timeout_s=10)
    assert a.client().admin.command("ping")["ok"] == 1.0
    a.stop()


def test_port_in_use_fails_to_start_with_nonzero_exit(new_server):
    a = new_server()
    a.start()
    b = new_server(port=a.port)
    with pytest.raises(Exception):
        b.start(timeout_s=10)
    assert b.proc is None or b.proc.returncode not in (None, 0)
    a.stop()


def test_config_file_sets_port_dbpath_and_log(new_server, tmp_path):
    from conftest import free_port
    port = free_port()
    dbpath = tmp_path / "cfgdb"
    dbpath.mkdir()
    logpath = tmp_path / "cfg.log"
    cfg = tmp_path / "tally.conf"
    cfg.write_text(
        "# mongod.conf style\n"
        "storage:\n"
        "  dbPath: %s\n"
        "net:\n"
        "  port: %d\n"
        "  bindIp: 127.0.0.1\n"
        "systemLog:\n"
        "  destination: file\n"
        "  path: %s\n" % (dbpath, port, logpath))
    srv = new_server(port=port, use_config=str(cfg))
    srv.log_path = str(logpath)
    srv.start()
    c = srv.client()
    c.cfg.c.insert_one({"_id": 1})
    opts = c.admin.command("getCmdLineOpts")
    assert opts["parsed"]["net"]["port"] == port
    assert opts["parsed"]["config"] == str(cfg)
    assert os.listdir(str(dbpath)), "the data files go to storage.dbPath"
    assert "Waiting for connections" in logpath.read_text()
    srv.stop()


def test_command_line_flag_overrides_config_file(new_server, tmp_path):
    from conftest import free_port
    file_port, flag_port = free_port(), free_port()
    cfg = tmp_path / "t.conf"
    cfg.write_text("net:\n  port: %d\n  bindIp: 127.0.0.1\nstorage:\n  dbPath: %s\n" % (file_port, tmp_path))
    srv = new_server(port=flag_port, use_config=str(cfg), extra_args=["--port", str(flag_port)])
    srv.log_path = str(tmp_path / "override.log")
    srv.extra_args += ["--logpath", srv.log_path]
    srv.start()
    assert srv.client().admin.command("ping")["ok"] == 1.0
    srv.stop()


def test_unknown_config_key_fails_to_start(new_server, tmp_path):
    cfg = tmp_path / "bad.conf"
    cfg.write_text("net:\n  port: 1\n  noSuchKey: 5\n")
    srv = new_server(use_config=str(cfg))
    srv.log_path = str(tmp_path / "bad.log")
    with pytest.raises(Exception) as ei:
        srv.start(timeout_s=10)
    assert "noSuchKey" in str(ei.value)


def test_unknown_flag_fails_to_start_and_names_it(new_server):
    srv = new_server(extra_args=["--noSuchFlagXyz"])
    with pytest.raises(Exception) as ei:
        srv.start(timeout_s=10)
    assert "noSuchFlagXyz" in str(ei.value)


def test_version_flag_prints_and_exits_zero():
    import subprocess
    from conftest import tallyd_binary
    out = subprocess.run([tallyd_binary(), "--version"], capture_output=True, timeout=10)
    assert out.returncode == 0
    assert b"6.0" in out.stdout + out.stderr


def test_unique_index_is_still_enforced_after_restart(new_server):
    srv = new_server()
    srv.start()
    c = srv.client()
    c.u.c.create_index("email", unique=True)
    c.u.c.insert_one({"email": "a"})
    srv.restart()
    c = srv.client()
    with pytest.raises(pymongo.errors.DuplicateKeyError):
        c.u.c.insert_one({"email": "a"})
    assert c.u.c.find_one({"email": "a"}, {"_id": 0}) == {"email": "a"}
    srv.stop()


def test_cursor_from_before_a_restart_is_gone(new_server):
    srv = new_server()
    srv.start()
    c = srv.client()
    c.k.c.insert_many([{"_id": i} for i in range(50)])
    r = c.k.command({"find": "c", "batchSize": 2})
    cid = r["cursor"]["id"]
    srv.restart()
    c = srv.client()
    with pytest.raises(pymongo.errors.OperationFailure) as ei:
        c.k.command({"getMore": cid, "collection": "c"})
    assert ei.value.code == 43
    srv.stop()


def test_restart_many_times_keeps_everything(new_server):
    srv = new_server()
    srv.start()
    for i in range(5):
        c = srv.client()
        c.r.c.insert_one({"_id": i})
        srv.restart()
    c = srv.client()
    assert sorted(d["_id"] for d in c.r.c.find()) == list(range(5))
    srv.stop()

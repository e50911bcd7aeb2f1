"""The backup catalog: events staged in a real Redis (or the spool), moved
into admin.backups of a real 3-member set, reconciled against manifests;
the agent's schedule and retention; `tally backup list|report`.

Nothing may be lost or duplicated: not across a kill -9 of the primary in
the middle of a consolidation, a Redis restart, Redis being down, or two
consolidators running at once. Synthetic events carry no `source`, so
recording them only stages them; `consolidate` moves them.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from backup_catalog_help import (TALLY, Redis, catalog, event, events_json, make_id, run_tally, set_uri,
                                 wait_for, write_manifest)
from conftest import ReplSet, tallyd_binary


@pytest.fixture(scope="module")
def rs():
    r = ReplSet(n=3)
    try:
        r.up()
        yield r
    finally:
        r.cleanup()


@pytest.fixture(scope="module")
def redis():
    r = Redis()
    try:
        r.start()
        yield r
    finally:
        r.cleanup()


@pytest.fixture
def dest():
    d = tempfile.mkdtemp(prefix="tally-bk-")
    yield os.path.realpath(d)
    shutil.rmtree(d, ignore_errors=True)


def record(evs, *args):
    r = run_tally("backup", "record", "--event", "-", *args, input=events_json(evs))
    assert r.returncode == 0, r.stderr
    return r


def consolidate(rs, *args, timeout=90):
    r = run_tally("backup", "consolidate", "--uri", set_uri(rs), *args, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def spool_files(path):
    if not os.path.isdir(path):
        return []
    return sorted(f for f in os.listdir(path) if f.endswith(".json") and not f.startswith("."))


def test_events_wait_in_redis_then_reach_the_catalog(rs, redis, dest):
    before = redis.xlen()
    evs = [event(make_id(i, stamp="20240102T000000Z"), dest) for i in range(5)]
    record(evs, "--redis", redis.url)
    assert redis.xlen() == before + 5
    assert catalog(rs, dest) == {}
    consolidate(rs, "--redis", redis.url)
    docs = catalog(rs, dest)
    assert sorted(docs) == sorted(e["id"] for e in evs)
    d = docs[evs[0]["id"]]
    assert d["outcome"] == "ok" and d["type"] == "full" and d["bytes_stored"] == 100
    assert d["start_optime"] == {"ts": {"t": 1700000000, "i": 1}, "t": 1}
    assert redis.xlen() == 0


def test_redis_restart_between_events_loses_nothing(rs, redis, dest):
    evs = [event(make_id(i, stamp="20240103T000000Z"), dest) for i in range(4)]
    record(evs[:2], "--redis", redis.url)
    redis.restart()
    assert redis.xlen() >= 2
    record(evs[2:], "--redis", redis.url)
    consolidate(rs, "--redis", redis.url)
    assert sorted(catalog(rs, dest)) == sorted(e["id"] for e in evs)
    assert redis.xlen() == 0


def test_redis_down_events_spool_and_are_consolidated_later(rs, redis, dest):
    evs = [event(make_id(i, stamp="20240104T000000Z"), dest) for i in range(3)]
    redis.stop()
    try:
        r = record(evs, "--redis", redis.url)
        assert "spool" in r.stderr
        spool = os.path.join(dest, ".tally-spool")
        assert len(spool_files(spool)) == 3
        for name in spool_files(spool):
            with open(os.path.join(spool, name)) as f:
                assert json.load(f)["id"] in name
        # While Redis is down the spool still drains; the pass reports Redis.
        r = run_tally("backup", "consolidate", "--uri", set_uri(rs), "--redis", redis.url, "--to", dest,
                      "--timeout", "2")
        assert r.returncode == 1 and "Redis" in r.stderr
        assert sorted(catalog(rs, dest)) == sorted(e["id"] for e in evs)
        assert spool_files(spool) == []
    finally:
        redis.start()
    consolidate(rs, "--redis", redis.url, "--to", dest)


def test_spool_only_without_redis(rs, dest):
    evs = [event(make_id(i, stamp="20240105T000000Z"), dest) for i in range(2)]
    record(evs)
    spool = os.path.join(dest, ".tally-spool")
    assert len(spool_files(spool)) == 2
    consolidate(rs, "--spool", spool)
    assert sorted(catalog(rs, dest)) == sorted(e["id"] for e in evs)
    assert spool_files(spool) == []


def test_manifest_without_event_is_added_and_a_lost_one_marked_missing(rs, dest):
    ev = event(make_id(1, stamp="20240106T000000Z"), dest)
    d = write_manifest(dest, ev)
    consolidate(rs, "--to", dest)
    doc = catalog(rs, dest)[ev["id"]]
    assert doc["outcome"] == "ok" and doc.get("missing") is not True
    os.rename(d, os.path.join(dest, ".saved"))
    r = consolidate(rs, "--to", dest)
    assert "missing" in r.stderr
    doc = catalog(rs, dest)[ev["id"]]
    assert doc["missing"] is True and doc["outcome"] == "ok"
    os.rename(os.path.join(dest, ".saved"), d)
    consolidate(rs, "--to", dest)
    assert catalog(rs, dest)[ev["id"]]["missing"] is False


def test_failed_attempts_are_recorded_with_their_error(rs, dest):
    ev = event(make_id(7, kind="incr", stamp="20240107T000000Z"), dest, kind="incr", outcome="failed")
    del ev["id"]
    record([ev])
    consolidate(rs, "--spool", os.path.join(dest, ".tally-spool"))
    docs = list(catalog(rs, dest).values())
    assert len(docs) == 1
    assert docs[0]["outcome"] == "failed" and docs[0]["error"] == "it broke"
    assert "-incr-failed" in docs[0]["_id"]


def test_kill9_primary_mid_consolidation_leaves_exactly_one_document_per_backup(rs, redis, dest):
    evs = [event(make_id(i, stamp="20240108T000000Z"), dest) for i in range(120)]
    record(evs, "--redis", redis.url)
    proc = subprocess.Popen([TALLY, "backup", "consolidate", "--uri", set_uri(rs), "--redis", redis.url,
                             "--timeout", "90"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for("the consolidator to start moving events", lambda: redis.xlen() < 115, timeout_s=30,
                 interval_s=0.02)
        primary = rs.wait_primary()
        rs.kill9(primary)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rs.wait_primary(exclude=(primary,), timeout_s=30)
    consolidate(rs, "--redis", redis.url)
    docs = catalog(rs, dest)
    assert sorted(docs) == sorted(e["id"] for e in evs)
    c = rs.client()
    assert c.admin.backups.count_documents({"destination": dest}) == len(evs)
    assert redis.xlen() == 0
    rs.restart(primary)
    rs.wait_all_secondaries(timeout_s=30)


def test_two_concurrent_consolidators_never_duplicate(rs, redis, dest):
    evs = [event(make_id(i, stamp="20240109T000000Z"), dest) for i in range(60)]
    record(evs[:40], "--redis", redis.url)
    record(evs[40:])
    # Redelivery of an event already applied must change nothing either.
    record(evs[:5], "--redis", redis.url)
    spool = os.path.join(dest, ".tally-spool")
    args = [TALLY, "backup", "consolidate", "--uri", set_uri(rs), "--redis", redis.url, "--spool", spool,
            "--to", dest]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    c = rs.client()
    assert c.admin.backups.count_documents({"destination": dest}) == 60
    assert sorted(catalog(rs, dest)) == sorted(e["id"] for e in evs)
    assert redis.xlen() == 0 and spool_files(spool) == []


def test_prune_keeps_what_newer_backups_need(rs, dest):
    f1 = event(make_id(1, stamp="20240110T000000Z"), dest)
    i1 = event(make_id(2, kind="incr", stamp="20240110T010000Z"), dest, "incr", f1["id"], f1["id"])
    f2 = event(make_id(3, stamp="20240110T020000Z"), dest)
    i2 = event(make_id(4, kind="incr", stamp="20240110T030000Z"), dest, "incr", f2["id"], f2["id"])
    for e in (f1, i1, f2, i2):
        write_manifest(dest, e)
    # An incremental of the new chain whose parent is in the old one keeps it.
    odd = event(make_id(5, kind="incr", stamp="20240110T040000Z"), dest, "incr", i1["id"], f2["id"])
    write_manifest(dest, odd)
    r = run_tally("backup", "prune", "--to", dest, "--keep-full", "1")
    assert r.returncode == 0, r.stderr
    assert "deleted 0 backups" in r.stdout
    shutil.rmtree(os.path.join(dest, odd["id"]))
    r = run_tally("backup", "prune", "--to", dest, "--keep-full", "1")
    assert r.returncode == 0, r.stderr
    assert sorted(x for x in os.listdir(dest) if not x.startswith(".")) == sorted([f2["id"], i2["id"]])
    assert "deleted incr backup %s" % i1["id"] in r.stderr and "deleted full backup %s" % f1["id"] in r.stderr
    # The deletions are catalog events: consolidated, they mark the documents.
    consolidate(rs, "--to", dest)
    docs = catalog(rs, dest)
    assert docs[f1["id"]]["deleted"] is True and docs[i1["id"]]["deleted"] is True
    assert docs[f2["id"]].get("deleted") is not True


def test_agent_runs_the_schedule_with_retention_and_stops_on_sigterm(rs, redis, dest):
    state = tempfile.mkdtemp(prefix="tally-agent-")
    log = open(os.path.join(state, "agent.log"), "w+")
    env = dict(os.environ)
    env.pop("TALLY_REDIS_URL", None)
    env.setdefault("TALLYD", tallyd_binary())
    proc = subprocess.Popen([TALLY, "backup", "agent", "--uri", set_uri(rs), "--to", dest, "--state", state,
                             "--redis", redis.url, "--full-every", "12s", "--diff-every", "5s",
                             "--incr-every", "2s", "--keep-full", "1", "--consolidate-every", "1s",
                             "--retry-after", "1s"], stdout=log, stderr=log, env=env)
    try:
        c = rs.client()

        def two_fulls_and_prune():
            c.test_agent.w.insert_one({"n": int(time.time() * 1000)})
            log.seek(0)
            text = log.read()
            return text.count("full backup") >= 2 and "retention: deleted full" in text

        try:
            wait_for("two full backups and a retention pass", two_fulls_and_prune, timeout_s=60, interval_s=0.5)
        except AssertionError:
            log.seek(0)
            raise AssertionError("agent log:\n" + log.read())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        log.seek(0)
        text = log.read()
        done = [l.split()[4] for l in text.splitlines() if l.startswith("tally: agent:") and " done " in l]
        kinds = [l.split()[2] for l in text.splitlines() if l.startswith("tally: agent:") and " done " in l]
        assert kinds[0] == "full", text
        assert "incr" in kinds and "diff" in kinds, text
        first_full_chain = kinds.index("full", 1)
        assert kinds.index("diff") < first_full_chain and kinds.index("incr") < first_full_chain
        on_disk = sorted(x for x in os.listdir(dest) if not x.startswith("."))
        fulls = [x for x in on_disk if "-full-" in x]
        assert len(fulls) == 1, on_disk
        assert done[0] not in on_disk
        for x in on_disk:
            with open(os.path.join(dest, x, "manifest.json")) as f:
                assert json.load(f)["base_full"] == fulls[0]
        with open(os.path.join(state, "status.json")) as f:
            status = json.load(f)
        assert status["state"] == "stopped" and status["last_success"]["full"]["id"] == fulls[0]
        consolidate(rs, "--redis", redis.url, "--to", dest)
        docs = catalog(rs, dest)
        assert docs[done[0]]["deleted"] is True
        for x in on_disk:
            assert docs[x]["outcome"] == "ok" and docs[x].get("deleted") is not True
        r = run_tally("backup", "report", "--uri", set_uri(rs), "--to", dest, "--state", state)
        assert r.returncode == 0, r.stderr
        assert fulls[0] in r.stdout and "stopped" in r.stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(state, ignore_errors=True)


def test_list_shows_the_catalog_newest_first(rs, dest):
    a = event(make_id(1, stamp="20240111T000000Z"), dest)
    b = event(make_id(2, kind="incr", stamp="20240111T010000Z"), dest, "incr", a["id"], a["id"])
    record([a, b])
    consolidate(rs, "--spool", os.path.join(dest, ".tally-spool"))
    r = run_tally("backup", "list", "--uri", set_uri(rs))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "TYPE", "PARENT"]
    rows = [l for l in lines if l.startswith("20240111T")]
    assert [l.split()[0] for l in rows] == [b["id"], a["id"]]
    assert rows[0].split()[1:3] == ["incr", a["id"]]
    assert "1700000000:1/t1" in rows[0] and "1000B" in rows[0] and dest in rows[0]
    r = run_tally("backup", "list", "--uri", set_uri(rs), "--json")
    docs = [d for d in json.loads(r.stdout) if d["_id"].startswith("20240111T")]
    assert [d["_id"] for d in docs] == [b["id"], a["id"]]
    ids = [d["_id"] for d in json.loads(r.stdout)]
    assert ids == sorted(ids, reverse=True)


def test_bad_usage_is_refused_with_exit_code_2(dest):
    cases = [
        ("backup", "list"),
        ("backup", "list", "--uri", "mongodb://127.0.0.1:1/", "--bogus"),
        ("backup", "consolidate", "--uri", "mongodb://127.0.0.1:1/", "--redis", "http://x"),
        ("backup", "consolidate", "--uri", "mongodb://127.0.0.1:1/", "--redis", "redis://h:99999/0"),
        ("backup", "agent", "--uri", "mongodb://127.0.0.1:1/", "--to", dest),
        ("backup", "agent", "--uri", "u", "--to", dest, "--state", dest, "--full", "monthly"),
        ("backup", "agent", "--uri", "u", "--to", dest, "--state", dest, "--incr-every", "5x"),
        ("backup", "agent", "--uri", "u", "--to", dest, "--state", dest, "--full", "weekly Xyz 02:00"),
        ("backup", "agent", "--uri", "u", "--to", dest, "--state", dest, "--diff", "daily 25:00"),
        ("backup", "agent", "--uri", "u", "--to", dest, "--state", dest, "--keep-full", "0"),
        ("backup", "prune", "--to", dest),
        ("backup", "report"),
        ("backup", "frobnicate"),
    ]
    for args in cases:
        r = run_tally(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "tally" in r.stderr


def test_malformed_staged_events_are_kept_not_applied(rs, redis, dest):
    spool = os.path.join(dest, ".tally-spool")
    os.makedirs(spool)
    with open(os.path.join(spool, "0000000000001-1-0-bad-backup.json"), "w") as f:
        f.write("{not json")
    redis.cli("XADD", "tally:backup-events", "*", "key", "x/backup", "event", '{"no": "id"}')
    good = event(make_id(1, stamp="20240112T000000Z"), dest)
    record([good], "--redis", redis.url)
    r = run_tally("backup", "consolidate", "--uri", set_uri(rs), "--redis", redis.url, "--spool", spool)
    assert r.returncode == 0, r.stderr
    assert "left in place" in r.stderr
    assert list(catalog(rs, dest)) == [good["id"]]
    assert spool_files(spool) == ["0000000000001-1-0-bad-backup.json"]
    assert redis.xlen() == 1
    redis.cli("DEL", "tally:backup-events")


def test_cluster_up_starts_the_catalog_redis_and_down_stops_it():
    from test_tally_cli import free_ports
    d = tempfile.mkdtemp(prefix="tally-cl-")
    base = free_ports(3)
    try:
        r = run_tally("cluster", "up", "--fast", "--dir", d, "--base-port", base, timeout=120)
        assert r.returncode == 0, r.stderr
        with open(os.path.join(d, "redis.url")) as f:
            url = f.read().strip()
        assert url.startswith("redis://127.0.0.1:") and url in r.stderr
        port = int(url.split(":")[2].split("/")[0])
        ping = subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True, text=True)
        assert ping.stdout.strip() == "PONG"
        r = run_tally("cluster", "down", "--dir", d, timeout=120)
        assert r.returncode == 0 and "stopped the catalog Redis" in r.stdout, r.stdout + r.stderr
        assert not os.path.exists(os.path.join(d, "redis.pid"))
    finally:
        run_tally("cluster", "down", "--dir", d, timeout=120)
        shutil.rmtree(d, ignore_errors=True)

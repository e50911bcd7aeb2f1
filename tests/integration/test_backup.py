"""Backups and restores through the `tally` CLI against real replica sets.

A 3-member set under a write load gets a full backup, then an incremental, a
differential and another incremental; restores go to the end and to a point
between two writes (exact documents checked), the result runs as a standalone
and seeds a new set, and `backup verify` checks counts and hashes. Then the
faults: a flipped byte, a truncated file, a missing link, a non-empty target,
a full destination (a 1 MiB tmpfs), the source killed mid-backup, a slice
whose start is not in the source's oplog (faked with another set, and for
real: a set with a 1 MB oplog trimmed past the full backup), and applyOps's
own rules.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import bson
import pymongo
import pytest

from conftest import ROOT, ReplSet, Server
from stale_help import fill, oplog_first_ts

TALLY = os.environ.get("TALLY", os.path.join(ROOT, "bin", "tally"))


def tally(*args, timeout=180):
    env = dict(os.environ)
    env.setdefault("TALLYD", os.path.join(ROOT, "bin", "tallyd"))
    env.pop("TALLY_REDIS_URL", None)
    return subprocess.run([TALLY] + list(args), capture_output=True, text=True, timeout=timeout, env=env)


def set_uri(rs):
    return "mongodb://%s/?replicaSet=%s" % (",".join(rs.hosts()), rs.name)


def backups(dest):
    return sorted(d for d in os.listdir(dest) if not d.startswith("."))


def manifest(dest, bid):
    with open(os.path.join(dest, bid, "manifest.json")) as f:
        return json.load(f)


def wait_committed(rs, timeout_s=30):
    """Every member knows a commit point at or past the primary's newest entry."""
    p = rs.wait_primary()
    st = rs.status(p)
    want = st["optimes"]["appliedOpTime"]["ts"]

    def ok():
        for i in range(len(rs.members)):
            if not rs.is_up(i):
                continue
            s = rs.try_command(i, {"replSetGetStatus": 1})
            if not s or s.get("ok") != 1 or s["optimes"]["lastCommittedOpTime"]["ts"] < want:
                return None
        return True
    rs.wait_until("commit point everywhere", ok, timeout_s)


def oplog_ts_of(client, _id):
    e = client.local.oplog.rs.find_one({"o._id": _id})
    assert e is not None, _id
    return e["ts"]


def run_ok(*args):
    p = tally(*args)
    assert p.returncode == 0, "tally %s failed:\n%s\n%s" % (" ".join(args), p.stdout, p.stderr)
    return p


def new_id(dest, before):
    made = [b for b in backups(dest) if b not in before]
    assert len(made) == 1, made
    return made[0]


@pytest.fixture(scope="module")
def chain(rs3):
    """One backup folder: full (under load), incr, diff, incr, with the
    optimes of the marker writes between them."""
    tmp = tempfile.mkdtemp(prefix="tally-bk-")
    dest = os.path.join(tmp, "dest")
    uri = set_uri(rs3)
    c = pymongo.MongoClient(uri, w=3)
    coll = c.shop.orders
    coll.insert_many([{"_id": i, "v": "x" * 200} for i in range(2000)])
    stop = threading.Event()
    n_load = [0]

    def load():
        lc = pymongo.MongoClient(uri)
        while not stop.is_set():
            lc.shop.load.insert_one({"n": n_load[0]})
            n_load[0] += 1
        lc.close()
    t = threading.Thread(target=load)
    t.start()
    try:
        time.sleep(0.3)
        p = run_ok("backup", "full", "--uri", uri, "--to", dest)
    finally:
        stop.set()
        t.join()
    assert n_load[0] > 0
    ids = {"full": backups(dest)[0]}
    assert p.stdout.startswith("backup %s" % ids["full"])
    marks = {}
    for step, kind, docs in (("i1", "incr", ["x1"]), ("d1", "diff", ["x2", "x3"]), ("i2", "incr", ["x4", "x5"])):
        for d in docs:
            coll.insert_one({"_id": d})
            marks[d] = oplog_ts_of(c, d)
        wait_committed(rs3)
        before = backups(dest)
        run_ok("backup", kind, "--uri", uri, "--to", dest)
        ids[step] = new_id(dest, before)
    primary_counts = {n: c.shop[n].count_documents({}) for n in ("orders", "load")}
    c.close()
    yield {"dest": dest, "ids": ids, "marks": marks, "tmp": tmp, "counts": primary_counts, "rs": rs3}
    shutil.rmtree(tmp, ignore_errors=True)


def open_restored(dbpath):
    s = Server(dbpath=dbpath)
    s.start()
    return s


def test_manifests_record_the_chain(chain):
    dest, ids = chain["dest"], chain["ids"]
    full = manifest(dest, ids["full"])
    assert full["format"] == "tally-backup-1" and full["type"] == "full"
    assert full["parent"] is None and full["base_full"] == ids["full"]
    assert full["start_optime"] == full["end_optime"]
    assert full["destination"] == os.path.realpath(dest)
    assert full["set_name"] == "rs0" and full["source"] in chain["rs"].hosts()
    # The default source is a secondary.
    assert full["source"] != chain["rs"].host(chain["rs"].wait_primary())
    assert [f["name"] for f in full["files"]] == ["data.mdb.zst"]
    orders = [x for x in full["collections"] if x["ns"] == "shop.orders"]
    assert orders and orders[0]["count"] == 2000 and len(orders[0]["hash"]) == 64
    i1, d1, i2 = (manifest(dest, ids[k]) for k in ("i1", "d1", "i2"))
    assert i1["type"] == "incr" and i1["parent"] == ids["full"] and i1["base_full"] == ids["full"]
    assert d1["type"] == "diff" and d1["parent"] == ids["full"]
    assert d1["start_optime"] == full["end_optime"]
    assert i2["type"] == "incr" and i2["parent"] == ids["d1"]
    assert i2["start_optime"] == d1["end_optime"]
    assert i1["entries"] >= 1 and d1["entries"] >= i1["entries"] + 2 and i2["entries"] >= 2
    for m in (full, i1, d1, i2):
        assert m["bytes_stored"] == sum(f["bytes_stored"] for f in m["files"])
        assert m["id"] < "99999999" and ("-%s-" % m["type"]) in m["id"]
    assert not [d for d in os.listdir(dest) if d.startswith(".partial")]


def test_restore_to_the_end_uses_full_diff_incr(chain):
    dbpath = os.path.join(chain["tmp"], "restore-end")
    p = run_ok("restore", "--from", chain["dest"], "--dbpath", dbpath)
    ids = chain["ids"]
    assert "%s + %s + %s" % (ids["full"], ids["d1"], ids["i2"]) in p.stderr
    s = open_restored(dbpath)
    try:
        c = s.client()
        assert c.shop.orders.count_documents({}) == 2000 + 5
        for d in ("x1", "x2", "x3", "x4", "x5"):
            assert c.shop.orders.find_one({"_id": d}) == {"_id": d}
        assert c.shop.load.count_documents({}) == chain["counts"]["load"]
        # A standalone: no replica-set identity left.
        with pytest.raises(pymongo.errors.OperationFailure):
            c.admin.command("replSetGetStatus")
    finally:
        s.cleanup()


def test_restore_to_a_point_between_two_writes(chain):
    ts = chain["marks"]["x4"]
    dbpath = os.path.join(chain["tmp"], "restore-pitr")
    run_ok("restore", "--from", chain["dest"], "--dbpath", dbpath, "--until", "%d:%d" % (ts.time, ts.inc))
    s = open_restored(dbpath)
    try:
        c = s.client()
        present = sorted(d["_id"] for d in c.shop.orders.find({"_id": {"$type": "string"}}))
        assert present == ["x1", "x2", "x3", "x4"]
    finally:
        s.cleanup()
    # Just before x1: only the full backup's data.
    ts1 = chain["marks"]["x1"]
    dbpath = os.path.join(chain["tmp"], "restore-pitr0")
    before = "%d:%d" % (ts1.time, ts1.inc - 1) if ts1.inc > 1 else "%d:%d" % (ts1.time - 1, 4294967295)
    run_ok("restore", "--from", chain["dest"], "--dbpath", dbpath, "--until", before)
    s = open_restored(dbpath)
    try:
        assert s.client().shop.orders.count_documents({"_id": {"$type": "string"}}) == 0
        assert s.client().shop.orders.count_documents({}) == 2000
    finally:
        s.cleanup()


def test_restore_of_one_backup_id_follows_its_parents(chain):
    dbpath = os.path.join(chain["tmp"], "restore-i1")
    p = run_ok("restore", "--from", chain["dest"], "--dbpath", dbpath, "--backup", chain["ids"]["i1"])
    assert "%s + %s" % (chain["ids"]["full"], chain["ids"]["i1"]) in p.stderr
    s = open_restored(dbpath)
    try:
        got = sorted(d["_id"] for d in s.client().shop.orders.find({"_id": {"$type": "string"}}))
        assert got == ["x1"]
    finally:
        s.cleanup()


def test_restored_data_seeds_a_new_set(chain):
    dbpath = os.path.join(chain["tmp"], "restore-seed")
    run_ok("restore", "--from", chain["dest"], "--dbpath", dbpath)
    s = Server(dbpath=dbpath, extra_args=["--replSet", "fresh"])
    s.start()
    try:
        c = s.client(directConnection=True)
        c.admin.command("replSetInitiate", {"_id": "fresh", "version": 1,
                                            "members": [{"_id": 0, "host": "127.0.0.1:%d" % s.port}]})
        deadline = time.time() + 30
        while not c.admin.command("hello").get("isWritablePrimary"):
            assert time.time() < deadline, "the seeded set never elected a primary"
            time.sleep(0.2)
        assert c.shop.orders.count_documents({}) == 2005
        c.shop.orders.insert_one({"_id": "after"})
        assert c.admin.command("replSetGetStatus")["set"] == "fresh"
    finally:
        s.cleanup()


def test_verify_checks_counts_and_hashes(chain):
    p = run_ok("backup", "verify", "--from", chain["dest"], "--backup", chain["ids"]["full"])
    assert "shop.orders" in p.stdout and "verify: ok" in p.stdout
    p = run_ok("backup", "verify", "--from", chain["dest"])
    assert chain["ids"]["i2"] in p.stdout and "verify: ok" in p.stdout


def mutated_copy(chain, name):
    d = os.path.join(chain["tmp"], name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(chain["dest"], d)
    return d


def test_a_flipped_byte_is_reported_and_nothing_restored(chain):
    d = mutated_copy(chain, "corrupt")
    f = os.path.join(d, chain["ids"]["i2"], "oplog.bson.zst")
    with open(f, "r+b") as fh:
        fh.seek(os.path.getsize(f) // 2)
        b = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([b[0] ^ 0xFF]))
    target = os.path.join(chain["tmp"], "never1")
    p = tally("restore", "--from", d, "--dbpath", target)
    assert p.returncode == 1
    assert "corrupt" in p.stderr and chain["ids"]["i2"] in p.stderr
    assert not os.path.exists(target)
    assert not [x for x in os.listdir(chain["tmp"]) if ".restoring-" in x]
    p = tally("backup", "verify", "--from", d)
    assert p.returncode == 1 and "corrupt" in p.stderr


def test_a_truncated_file_is_reported(chain):
    d = mutated_copy(chain, "trunc")
    f = os.path.join(d, chain["ids"]["full"], "data.mdb.zst")
    os.truncate(f, os.path.getsize(f) // 2)
    p = tally("restore", "--from", d, "--dbpath", os.path.join(chain["tmp"], "never2"))
    assert p.returncode == 1 and "truncated" in p.stderr and chain["ids"]["full"] in p.stderr


def test_a_missing_link_is_reported(chain):
    d = mutated_copy(chain, "nolink")
    shutil.rmtree(os.path.join(d, chain["ids"]["d1"]))
    p = tally("restore", "--from", d, "--dbpath", os.path.join(chain["tmp"], "never3"))
    assert p.returncode == 1
    assert "missing" in p.stderr and chain["ids"]["d1"] in p.stderr and chain["ids"]["i2"] in p.stderr
    # An earlier point that does not need the lost link still restores.
    p = run_ok("restore", "--from", d, "--dbpath", os.path.join(chain["tmp"], "early"),
               "--backup", chain["ids"]["i1"])


def test_a_non_empty_target_is_refused_and_left_alone(chain):
    target = os.path.join(chain["tmp"], "busy")
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, "precious"), "w") as f:
        f.write("keep me")
    p = tally("restore", "--from", chain["dest"], "--dbpath", target)
    assert p.returncode == 1 and "refusing" in p.stderr and "empty" in p.stderr
    assert os.listdir(target) == ["precious"]
    # An empty folder is fine.
    empty = os.path.join(chain["tmp"], "empty")
    os.makedirs(empty)
    run_ok("restore", "--from", chain["dest"], "--dbpath", empty, "--backup", chain["ids"]["full"])
    assert "data.mdb" in os.listdir(empty)


def test_bad_options_are_usage_errors(chain):
    p = tally("backup", "full", "--to", chain["tmp"])
    assert p.returncode == 2 and "--uri" in p.stderr
    p = tally("restore", "--from", chain["dest"], "--dbpath", "/nonexistent/x", "--until", "yesterday")
    assert p.returncode == 1 and "ISO-8601" in p.stderr
    p = tally("backup", "incr", "--uri", set_uri(chain["rs"]), "--to", chain["tmp"] + "/nofull")
    assert p.returncode == 1 and "take a full backup first" in p.stderr


def test_a_slice_whose_start_is_not_in_the_oplog_needs_a_full(chain, replset):
    """The chain's last optime is absent from another set's oplog: what a
    trimmed oplog looks like to the tool (the next test trims one for real)."""
    other = replset(n=1, name="rs0")
    d = mutated_copy(chain, "stale")
    p = tally("backup", "incr", "--uri", "mongodb://%s/?replicaSet=rs0" % other.host(0), "--to", d)
    assert p.returncode == 1
    assert "no longer holds" in p.stderr and "take a full backup" in p.stderr
    assert backups(d) == backups(chain["dest"])
    assert not [x for x in os.listdir(d) if x.startswith(".partial")]


def test_an_incremental_whose_start_was_trimmed_needs_a_full(replset):
    """The real case: a set with a 1 MB oplog takes several MB after a full
    backup, so no member holds the backup's end optime any more."""
    rs = replset(n=3, extra_args=["--oplogSize", "1"])
    tmp = tempfile.mkdtemp(prefix="tally-bk-trim-")
    dest = os.path.join(tmp, "dest")
    try:
        c = rs.client()
        c.shop.orders.insert_many([{"_id": i} for i in range(100)])
        wait_committed(rs)
        run_ok("backup", "full", "--uri", set_uri(rs), "--to", dest)
        full = backups(dest)
        end = manifest(dest, full[0])["end_optime"]["ts"]
        end_ts = bson.timestamp.Timestamp(end["t"], end["i"])
        fill(c, 6, db="shop")

        def trimmed():
            for i in range(3):
                first = oplog_first_ts(rs.direct(i))
                if first is None or first <= end_ts:
                    return False
            return True
        rs.wait_until("every oplog trimmed past the full backup", trimmed, 90, interval_s=0.5)
        p = tally("backup", "incr", "--uri", set_uri(rs), "--to", dest)
        assert p.returncode == 1, p.stdout + p.stderr
        assert "no longer holds" in p.stderr and "take a full backup" in p.stderr, p.stderr
        assert backups(dest) == full
        assert not [x for x in os.listdir(dest) if x.startswith(".partial")]
        # A new full backup works and a later incremental chains onto it.
        run_ok("backup", "full", "--uri", set_uri(rs), "--to", dest)
        c.shop.orders.insert_one({"_id": "after"})
        wait_committed(rs)
        run_ok("backup", "incr", "--uri", set_uri(rs), "--to", dest)
        assert len(backups(dest)) == 3
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_full_destination_fails_cleanly(chain):
    mnt = tempfile.mkdtemp(prefix="tally-full-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % r.stderr.decode().strip())
    try:
        p = tally("backup", "full", "--uri", set_uri(chain["rs"]), "--to", mnt)
        assert p.returncode == 1
        assert "destination is full" in p.stderr and "No space left" in p.stderr
        assert backups(mnt) == []
        assert not [x for x in os.listdir(mnt) if x.startswith(".partial")]
    finally:
        subprocess.run(["umount", mnt])
        os.rmdir(mnt)


def test_source_killed_mid_backup(replset):
    rs = replset(n=3)
    uri = set_uri(rs)
    c = pymongo.MongoClient(uri, w=3)
    blob = os.urandom(200000)
    for k in range(10):
        c.big.blobs.insert_many([{"_id": k * 20 + j, "b": bson.Binary(blob)} for j in range(20)])
    c.close()
    p = rs.wait_primary()
    src = (p + 1) % 3
    tmp = tempfile.mkdtemp(prefix="tally-kill-")
    dest = os.path.join(tmp, "dest")
    env = dict(os.environ, TALLYD=os.path.join(ROOT, "bin", "tallyd"))
    proc = subprocess.Popen([TALLY, "backup", "full", "--uri", uri, "--to", dest, "--host", rs.host(src),
                             "--chunk-bytes", "65536"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        deadline = time.time() + 30
        started = False
        while time.time() < deadline and proc.poll() is None:
            parts = [x for x in os.listdir(dest)] if os.path.isdir(dest) else []
            zs = [os.path.join(dest, x, "data.mdb.zst") for x in parts if x.startswith(".partial")]
            if any(os.path.exists(z) and os.path.getsize(z) > 0 for z in zs):
                started = True
                break
            time.sleep(0.005)
        assert started, "the backup finished before it could be interrupted"
        rs.kill9(src)
        out, errs = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    try:
        assert proc.returncode == 1, (out, errs)
        assert rs.host(src) in errs and "run it again" in errs
        assert backups(dest) == []
        assert not [x for x in os.listdir(dest) if x.startswith(".partial")]
        # The set lives on; a new backup from the others works.
        run_ok("backup", "full", "--uri", uri, "--to", dest)
        assert len(backups(dest)) == 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_apply_ops_is_refused_on_a_member(rs3):
    p = rs3.wait_primary()
    r = rs3.try_command(p, {"applyOps": []})
    assert r["ok"] == 0 and r["code"] == 20 and "standalone" in r["errmsg"]
    r = rs3.try_command(p, {"tallyResetReplicationState": 1})
    assert r["ok"] == 0 and r["code"] == 20


def test_apply_ops_on_a_standalone(new_server):
    s = new_server()
    s.start()
    c = s.client()
    ts = bson.Timestamp(int(time.time()), 1)
    entry = {"ts": ts, "t": 1, "v": 2, "op": "i", "ns": "a.b", "o": {"_id": 1, "x": 1},
             "wall": bson.datetime.datetime.now(bson.tz_util.utc)}
    r = c.admin.command("applyOps", [entry])
    assert r["applied"] == 1 and r["skipped"] == 0 and r["results"] == [True]
    # Again: the oplog says it is in, so it is skipped (idempotent).
    r = c.admin.command("applyOps", [entry])
    assert r["applied"] == 0 and r["skipped"] == 1
    delete = dict(entry, ts=bson.Timestamp(ts.time, 2), op="d", o={"_id": 1})
    c.admin.command("applyOps", [delete])
    assert c.a.b.count_documents({}) == 0
    # A malformed batch changes nothing, even the good entries before the bad one.
    good = dict(entry, ts=bson.Timestamp(ts.time, 3), o={"_id": 2})
    for bad in ([good, 5], [good, {"op": "i", "ns": "a.b", "o": {"_id": 3}}]):
        with pytest.raises(pymongo.errors.OperationFailure) as ei:
            c.admin.command("applyOps", bad)
        assert "entry 1" in str(ei.value)
    assert c.a.b.count_documents({}) == 0
    with pytest.raises(pymongo.errors.OperationFailure):
        c.admin.command("applyOps", "nope")
    r = c.admin.command("tallyResetReplicationState")
    assert r["oplogEntriesRemoved"] == 2

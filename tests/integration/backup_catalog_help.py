"""Helpers for the backup catalog tests: a real redis-server on a free
loopback port in its own temp folder, synthetic backup events and manifests,
and running `tally backup ...`."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from conftest import ROOT, free_port, tallyd_binary

TALLY = os.environ.get("TALLY") or os.path.join(ROOT, "bin", "tally")
STREAM = "tally:backup-events"


class Redis:
    """redis-server with an append-only file, so a clean restart keeps data."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tally-redis-")
        self.port = free_port()
        self.proc = None

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def start(self, timeout_s=15):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
            stdout=open(os.path.join(self.dir, "redis.log"), "ab"), stderr=subprocess.STDOUT)
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.cli("PING").strip() == "PONG":
                return self
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start on port %d" % self.port)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port)] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=10)
        return r.stdout

    def xlen(self):
        return int(self.cli("XLEN", STREAM).strip() or 0)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_tally(*args, timeout=120, env=None, input=None):
    full_env = dict(os.environ)
    full_env.setdefault("TALLYD", tallyd_binary())
    full_env.pop("TALLY_REDIS_URL", None)
    full_env.update(env or {})
    return subprocess.run([TALLY] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, input=input)


def set_uri(rs):
    return "mongodb://%s/?replicaSet=%s" % (",".join(rs.hosts()), rs.name)


def make_id(n, kind="full", stamp="20240101T000000Z"):
    return "%s-%s-%06x" % (stamp, kind, n)


def event(bid, dest, kind="full", parent=None, base_full=None, outcome="ok"):
    """A synthetic event shaped like the manifest plus outcome (no `source`,
    so recording it never tries to consolidate)."""
    opt = {"ts": {"t": 1700000000, "i": 1}, "t": 1}
    return {"format": "tally-backup-1", "id": bid, "type": kind, "parent": parent,
            "base_full": base_full or bid, "start_optime": opt, "end_optime": opt,
            "start_wall": "2024-01-01T00:00:00Z", "end_wall": "2024-01-01T00:00:01Z",
            "bytes_raw": 1000, "bytes_stored": 100, "destination": dest, "set_name": "rs0",
            "outcome": outcome, "error": "" if outcome == "ok" else "it broke",
            "event_time": "2024-01-01T00:00:02.000Z"}


def events_json(evs):
    return "\n".join(json.dumps(e) for e in evs) + "\n"


def write_manifest(dest, ev):
    d = os.path.join(dest, ev["id"])
    os.makedirs(d, exist_ok=True)
    m = {k: v for k, v in ev.items() if k not in ("outcome", "error", "event_time")}
    m["files"] = []
    m["checksum"] = ""
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(m, f)
    return d


def catalog(rs, dest):
    """The catalog documents of one destination, by _id."""
    c = rs.client()
    try:
        docs = list(c.admin.backups.find({"destination": dest}))
    finally:
        c.close()
        rs._clients.remove(c)
    return {d["_id"]: d for d in docs}


def wait_for(what, pred, timeout_s=30, interval_s=0.2):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval_s)
    raise AssertionError("timed out waiting for " + what)

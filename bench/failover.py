#!/usr/bin/python3
"""bench/failover.py - how long a 3-member replica set is unwritable after
its primary dies.

Starts a set with `bin/tally cluster up` (--fast: heartbeats 200 ms, election
timeout 1000 ms; with --default-timers: 2000 / 10000 ms) on free loopback
ports, then --runs times (default 5):
  1. waits until every member is healthy and caught up with the primary,
  2. starts --writers threads (default 4) inserting with w:"majority",
     retryWrites off, through a replicaSet URI with a long
     serverSelectionTimeoutMS, and lets them run for --warmup seconds,
  3. kill -9 the primary and takes the time,
  4. measures "write": from the kill to the first acknowledged insert that
     was sent after the kill (so it cannot have been acknowledged by the dead
     primary), and "elected": from the kill to the first hello of a surviving
     member, polled directly every 10 ms, that says isWritablePrimary,
  5. stops the writers, restarts the killed member with its old dbpath and
     port and waits for it to catch up.
Prints one line per run and the medians; exit 1 if a run fails. The set is
stopped (`tally cluster down`) and its folder removed at the end unless
--keep is given.
"""
import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import pymongo
from pymongo.errors import PyMongoError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_base_port(n):
    """A port P with P..P+n-1 all free on 127.0.0.1."""
    for _ in range(200):
        p = random.randrange(20000, 60000)
        socks = []
        try:
            for q in range(p, p + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", q))
            return p
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free ports")


def read_members(folder):
    """{name: port} from DIR/cluster.info."""
    members = {}
    with open(os.path.join(folder, "cluster.info")) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "member":
                members[parts[1]] = int(parts[2])
    return members


def read_pid(folder, name):
    with open(os.path.join(folder, name + ".pid")) as f:
        return int(f.read().strip())


def direct_client(port, timeout_ms=500):
    return pymongo.MongoClient("127.0.0.1", port, directConnection=True, connectTimeoutMS=timeout_ms,
                               socketTimeoutMS=timeout_ms, serverSelectionTimeoutMS=timeout_ms)


def wait_caught_up(members, timeout_s):
    """Waits until one member is PRIMARY and every member is healthy,
    PRIMARY or SECONDARY, and at the primary's optime. Returns the primary's
    name and the seconds waited."""
    t0 = time.monotonic()
    clients = {name: direct_client(port) for name, port in members.items()}
    try:
        while time.monotonic() - t0 < timeout_s:
            for name, c in clients.items():
                try:
                    st = c.admin.command("replSetGetStatus")
                except PyMongoError:
                    continue
                if st.get("myState") != 1:
                    continue
                ms = st.get("members", [])
                mine = [m for m in ms if m.get("self")]
                if len(ms) != len(members) or not mine:
                    break
                want = mine[0]["optime"]
                if all(m.get("health") == 1 and m.get("state") in (1, 2) and m.get("optime") == want
                       for m in ms):
                    return name, time.monotonic() - t0
                break
            time.sleep(0.05)
    finally:
        for c in clients.values():
            c.close()
    raise RuntimeError("the set did not settle within %d s" % timeout_s)


class Load:
    """Writer threads; each records the first post-kill acknowledged insert."""

    def __init__(self, uri, n_writers, heartbeat_ms):
        extra = {"heartbeatFrequencyMS": heartbeat_ms} if heartbeat_ms else {}
        self.client = pymongo.MongoClient(uri, retryWrites=False, w="majority", wtimeoutMS=30000,
                                          serverSelectionTimeoutMS=120000, connectTimeoutMS=2000,
                                          socketTimeoutMS=30000, **extra)
        self.coll = self.client.bench.failover
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.kill_time = None
        self.first_ack = None
        self.n_ok = 0
        self.n_err = 0
        self.first_errors = []
        self.threads = [threading.Thread(target=self.writer, args=(i,), daemon=True) for i in range(n_writers)]
        for t in self.threads:
            t.start()

    def writer(self, wid):
        seq = 0
        while not self.stop.is_set():
            with self.lock:
                kill_time = self.kill_time
            t_sent = time.monotonic()
            try:
                self.coll.insert_one({"w": wid, "seq": seq, "pad": "x" * 60})
                t_ack = time.monotonic()
                with self.lock:
                    self.n_ok += 1
                    if kill_time is not None and (self.first_ack is None or t_ack < self.first_ack):
                        self.first_ack = t_ack
            except PyMongoError as e:
                with self.lock:
                    self.n_err += 1
                    if len(self.first_errors) < 3:
                        self.first_errors.append(type(e).__name__ + ": " + str(e)[:120])
                time.sleep(0.001)
            seq += 1

    def mark_kill(self, t):
        with self.lock:
            self.kill_time = t

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
        self.client.close()


def poll_elected(members, exclude, kill_time, deadline_s, out):
    """Sets out["elected"] to seconds from the kill to the first survivor
    that reports isWritablePrimary (polled directly, every 10 ms)."""
    clients = {n: direct_client(p, 200) for n, p in members.items() if n != exclude}
    try:
        while time.monotonic() - kill_time < deadline_s:
            for name, c in clients.items():
                try:
                    h = c.admin.command("hello")
                except PyMongoError:
                    continue
                if h.get("isWritablePrimary"):
                    out["elected"] = time.monotonic() - kill_time
                    out["new_primary"] = name
                    return
            time.sleep(0.01)
    finally:
        for c in clients.values():
            c.close()


def restart_member(tallyd, folder, name, port, set_name):
    dbpath = os.path.join(folder, name)
    out = open(os.path.join(dbpath, "stderr.log"), "ab")
    proc = subprocess.Popen([tallyd, "--replSet", set_name, "--port", str(port), "--dbpath", dbpath,
                             "--bind_ip", "127.0.0.1", "--logpath", os.path.join(dbpath, "tallyd.log")],
                            cwd=dbpath, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                            start_new_session=True)
    out.close()
    with open(os.path.join(folder, name + ".pid"), "w") as f:
        f.write("%d\n" % proc.pid)
    return proc


def one_run(args, folder, members, uri, children):
    primary, settle_s = wait_caught_up(members, 120)
    load = Load(uri, args.writers, args.heartbeat_ms)
    try:
        time.sleep(args.warmup)
        with load.lock:
            ok_before = load.n_ok
        if ok_before == 0:
            raise RuntimeError("no write succeeded before the kill: %s" % load.first_errors)
        pid = read_pid(folder, primary)
        out = {}
        kill_time = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        load.mark_kill(kill_time)
        poller = threading.Thread(target=poll_elected,
                                  args=(members, primary, kill_time, args.timeout, out), daemon=True)
        poller.start()
        while time.monotonic() - kill_time < args.timeout:
            with load.lock:
                if load.first_ack is not None:
                    break
            time.sleep(0.002)
        with load.lock:
            first_ack = load.first_ack
        poller.join(args.timeout)
    finally:
        load.close()
    # Reap the member if this script started it (an earlier run's restart).
    proc = children.pop(primary, None)
    if proc is not None:
        proc.wait()
    if first_ack is None:
        raise RuntimeError("no acknowledged write within %d s of the kill; errors: %s"
                           % (args.timeout, load.first_errors))
    children[primary] = restart_member(args.tallyd, folder, primary, members[primary], args.set_name)
    _, catch_up_s = wait_caught_up(members, 120)
    return {
        "killed": primary,
        "new_primary": out.get("new_primary", "?"),
        "elected_s": out.get("elected"),
        "write_s": first_ack - kill_time,
        "errors": load.n_err,
        "catch_up_s": catch_up_s,
        "settle_s": settle_s,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--warmup", type=float, default=1.5, help="seconds of load before each kill")
    ap.add_argument("--timeout", type=float, default=90, help="give up a run after this many seconds")
    ap.add_argument("--default-timers", action="store_true",
                    help="heartbeat 2000 ms, election timeout 10000 ms (default: 200 / 1000 ms)")
    ap.add_argument("--heartbeat-ms", type=int, default=0,
                    help="the driver's heartbeatFrequencyMS (default: pymongo's, 10000)")
    ap.add_argument("--tallyd", default=os.environ.get("TALLYD", os.path.join(ROOT, "bin/tallyd")))
    ap.add_argument("--tally", default=os.path.join(ROOT, "bin/tally"))
    ap.add_argument("--dir", default=None, help="parent folder of the set's folder (default $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="leave the set running and its folder in place")
    args = ap.parse_args()
    args.set_name = "rs0"
    args.tallyd = os.path.abspath(args.tallyd)
    if args.runs < 1 or args.writers < 1:
        ap.error("--runs and --writers must be at least 1")

    folder = tempfile.mkdtemp(prefix="tally-failover.", dir=args.dir)
    base_port = free_base_port(3)
    cmd = [args.tally, "cluster", "up", "--dir", folder, "--base-port", str(base_port), "--tallyd", args.tallyd]
    if not args.default_timers:
        cmd.append("--fast")
    timers = "2000/10000 ms" if args.default_timers else "200/1000 ms"
    children = {}
    results = []
    rc = 0
    try:
        uri = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
        members = read_members(folder)
        print("# %s, heartbeat/election timers %s, %d writers (w:majority, retryWrites off)"
              % (uri, timers, args.writers), flush=True)
        for i in range(args.runs):
            r = one_run(args, folder, members, uri, children)
            results.append(r)
            el = "%.3f" % r["elected_s"] if r["elected_s"] is not None else "-"
            print("run %d: killed %s, new primary %s: elected %s s, first acknowledged write %.3f s after the "
                  "kill (%d failed inserts); killed member caught up %.1f s after restart"
                  % (i + 1, r["killed"], r["new_primary"], el, r["write_s"], r["errors"], r["catch_up_s"]),
                  flush=True)
    except (RuntimeError, subprocess.CalledProcessError, PyMongoError) as e:
        print("failover: %s" % e, file=sys.stderr)
        rc = 1
    finally:
        if not args.keep:
            subprocess.run([args.tally, "cluster", "down", "--dir", folder], stdout=subprocess.DEVNULL)
        for proc in children.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not args.keep and rc == 0:
            subprocess.run(["rm", "-rf", folder])
        elif rc:
            print("failover: set folder kept for inspection: %s" % folder, file=sys.stderr)
    if results:
        writes = [r["write_s"] for r in results]
        elected = [r["elected_s"] for r in results if r["elected_s"] is not None]
        print("median over %d runs (timers %s): first acknowledged write %.3f s after the kill "
              "(min %.3f, max %.3f); elected %s s"
              % (len(writes), timers, statistics.median(writes), min(writes), max(writes),
                 "%.3f" % statistics.median(elected) if elected else "-"))
    return rc


if __name__ == "__main__":
    sys.exit(main())

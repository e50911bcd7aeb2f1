"""The `tally` admin tool (bin/tally): cluster up/down and status.

Every test runs the real tallyd. `cluster up --fast` must start and initiate
a set, wait for its primary and print the connection string; `status` shows
one row per member; `cluster down` stops every member and leaves nothing
behind. Failing paths (ports in use, running members, bad usage) must say
what is wrong and leave no process running.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pymongo
import pytest

from conftest import ROOT, Server, free_port, tallyd_binary

TALLY = os.environ.get("TALLY") or os.path.join(ROOT, "bin", "tally")


def run_tally(*args, timeout=120, env=None):
    if not os.path.exists(TALLY):
        pytest.fail("no bin/tally (run make bin/tally)")
    full_env = dict(os.environ)
    full_env.setdefault("TALLYD", tallyd_binary())
    full_env.update(env or {})
    return subprocess.run([TALLY] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def free_ports(n):
    """n consecutive ports free on 127.0.0.1 a moment ago."""
    for _ in range(200):
        base = free_port()
        if base + n > 65535:
            continue
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no %d consecutive free ports" % n)


def processes_using(text):
    """pids whose command line mentions text (a test's own temp dir)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%s/stat" % entry) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state not in ("Z", "X") and int(entry) != os.getpid():
            pids.append(int(entry))
    return pids


@pytest.fixture
def cdir():
    d = tempfile.mkdtemp(prefix="tally-cli-")
    yield os.path.join(d, "cluster")
    # Whatever a failing test left behind must not outlive it.
    for pid in processes_using(d):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    subprocess.run(["rm", "-rf", d])


# -- a real replica set -------------------------------------------------------

def status_rows(out):
    """(member, state) of each table row printed by `tally status`."""
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("127.0.0.1:"):
            rows.append((parts[0], parts[1]))
    return rows


def test_up_fast_starts_a_set_prints_its_uri_status_shows_one_primary_and_down_stops_all(cdir):
    base = free_ports(3)
    r = run_tally("cluster", "up", "--dir", cdir, "--base-port", base, "--fast", "--timeout", 30)
    assert r.returncode == 0, r
    hosts = ["127.0.0.1:%d" % p for p in (base, base + 1, base + 2)]
    uri = "mongodb://%s/?replicaSet=rs0" % ",".join(hosts)
    assert r.stdout.strip() == uri
    assert "rs0 is up; primary 127.0.0.1:" in r.stderr
    assert len(processes_using(cdir)) == 3
    # The printed URI works with a driver.
    c = pymongo.MongoClient(uri, serverSelectionTimeoutMS=15000)
    try:
        c.t_cli.docs.insert_one({"_id": 1})
        assert c.t_cli.docs.find_one() == {"_id": 1}
    finally:
        c.close()
    r = run_tally("status", "--dir", cdir)
    assert r.returncode == 0, r
    assert "set rs0, term " in r.stdout and "primary is 127.0.0.1:" in r.stdout
    rows = status_rows(r.stdout)
    assert sorted(h for h, _ in rows) == hosts, r.stdout
    assert sorted(s for _, s in rows) == ["PRIMARY", "SECONDARY", "SECONDARY"], r.stdout
    r = run_tally("status", "--dir", cdir, "--json")
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert doc["replSetGetStatus"]["set"] == "rs0"
    assert sorted(m["stateStr"] for m in doc["replSetGetStatus"]["members"]) == ["PRIMARY", "SECONDARY",
                                                                               "SECONDARY"]
    settings = doc["replSetGetConfig"]["config"]["settings"]
    assert settings["heartbeatIntervalMillis"] == 200 and settings["electionTimeoutMillis"] == 1000
    r = run_tally("cluster", "down", "--dir", cdir)
    assert r.returncode == 0, r
    for name in ("m1", "m2", "m3"):
        assert "stopped %s (pid " % name in r.stdout, r.stdout
    assert processes_using(cdir) == []
    for name in ("m1", "m2", "m3"):
        assert not os.path.exists(os.path.join(cdir, name + ".pid"))


def test_up_with_an_arbiter_lists_it_in_status_but_not_in_the_uri(cdir):
    base = free_ports(3)
    r = run_tally("cluster", "up", "--dir", cdir, "--base-port", base, "--members", 2, "--arbiter", "--fast",
                  "--timeout", 30)
    try:
        assert r.returncode == 0, r
        assert r.stdout.strip() == "mongodb://127.0.0.1:%d,127.0.0.1:%d/?replicaSet=rs0" % (base, base + 1)
        r = run_tally("status", "--dir", cdir)
        assert r.returncode == 0, r
        states = dict(status_rows(r.stdout))
        assert states["127.0.0.1:%d" % (base + 2)] == "ARBITER", r.stdout
        assert sorted(states.values()) == ["ARBITER", "PRIMARY", "SECONDARY"], r.stdout
    finally:
        run_tally("cluster", "down", "--dir", cdir)
    assert processes_using(cdir) == []


def test_status_after_the_primary_dies_shows_the_new_primary_and_the_dead_member(cdir):
    base = free_ports(3)
    r = run_tally("cluster", "up", "--dir", cdir, "--base-port", base, "--fast", "--timeout", 30)
    try:
        assert r.returncode == 0, r
        primary = r.stderr.split("primary ", 1)[1].split(";", 1)[0]
        name = "m%d" % (int(primary.rsplit(":", 1)[1]) - base + 1)
        with open(os.path.join(cdir, name + ".pid")) as f:
            os.kill(int(f.read()), signal.SIGKILL)
        deadline = time.monotonic() + 15
        while True:
            r = run_tally("status", "--dir", cdir)
            states = dict(status_rows(r.stdout))
            if r.returncode == 0 and states.get(primary) == "UNREACHABLE" and \
                    list(states.values()).count("PRIMARY") == 1:
                break
            assert time.monotonic() < deadline, r
            time.sleep(0.3)
        assert "down" in [line.split()[2] for line in r.stdout.splitlines()
                          if line.startswith(primary + " ")], r.stdout
    finally:
        run_tally("cluster", "down", "--dir", cdir)
    assert processes_using(cdir) == []


def test_down_on_an_empty_dir_says_nothing_is_running(cdir):
    os.makedirs(cdir)
    r = run_tally("cluster", "down", "--dir", cdir)
    assert r.returncode == 0, r
    assert "nothing is running in" in r.stdout


def test_down_on_a_missing_dir_says_nothing_is_running(cdir):
    r = run_tally("cluster", "down", "--dir", cdir)
    assert r.returncode == 0, r
    assert "nothing is running" in r.stdout and "no such folder" in r.stdout


def test_down_ignores_a_stale_pid_file(cdir):
    os.makedirs(os.path.join(cdir, "m1"))
    # Our own pid is alive but is not a tallyd serving m1: it must not be signalled.
    with open(os.path.join(cdir, "m1.pid"), "w") as f:
        f.write("%d\n" % os.getpid())
    r = run_tally("cluster", "down", "--dir", cdir)
    assert r.returncode == 0, r
    assert "nothing is running" in r.stdout
    assert not os.path.exists(os.path.join(cdir, "m1.pid"))


def start_member_by_hand(cdir, port):
    """A tallyd on cdir/m1 with its pid file, as `up` would have left it."""
    dbpath = os.path.join(cdir, "m1")
    os.makedirs(dbpath)
    log = os.path.join(dbpath, "tallyd.log")
    proc = subprocess.Popen([tallyd_binary(), "--dbpath", dbpath, "--port", str(port), "--bind_ip",
                             "127.0.0.1", "--logpath", log], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    with open(os.path.join(cdir, "m1.pid"), "w") as f:
        f.write("%d\n" % proc.pid)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if os.path.exists(log) and "Waiting for connections" in open(log).read():
            return proc
        time.sleep(0.02)
    proc.kill()
    pytest.fail("tallyd did not start")


def test_up_refuses_while_a_member_of_the_dir_runs_and_down_stops_it(cdir):
    port = free_ports(1)
    proc = start_member_by_hand(cdir, port)
    try:
        other = free_ports(3)
        r = run_tally("cluster", "up", "--dir", cdir, "--base-port", other)
        assert r.returncode == 1, r
        assert "already up" in r.stderr and "`tally cluster down` first" in r.stderr
        assert "m1, pid %d" % proc.pid in r.stderr
        assert proc.poll() is None
        r = run_tally("cluster", "down", "--dir", cdir)
        assert r.returncode == 0, r
        assert "stopped m1 (pid %d" % proc.pid in r.stdout
        # SIGTERM is a clean shutdown: exit code 0.
        assert proc.wait(5) == 0
        assert not os.path.exists(os.path.join(cdir, "m1.pid"))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_up_refuses_a_port_in_use_and_names_it(cdir):
    base = free_ports(3)
    busy = socket.socket()
    busy.bind(("127.0.0.1", base + 1))
    busy.listen(1)
    try:
        r = run_tally("cluster", "up", "--dir", cdir, "--base-port", base)
        assert r.returncode == 1, r
        assert "port %d (for m2) is in use" % (base + 1) in r.stderr
        assert processes_using(cdir) == []
        assert not os.path.exists(os.path.join(cdir, "m1"))
    finally:
        busy.close()


def test_status_against_a_standalone_says_it_is_not_a_replica_set_member(new_server):
    s = new_server().start()
    r = run_tally("status", "--port", s.port)
    assert r.returncode == 1, r
    assert "127.0.0.1:%d is not a replica-set member" % s.port in r.stderr
    # mongod without --replSet: NoReplicationEnabled (76).
    assert "without --replSet" in r.stderr, r.stderr
    r = run_tally("status", "--host", "127.0.0.1:%d" % s.port, "--json")
    assert r.returncode == 1, r
    doc = json.loads(r.stdout)
    assert doc["replSetGetStatus"]["code"] == 76 and doc["replSetGetConfig"] is None
    s.stop()


def test_status_against_an_uninitiated_member_says_it_is_not_initiated(new_server):
    s = new_server(extra_args=["--replSet", "rs0"]).start()
    r = run_tally("status", "--port", s.port)
    assert r.returncode == 1, r
    assert "127.0.0.1:%d is not initiated yet" % s.port in r.stderr, r.stderr
    s.stop()


def test_status_with_nothing_listening_says_it_cannot_reach_it(cdir):
    port = free_ports(1)
    r = run_tally("status", "--port", port)
    assert r.returncode == 1, r
    assert "cannot reach any member (127.0.0.1:%d)" % port in r.stderr


def test_bad_usage_exits_2_and_names_the_problem():
    cases = [
        (["cluster"], "needs `up` or `down`"),
        (["cluster", "sideways"], "unknown cluster command 'sideways'"),
        (["frobnicate"], "unknown command 'frobnicate'"),
        (["cluster", "up", "--members", "8"], "--members must be 1..7"),
        (["cluster", "up", "--members", "0"], "--members must be 1..7"),
        (["cluster", "up", "--members", "3x"], "--members must be 1..7"),
        (["cluster", "up", "--members", "7", "--arbiter"], "at most 7"),
        (["cluster", "up", "--base-port", "70000"], "--base-port must be"),
        (["cluster", "up", "--base-port", "65535"], "too high"),
        (["cluster", "up", "--set-name", "a b"], "--set-name must be"),
        (["cluster", "up", "--dir"], "--dir needs a value"),
        (["cluster", "up", "--fast=yes"], "--fast takes no value"),
        (["cluster", "down", "--members", "3"], "--members does not apply"),
        (["status", "--arbiter"], "--arbiter does not apply"),
        (["status", "--port", "0"], "--port must be"),
        (["status", "--bogus"], "unknown option --bogus"),
    ]
    for args, want in cases:
        r = run_tally(*args)
        assert r.returncode == 2, (args, r)
        assert want in r.stderr, (args, r.stderr)


def test_help_lists_the_commands():
    r = run_tally("help")
    assert r.returncode == 0
    for word in ("cluster up", "cluster down", "status", "--members", "--arbiter", "--fast", "--json"):
        assert word in r.stdout
    assert run_tally().returncode == 2


def test_up_without_a_server_binary_says_so(cdir):
    r = run_tally("cluster", "up", "--dir", cdir, "--tallyd", "/nonexistent/tallyd")
    assert r.returncode == 1, r
    assert "cannot run the server binary /nonexistent/tallyd" in r.stderr

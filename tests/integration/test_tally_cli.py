"""The `tally` admin tool (bin/tally): cluster up/down and status.

Every test runs the real tallyd. Replica sets are not built yet (no
replSet* commands), so `cluster up` must fail at replSetInitiate, say so, and
leave no process behind, and `status` must say the server is not a
replica-set member. When the replica-set commands land, these tests grow into
the successful path.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

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


# -- against the real (standalone) tallyd ------------------------------------

def test_up_fails_at_replsetinitiate_and_leaves_nothing_running(cdir):
    base = free_ports(1)
    r = run_tally("cluster", "up", "--dir", cdir, "--base-port", base, "--members", 1)
    assert r.returncode == 1, r
    assert "replSetInitiate on 127.0.0.1:%d failed" % base in r.stderr
    assert "CommandNotFound" in r.stderr and "code 59" in r.stderr
    assert "nothing is left running" in r.stderr
    assert r.stdout == ""
    assert processes_using(cdir) == []
    assert not os.path.exists(os.path.join(cdir, "m1.pid"))
    # The member did start and reach "Waiting for connections" before it failed.
    with open(os.path.join(cdir, "m1", "tallyd.log")) as f:
        assert "Waiting for connections" in f.read()
    # Its port is free again.
    s = socket.socket()
    s.bind(("127.0.0.1", base))
    s.close()


def test_up_with_three_members_fails_the_same_way_and_stops_all_three(cdir):
    base = free_ports(4)
    r = run_tally("cluster", "up", "--dir", cdir, "--base-port", base, "--arbiter", "--fast")
    assert r.returncode == 1, r
    assert "started 4 members of rs0" in r.stderr
    assert "replSetInitiate on 127.0.0.1:%d failed" % base in r.stderr
    assert "stopped the 4 members started" in r.stderr
    assert processes_using(cdir) == []
    with open(os.path.join(cdir, "cluster.info")) as f:
        info = f.read()
    assert "member m3 %d" % (base + 2) in info and "arbiter m4 %d" % (base + 3) in info


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
    assert "59" in r.stderr
    r = run_tally("status", "--host", "127.0.0.1:%d" % s.port, "--json")
    assert r.returncode == 1, r
    doc = json.loads(r.stdout)
    assert doc["replSetGetStatus"]["code"] == 59 and doc["replSetGetConfig"] is None
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

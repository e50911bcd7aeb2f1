"""A replica set of real tallyd processes, one per network namespace (see
netns.py), for the fault suite.

Each member listens on its own 10.231.X.(i+1):27017 inside its namespace,
keeps its dbpath and log across kill -9 / restart, and is initiated with fast
timers. Clients in the test process reach every member through the bridge.
The binary is $TALLYD (default bin/tallyd). Every wait has a deadline and
says what it saw when it gives up.
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import bson
import pymongo

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PORT = 27017
READY_LINE = "Waiting for connections"
FAST_SETTINGS = {"heartbeatIntervalMillis": 200, "electionTimeoutMillis": 1000}
PRIMARY, SECONDARY, ARBITER = 1, 2, 7


class ClusterError(AssertionError):
    pass


def tallyd_binary():
    path = os.environ.get("TALLYD", "bin/tallyd")
    return path if os.path.isabs(path) else os.path.join(ROOT, path)


def command(host, port, doc, db="admin", timeout_s=2.0):
    """One OP_MSG command on a fresh socket (no driver, no server selection):
    the reply document, or None on any network error."""
    body = dict(doc)
    body["$db"] = db
    payload = struct.pack("<I", 0) + b"\x00" + bson.BSON.encode(body)
    msg = struct.pack("<iiii", 16 + len(payload), 1, 0, 2013) + payload
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as s:
            s.sendall(msg)
            buf = b""
            while len(buf) < 16 or len(buf) < struct.unpack("<i", buf[:4])[0]:
                chunk = s.recv(65536)
                if not chunk:
                    return None
                buf += chunk
            return bson.BSON(buf[21:struct.unpack("<i", buf[:4])[0]]).decode()
    except (OSError, bson.errors.BSONError, struct.error):
        return None


class Member:
    def __init__(self, net, i, set_name, workdir, extra_args=()):
        self.net, self.i, self.set_name = net, i, set_name
        self.dir = os.path.join(workdir, "m%d" % i)
        self.dbpath = os.path.join(self.dir, "db")
        os.makedirs(self.dbpath, exist_ok=True)
        self.extra_args = list(extra_args)
        self.proc = None
        self.paused = False
        self.n_starts = 0
        self.log_path = None
        self.exit_codes = []  # unexpected exits seen (not our kill -9)

    @property
    def host(self):
        return self.net.ip(self.i)

    def argv(self):
        # tallyd recognises itself in the config by hostname:port, so each
        # member runs in its own UTS namespace whose hostname is its address.
        return self.net.exec_prefix(self.i) + [
            "unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', self.host,
            tallyd_binary(), "--dbpath", self.dbpath, "--port", str(PORT), "--bind_ip", self.host,
            "--logpath", self.log_path, "--replSet", self.set_name] + self.extra_args

    def start(self, timeout_s=30.0):
        self.n_starts += 1
        self.log_path = os.path.join(self.dir, "tallyd.%d.log" % self.n_starts)
        out = open(os.path.join(self.dir, "stderr.%d.log" % self.n_starts), "wb")
        self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.dir)
        out.close()
        self.paused = False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if os.path.exists(self.log_path):
                with open(self.log_path, errors="replace") as f:
                    if READY_LINE in f.read():
                        return
            if self.proc.poll() is not None:
                raise ClusterError("member %d exited with %s before it was ready\n%s"
                                   % (self.i, self.proc.returncode, self.tail()))
            time.sleep(0.05)
        raise ClusterError("member %d not ready after %.0fs\n%s" % (self.i, timeout_s, self.tail()))

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        """Records an exit nobody asked for (a crash) and returns False."""
        if self.proc is not None and self.proc.poll() is not None:
            self.exit_codes.append(self.proc.returncode)
            self.proc = None
            return False
        return self.proc is not None

    def kill9(self):
        if self.is_running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        self.paused = False

    def pause(self):
        if self.is_running() and not self.paused:
            self.proc.send_signal(signal.SIGSTOP)
            self.paused = True

    def resume(self):
        if self.is_running() and self.paused:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self, timeout_s=20.0):
        """SIGTERM; returns the exit code (None when it had to be killed)."""
        self.resume()
        if not self.is_running():
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None
        finally:
            self.proc = None

    def logs(self):
        """Every log file of every start, in order, as one text."""
        out = []
        for k in range(1, self.n_starts + 1):
            p = os.path.join(self.dir, "tallyd.%d.log" % k)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out.append(f.read())
        return "".join(out)

    def tail(self, n=40):
        return "\n".join(self.logs().splitlines()[-n:])


class Cluster:
    def __init__(self, net, name="rs0", settings=FAST_SETTINGS, workdir=None, extra_args=(), member_options=None):
        self.net = net
        self.name = name
        self.settings = dict(settings)
        # Extra fields of member i's config entry (priority, arbiterOnly,
        # votes, tags...): {i: {...}}. Member 0 initiates, so it must be electable.
        self.member_options = {i: dict(o) for i, o in (member_options or {}).items()}
        self.workdir = workdir or tempfile.mkdtemp(prefix="tally-faults-")
        # Test commands on, so the nemesis can use fail points when they exist.
        args = ["--setParameter", "enableTestCommands=1"] + list(extra_args)
        self.members = [Member(net, i, name, self.workdir, args) for i in range(net.n)]

    def hosts(self):
        return ["%s:%d" % (m.host, PORT) for m in self.members]

    def config(self):
        members = []
        for i, h in enumerate(self.hosts()):
            m = {"_id": i, "host": h}
            m.update(self.member_options.get(i, {}))
            members.append(m)
        return {"_id": self.name, "version": 1, "settings": dict(self.settings), "members": members}

    def is_arbiter(self, i):
        return bool(self.member_options.get(i, {}).get("arbiterOnly"))

    def data_members(self):
        return [i for i in range(len(self.members)) if not self.is_arbiter(i)]

    def up(self, timeout_s=30.0):
        for m in self.members:
            m.start()
        reply = self.command(0, {"replSetInitiate": self.config()}, timeout_s=30.0)
        if not reply or reply.get("ok") != 1:
            raise ClusterError("replSetInitiate failed: %r" % (reply,))
        self.wait_primary(timeout_s)
        self.wait_until("every member PRIMARY or SECONDARY (arbiters ARBITER)",
                        lambda: all(s == ARBITER if self.is_arbiter(i) else s in (PRIMARY, SECONDARY)
                                    for i, s in enumerate(self.states())), timeout_s)

    def command(self, i, doc, db="admin", timeout_s=2.0):
        m = self.members[i]
        if not m.is_running() or m.paused:
            return None
        return command(m.host, PORT, doc, db=db, timeout_s=timeout_s)

    def states(self):
        out = []
        for i in range(len(self.members)):
            st = self.command(i, {"replSetGetStatus": 1})
            out.append(st.get("myState") if st and st.get("ok") == 1 else None)
        return out

    def primaries(self):
        out = []
        for i in range(len(self.members)):
            h = self.command(i, {"hello": 1})
            if h and h.get("isWritablePrimary") is True:
                out.append(i)
        return out

    def terms(self):
        out = []
        for i in range(len(self.members)):
            st = self.command(i, {"replSetGetStatus": 1})
            out.append(st.get("term") if st and st.get("ok") == 1 else None)
        return out

    def wait_until(self, what, pred, timeout_s, interval_s=0.2):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = pred()
            if got:
                return got
            time.sleep(interval_s)
        raise ClusterError("%s: not within %.0fs (states %r)" % (what, timeout_s, self.states()))

    def wait_primary(self, timeout_s=30.0):
        def one():
            ps = self.primaries()
            return ps[0] + 1 if len(ps) == 1 else None
        return self.wait_until("a single primary", one, timeout_s) - 1

    def client(self, **kw):
        opts = dict(replicaSet=self.name, serverSelectionTimeoutMS=3000, connectTimeoutMS=1000,
                    socketTimeoutMS=4000, heartbeatFrequencyMS=500, retryWrites=False, w="majority",
                    wtimeoutMS=3000)
        opts.update(kw)
        return pymongo.MongoClient(self.hosts(), **opts)

    def direct(self, i, **kw):
        opts = dict(serverSelectionTimeoutMS=3000, connectTimeoutMS=1000, socketTimeoutMS=10000,
                    directConnection=True)
        opts.update(kw)
        return pymongo.MongoClient(self.members[i].host, PORT, **opts)

    def cleanup(self, keep_files=False):
        for m in self.members:
            m.kill9()
        if not keep_files:
            shutil.rmtree(self.workdir, ignore_errors=True)

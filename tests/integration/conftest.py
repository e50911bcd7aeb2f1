"""Integration harness: real tallyd processes on 127.0.0.1, driven by pymongo.

Owns the Server class (start, stop, kill9, restart on the same dbpath, log
access, clients) and the fixtures every test file uses:
  server  - one fresh server per test module (own temp dbpath, ephemeral port)
  client  - a pymongo MongoClient connected to that server
  db      - a fresh database per test, named after the test, dropped after it
On any test failure the log of every server the test touched is appended to
the pytest report, so a failing run shows what the server said.

The binary is $TALLYD (default bin/tallyd relative to the repository root),
so CI can point the suite at the sanitizer build.
"""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import bson
import pymongo
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
READY_LINE = "Waiting for connections"
NOISE_LINE = re.compile(r"connection (accepted from|ended) ")
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0

# Every Server created during the current test, so a failure can dump logs.
_live_servers = []


def tallyd_binary():
    path = os.environ.get("TALLYD", "bin/tallyd")
    if not os.path.isabs(path):
        path = os.path.join(ROOT, path)
    return path


def free_port():
    """An ephemeral port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerError(Exception):
    pass


class Server:
    """One tallyd process. The dbpath survives restarts; the port is kept
    across restarts too so clients created earlier still reach it."""

    def __init__(self, dbpath=None, port=None, extra_args=None, use_config=None):
        self.tmpdir = tempfile.mkdtemp(prefix="tally-it-")
        self.dbpath = dbpath or os.path.join(self.tmpdir, "db")
        os.makedirs(self.dbpath, exist_ok=True)
        self.port = port or free_port()
        self.is_port_chosen_here = port is None
        self.extra_args = list(extra_args or [])
        self.use_config = use_config  # path of a YAML file replacing the flags
        self.n_starts = 0
        self.proc = None
        self.log_path = None
        self.stderr_path = None
        self._clients = []
        _live_servers.append(self)

    # -- process control -------------------------------------------------
    def argv(self):
        if self.use_config:
            return [tallyd_binary(), "--config", self.use_config] + self.extra_args
        return [tallyd_binary(), "--dbpath", self.dbpath, "--port", str(self.port),
                "--bind_ip", "127.0.0.1", "--logpath", self.log_path] + self.extra_args

    def start(self, timeout_s=START_TIMEOUT_S):
        if not os.path.exists(tallyd_binary()):
            raise ServerError("no server binary at %s (run make bin/tallyd)" % tallyd_binary())
        self.n_starts += 1
        if not self.use_config:
            self.log_path = os.path.join(self.tmpdir, "tallyd.%d.log" % self.n_starts)
        self.stderr_path = os.path.join(self.tmpdir, "stderr.%d.log" % self.n_starts)
        stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.argv(), stdout=stderr, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.tmpdir)
        stderr.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if READY_LINE in self.log_text(current_only=True):
                return self
            rc = self.proc.poll()
            if rc is not None:
                if self._port_was_taken(rc):
                    # free_port() closes its probe socket before tallyd binds:
                    # another process (often a client's ephemeral port) can take
                    # the port meanwhile. A first start may simply use another.
                    self.port = free_port()
                    self.n_starts -= 1
                    return self.start(timeout_s)
                raise ServerError("tallyd exited with %s before it was ready\n%s" % (rc, self.dump()))
            time.sleep(0.02)
        self.kill9()
        raise ServerError("tallyd not ready after %.0fs\n%s" % (timeout_s, self.dump()))

    def _port_was_taken(self, rc):
        if rc != 48 or self.n_starts != 1 or not self.is_port_chosen_here or self.use_config:
            return False
        with open(self.stderr_path, "r", errors="replace") as f:
            return "address already in use" in f.read()

    def stop(self, timeout_s=STOP_TIMEOUT_S, check=True):
        """SIGTERM, wait, and (by default) require exit code 0."""
        self._close_clients()
        if self.proc is None or self.proc.poll() is not None:
            rc = None if self.proc is None else self.proc.returncode
            self.proc = None
            if check and rc not in (None, 0):
                raise ServerError("tallyd had already exited with %s\n%s" % (rc, self.dump()))
            return rc
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise ServerError("tallyd did not exit within %.0fs of SIGTERM\n%s" % (timeout_s, self.dump()))
        self.proc = None
        if check and rc != 0:
            raise ServerError("tallyd exited with %d after SIGTERM (want 0)\n%s" % (rc, self.dump()))
        return rc

    def kill9(self):
        self._close_clients()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self):
        if self.proc is not None:
            self.stop()
        return self.start()

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid

    # -- clients ---------------------------------------------------------
    def uri(self):
        return "mongodb://127.0.0.1:%d/" % self.port

    def client(self, **kwargs):
        opts = dict(serverSelectionTimeoutMS=5000, connectTimeoutMS=5000, socketTimeoutMS=30000)
        opts.update(kwargs)
        c = pymongo.MongoClient("127.0.0.1", self.port, **opts)
        self._clients.append(c)
        return c

    def _close_clients(self):
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        self._clients = []

    def raw(self, timeout_s=10.0):
        """A plain TCP socket to the server, for byte-level tests."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout_s)
        return s

    # -- logs ------------------------------------------------------------
    def log_text(self, current_only=False):
        paths = []
        if current_only:
            paths = [self.log_path, self.stderr_path]
        else:
            paths = sorted(os.path.join(self.tmpdir, f) for f in os.listdir(self.tmpdir)
                           if f.endswith(".log"))
        out = []
        for p in paths:
            if p and os.path.exists(p):
                with open(p, "r", errors="replace") as f:
                    out.append(f.read())
        return "".join(out)

    def dump(self, max_chars=60000):
        """The server's logs for a failure message, without the connection
        accepted/ended lines the test's own polling produces."""
        text = []
        for f in sorted(os.listdir(self.tmpdir)):
            p = os.path.join(self.tmpdir, f)
            if f.endswith(".log") and os.path.isfile(p):
                with open(p, "r", errors="replace") as fh:
                    body = "".join(line for line in fh if not NOISE_LINE.search(line))
                if len(body) > max_chars:
                    body = "...[%d chars cut]...\n" % (len(body) - max_chars) + body[-max_chars:]
                text.append("----- %s (port %d) -----\n%s" % (p, self.port, body))
        return "\n".join(text) or "(no server log)"

    def cleanup(self):
        self.kill9()
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        if self in _live_servers:
            _live_servers.remove(self)


# -- raw wire helpers (shared by the socket-level tests) --------------------
OP_REPLY = 1
OP_QUERY = 2004
OP_MSG = 2013


def op_msg(doc, request_id=1, flags=0, extra_sections=b""):
    body = struct.pack("<I", flags) + b"\x00" + bson.BSON.encode(doc) + extra_sections
    return struct.pack("<iiii", 16 + len(body), request_id, 0, OP_MSG) + body


def op_query(ns, doc, request_id=1):
    body = (struct.pack("<i", 0) + ns.encode() + b"\x00" + struct.pack("<ii", 0, -1)
            + bson.BSON.encode(doc))
    return struct.pack("<iiii", 16 + len(body), request_id, 0, OP_QUERY) + body


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def recv_message(sock):
    """Returns (header tuple, reply document) for OP_MSG or OP_REPLY."""
    header = recv_exact(sock, 16)
    length, request_id, response_to, opcode = struct.unpack("<iiii", header)
    body = recv_exact(sock, length - 16)
    if opcode == OP_MSG:
        flags = struct.unpack("<I", body[:4])[0]
        assert body[4] == 0, "reply section kind must be 0"
        doc = bson.BSON(body[5:]).decode()
        return (length, request_id, response_to, opcode, flags), doc
    if opcode == OP_REPLY:
        flags, cursor_id, starting_from, n_returned = struct.unpack("<iqii", body[:20])
        doc = bson.BSON(body[20:]).decode()
        return (length, request_id, response_to, opcode, flags, n_returned, cursor_id), doc
    raise AssertionError("unexpected reply opcode %d" % opcode)


def raw_command(sock, doc, request_id=7):
    sock.sendall(op_msg(doc, request_id=request_id))
    return recv_message(sock)


def send_command(server, doc):
    """Sends one OP_MSG command (doc must hold $db) on a new socket and
    returns the reply document: for commands pymongo refuses to encode."""
    with server.raw() as s:
        return raw_command(s, doc)[1]


# -- fixtures ---------------------------------------------------------------
@pytest.fixture(scope="module")
def server():
    s = Server()
    s.start()
    yield s
    try:
        if s.is_running():
            s.stop()
    finally:
        s.cleanup()


@pytest.fixture
def new_server():
    """A server of the test's own, for tests that kill or restart it."""
    made = []

    def make(**kwargs):
        s = Server(**kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.cleanup()


@pytest.fixture(scope="module")
def client(server):
    c = server.client()
    yield c
    c.close()


def _db_name(request):
    name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)
    return ("t_" + name)[:60]


@pytest.fixture
def db(server, client, request):
    name = _db_name(request)
    if not server.is_running():
        server.start()
    client.drop_database(name)
    yield client[name]
    if server.is_running():
        try:
            client.drop_database(name)
        except Exception:
            pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _live_servers:
        for s in list(_live_servers):
            rep.sections.append(("tallyd log %s" % s.tmpdir, s.dump()))


# -- replica sets ------------------------------------------------------------
# The ReplSet harness: N tallyd members started with --replSet on ephemeral
# 127.0.0.1 ports, initiated with fast timers, and helpers to find the
# primary, wait for states, kill, pause and restart members. Every wait is
# bounded and says what it saw when it gives up; every member is a Server, so
# a failing test gets every member's log appended by the report hook above.

FAST_SETTINGS = {"heartbeatIntervalMillis": 200, "electionTimeoutMillis": 1000}
PRIMARY, SECONDARY = 1, 2


class ReplSetError(AssertionError):
    pass


class ReplSet:
    def __init__(self, n=3, name="rs0", settings=FAST_SETTINGS, members=None, extra_args=()):
        """members: optional per-member dicts merged into the config entries
        (e.g. [{"priority": 2}, {}, {}]); extra_args: more tallyd flags for
        every member (e.g. ["--oplogSize", "1"])."""
        self.name = name
        self.settings = None if settings is None else dict(settings)
        self.member_opts = list(members or [{} for _ in range(n)])
        self.members = [Server(extra_args=["--replSet", name] + list(extra_args)) for _ in range(n)]
        self.paused = set()
        self._clients = []

    # -- layout ----------------------------------------------------------
    def host(self, i):
        return "127.0.0.1:%d" % self.members[i].port

    def hosts(self):
        return [self.host(i) for i in range(len(self.members))]

    def index_of(self, host):
        return self.hosts().index(host)

    def config(self):
        members = []
        for i in range(len(self.members)):
            m = {"_id": i, "host": self.host(i)}
            m.update(self.member_opts[i] if i < len(self.member_opts) else {})
            members.append(m)
        cfg = {"_id": self.name, "version": 1, "members": members}
        if self.settings is not None:
            cfg["settings"] = dict(self.settings)
        return cfg

    # -- life cycle ------------------------------------------------------
    def start(self):
        for m in self.members:
            m.start()
        return self

    def initiate(self, config=None, on=0):
        reply = self.command(on, {"replSetInitiate": config or self.config()}, timeout_s=30)
        if reply.get("ok") != 1:
            raise ReplSetError("replSetInitiate failed: %r\n%s" % (reply, self.dump()))
        return reply

    def up(self, timeout_s=20):
        """Starts, initiates, and waits for one primary and all secondaries."""
        self.start()
        self.initiate()
        p = self.wait_primary(timeout_s)
        self.wait_all_secondaries(timeout_s)
        return p

    def cleanup(self):
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        self._clients = []
        for i in list(self.paused):
            self.resume(i)
        for m in self.members:
            m.cleanup()

    def dump(self):
        return "\n".join(m.dump(max_chars=20000) for m in self.members)

    # -- faults ----------------------------------------------------------
    def kill9(self, i):
        self.paused.discard(i)
        self.members[i].kill9()

    def restart(self, i):
        m = self.members[i]
        if m.is_running():
            m.stop()
        return m.start()

    def pause(self, i):
        os.kill(self.members[i].pid, signal.SIGSTOP)
        self.paused.add(i)

    def resume(self, i):
        if i in self.paused and self.members[i].is_running():
            os.kill(self.members[i].pid, signal.SIGCONT)
        self.paused.discard(i)

    def is_up(self, i):
        return self.members[i].is_running() and i not in self.paused

    # -- commands --------------------------------------------------------
    def command(self, i, doc, db="admin", timeout_s=5.0):
        """One OP_MSG command on a fresh socket, with no $readPreference (so
        no secondaryOk): the reply document, errors included."""
        body = dict(doc)
        body["$db"] = db
        s = socket.create_connection(("127.0.0.1", self.members[i].port), timeout=timeout_s)
        try:
            return raw_command(s, body)[1]
        finally:
            s.close()

    def try_command(self, i, doc, db="admin", timeout_s=1.0):
        if not self.is_up(i):
            return None
        try:
            return self.command(i, doc, db=db, timeout_s=timeout_s)
        except (OSError, EOFError, bson.errors.BSONError):
            return None

    def hello(self, i, timeout_s=2.0):
        return self.command(i, {"hello": 1}, timeout_s=timeout_s)

    def status(self, i, timeout_s=5.0):
        return self.command(i, {"replSetGetStatus": 1}, timeout_s=timeout_s)

    def primaries(self):
        """Indexes of the running members that say they are writable primaries."""
        out = []
        for i in range(len(self.members)):
            h = self.try_command(i, {"hello": 1})
            if h and h.get("isWritablePrimary") is True:
                out.append(i)
        return out

    def states(self):
        """Each member's own view of its state (myState), None when down."""
        out = []
        for i in range(len(self.members)):
            st = self.try_command(i, {"replSetGetStatus": 1})
            out.append(st.get("myState") if st and st.get("ok") == 1 else None)
        return out

    def wait_until(self, what, pred, timeout_s, interval_s=0.1):
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            last = pred()
            if last:
                return last
            time.sleep(interval_s)
        states = self.states()
        raise ReplSetError("%s: not within %.1fs (states %r)\n%s\n(end of logs) %s: not within %.1fs (states %r)"
                           % (what, timeout_s, states, self.dump(), what, timeout_s, states))

    def wait_primary(self, timeout_s=15, exclude=()):
        """Waits for exactly one writable primary not in exclude; its index."""
        def one():
            ps = [i for i in self.primaries() if i not in exclude]
            return ps[0] + 1 if len(ps) == 1 else None
        return self.wait_until("a single primary", one, timeout_s) - 1

    def wait_state(self, i, state, timeout_s=15):
        def reached():
            st = self.try_command(i, {"replSetGetStatus": 1})
            return st is not None and st.get("myState") == state
        self.wait_until("member %d in state %d" % (i, state), reached, timeout_s)

    def sync_from_primary(self, p, members, timeout_s=20):
        """Makes each of members fetch from p (replSetSyncFrom) and waits for
        it: with chaining, a secondary may otherwise fetch from another one,
        and a test that pauses that one would starve it too."""
        for i in members:
            r = self.command(i, {"replSetSyncFrom": self.host(p)})
            assert r.get("ok") == 1, r
        self.wait_until("members %r sync from %s" % (members, self.host(p)),
                        lambda: all(self.status(i).get("syncSourceHost") == self.host(p) for i in members),
                        timeout_s)

    def wait_all_secondaries(self, timeout_s=15):
        """Every running member other than the primary reports SECONDARY."""
        def done():
            states = self.states()
            return (states.count(PRIMARY) == 1 and
                    all(s in (PRIMARY, SECONDARY) for i, s in enumerate(states) if self.is_up(i)))
        self.wait_until("one primary and the rest secondaries", done, timeout_s)

    # -- clients ---------------------------------------------------------
    def client(self, **kwargs):
        """A pymongo client that discovers the set (replicaSet=name)."""
        opts = dict(replicaSet=self.name, serverSelectionTimeoutMS=15000, connectTimeoutMS=2000,
                    socketTimeoutMS=15000, heartbeatFrequencyMS=500, retryWrites=False)
        opts.update(kwargs)
        c = pymongo.MongoClient(self.hosts(), **opts)
        self._clients.append(c)
        return c

    def direct(self, i, **kwargs):
        """A pymongo client to member i alone (reads allowed on a secondary)."""
        opts = dict(serverSelectionTimeoutMS=5000, connectTimeoutMS=2000, socketTimeoutMS=15000)
        opts.update(kwargs)
        c = pymongo.MongoClient("127.0.0.1", self.members[i].port, **opts)
        self._clients.append(c)
        return c

    def ids_on(self, i, db, coll):
        """The sorted _ids of db.coll as member i holds them."""
        c = self.direct(i)
        try:
            return sorted((d["_id"] for d in c[db][coll].find({}, {"_id": 1})),
                          key=lambda v: (type(v).__name__, v))
        finally:
            c.close()
            self._clients.remove(c)

    def wait_converged(self, db, coll, want_ids=None, timeout_s=20):
        """Every running member holds the same _ids of db.coll (and exactly
        want_ids when given); returns them."""
        def same():
            seen = []
            for i in range(len(self.members)):
                if not self.is_up(i):
                    continue
                try:
                    seen.append(self.ids_on(i, db, coll))
                except pymongo.errors.PyMongoError:
                    return None
            if seen and all(s == seen[0] for s in seen) and (want_ids is None or seen[0] == want_ids):
                return seen[0] or [None]
            return None
        got = self.wait_until("all members hold the same %s.%s" % (db, coll), same, timeout_s, 0.2)
        return [] if got == [None] else got


@pytest.fixture
def replset():
    """Factory: replset(n=3, settings=..., members=[...]) -> a started,
    initiated ReplSet with a primary (pass up=False for an uninitiated one).
    Every set is killed and deleted after the test."""
    made = []

    def make(n=3, up=True, **kwargs):
        rs = ReplSet(n=n, **kwargs)
        made.append(rs)
        if up:
            rs.up()
        else:
            rs.start()
        return rs

    yield make
    for rs in made:
        rs.cleanup()


@pytest.fixture(scope="module")
def rs3():
    """One 3-member set (fast timers) shared by a module's read-mostly tests."""
    rs = ReplSet(n=3)
    try:
        rs.up()
        yield rs
    finally:
        rs.cleanup()

"""Network namespaces for the fault suite: one namespace per replica-set
member, joined by a bridge, plus iptables partitions inside the members.

Layout for run R with n members (all created here, all deleted here):
  tally-R-br         a namespace holding the bridge `br0`
  tally-R-<i>        member i: `eth0` = 10.231.X.(i+1)/24, plus `lo`
  tlRh (root) <-> tlRg (hub)   the test process reaches members through the
                               bridge from 10.231.X.254 in the root namespace
X is a /24 no interface of this machine uses. Partitions are iptables DROP
rules in the members' INPUT chains (so a dropped packet is never received;
TCP connections hang as on a real network split); heal flushes them.

Everything is deleted by Net.close(), which an atexit hook also calls, and a
new Net first deletes leftovers of earlier crashed runs (by name prefix,
killing the processes still inside them; never those of a run whose process
is still alive, so two suites may run side by side). Root and iptables are required:
require_root() raises with a clear message rather than skipping.
"""
import atexit
import os
import re
import shutil
import signal
import subprocess

PREFIX = "tally-"
NS_RE = re.compile(r"^tally-([0-9a-f]{1,6})-(br|\d+)$")
LINK_RE = re.compile(r"^tl([0-9a-f]{1,6})[hgab]\d*$")
SUBNET_BASE = "10.231"
HOST_OCTET = 254


class NetError(RuntimeError):
    pass


def sh(*argv, check=True):
    r = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise NetError("%s failed (%d): %s" % (" ".join(argv), r.returncode, r.stderr.strip()))
    return r.stdout


def require_root():
    """The fault suite needs root, ip and iptables; say so loudly if not."""
    problems = []
    if os.geteuid() != 0:
        problems.append("it must run as root (network namespaces, iptables)")
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            problems.append("'%s' is missing (scripts/install-deps.sh installs it)" % tool)
    if problems:
        raise NetError("fault suite cannot run: " + "; ".join(problems))


def list_namespaces():
    out = sh("ip", "netns", "list", check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def delete_namespace(name):
    """Kills what still runs inside (processes this suite started there) and
    deletes the namespace."""
    pids = sh("ip", "netns", "pids", name, check=False).split()
    for p in pids:
        try:
            os.kill(int(p), signal.SIGCONT)
            os.kill(int(p), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    sh("ip", "netns", "del", name, check=False)


def _run_is_alive(run):
    """A run id is its process id in hex: a run whose process still lives is
    another suite running at the same time, not a leftover."""
    try:
        with open("/proc/%d/cmdline" % int(run, 16), "rb") as f:
            return b"python" in f.read()
    except (OSError, ValueError):
        return False


def cleanup_leftovers(keep_run=None):
    """Deletes namespaces and root links of earlier runs that crashed (never
    those of a run whose process is still alive)."""
    for ns in list_namespaces():
        m = NS_RE.match(ns)
        if m and m.group(1) != keep_run and not _run_is_alive(m.group(1)):
            delete_namespace(ns)
    for line in sh("ip", "-o", "link", "show", check=False).splitlines():
        parts = line.split(":")
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        m = LINK_RE.match(name)
        if m and m.group(1) != keep_run and not _run_is_alive(m.group(1)):
            sh("ip", "link", "del", name, check=False)


def _used_third_octets():
    used = set()
    for m in re.finditer(r"inet %s\.(\d+)\." % re.escape(SUBNET_BASE), sh("ip", "-4", "addr", check=False)):
        used.add(int(m.group(1)))
    return used


class Net:
    """n member namespaces on one bridge; partitions between them."""

    def __init__(self, n, run_id=None):
        require_root()
        self.run = run_id or "%x" % (os.getpid() & 0xFFFFFF)
        self.n = n
        self.closed = False
        cleanup_leftovers(keep_run=self.run)
        free = [x for x in range(1, 250) if x not in _used_third_octets()]
        if not free:
            raise NetError("no free %s.X.0/24 subnet" % SUBNET_BASE)
        self.octet = free[(os.getpid() % len(free))]
        self.hub = "%s%s-br" % (PREFIX, self.run)
        self.namespaces = ["%s%s-%d" % (PREFIX, self.run, i) for i in range(n)]
        self.host_link = "tl%sh" % self.run
        self.rules = {}  # member -> list of (chain, peer) currently dropped
        atexit.register(self.close)
        try:
            self._build()
        except Exception:
            self.close()
            raise

    def ip(self, i):
        return "%s.%d.%d" % (SUBNET_BASE, self.octet, i + 1)

    @property
    def host_ip(self):
        return "%s.%d.%d" % (SUBNET_BASE, self.octet, HOST_OCTET)

    def _build(self):
        sh("ip", "netns", "add", self.hub)
        self.nsexec(self.hub, "ip", "link", "set", "lo", "up")
        self.nsexec(self.hub, "ip", "link", "add", "br0", "type", "bridge")
        self.nsexec(self.hub, "ip", "link", "set", "br0", "up")
        hub_side = "tl%sg" % self.run
        sh("ip", "link", "add", self.host_link, "type", "veth", "peer", "name", hub_side)
        sh("ip", "link", "set", hub_side, "netns", self.hub)
        self.nsexec(self.hub, "ip", "link", "set", hub_side, "master", "br0", "up")
        sh("ip", "addr", "add", "%s/24" % self.host_ip, "dev", self.host_link)
        sh("ip", "link", "set", self.host_link, "up")
        for i, ns in enumerate(self.namespaces):
            sh("ip", "netns", "add", ns)
            a, b = "tl%sa%d" % (self.run, i), "tl%sb%d" % (self.run, i)
            sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
            sh("ip", "link", "set", a, "netns", ns)
            sh("ip", "link", "set", b, "netns", self.hub)
            self.nsexec(self.hub, "ip", "link", "set", b, "master", "br0", "up")
            self.nsexec(ns, "ip", "link", "set", "lo", "up")
            self.nsexec(ns, "ip", "link", "set", a, "name", "eth0")
            self.nsexec(ns, "ip", "addr", "add", "%s/24" % self.ip(i), "dev", "eth0")
            self.nsexec(ns, "ip", "link", "set", "eth0", "up")
            self.rules[i] = []

    @staticmethod
    def nsexec(ns, *argv, check=True):
        return sh("ip", "netns", "exec", ns, *argv, check=check)

    def exec_prefix(self, i):
        """argv prefix that runs a program inside member i's namespace (the
        program replaces `ip`, so the child's pid is the program's)."""
        return ["ip", "netns", "exec", self.namespaces[i]]

    # -- partitions ------------------------------------------------------
    def drop_from(self, i, j):
        """Member i stops receiving packets from member j (one way)."""
        if ("INPUT", j) in self.rules[i]:
            return
        self.nsexec(self.namespaces[i], "iptables", "-w", "-A", "INPUT", "-s", self.ip(j), "-j", "DROP")
        self.rules[i].append(("INPUT", j))

    def cut(self, i, j):
        self.drop_from(i, j)
        self.drop_from(j, i)

    def partition(self, groups):
        """Only members sharing a group talk to each other. A member may sit
        in several groups (a bridge); members in no group are isolated."""
        for i in range(self.n):
            for j in range(i + 1, self.n):
                if not any(i in g and j in g for g in groups):
                    self.cut(i, j)

    def heal(self):
        for i, ns in enumerate(self.namespaces):
            if self.rules.get(i):
                self.nsexec(ns, "iptables", "-w", "-F", "INPUT")
                self.rules[i] = []

    # -- latency ---------------------------------------------------------
    def netem_available(self):
        """Whether the kernel has sch_netem (tc netem): probed on member 0's
        loopback, which carries no test traffic, and removed at once."""
        ns = self.namespaces[0]
        r = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem",
                            "delay", "1ms"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            return False
        self.nsexec(ns, "tc", "qdisc", "del", "dev", "lo", "root", check=False)
        return True

    def delay(self, i, ms):
        """Every packet member i sends waits ms milliseconds (tc netem on its
        eth0): a member whose both directions are delayed by d sees 2d of
        round trip to every peer. Replaces an earlier delay of i."""
        self.nsexec(self.namespaces[i], "tc", "qdisc", "replace", "dev", "eth0", "root", "netem",
                    "delay", "%dms" % ms)

    def clear_delay(self, i):
        self.nsexec(self.namespaces[i], "tc", "qdisc", "del", "dev", "eth0", "root", check=False)

    def dropped_pairs(self):
        """(receiver, sender) pairs currently dropped."""
        return sorted((i, j) for i, rs in self.rules.items() for (_, j) in rs)

    # -- teardown --------------------------------------------------------
    def close(self):
        if self.closed:
            return
        self.closed = True
        for ns in self.namespaces + [self.hub]:
            delete_namespace(ns)
        sh("ip", "link", "del", self.host_link, check=False)

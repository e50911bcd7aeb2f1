"""The nemesis: a seeded random schedule of faults against a Cluster.

Faults (names used by --faults and in the nemesis log):
  isolate-primary  the current primary cut off from every other member
  halves           a random minority cut off from the rest
  bridge           two halves sharing one member (3+ members)
  one-way          the primary stops receiving from every other member
                   (it can still send heartbeats: asymmetric links)
  kill             kill -9 of the primary or a random member; restart at heal
  kill-majority    kill -9 of a majority at once; restart at heal
  pause            SIGSTOP of the primary or a random member; SIGCONT at heal
  failpoint        a server fail point on the primary or a random member
                   (configureFailPoint, tallyd started with enableTestCommands):
                   stop fetching, stop applying, refuse heartbeats, or stall
                   the writer's commits; off at heal. Detected at start and
                   skipped when the server has no configureFailPoint
  membership       a priority-changing replSetReconfig during a fault; off
                   unless enabled (reconfig under faults is not yet claimed safe)
Clock faults are not scheduled: tallyd has no fake-clock parameter, and its
replication core orders by (term, timestamp) from a monotonic clock.

Each cycle: a quiet period, one fault held for a while, heal. The first
fault of a run always removes the primary (isolate or kill), so every run
has at least one election. heal_all() restores everything: flushes iptables,
resumes paused members, restarts killed ones.
"""
import random
import threading
import time

DEFAULT_FAULTS = ["isolate-primary", "halves", "bridge", "one-way", "kill", "kill-majority", "pause", "failpoint"]
OPTIONAL_FAULTS = ["membership"]
FAILPOINTS = [  # (name, mode, data) enabled on one member until the heal
    ("stopReplProducer", "alwaysOn", None),
    ("rsSyncApplyStop", "alwaysOn", None),
    ("dropHeartbeats", "alwaysOn", None),
    ("writerBeforeCommit", "alwaysOn", {"delayMs": 300}),
]


class Nemesis:
    def __init__(self, cluster, net, seed, faults=None, hold=(1.0, 4.0), quiet=(1.0, 3.0), membership=False):
        self.cluster = cluster
        self.net = net
        self.rng = random.Random("nemesis-%s" % seed)
        self.faults = list(faults or DEFAULT_FAULTS)
        if membership and "membership" not in self.faults:
            self.faults.append("membership")
        self.hold = hold
        self.quiet = quiet
        self.log = []  # (t, event, detail)
        self.killed = set()
        self.paused = set()
        self.failpoints = set()  # (member, name) currently on
        self.stop_flag = threading.Event()
        self.thread = None
        self.t0 = time.monotonic()
        self.has_failpoints = False
        self.errors = []

    def note(self, event, detail=""):
        self.log.append((round(time.monotonic() - self.t0, 3), event, detail))

    def injected(self):
        return [e for e in self.log if e[1] not in ("heal", "note")]

    # -- capabilities ----------------------------------------------------
    def detect(self):
        """Fail points exist only when tallyd has configureFailPoint and was
        started with enableTestCommands; drop what the server cannot do."""
        reply = self.cluster.command(0, {"configureFailPoint": "tallyFaultSuiteProbe", "mode": "off"})
        self.has_failpoints = reply is not None and reply.get("code") != 59  # 59: CommandNotFound
        if not (self.has_failpoints and FAILPOINTS) and "failpoint" in self.faults:
            self.faults.remove("failpoint")
            self.note("note", "failpoint fault skipped: no configureFailPoint or no fail point to use")

    # -- schedule --------------------------------------------------------
    def start(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_flag.set()
        if self.thread:
            self.thread.join(60)
        self.heal_all()

    def _sleep(self, lo_hi):
        self.stop_flag.wait(self.rng.uniform(*lo_hi))

    def _run(self):
        first = True
        while not self.stop_flag.is_set():
            self._sleep(self.quiet)
            if self.stop_flag.is_set():
                break
            kind = self.rng.choice(["isolate-primary", "kill"]) if first else self.rng.choice(self.faults)
            try:
                applied = self.apply(kind)
            except Exception as e:  # a fault that could not be applied is reported, not fatal
                self.errors.append("%s: %r" % (kind, e))
                applied = False
            if applied:
                first = False
                self._sleep(self.hold)
            try:
                self.heal_all()
            except Exception as e:
                self.errors.append("heal: %r" % (e,))

    def _primary(self):
        ps = self.cluster.primaries()
        return ps[0] if len(ps) == 1 else None

    def _target(self, prefer_primary=0.6):
        p = self._primary()
        up = [i for i in range(len(self.cluster.members)) if i not in self.killed]
        if p is not None and self.rng.random() < prefer_primary:
            return p
        return self.rng.choice(up) if up else None

    def apply(self, kind):
        n = len(self.cluster.members)
        if kind == "isolate-primary":
            p = self._primary()
            if p is None:
                return False
            self.net.partition([[p], [i for i in range(n) if i != p]])
            self.note(kind, "primary m%d isolated" % p)
        elif kind == "halves":
            order = list(range(n))
            self.rng.shuffle(order)
            k = self.rng.randint(1, (n - 1) // 2)
            self.net.partition([order[:k], order[k:]])
            self.note(kind, "%s | %s" % (sorted(order[:k]), sorted(order[k:])))
        elif kind == "bridge":
            if n < 3:
                return False
            order = list(range(n))
            self.rng.shuffle(order)
            mid = n // 2
            a, b = order[:mid + 1], order[mid:]
            self.net.partition([a, b])
            self.note(kind, "%s | %s, m%d in both" % (sorted(a), sorted(b), order[mid]))
        elif kind == "one-way":
            p = self._primary()
            if p is None:
                return False
            for j in range(n):
                if j != p:
                    self.net.drop_from(p, j)
            self.note(kind, "primary m%d receives nothing" % p)
        elif kind == "kill":
            i = self._target()
            if i is None:
                return False
            self.cluster.members[i].kill9()
            self.killed.add(i)
            self.note(kind, "m%d" % i)
        elif kind == "kill-majority":
            victims = self.rng.sample(range(n), n // 2 + 1)
            for i in victims:
                self.cluster.members[i].kill9()
                self.killed.add(i)
            self.note(kind, "%s" % sorted("m%d" % i for i in victims))
        elif kind == "pause":
            i = self._target()
            if i is None:
                return False
            self.cluster.members[i].pause()
            self.paused.add(i)
            self.note(kind, "m%d" % i)
        elif kind == "membership":
            return self._reconfig_priorities()
        elif kind == "failpoint":
            i = self._target(prefer_primary=0.5)
            if i is None:
                return False
            name, mode, data = self.rng.choice(FAILPOINTS)
            cmd = {"configureFailPoint": name, "mode": mode}
            if data:
                cmd["data"] = data
            reply = self.cluster.command(i, cmd)
            if not reply or reply.get("ok") != 1:
                self.note("note", "failpoint %s on m%d refused: %s" % (name, i, reply and reply.get("errmsg")))
                return False
            self.failpoints.add((i, name))
            self.note(kind, "%s on m%d" % (name, i))
        else:
            raise ValueError("unknown fault %r" % kind)
        return True

    def _reconfig_priorities(self):
        p = self._primary()
        if p is None:
            return False
        cfg = self.cluster.command(p, {"replSetGetConfig": 1})
        if not cfg or cfg.get("ok") != 1:
            return False
        conf = cfg["config"]
        conf["version"] = conf["version"] + 1
        for m in conf["members"]:
            m["priority"] = self.rng.choice([1, 2])
        reply = self.cluster.command(p, {"replSetReconfig": conf}, timeout_s=10)
        self.note("membership", "priorities %s -> %s" % ([m["priority"] for m in conf["members"]],
                                                          reply and reply.get("ok")))
        return True

    def heal_all(self):
        did = bool(self.net.dropped_pairs() or self.paused or self.killed or self.failpoints)
        self.net.heal()
        for i, name in sorted(self.failpoints):
            if i not in self.killed and i not in self.paused:
                self.cluster.command(i, {"configureFailPoint": name, "mode": "off"})
        self.failpoints.clear()
        for i in sorted(self.paused):
            self.cluster.members[i].resume()
        self.paused.clear()
        for i in sorted(self.killed):
            self.cluster.members[i].start()
        self.killed.clear()
        if did:
            self.note("heal")

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
  clock            wall-clock skew through the clockOffset fail point: random
                   offsets (-60 s..+60 s) on one or more members, sometimes one
                   member hours ahead or behind, sometimes a primary with a fast
                   clock that is also isolated (the case that broke MongoDB's
                   protocol v0), sometimes "strobing" (the offset flips back and
                   forth every 50-300 ms); cleared at heal. Skipped when the
                   server has no clockOffset point. What it skews: oplog
                   timestamps and wall times, status dates, delayed-apply
                   timing; elections and heartbeats run on monotonic timers
  membership       a priority-changing replSetReconfig during a fault, or a
                   secondary cut off by a partition, removed (replSetReconfig)
                   and added back, during the partition or at the heal
                   (run.py --no-membership leaves it out)

Each cycle: a quiet period, one fault held for a while, heal. The first
fault of a run always removes the primary (isolate or kill), so every run
has at least one election. heal_all() restores everything: flushes iptables,
resumes paused members, restarts killed ones.
"""
import random
import threading
import time

DEFAULT_FAULTS = ["isolate-primary", "halves", "bridge", "one-way", "kill", "kill-majority", "pause", "failpoint",
                  "clock", "membership"]
OPTIONAL_FAULTS = []
FAILPOINTS = [  # (name, mode, data) enabled on one member until the heal
    ("stopReplProducer", "alwaysOn", None),
    ("rsSyncApplyStop", "alwaysOn", None),
    ("dropHeartbeats", "alwaysOn", None),
    ("writerBeforeCommit", "alwaysOn", {"delayMs": 300}),
]


class Nemesis:
    def __init__(self, cluster, net, seed, faults=None, hold=(1.0, 4.0), quiet=(1.0, 3.0), membership=True):
        self.cluster = cluster
        self.net = net
        self.rng = random.Random("nemesis-%s" % seed)
        self.faults = list(faults or DEFAULT_FAULTS)
        if not membership and "membership" in self.faults:
            self.faults.remove("membership")
        self.hold = hold
        self.quiet = quiet
        self.log = []  # (t, event, detail)
        self.killed = set()
        self.paused = set()
        self.failpoints = set()  # (member, name) currently on
        self.strobe_stop = None  # threading.Event of a running clock strobe
        self.pending_readd = None  # config entry of a member removed and not yet added back
        self.strobe_thread = None
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
        if "clock" in self.faults:
            reply = self.has_failpoints and self.cluster.command(0, {"configureFailPoint": "clockOffset",
                                                                     "mode": "off"})
            if not (reply and reply.get("ok") == 1):
                self.faults.remove("clock")
                self.note("note", "clock fault skipped: the server has no clockOffset fail point")

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
            if self.rng.random() < 0.5:
                return self._reconfig_priorities()
            return self._remove_readd_during_partition()
        elif kind == "clock":
            return self._clock()
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

    # -- clock ---------------------------------------------------------
    def _set_clock(self, i, ms):
        reply = self.cluster.command(i, {"configureFailPoint": "clockOffset", "mode": "alwaysOn",
                                         "data": {"ms": int(ms)}})
        if not reply or reply.get("ok") != 1:
            self.note("note", "clockOffset on m%d refused: %s" % (i, reply and reply.get("errmsg")))
            return False
        self.failpoints.add((i, "clockOffset"))
        return True

    def _clock(self):
        n = len(self.cluster.members)
        up = [i for i in range(n) if i not in self.killed]
        if not up:
            return False
        roll = self.rng.random()
        p = self._primary()
        if roll < 0.2 and p is not None:
            # A deposed primary with a fast clock: ordering must come from
            # terms, never from its bigger timestamps. Cut off first, so none
            # of its fast timestamps reaches the others: the new primary's
            # entries all have smaller timestamps than its unreplicated ones.
            ms = self.rng.randint(1, 6) * 3600 * 1000
            self.net.partition([[p], [i for i in range(n) if i != p]])
            shown = "+%ds" % (ms // 1000) if self._set_clock(p, ms) else "(clock refused)"
            self.note("clock", "primary m%d isolated, then %s" % (p, shown))
            return True
        if roll < 0.35:
            i = self.rng.choice(up)
            ms = self.rng.choice([1, -1]) * self.rng.randint(1, 12) * 3600 * 1000
            if not self._set_clock(i, ms):
                return False
            self.note("clock", "m%d %+ds" % (i, ms // 1000))
            return True
        if roll < 0.5:
            i = p if p is not None and self.rng.random() < 0.5 else self.rng.choice(up)
            a, b = self.rng.randint(-60000, 60000), self.rng.randint(-60000, 60000)
            if not self._set_clock(i, a):
                return False
            self._start_strobe(i, a, b)
            self.note("clock", "m%d strobing %+.1fs <-> %+.1fs" % (i, a / 1000.0, b / 1000.0))
            return True
        victims = self.rng.sample(up, self.rng.randint(1, len(up)))
        shown = []
        for i in sorted(victims):
            ms = self.rng.randint(-60000, 60000)
            if self._set_clock(i, ms):
                shown.append("m%d %+.1fs" % (i, ms / 1000.0))
        if not shown:
            return False
        self.note("clock", ", ".join(shown))
        return True

    def _start_strobe(self, i, a, b):
        stop = threading.Event()
        rng = random.Random(self.rng.random())

        def flip():
            cur = a
            while not stop.wait(rng.uniform(0.05, 0.3)):
                cur = b if cur == a else a
                self.cluster.command(i, {"configureFailPoint": "clockOffset", "mode": "alwaysOn",
                                         "data": {"ms": cur}}, timeout_s=1.0)

        self.strobe_stop = stop
        self.strobe_thread = threading.Thread(target=flip, daemon=True)
        self.strobe_thread.start()

    def _stop_strobe(self):
        if self.strobe_stop is not None:
            self.strobe_stop.set()
            self.strobe_thread.join(10)
        self.strobe_stop = self.strobe_thread = None

    # -- membership ------------------------------------------------------
    def _remove_readd_during_partition(self):
        """A secondary cut off by a partition is removed from the config by
        the majority side, then added back: half the time while the
        partition still holds, else at the heal (so it may first learn it
        was removed). It must rejoin and catch up (or resync)."""
        p = self._primary()
        n = len(self.cluster.members)
        if p is None or n < 3:
            return False
        cfg = self.cluster.command(p, {"replSetGetConfig": 1})
        if not cfg or cfg.get("ok") != 1:
            return False
        conf = cfg["config"]
        secondaries = [m for m in conf["members"] if self._index_of(m["host"]) not in (None, p)]
        if len(secondaries) < 2:
            return False
        victim = self.rng.choice(secondaries)
        v = self._index_of(victim["host"])
        self.net.partition([[v], [i for i in range(n) if i != v]])
        conf["version"] += 1
        conf["members"] = [m for m in conf["members"] if m["host"] != victim["host"]]
        r1 = self.cluster.command(p, {"replSetReconfig": conf}, timeout_s=10)
        if not (r1 and r1.get("ok") == 1):
            self.note("membership", "m%d cut off; its removal refused: %s" % (v, r1 and r1.get("errmsg")))
            return True
        self.pending_readd = victim
        when = "at heal"
        if self.rng.random() < 0.5:
            self._sleep((0.5, 1.5))
            when = "during the partition: %s" % self._readd()
        self.note("membership", "m%d cut off and removed; added back %s" % (v, when))
        return True

    def _readd(self, timeout_s=10.0):
        """Adds pending_readd back through the current primary (retrying
        until timeout_s: an election may be under way). "ok" or why not."""
        victim = self.pending_readd
        why = "no primary"
        deadline = time.monotonic() + timeout_s
        while victim is not None and time.monotonic() < deadline:
            p = self._primary()
            cfg = p is not None and self.cluster.command(p, {"replSetGetConfig": 1})
            if cfg and cfg.get("ok") == 1:
                conf = cfg["config"]
                if any(m["host"] == victim["host"] for m in conf["members"]):
                    self.pending_readd = None
                    return "ok (already back)"
                conf["version"] += 1
                conf["members"].append(victim)
                r = self.cluster.command(p, {"replSetReconfig": conf}, timeout_s=10)
                if r and r.get("ok") == 1:
                    self.pending_readd = None
                    return "ok"
                why = r and r.get("errmsg")
            time.sleep(0.3)
        return "failed: %s" % why

    def _index_of(self, host):
        hosts = self.cluster.hosts()
        return hosts.index(host) if host in hosts else None

    def heal_all(self):
        self._stop_strobe()
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
        if self.pending_readd is not None:
            host = self.pending_readd["host"]
            self.note("note", "%s added back at heal: %s" % (host, self._readd(timeout_s=30.0)))
        if did:
            self.note("heal")

"""Helpers for the geography tests: sites made of network namespaces (one per
member, netns.py), a background writer that records what was acknowledged,
and waits for primaries and for convergence.

A site is a list of member indexes. Losing a site cuts its members off from
every member outside it (they still talk among themselves); losing a link
cuts every member of one site off from every member of the other. Clients in
the test process always reach every member (the rules drop member-to-member
traffic only), as a client that sits next to each site would.
"""
import threading
import time

import pymongo
from pymongo.write_concern import WriteConcern

import cluster as cl

DB = "geo"
COLL = "docs"
NO_MAJORITY = "no majority"


class Sites:
    def __init__(self, net, cluster, sites):
        self.net, self.cluster = net, cluster
        self.sites = {name: list(members) for name, members in sites.items()}

    def __getitem__(self, name):
        return self.sites[name]

    def lose(self, name):
        """Site `name` cut off from all the others (its members still see each other)."""
        inside = self.sites[name]
        outside = [i for i in range(self.net.n) if i not in inside]
        self.net.partition([inside, outside])

    def cut_link(self, a, b):
        """Only the link between sites a and b fails; both still see the rest."""
        for i in self.sites[a]:
            for j in self.sites[b]:
                self.net.cut(i, j)

    def kill(self, name):
        for i in self.sites[name]:
            self.cluster.members[i].kill9()

    def restart(self, name):
        for i in self.sites[name]:
            self.cluster.members[i].start()

    def heal(self):
        self.net.heal()


class Writer(threading.Thread):
    """Inserts {_id: "<prefix>-<k>"} one at a time with write concern w and
    records the acknowledged ones with the time of the acknowledgement. Any
    error (no primary, write concern timeout, lost connection) counts as not
    acknowledged: such a write may or may not survive, and nothing is claimed
    about it."""

    def __init__(self, cluster, prefix, w="majority", wtimeout_ms=3000):
        super().__init__(daemon=True)
        self.client = cluster.client(w=w, wtimeoutMS=wtimeout_ms)
        self.coll = self.client[DB][COLL]
        self.prefix = prefix
        self.acked = []  # (monotonic time the insert was sent, time acknowledged, _id)
        self.errors = []  # (monotonic time, error class name, code)
        self.stop_flag = threading.Event()
        self.go = threading.Event()
        self.go.set()
        self.idle = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        k = 0
        while not self.stop_flag.is_set():
            if not self.go.is_set():
                self.idle.set()
                self.go.wait(0.1)
                continue
            self.idle.clear()
            k += 1
            _id = "%s-%d" % (self.prefix, k)
            sent = time.monotonic()
            try:
                self.coll.insert_one({"_id": _id, "k": k})
                with self.lock:
                    self.acked.append((sent, time.monotonic(), _id))
            except pymongo.errors.PyMongoError as e:
                with self.lock:
                    self.errors.append((time.monotonic(), type(e).__name__, getattr(e, "code", None)))
                self.stop_flag.wait(0.1)
            self.stop_flag.wait(0.02)

    def pause(self):
        """Returns once no write is in flight (so the members can converge)."""
        self.go.clear()
        if self.is_alive():
            self.idle.wait(30)

    def resume(self):
        self.idle.clear()
        self.go.set()

    def stop(self):
        self.stop_flag.set()
        self.join(30)
        self.client.close()

    def acked_ids(self):
        with self.lock:
            return [i for _, _, i in self.acked]

    def errors_after(self, t):
        """{(error class, code): count} of the writes that failed after t."""
        out = {}
        with self.lock:
            for at, name, code in self.errors:
                if at > t:
                    out[(name, code)] = out.get((name, code), 0) + 1
        return out

    def wait_acked_after(self, t, n, timeout_s):
        """Seconds from t to the acknowledgement of the n-th write sent after t
        (raises when it does not come)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                after = [at for sent, at, _ in self.acked if sent > t]
            if len(after) >= n:
                return after[n - 1] - t
            time.sleep(0.1)
        with self.lock:
            errs = [e for e in self.errors if e[0] > t][-5:]
        raise cl.ClusterError("%s: fewer than %d acknowledged writes within %.0fs after the fault (last errors %r)"
                              % (self.prefix, n, timeout_s, errs))


def writable(cluster, i):
    h = cluster.command(i, {"hello": 1})
    return bool(h and h.get("isWritablePrimary") is True)


def wait_primary_in(cluster, members, t0, timeout_s, alone=True):
    """Waits for a writable primary among `members` (and, when alone, none
    elsewhere); returns (member, seconds since t0)."""
    def one():
        ps = [i for i in cluster.primaries() if i in members or alone]
        return ps[0] + 1 if len(ps) == 1 and ps[0] in members else None
    what = "a single writable primary among %r%s" % (members, "" if alone else " (others ignored)")
    i = cluster.wait_until(what, one, timeout_s, interval_s=0.1) - 1
    return i, time.monotonic() - t0


def wait_not_writable(cluster, members, t0, timeout_s):
    """Waits until none of `members` says it is a writable primary; seconds since t0."""
    cluster.wait_until("members %r not writable" % (members,),
                       lambda: not any(writable(cluster, i) for i in members), timeout_s, interval_s=0.1)
    return time.monotonic() - t0


def raw_insert(cluster, i, _id, w=None):
    doc = {"insert": COLL, "documents": [{"_id": _id}]}
    if w is not None:
        doc["writeConcern"] = {"w": w, "wtimeout": 2000}
    return cluster.command(i, doc, db=DB, timeout_s=10.0)


def check_no_majority_refusal(cluster, i):
    """Member i, cut off from the majority, refuses a write saying why."""
    r = raw_insert(cluster, i, "refused-%d-%f" % (i, time.time()))
    assert r is not None, "member %d did not answer" % i
    assert r.get("ok") == 0 and r.get("code") == 10107 and r.get("codeName") == "NotWritablePrimary", r
    assert NO_MAJORITY in r.get("errmsg", ""), r


def majority_insert(cluster, _id, wtimeout_ms=2000):
    """One w:"majority" insert through the set; returns None when acknowledged,
    else the write concern error code (or the error's class name)."""
    c = cluster.client(w="majority", wtimeoutMS=wtimeout_ms)
    try:
        c[DB][COLL].insert_one({"_id": _id})
        return None
    except pymongo.errors.WriteConcernError as e:
        return e.code
    except pymongo.errors.PyMongoError as e:
        return type(e).__name__
    finally:
        c.close()


def w1_insert(cluster, _id):
    c = cluster.client()
    try:
        c[DB].get_collection(COLL, write_concern=WriteConcern(w=1)).insert_one({"_id": _id})
        return None
    except pymongo.errors.PyMongoError as e:
        return getattr(e, "code", None) or type(e).__name__
    finally:
        c.close()


def member_docs(cluster, i):
    """Every document of the test collection on member i, sorted by _id (None
    when unreachable)."""
    try:
        client = cluster.direct(i)
        try:
            return sorted(client[DB][COLL].find({}), key=lambda d: str(d["_id"]))
        finally:
            client.close()
    except pymongo.errors.PyMongoError:
        return None


def describe_difference(cluster, data, docs):
    """Which _ids only some members hold, and whether their oplogs name them."""
    ids = [None if d is None else {x["_id"] for x in d} for d in docs]
    every = set.union(*[x for x in ids if x is not None]) if any(x is not None for x in ids) else set()
    out = []
    for i, have in zip(data, ids):
        if have is None:
            out.append("m%d unreachable" % i)
            continue
        extra = sorted(have - set.intersection(*[x for x in ids if x is not None]), key=str)[:6]
        missing = sorted(every - have, key=str)[:6]
        if extra or missing:
            in_oplog = []
            try:
                client = cluster.direct(i)
                try:
                    for _id in extra:
                        e = client.local["oplog.rs"].find_one({"ns": "%s.%s" % (DB, COLL), "o._id": _id})
                        in_oplog.append(None if e is None else (e["ts"].time, e["ts"].inc, e.get("t")))
                finally:
                    client.close()
            except pymongo.errors.PyMongoError:
                pass
            out.append("m%d extra %r (their oplog entries %r) missing %r" % (i, extra, in_oplog, missing))
    return "; ".join(out)


def wait_converged(cluster, timeout_s=60.0):
    """Waits until every data member holds the same documents and the same
    newest oplog entry; returns the documents."""
    data = cluster.data_members()
    seen = {}

    def same():
        tops = []
        for i in data:
            st = cluster.command(i, {"replSetGetStatus": 1})
            if not st or st.get("ok") != 1:
                return None
            tops.append(st["optimes"]["appliedOpTime"])
        if any(t != tops[0] for t in tops):
            seen["why"] = "applied optimes differ: %r" % (tops,)
            return None
        docs = [member_docs(cluster, i) for i in data]
        if any(d is None or d != docs[0] for d in docs):
            seen["why"] = "documents differ at applied optime %r: counts %r; %s" % (
                tops[0], [None if d is None else len(d) for d in docs], describe_difference(cluster, data, docs))
            return None
        return docs[0]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        docs = same()
        if docs is not None:
            return docs
        time.sleep(0.3)
    raise cl.ClusterError("data members %r not converged within %.0fs: %s (states %r)"
                          % (data, timeout_s, seen.get("why"), cluster.states()))


def sample_primaries(cluster, seconds, interval_s=0.2):
    """Polls every member for `seconds`; returns one tuple per poll of the
    (member, term) of each member that says it is a writable primary."""
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen = []
        for i in cluster.primaries():
            st = cluster.command(i, {"replSetGetStatus": 1})
            seen.append((i, st.get("term") if st else None))
        out.append(tuple(seen))
        time.sleep(interval_s)
    return out


def report(label, **numbers):
    """One line per measurement, shown with pytest -s (the docs quote them)."""
    print("geo: %-44s %s" % (label, " ".join("%s=%s" % (k, ("%.2fs" % v) if isinstance(v, float) else v)
                                                for k, v in numbers.items())))

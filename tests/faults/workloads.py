"""Client workloads for the fault suite, run by several threads against the
replica set through pymongo, each recording an op history for checkers.py.

Three workloads share the threads (each op picks one at random):
  registers    keys r<k>: read (readConcern linearizable when the server
               accepts it, else majority), write ($set, upsert) and
               compare-and-set (find_one_and_update filtered on the old
               value), all writes w:"majority"
  set          inserts of unique values (the server assigns _id, so a
               write applied twice shows up as a duplicate), w:"majority"
  list-append  $push of unique values to a<k>, reads of the whole list
Each op records invoke/complete (time.monotonic) and its outcome: ok, fail
(definitely not applied) or info (timeout, network error, interrupted: it may
or may not have been applied). A thread that gets info continues as a new
logical process, as Knossos requires. Keys are retired after a number of ops
so per-key histories stay small enough for the linearizability search.
"""
import random
import threading
import time

import pymongo
from pymongo.errors import (AutoReconnect, ConnectionFailure, NetworkTimeout, OperationFailure,
                            ServerSelectionTimeoutError, WriteConcernError)
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

DB = "faults"
NOT_PRIMARY_CODES = {10107, 13435, 13436}  # refused before doing anything
WTIMEOUT_MS = 3000
KEY_OPS = 120  # register ops per key before a new key replaces it
LIST_OPS = 150


def detect_read_level(client):
    """'linearizable' if the server accepts it for a read, else 'majority'."""
    try:
        client[DB].get_collection("registers", read_concern=ReadConcern("linearizable")).find_one({"_id": "probe"})
        return "linearizable"
    except OperationFailure as e:
        if e.code in (238, 9, 72):  # NotImplemented, FailedToParse, InvalidOptions
            return "majority"
        raise


class KeyRing:
    """K live keys of one family; a key retires after `limit` ops."""

    def __init__(self, prefix, k, limit):
        self.prefix, self.limit = prefix, limit
        self.lock = threading.Lock()
        self.next_id = k
        self.live = list(range(k))
        self.count = {i: 0 for i in self.live}

    def pick(self, rng):
        with self.lock:
            slot = rng.randrange(len(self.live))
            key = self.live[slot]
            self.count[key] += 1
            if self.count[key] >= self.limit:
                self.live[slot] = self.next_id
                self.count[self.next_id] = 0
                self.next_id += 1
            return "%s%d" % (self.prefix, key)


class Workload:
    def __init__(self, cluster, n_threads=6, seed=0, mix=("registers", "set", "list")):
        self.cluster = cluster
        self.n_threads = n_threads
        self.seed = seed
        self.mix = list(mix)
        self.history = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = []
        self.registers = KeyRing("r", 4, KEY_OPS)
        self.lists = KeyRing("a", 3, LIST_OPS)
        self.last_seen = {}  # register key -> a value recently seen (CAS uses it)
        self.next_process = n_threads
        self.read_level = "majority"
        self.t0 = time.monotonic()

    # -- lifecycle -------------------------------------------------------
    def start(self):
        probe = self.cluster.client()
        try:
            self.read_level = detect_read_level(probe)
        finally:
            probe.close()
        for t in range(self.n_threads):
            th = threading.Thread(target=self._run, args=(t,), daemon=True)
            th.start()
            self.threads.append(th)

    def stop(self):
        self.stop_flag.set()
        for th in self.threads:
            th.join(30)

    def _new_process(self):
        with self.lock:
            p = self.next_process
            self.next_process += 1
            return p

    def _record(self, op):
        with self.lock:
            self.history.append(op)

    # -- one thread ------------------------------------------------------
    def _run(self, t):
        rng = random.Random("%s-%d" % (self.seed, t))
        client = self.cluster.client(w="majority", wtimeoutMS=WTIMEOUT_MS, socketTimeoutMS=WTIMEOUT_MS + 2000,
                                     serverSelectionTimeoutMS=2000)
        db = client[DB]
        rc = ReadConcern(self.read_level)
        regs = db.get_collection("registers", read_concern=rc)
        lists = db.get_collection("lists", read_concern=rc)
        process = t
        counter = 0
        try:
            while not self.stop_flag.is_set():
                counter += 1
                unique = t * 10_000_000 + counter
                family = rng.choice(self.mix)
                if family == "registers":
                    op = self._register_op(rng, regs, unique)
                elif family == "set":
                    op = self._set_op(db, unique)
                else:
                    op = self._list_op(rng, lists, unique)
                op["process"] = process
                self._record(op)
                if op["type"] == "info":
                    process = self._new_process()
                if op["type"] != "ok":
                    time.sleep(0.05)  # don't spin while no primary is reachable
        finally:
            client.close()

    def _timed(self, f, key, value, fn, is_write=True):
        op = {"f": f, "key": key, "value": value, "invoke": time.monotonic()}
        try:
            result = fn()
            op["type"] = "ok"
            if result is not None:
                op.update(result)
        except ServerSelectionTimeoutError as e:
            op["type"], op["error"] = "fail", "no server: %s" % str(e)[:80]
        except WriteConcernError as e:
            op["type"], op["error"] = "info", "writeConcernError %s" % e.code
        except OperationFailure as e:
            if not is_write or e.code in NOT_PRIMARY_CODES:
                op["type"] = "fail"
            else:
                op["type"] = "info"
            op["error"] = "code %s: %s" % (e.code, str(e)[:80])
        except (AutoReconnect, NetworkTimeout, ConnectionFailure) as e:
            op["type"], op["error"] = ("info" if is_write else "fail"), type(e).__name__
        op["complete"] = time.monotonic() if op["type"] != "info" else None
        op["end"] = time.monotonic()
        return op

    def _register_op(self, rng, regs, unique):
        key = self.registers.pick(rng)
        roll = rng.random()
        if roll < 0.4:
            def read():
                doc = regs.find_one({"_id": key})
                v = doc.get("v") if doc else None
                self.last_seen[key] = v
                return {"value": v}
            return self._timed("read", key, None, read, is_write=False)
        if roll < 0.7:
            return self._timed("write", key, unique, lambda: regs.update_one(
                {"_id": key}, {"$set": {"v": unique}}, upsert=True) and None)
        old = self.last_seen.get(key)
        op = self._timed("cas", key, [old, unique], lambda: {"matched": regs.find_one_and_update(
            {"_id": key, "v": old}, {"$set": {"v": unique}}) is not None})
        if op["type"] == "ok" and not op.pop("matched"):
            op["type"] = "fail"  # no document held the old value: nothing changed
        op.pop("matched", None)
        if op["type"] == "ok":
            self.last_seen[key] = unique
        return op

    def _set_op(self, db, unique):
        def add():
            reply = db.command("insert", "set", documents=[{"v": unique}],
                               writeConcern={"w": "majority", "wtimeout": WTIMEOUT_MS})
            if reply.get("writeErrors"):
                raise OperationFailure("write error", reply["writeErrors"][0].get("code"))
            if reply.get("writeConcernError"):
                raise WriteConcernError("wce", reply["writeConcernError"].get("code"))
            return None
        return self._timed("add", "set", unique, add)

    def _list_op(self, rng, lists, unique):
        key = self.lists.pick(rng)
        if rng.random() < 0.5:
            def read():
                doc = lists.find_one({"_id": key})
                return {"value": list(doc.get("l", [])) if doc else []}
            return self._timed("read", key, None, read, is_write=False)
        return self._timed("append", key, unique, lambda: lists.update_one(
            {"_id": key}, {"$push": {"l": unique}}, upsert=True) and None)

    # -- results ---------------------------------------------------------
    def split(self):
        """(register ops, set adds, list ops) of the history."""
        regs = [o for o in self.history if o["key"].startswith("r") and o["f"] in ("read", "write", "cas")]
        adds = [o for o in self.history if o["f"] == "add"]
        lists = [o for o in self.history if o["key"].startswith("a") and o["f"] in ("read", "append")]
        return regs, adds, lists

    def counts(self):
        out = {"ok": 0, "fail": 0, "info": 0}
        for o in self.history:
            out[o["type"]] += 1
        return out


def final_state(cluster, primary):
    """After healing: set values on every member (plain reads), and the
    lists read with readConcern majority on the primary."""
    sets = {}
    for i in range(len(cluster.members)):
        c = cluster.direct(i)
        try:
            sets["m%d" % i] = [d["v"] for d in c[DB]["set"].find({}, {"v": 1})]
        finally:
            c.close()
    c = cluster.direct(primary)
    try:
        coll = c[DB].get_collection("lists", read_concern=ReadConcern("majority"))
        lists = {d["_id"]: list(d.get("l", [])) for d in coll.find({})}
    finally:
        c.close()
    return sets, lists


__all__ = ["Workload", "final_state", "detect_read_level", "WriteConcern", "pymongo"]

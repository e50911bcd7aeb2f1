"""Checkers for the fault suite: pure functions over recorded histories,
server logs and final states. Each returns a result dict whose "valid" is
True, False, or "unknown" (never a pass it could not prove), plus the
evidence ("anomalies", counterexample ops).

An op is a dict:
  {"process": p, "f": "read"|"write"|"cas"|"append"|"add", "key": k,
   "value": ..., "type": "ok"|"fail"|"info", "invoke": t0, "complete": t1}
Times are monotonic seconds; an "info" op (timeout, network error, state
change: the outcome is unknown) has complete None and may or may not have
taken effect, at any moment after its invoke. "fail" means it definitely did
not take effect.

Registers: read value = the value read (None when absent); write value = the
new value; cas value = [old, new]. Written values are unique per key, so a
read names the write it observed.
"""
import json
import re

INF = float("inf")
DEFAULT_MAX_STEPS = 2_000_000


# ---------------------------------------------------------------------------
# Registers: Wing & Gong's search with Lowe's cache (as in Porcupine)
# ---------------------------------------------------------------------------
def _register_step(state, op):
    f, v = op["f"], op["value"]
    if f == "read":
        return state == v, state
    if f == "write":
        return True, v
    if f == "cas":
        old, new = v
        if state == old:
            return True, new
        return False, state
    raise ValueError("unknown register op %r" % f)


class _Entry:
    __slots__ = ("op_id", "is_call", "match", "prev", "next", "time")

    def __init__(self, op_id, is_call, t):
        self.op_id, self.is_call, self.time = op_id, is_call, t
        self.match = self.prev = self.next = None


def _build_list(ops):
    events = []
    for i, op in enumerate(ops):
        call = _Entry(i, True, op["invoke"])
        ret = _Entry(i, False, op["complete"] if op["complete"] is not None else INF)
        call.match = ret
        events.append((call.time, 0, i, call))
        events.append((ret.time, 1, i, ret))
    # On equal times calls sort before returns: the ops are treated as
    # concurrent, the permissive reading of an ambiguous clock tie.
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    head = _Entry(-1, False, -INF)
    prev = head
    for _, _, _, ent in events:
        prev.next, ent.prev = ent, prev
        prev = ent
    return head


def _lift(ent):
    ent.prev.next = ent.next
    if ent.next:
        ent.next.prev = ent.prev
    m = ent.match
    m.prev.next = m.next
    if m.next:
        m.next.prev = m.prev


def _unlift(ent):
    m = ent.match
    m.prev.next = m
    if m.next:
        m.next.prev = m
    ent.prev.next = ent
    if ent.next:
        ent.next.prev = ent


def wgl_check(ops, init=None, step=_register_step, max_steps=DEFAULT_MAX_STEPS):
    """Linearizability of one object's history. ops: ok and info ops only
    (drop "fail" ops first). Info ops have an infinite completion: once only
    info ops remain unlinearized, the rest may simply never have happened.
    Returns (True|False|"unknown", steps, longest linearized prefix)."""
    if not ops:
        return True, 0, []
    head = _build_list(ops)
    is_info = [op["complete"] is None for op in ops]
    state, lin = init, 0
    stack = []
    cache = set()
    best = []
    steps = 0
    ent = head.next
    while head.next is not None:
        steps += 1
        if steps > max_steps:
            return "unknown", steps, best
        if ent.is_call:
            ok, new_state = step(state, ops[ent.op_id])
            if ok:
                new_lin = lin | (1 << ent.op_id)
                key = (new_lin, _freeze(new_state))
                if key not in cache:
                    cache.add(key)
                    stack.append((ent, state))
                    if len(stack) > len(best):
                        best = [e.op_id for e, _ in stack]
                    state, lin = new_state, new_lin
                    _lift(ent)
                    ent = head.next
                    continue
            ent = ent.next
        else:
            if is_info[ent.op_id]:
                return True, steps, best
            if not stack:
                return False, steps, best
            ent, state = stack.pop()
            lin &= ~(1 << ent.op_id)
            _unlift(ent)
            ent = ent.next
    return True, steps, best


def _freeze(v):
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    return v


def check_registers(history, read_level="linearizable", max_steps=DEFAULT_MAX_STEPS, init=None):
    """Per-key linearizability of read/write/cas ops.

    read_level "linearizable": every ok read takes part in the search.
    read_level "majority": a majority read may be stale (a deposed primary
    still serves its last committed snapshot), so reads are not part of the
    search; what is checked for them: the value read was written by an op
    invoked before the read completed and not definitely failed (no reads
    from the future, of garbage or of failed writes), and a write some read
    observed must have happened (an info write that was read is required,
    with its completion bounded by the read's). Writes and successful CAS,
    which run on a primary and are acknowledged only once majority-committed,
    are checked for linearizability among themselves."""
    by_key = {}
    for op in history:
        if op["f"] in ("read", "write", "cas"):
            by_key.setdefault(op["key"], []).append(op)
    results = {}
    valid = True
    for key, ops in sorted(by_key.items(), key=lambda kv: str(kv[0])):
        res = _check_register_key(ops, read_level, max_steps, init)
        results[key] = res
        if res["valid"] is False:
            valid = False
        elif res["valid"] == "unknown" and valid is True:
            valid = "unknown"
    return {"valid": valid, "keys": results,
            "anomalies": ["key %s: %s" % (k, r["why"]) for k, r in results.items() if r["valid"] is False],
            "unknown_keys": [k for k, r in results.items() if r["valid"] == "unknown"]}


def _written_value(op):
    return op["value"][1] if op["f"] == "cas" else op["value"]


def _check_register_key(ops, read_level, max_steps, init):
    writers = {}
    for op in ops:
        if op["f"] in ("write", "cas") and op["type"] != "fail":
            writers.setdefault(_freeze(_written_value(op)), []).append(op)
    reads = [op for op in ops if op["f"] == "read" and op["type"] == "ok"]
    bound = {}  # id(writer op) -> earliest completion of a read that saw it
    for r in reads:
        v = _freeze(r["value"])
        if v == _freeze(init):
            continue
        cands = [w for w in writers.get(v, []) if w["invoke"] <= r["complete"]]
        if not cands:
            return {"valid": False, "why": "read %r at %.3f-%.3f by process %s: no write of that value was "
                    "invoked before the read completed" % (r["value"], r["invoke"], r["complete"], r["process"]),
                    "op": r}
        if len(cands) == 1:
            w = cands[0]
            bound[id(w)] = min(bound.get(id(w), INF), r["complete"])
    search = []
    for op in ops:
        if op["type"] == "fail":
            continue
        if op["f"] == "read" and (op["type"] != "ok" or read_level != "linearizable"):
            continue
        if op["type"] == "info" and id(op) in bound:
            op = dict(op, complete=bound[id(op)], type="ok")
        search.append(op)
    ok, steps, best = wgl_check(search, init=init, max_steps=max_steps)
    res = {"valid": ok, "steps": steps, "ops": len(search)}
    if ok is False:
        linearized = set(best)
        pending = [search[i] for i in range(len(search)) if i not in linearized]
        pending.sort(key=lambda o: o["complete"] if o["complete"] is not None else INF)
        res["why"] = ("no linearization; longest prefix has %d of %d ops, then stuck before %s"
                      % (len(best), len(search), _fmt(pending[0]) if pending else "?"))
        res["prefix"] = [_fmt(search[i]) for i in best[-8:]]
    elif ok == "unknown":
        res["why"] = "search bound of %d steps reached (unknown: too big)" % max_steps
    return res


def _fmt(op):
    c = op["complete"]
    return "%s %s %s=%r [%.3f, %s] p%s" % (op["type"], op["f"], op["key"], op["value"], op["invoke"],
                                           "inf" if c is None else "%.3f" % c, op["process"])


# ---------------------------------------------------------------------------
# Durable set
# ---------------------------------------------------------------------------
def check_set(adds, final_reads):
    """adds: ops with f "add" and a unique value. final_reads: {member name:
    list of values read there after healing} (a value listed twice is a
    duplicate). Every ok add must be on every member; no member may hold a
    value never attempted, or one whose add definitely failed."""
    attempted = {}
    for op in adds:
        attempted[_freeze(op["value"])] = op["type"]
    ok_values = {v for v, t in attempted.items() if t == "ok"}
    anomalies = []
    counts = {"ok": len(ok_values), "info": sum(1 for t in attempted.values() if t == "info"),
              "fail": sum(1 for t in attempted.values() if t == "fail")}
    info_present = set()
    for member, values in sorted(final_reads.items()):
        seen = {}
        for v in values:
            fv = _freeze(v)
            seen[fv] = seen.get(fv, 0) + 1
        lost = sorted(ok_values - set(seen), key=str)
        if lost:
            anomalies.append("%s: %d acknowledged adds lost, e.g. %s" % (member, len(lost), lost[:10]))
        dups = sorted((v for v, c in seen.items() if c > 1), key=str)
        if dups:
            anomalies.append("%s: %d values present more than once, e.g. %s" % (member, len(dups), dups[:10]))
        unexpected = sorted((v for v in seen if attempted.get(v) in (None, "fail")), key=str)
        if unexpected:
            anomalies.append("%s: %d values never attempted or definitely failed, e.g. %s"
                             % (member, len(unexpected), unexpected[:10]))
        info_present |= {v for v in seen if attempted.get(v) == "info"}
    counts["info_present"] = len(info_present)
    return {"valid": not anomalies, "anomalies": anomalies, "counts": counts}


# ---------------------------------------------------------------------------
# List append
# ---------------------------------------------------------------------------
def check_list_append(history, final, read_level="linearizable"):
    """history: append ops (value = the appended unique value) and read ops
    (value = the list read), per key; final: {key: list after healing}.
    Checks: no duplicates anywhere; every ok append is in the final list; no
    value that was never appended or whose append failed; every read is a
    prefix of the final list (one total order). With linearizable reads, a
    read also sees every append acknowledged before it was invoked and at
    least what any read that completed before it saw (real-time order)."""
    anomalies = []
    keys = set(final) | {op["key"] for op in history}
    for key in sorted(keys, key=str):
        ops = [op for op in history if op["key"] == key]
        fin = final.get(key, [])
        appends = {op["value"]: op for op in ops if op["f"] == "append"}
        if len(set(fin)) != len(fin):
            dup = sorted({v for v in fin if fin.count(v) > 1}, key=str)
            anomalies.append("key %s: duplicate values in the final list: %s" % (key, dup[:10]))
        for v in fin:
            if v not in appends or appends[v]["type"] == "fail":
                anomalies.append("key %s: final list holds %r, never appended or definitely failed" % (key, v))
        fin_set = set(fin)
        for v, op in appends.items():
            if op["type"] == "ok" and v not in fin_set:
                anomalies.append("key %s: acknowledged append %r lost (final list has %d values)"
                                 % (key, v, len(fin)))
        reads = [op for op in ops if op["f"] == "read" and op["type"] == "ok"]
        for r in reads:
            lst = r["value"] or []
            if len(set(lst)) != len(lst):
                anomalies.append("key %s: read by p%s has duplicates: %r" % (key, r["process"], lst))
            if lst != fin[:len(lst)]:
                anomalies.append("key %s: read %r by p%s at %.3f is not a prefix of the final list %r"
                                 % (key, lst, r["process"], r["invoke"], fin[:len(lst) + 2]))
        if read_level != "linearizable":
            continue
        acked = sorted((op for op in appends.values() if op["type"] == "ok"), key=lambda o: o["complete"])
        done_reads = sorted(reads, key=lambda o: o["complete"])
        for r in reads:
            got = set(r["value"] or [])
            for a in acked:
                if a["complete"] >= r["invoke"]:
                    break
                if a["value"] not in got:
                    anomalies.append("key %s: read by p%s invoked at %.3f misses %r, acknowledged at %.3f"
                                     % (key, r["process"], r["invoke"], a["value"], a["complete"]))
                    break
            for r0 in done_reads:
                if r0["complete"] >= r["invoke"]:
                    break
                if len(r0["value"] or []) > len(r["value"] or []):
                    anomalies.append("key %s: read by p%s at %.3f saw %d values, fewer than the %d of a read "
                                     "that completed at %.3f" % (key, r["process"], r["invoke"],
                                                                 len(r["value"] or []), len(r0["value"]),
                                                                 r0["complete"]))
                    break
    return {"valid": not anomalies, "anomalies": anomalies}


# ---------------------------------------------------------------------------
# Election safety from tallyd's JSON logs
# ---------------------------------------------------------------------------
_TERM_PATTERNS = [
    re.compile(r"won the election for term (\d+)"),
    re.compile(r"adopting term (\d+) >"),
    re.compile(r"standing in term (\d+)"),
    re.compile(r"replica set member of '[^']*' as \S+: term (-?\d+)"),
]
_TO_PRIMARY = re.compile(r"REPL: \w+ -> PRIMARY\b")
_VOTE = re.compile(r"real vote for (\S+) in term (\d+): granted")


def _log_messages(text):
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        msg = doc.get("msg")
        if isinstance(msg, str):
            yield msg


def check_elections(logs):
    """logs: {member name: log text (every start, in order)}. Each PRIMARY
    transition is attributed the member's current term (the last term its log
    named); two members primary in one term, or one member granting its real
    vote to two candidates in one term, is an anomaly. Returns also the
    terms in which someone became primary (the elections seen)."""
    primaries = {}  # term -> set of members
    votes = {}  # (member, term) -> set of candidates
    anomalies = []
    for member, text in sorted(logs.items()):
        term = None
        for msg in _log_messages(text):
            for pat in _TERM_PATTERNS:
                m = pat.search(msg)
                if m:
                    term = int(m.group(1))
                    break
            if _TO_PRIMARY.search(msg):
                if term is None:
                    anomalies.append("%s became PRIMARY with no known term" % member)
                else:
                    primaries.setdefault(term, set()).add(member)
            m = _VOTE.search(msg)
            if m:
                votes.setdefault((member, int(m.group(2))), set()).add(m.group(1))
    for term, who in sorted(primaries.items()):
        if len(who) > 1:
            anomalies.append("term %d had %d primaries: %s" % (term, len(who), sorted(who)))
    for (member, term), cands in sorted(votes.items()):
        if len(cands) > 1:
            anomalies.append("%s voted for %s in term %d" % (member, sorted(cands), term))
    return {"valid": not anomalies, "anomalies": anomalies, "primary_terms": sorted(primaries),
            "primaries": {t: sorted(w) for t, w in primaries.items()}}


# ---------------------------------------------------------------------------
# Convergence after healing
# ---------------------------------------------------------------------------
def check_convergence(states):
    """states: {member name: {"oplog": [(ts, t), ...] in order, "data": hash}}.
    All members must hold the same data hash and the same oplog entries over
    the range every member still holds (the oldest entries may have been
    truncated on some members)."""
    anomalies = []
    names = sorted(states)
    if not names:
        return {"valid": False, "anomalies": ["no member state to compare"]}
    ref = names[0]
    for n in names[1:]:
        if states[n]["data"] != states[ref]["data"]:
            anomalies.append("data of %s differs from %s" % (n, ref))
    starts = [states[n]["oplog"][0] for n in names if states[n]["oplog"]]
    if len(starts) != len(names):
        anomalies.append("some member has an empty oplog")
    else:
        common = max(starts)
        suffixes = {n: [e for e in states[n]["oplog"] if e >= common] for n in names}
        for n in names[1:]:
            a, b = suffixes[ref], suffixes[n]
            if a != b:
                k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                anomalies.append("oplog of %s differs from %s at entry %d of the common range: %r vs %r "
                                 "(lengths %d, %d)" % (n, ref, k, a[k] if k < len(a) else None,
                                                       b[k] if k < len(b) else None, len(a), len(b)))
    return {"valid": not anomalies, "anomalies": anomalies}

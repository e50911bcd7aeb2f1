#!/usr/bin/python3
"""Randomised fault runs with real tallyd processes (needs root).

  run.py --runs N --seconds S --seed X [--members 3] [--faults a,b] [--no-membership] [--keep]

Each run: a fresh 3-member set in network namespaces, client threads running
the workloads, the nemesis injecting faults for S seconds, then a heal
period (all faults removed, processes restarted), final reads and the
checkers. Per run it prints the seed, the faults injected, the elections
seen, ops ok/failed/indeterminate and every anomaly. A run with no election
or too few ok ops is VACUOUS and counts as failed. Exit status is non-zero
if any run failed. The last line is "faults: N passed, N failed".

The seed of run k is "<X>-<k>": a run is replayed with --seed X --first k
--runs 1. Without --seed the seed comes from $FAULT_SEED, else the commit.
A failed run keeps its data directories and logs (path printed).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bson  # noqa: E402
import checkers  # noqa: E402
import cluster as cl  # noqa: E402
import netns  # noqa: E402
import nemesis as nm  # noqa: E402
import workloads as wl  # noqa: E402

MIN_OK_OPS = 200
CONVERGE_S = 30.0
HEAL_S = 45.0


def default_seed():
    if os.environ.get("FAULT_SEED"):
        return os.environ["FAULT_SEED"]
    try:
        return subprocess.run(["git", "-C", cl.ROOT, "rev-parse", "--short=12", "HEAD"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "0"


def member_state(c, i):
    """(oplog (ts, t) list, hash of every document of the test database)."""
    client = c.direct(i)
    try:
        oplog = [((e["ts"].time, e["ts"].inc), e.get("t")) for e in
                 client.local["oplog.rs"].find({}, {"ts": 1, "t": 1}).sort("$natural", 1)]
        h = hashlib.sha256()
        db = client[wl.DB]
        for name in sorted(db.list_collection_names()):
            h.update(name.encode())
            for d in db[name].find({}).sort("_id", 1):
                h.update(bson.BSON.encode(d))
        return {"oplog": oplog, "data": h.hexdigest()}
    finally:
        client.close()


def wait_converged(c):
    deadline = time.monotonic() + CONVERGE_S
    last = None
    while time.monotonic() < deadline:
        try:
            states = {"m%d" % i: member_state(c, i) for i in range(len(c.members))}
            last = checkers.check_convergence(states)
            if last["valid"]:
                return last
        except Exception as e:  # a member still recovering: try again
            last = {"valid": False, "anomalies": ["reading member state: %r" % (e,)]}
        time.sleep(0.5)
    last["anomalies"] = ["not converged within %.0fs after healing: " % CONVERGE_S + a for a in last["anomalies"]]
    return last


def sanitizer_reports(c):
    out = []
    for m in c.members:
        for f in sorted(os.listdir(m.dir)):
            if f.startswith("stderr."):
                with open(os.path.join(m.dir, f), errors="replace") as fh:
                    text = fh.read()
                for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer", "Assertion",
                               "FATAL"):
                    if marker in text:
                        out.append("m%d %s: %s" % (m.i, f, marker))
    return out


def one_run(seed, seconds, n_members, faults, threads, membership, keep, mix=("registers", "set", "list")):
    t_start = time.monotonic()
    net = netns.Net(n_members)
    c = cl.Cluster(net)
    report = {"seed": seed, "anomalies": [], "workdir": c.workdir}
    work = nem = None
    try:
        c.up()
        nem = nm.Nemesis(c, net, seed, faults=faults, membership=membership)
        nem.detect()
        work = wl.Workload(c, n_threads=threads, seed=seed, mix=mix)
        work.start()
        nem.start()
        time.sleep(seconds)
        nem.stop()
        # Heal period: everything back; writers keep going until a primary
        # and all secondaries are back, so the final state includes them.
        try:
            c.wait_primary(HEAL_S)
            c.wait_until("all members PRIMARY or SECONDARY",
                         lambda: all(s in (cl.PRIMARY, cl.SECONDARY) for s in c.states()), HEAL_S)
        except cl.ClusterError as e:
            report["anomalies"].append("no healthy set after healing: %s" % e)
        work.stop()
        for m in c.members:
            if not m.check_alive():
                report["anomalies"].append("m%d exited by itself: %s" % (m.i, m.exit_codes))
        report["read_level"] = work.read_level
        report["ops"] = work.counts()
        report["faults"] = [e for e in nem.injected()]
        report["nemesis_errors"] = nem.errors
        regs, adds, lists = work.split()
        if not report["anomalies"]:
            conv = wait_converged(c)
            report["anomalies"] += conv["anomalies"]
            p = c.wait_primary(HEAL_S)
            sets, finals = wl.final_state(c, p)
            r = checkers.check_registers(regs, read_level=work.read_level)
            report["anomalies"] += ["registers: " + a for a in r["anomalies"]]
            if r["unknown_keys"]:
                report["unknown"] = "registers too big to check: %s" % r["unknown_keys"]
            s = checkers.check_set(adds, sets)
            report["set"] = s["counts"]
            report["anomalies"] += ["set: " + a for a in s["anomalies"]]
            la = checkers.check_list_append(lists, finals, read_level=work.read_level)
            report["anomalies"] += ["list: " + a for a in la["anomalies"][:20]]
        el = checkers.check_elections({"m%d" % m.i: m.logs() for m in c.members})
        report["anomalies"] += ["elections: " + a for a in el["anomalies"]]
        report["elections"] = max(0, len(el["primary_terms"]) - 1)
        report["anomalies"] += ["sanitizer/assert: " + a for a in sanitizer_reports(c)]
        vac = []
        if report["elections"] < 1:
            vac.append("no election after the first")
        if report["ops"]["ok"] < MIN_OK_OPS:
            vac.append("only %d ok ops (< %d)" % (report["ops"]["ok"], MIN_OK_OPS))
        if not report["faults"]:
            vac.append("no fault applied")
        report["vacuous"] = vac
    except Exception:
        report["anomalies"].append("harness error: " + traceback.format_exc().strip().splitlines()[-1])
        report["traceback"] = traceback.format_exc()
    finally:
        if work is not None:
            work.stop()
        if nem is not None:
            try:
                nem.stop()
            except Exception:
                pass
        failed = bool(report["anomalies"] or report.get("vacuous"))
        report["failed"] = failed
        if failed or keep:
            with open(os.path.join(c.workdir, "history.json"), "w") as f:
                json.dump({"history": work.history if work else [], "nemesis": nem.log if nem else [],
                           "report": {k: v for k, v in report.items() if k != "traceback"}}, f, default=str)
        c.cleanup(keep_files=failed or keep)
        net.close()
        report["seconds"] = round(time.monotonic() - t_start, 1)
    return report


def print_report(k, r):
    ops = r.get("ops", {})
    verdict = "FAIL" if r["anomalies"] else ("VACUOUS" if r.get("vacuous") else "ok")
    print("run %d seed %s: %s  (%.0fs)" % (k, r["seed"], verdict, r["seconds"]))
    print("  faults: %d injected: %s" % (len(r.get("faults", [])),
                                         ", ".join("%s(%s)" % (e[1], e[2]) for e in r.get("faults", []))))
    print("  elections: %s   ops ok %d, failed %d, indeterminate %d   reads: %s   set: %s"
          % (r.get("elections"), ops.get("ok", 0), ops.get("fail", 0), ops.get("info", 0),
             r.get("read_level"), r.get("set")))
    for v in r.get("vacuous", []):
        print("  VACUOUS: %s" % v)
    for a in r["anomalies"]:
        print("  ANOMALY: %s" % a)
    if r.get("unknown"):
        print("  note: %s" % r["unknown"])
    for e in r.get("nemesis_errors", []):
        print("  nemesis error: %s" % e)
    if r.get("traceback"):
        print(r["traceback"])
    if r["failed"]:
        print("  kept: %s" % r["workdir"])
    sys.stdout.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=45)
    ap.add_argument("--seed", default=None)
    ap.add_argument("--first", type=int, default=0, help="index of the first run (to replay run k)")
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--threads", type=int, default=6)
    ap.add_argument("--faults", default=None, help="comma-separated subset of: " +
                    ", ".join(nm.DEFAULT_FAULTS + nm.OPTIONAL_FAULTS))
    ap.add_argument("--workloads", default="registers,set,list", help="comma-separated subset of: registers, set, list")
    ap.add_argument("--no-membership", dest="membership", action="store_false",
                    help="leave membership changes (reconfigs during faults) out of the mix")
    ap.add_argument("--membership", dest="membership", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--keep", action="store_true", help="keep data directories of passing runs too")
    ap.add_argument("--json", default=None, help="write every run's report to this file")
    args = ap.parse_args(argv)
    netns.require_root()
    if not os.path.exists(cl.tallyd_binary()):
        sys.exit("no server binary at %s (run make bin/tallyd)" % cl.tallyd_binary())
    seed = args.seed or default_seed()
    faults = args.faults.split(",") if args.faults else None
    print("fault suite: %d runs x %.0fs, seed %s, binary %s" % (args.runs, args.seconds, seed, cl.tallyd_binary()))
    passed = failed = 0
    reports = []
    for k in range(args.first, args.first + args.runs):
        r = one_run("%s-%d" % (seed, k), args.seconds, args.members, faults, args.threads, args.membership,
                    args.keep, mix=args.workloads.split(","))
        print_report(k, r)
        reports.append(r)
        if r["failed"]:
            failed += 1
        else:
            passed += 1
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{k: v for k, v in r.items() if k != "traceback"} for r in reports], f, default=str, indent=1)
    print("faults: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The real-process suite catches a deliberately broken server: a tallyd
built with TALLY_MUTATION_ACK_BEFORE_MAJORITY acknowledges w:"majority"
writes as soon as the primary has them (w:1). Isolating the primary under
an insert load (fixed seed) must then show lost acknowledged writes; the same
scenario against the real build must pass. Needs root, like run.py."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster as cl  # noqa: E402
import run  # noqa: E402

MUTANT_BUILD = "build/mutant-ack"


def build_mutant():
    subprocess.run(["make", "-s", "BUILD=" + MUTANT_BUILD, "CFLAGS=-DTALLY_MUTATION_ACK_BEFORE_MAJORITY",
                    MUTANT_BUILD + "/tallyd"], cwd=cl.ROOT, check=True)
    return os.path.join(cl.ROOT, MUTANT_BUILD, "tallyd")


def scenario(seed):
    return run.one_run(seed, seconds=10, n_members=3, faults=["isolate-primary"], threads=6, membership=False,
                       keep=False, mix=("set",))


def test_acknowledging_majority_before_replication_loses_writes_and_the_suite_says_so(monkeypatch):
    monkeypatch.setenv("TALLYD", build_mutant())
    r = scenario("mutant-ack")
    run.print_report(0, r)
    assert r["failed"]
    assert any(a.startswith("set:") and "acknowledged adds lost" in a for a in r["anomalies"]), r["anomalies"]


def test_the_same_partition_scenario_loses_nothing_on_the_real_build():
    # The control claims exactly what the mutant breaks (no acknowledged add
    # lost, one primary per term); run.py's runs check everything else.
    assert os.path.exists(cl.tallyd_binary()), "build bin/tallyd first"
    r = scenario("mutant-ack")
    run.print_report(0, r)
    assert "set" in r, r["anomalies"]
    bad = [a for a in r["anomalies"] if a.startswith(("set:", "elections:", "harness"))]
    assert not bad, bad

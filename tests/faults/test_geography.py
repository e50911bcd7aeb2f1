"""Geographic layouts on one machine: network namespaces stand in for sites
(one namespace per member, iptables rules between them, netns.py), real
tallyd processes with fast timers (heartbeat 200 ms, election timeout 1 s)
and pymongo clients. Needs root, ip and iptables; fails loudly without them.

1. Three sites, one member each (priorities 2/1/1): the preferred site is cut
   off, the other two elect a primary and keep taking w:"majority" writes,
   the cut-off member is read-only and says why; after the heal it catches up
   and takes the primary role back; no acknowledged majority write is lost.
2. Five members in 2 + 2 + 1 (two main sites and a tie-breaker site), the
   tie-breaker an arbiter or a priority-0 data member: lose site A (cut off),
   lose site B (kill -9 of both), lose only the A-B link; heal after each and
   check convergence (identical data on every data member).
3. Latency between sites with tc netem, when the kernel has sch_netem.

Each step prints its measured times ("geo: ..." lines, pytest -s).
"""
import os
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster as cl  # noqa: E402
import geo_help as gh  # noqa: E402
import netns  # noqa: E402

# A new primary after a site is lost, and the cut-off primary read-only:
# about one election timeout (1 s) with three sites, but about
# heartbeatTimeoutSecs (10 s, not shortened here) in the 2 + 2 + 1 layouts,
# where the tie-breaker and the primary's site peer still count the lost
# site as up until its heartbeats time out. Generous: two cores are shared.
ELECT_S = 30.0
STEPDOWN_S = 30.0
FAILBACK_S = 30.0   # the preferred site takes the primary role back (priority takeover)
CONVERGE_S = 60.0   # generous: a diverged member may wait before it rolls back


@pytest.fixture
def geo():
    """Builds a set on namespaces; tears everything down whatever happens."""
    made = []

    def make(n, member_options):
        net = netns.Net(n)
        made.append(net)
        c = cl.Cluster(net, workdir=tempfile.mkdtemp(prefix="tally-geo-"), member_options=member_options)
        made.append(c)
        c.up()
        return net, c
    yield make
    for obj in reversed(made):
        if isinstance(obj, cl.Cluster):
            obj.cleanup()
        else:
            obj.close()


def assert_all_present(docs, writers):
    have = {d["_id"] for d in docs}
    for w in writers:
        lost = [i for i in w.acked_ids() if i not in have]
        assert not lost, "%s: acknowledged w:majority writes lost: %r" % (w.prefix, lost[:20])


def converge(c, w):
    """Identical data on every data member, checked with the writer paused."""
    w.pause()
    try:
        return gh.wait_converged(c, CONVERGE_S)
    finally:
        w.resume()


def wait_preferred(c, members, timeout_s=30.0):
    return gh.wait_primary_in(c, members, time.monotonic(), timeout_s)[0]


# -- 1. three sites, one member each ------------------------------------------

THREE_SITES = {0: {"priority": 2, "tags": {"site": "A"}},
               1: {"priority": 1, "tags": {"site": "B"}},
               2: {"priority": 1, "tags": {"site": "C"}}}


def run_three(geo, latency_ms=0):
    net, c = geo(3, THREE_SITES)
    label = "3 sites" + (", %d ms netem per member" % latency_ms if latency_ms else "")
    if latency_ms:
        for i in range(3):
            net.delay(i, latency_ms)
    sites = gh.Sites(net, c, {"A": [0], "B": [1], "C": [2]})
    assert wait_preferred(c, sites["A"]) == 0
    term0 = c.terms()[0]
    w = gh.Writer(c, "three")
    w.start()
    try:
        w.wait_acked_after(time.monotonic(), 20, 15)

        t0 = time.monotonic()
        sites.lose("A")
        cut = time.monotonic()  # writes sent before every rule was in place may still complete on A
        new, t_elect = gh.wait_primary_in(c, sites["B"] + sites["C"], t0, ELECT_S, alone=False)
        t_down = gh.wait_not_writable(c, sites["A"], t0, STEPDOWN_S)
        t_write = w.wait_acked_after(cut, 1, ELECT_S) + (cut - t0)
        w.wait_acked_after(t0, 20, 30)
        gh.check_no_majority_refusal(c, 0)
        st = c.command(0, {"replSetGetStatus": 1})
        assert st["myState"] == cl.SECONDARY, st
        gh.report(label + ", A cut off", new_primary="m%d" % new, elected=t_elect, a_read_only=t_down,
                  majority_writes_resume=t_write, writer_errors=w.errors_after(t0))

        t1 = time.monotonic()
        sites.heal()
        back, t_back = gh.wait_primary_in(c, sites["A"], t1, FAILBACK_S)
        assert back == 0
        w.wait_acked_after(time.monotonic(), 10, 30)
        gh.report(label + ", heal", failback_to_A=t_back)
    finally:
        w.stop()
    docs = gh.wait_converged(c, CONVERGE_S)
    assert_all_present(docs, [w])
    # Two elections at least: B or C won one, then A took the role back.
    assert c.terms()[0] >= term0 + 2, c.terms()
    assert c.primaries() == [0]


def test_three_sites_survive_the_loss_of_the_preferred_site_and_fail_back_to_it(geo):
    run_three(geo)


# -- 2. five members: two main sites and a tie-breaker --------------------------

def five_members(tie_breaker):
    """A: m0 m1 (preferred, priority 2), B: m2 m3 (priority 1), C: m4, an
    arbiter or a priority-0 data member."""
    opts = {0: {"priority": 2, "tags": {"site": "A"}}, 1: {"priority": 2, "tags": {"site": "A"}},
            2: {"priority": 1, "tags": {"site": "B"}}, 3: {"priority": 1, "tags": {"site": "B"}}}
    opts[4] = {"arbiterOnly": True} if tie_breaker == "arbiter" else {"priority": 0, "tags": {"site": "C"}}
    return opts


def majority_outcome(c, label):
    """A w:"majority" write and a w:1 write through the set: None when
    acknowledged, else the error code."""
    stamp = "%s-%d" % (label, time.monotonic_ns())
    return gh.majority_insert(c, "maj-" + stamp), gh.w1_insert(c, "w1-" + stamp)


def check_majority(c, arbiter, label, want_ok_without_arbiter=True):
    """With the arbiter as the fifth member, a main site down leaves 2 of the
    4 data-bearing voters: a voting majority (3 of 5 votes with the arbiter)
    but not the write majority (3 data-bearing voters), so w:"majority" times
    out (64) while w:1 goes on. With a data member in C, 3 data-bearing voters
    remain and w:"majority" goes on."""
    # Retried for a while: a new primary's first majority write waits for
    # the others to catch up, and a client may need a moment to find it.
    want = 64 if arbiter or not want_ok_without_arbiter else None
    deadline = time.monotonic() + 40
    while True:
        maj, w1 = majority_outcome(c, label)
        if (w1 is None and maj == want) or time.monotonic() > deadline:
            break
    assert w1 is None, "%s: w:1 write failed: %r" % (label, w1)
    assert maj == want, "%s: w:majority gave %r, expected %s" % (label, maj, "a timeout (64)" if want else "success")
    return "ok" if maj is None else "timeout(%s)" % maj


def run_five(geo, tie_breaker):
    arbiter = tie_breaker == "arbiter"
    net, c = geo(5, five_members(tie_breaker))
    sites = gh.Sites(net, c, {"A": [0, 1], "B": [2, 3], "C": [4]})
    wait_preferred(c, sites["A"])
    p = c.primaries()[0]
    st = c.command(p, {"replSetGetStatus": 1})
    assert st["majorityVoteCount"] == 3 and st["writeMajorityCount"] == 3, st
    w = gh.Writer(c, "five-" + tie_breaker)
    w.start()
    try:
        w.wait_acked_after(time.monotonic(), 20, 15)

        # Site A lost (cut off): B + C hold 3 of 5 votes and elect in B.
        t0 = time.monotonic()
        sites.lose("A")
        new, t_elect = gh.wait_primary_in(c, sites["B"], t0, ELECT_S, alone=False)
        t_down = gh.wait_not_writable(c, sites["A"], t0, STEPDOWN_S)
        gh.wait_primary_in(c, sites["B"], t0, ELECT_S)
        for i in sites["A"]:
            gh.check_no_majority_refusal(c, i)
        maj = check_majority(c, arbiter, "lose-A")
        gh.report("2+2+1 %s, site A cut off" % tie_breaker, new_primary="m%d" % new, elected=t_elect,
                  a_read_only=t_down, w_majority=maj)
        t1 = time.monotonic()
        sites.heal()
        back, t_back = gh.wait_primary_in(c, sites["A"], t1, FAILBACK_S)
        converge(c, w)
        gh.report("2+2+1 %s, heal" % tie_breaker, failback_to_A=t_back)

        # Site B lost (kill -9 of both): the primary in A keeps its role (A + C = 3 votes).
        t0 = time.monotonic()
        sites.kill("B")
        seen = gh.sample_primaries(c, 3.0)
        assert all([i for i, _ in ps] == [back] for ps in seen), seen
        maj = check_majority(c, arbiter, "lose-B")
        gh.report("2+2+1 %s, site B killed" % tie_breaker, primary_kept="m%d" % back, w_majority=maj)
        sites.restart("B")
        converge(c, w)

        # Only the A-B link lost: both sites still see C.
        before = gh.sample_primaries(c, 0.1)[0]
        assert len(before) == 1 and before[0][0] in sites["A"], before
        before = list(before)
        sites.cut_link("A", "B")
        seen = gh.sample_primaries(c, 8.0)
        # Two members may both say "primary" only in different terms (the old
        # one has not yet heard of the new term): never two in one term.
        for ps in seen:
            terms = [t for _, t in ps]
            assert len(terms) == len(set(terms)), seen
        changes = sum(1 for a, b in zip(seen, seen[1:]) if a != b)
        if arbiter:
            # The arbiter sees the primary in A and vetoes every candidate of
            # B (digest 7): the primary stays where it was, in the same term.
            assert all(list(ps) == before for ps in seen), seen
            # B cannot replicate (its only path to A went through C, which
            # holds no data): A's two members are short of the write majority.
            maj = check_majority(c, arbiter, "cut-AB", want_ok_without_arbiter=False)
        else:
            # A data member in C votes for whichever side asks when it is as
            # fresh; nothing vetoes, so the primary may move between A and B
            # while the link is down. Majority writes go through C.
            maj = check_majority(c, arbiter, "cut-AB")
        terms_seen = sorted({t for ps in seen for _, t in ps})
        gh.report("2+2+1 %s, A-B link cut" % tie_breaker, before=before, primary_changes=changes,
                  terms_seen=terms_seen, w_majority=maj)
        t1 = time.monotonic()
        sites.heal()
        gh.wait_primary_in(c, sites["A"], t1, FAILBACK_S)
    finally:
        w.stop()
    docs = gh.wait_converged(c, CONVERGE_S)
    assert_all_present(docs, [w])
    return c


def test_two_sites_and_an_arbiter_keep_a_primary_when_either_site_is_lost(geo):
    run_five(geo, "arbiter")


def test_two_sites_and_a_priority_zero_data_member_keep_majority_writes_when_either_site_is_lost(geo):
    run_five(geo, "data")


# -- 3. latency between sites ----------------------------------------------------

def test_three_sites_with_30ms_of_latency_per_member_still_fail_over_and_fail_back(geo):
    probe = netns.Net(1)
    try:
        have_netem = probe.netem_available()
    finally:
        probe.close()
    if not have_netem:
        pytest.skip("this kernel has no sch_netem (tc netem): latency between sites not emulated")
    run_three(geo, latency_ms=30)

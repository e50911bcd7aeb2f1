"""A capped oplog for real: too-stale members, resync, and joining a set
whose oplog was trimmed.

Every set here runs with --oplogSize 1 (1 MB) and takes several MB of
writes, so each member trims its oplog (docs/replication.md "Oplog size").
A secondary stopped (SIGSTOP, or killed) meanwhile finds, once back, that no
member holds its newest entry any more: it goes RECOVERING with tooStale:
true and an infoMessage asking for a resync; `tally resync` (or the admin
command {resync: 1}) copies a snapshot and brings it back SECONDARY with data
identical to the primary's. A member added after the trim copies a snapshot
too (the oplog replay from the first entry could not work any more) and ends
with identical data."""
import os
import subprocess

import pytest

from conftest import ROOT, SECONDARY
from members_help import member_entry, reconfig
from stale_help import (data_hash, fill, newly_added_ids, oplog_first_ts, start_member, stored_config,
                        wait_caught_up)

RECOVERING = 3
CAPPED = ["--oplogSize", "1"]
TALLY = os.environ.get("TALLY", os.path.join(ROOT, "bin", "tally"))


def applied_ts(rs, i):
    return rs.status(i)["optimes"]["appliedOpTime"]["ts"]


def wait_trimmed_past(rs, ts, members, timeout_s=90):
    """Every member in members holds no entry at or before ts any more."""
    def past():
        for i in members:
            first = oplog_first_ts(rs.direct(i))
            if first is None or first <= ts:
                return False
        return True
    rs.wait_until("oplogs trimmed past %r" % (ts,), past, timeout_s, interval_s=0.5)


def wait_too_stale(rs, i, timeout_s=60):
    def stale():
        s = rs.try_command(i, {"replSetGetStatus": 1}, timeout_s=2)
        return s is not None and s.get("myState") == RECOVERING and s.get("tooStale") is True
    rs.wait_until("member %d is too stale" % i, stale, timeout_s)
    return rs.status(i)


@pytest.fixture
def capped(replset):
    rs = replset(3, extra_args=CAPPED)
    c = rs.client()
    fill(c, 1, coll="before", w=3)
    return rs


def test_a_paused_secondary_goes_too_stale_and_tally_resync_brings_it_back(capped):
    rs = capped
    p = rs.wait_primary()
    s = (p + 1) % 3
    last = applied_ts(rs, s)
    rs.pause(s)
    c = rs.client()
    fill(c, 6)
    others = [i for i in range(3) if i != s]
    wait_trimmed_past(rs, last, others)
    rs.resume(s)
    st = wait_too_stale(rs, s)
    assert "resync" in st["infoMessage"], st
    assert "too stale to catch up" in rs.members[s].log_text()
    # Stale is stable: it stays RECOVERING, it does not fetch around the gap.
    fill(c, 1, coll="while_stale")
    st = rs.status(s)
    assert st["myState"] == RECOVERING and st.get("tooStale") is True, st

    out = subprocess.run([TALLY, "resync", "--host", rs.host(s), "--timeout", "150"], capture_output=True,
                         text=True, timeout=200)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SECONDARY again" in out.stdout
    wait_caught_up(rs, s)
    assert "tooStale" not in rs.status(s)
    assert data_hash(rs.direct(s)) == data_hash(rs.direct(p))
    # Replication goes on from the copy.
    c.stale.after.insert_one({"_id": 1})
    rs.wait_converged("stale", "after", [1])


def test_a_secondary_restarted_after_the_oplog_rolled_is_too_stale_until_resynced(capped):
    rs = capped
    p = rs.wait_primary()
    s = (p + 2) % 3
    last = applied_ts(rs, s)
    rs.kill9(s)
    c = rs.client()
    fill(c, 6)
    wait_trimmed_past(rs, last, [i for i in range(3) if i != s])
    rs.members[s].start()
    wait_too_stale(rs, s)
    # The primary sees it RECOVERING; the set's majority does not need it.
    rs.wait_until("primary sees RECOVERING", lambda: rs.status(p)["members"][s]["state"] == RECOVERING, 30)
    r = rs.command(s, {"resync": 1})
    assert r.get("ok") == 1, r
    wait_caught_up(rs, s)
    assert "Restarting (re-exec)" in rs.members[s].log_text()
    assert data_hash(rs.direct(s)) == data_hash(rs.direct(p))


def test_a_member_added_after_the_oplog_was_trimmed_copies_a_snapshot(capped):
    rs = capped
    p = rs.wait_primary()
    c = rs.client()
    last_before = c.local.oplog.rs.find_one({"ns": "stale.before"}, sort=[("$natural", -1)])["ts"]
    fill(c, 6)
    # The set's first writes are gone from every oplog.
    wait_trimmed_past(rs, last_before, range(3))
    assert c.local.oplog.rs.find_one({"ns": "stale.before"}) is None
    new = start_member(rs, CAPPED)
    r = reconfig(rs, p, lambda cfg: cfg["members"].append(member_entry(rs, new, 3)))
    assert r.get("ok") == 1, r
    wait_caught_up(rs, new)
    assert "the copy replaced the data files" in rs.members[new].log_text()
    assert data_hash(rs.direct(new)) == data_hash(rs.direct(p))
    assert rs.direct(new).stale.before.count_documents({}) == c.stale.before.count_documents({}) > 0
    # Once SECONDARY it votes (the primary cleared newlyAdded).
    rs.wait_until("newlyAdded cleared", lambda: newly_added_ids(stored_config(rs, p)) == [], 60)
    assert rs.status(p)["votingMembersCount"] == 4
    c.stale.after.insert_one({"_id": 1})
    rs.wait_converged("stale", "after", [1])

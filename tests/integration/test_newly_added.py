"""newlyAdded: a voter added by replSetReconfig does not count until it has data.

The primary stores a voting member added by rs.add/replSetReconfig with
`newlyAdded: true` (in local.system.replset and in the config heartbeats
carry; replSetGetConfig hides it, as mongod does): it counts as votes 0,
priority 0, so the majority of a 3-member set stays 2 of 3 while the 4th
member initial-syncs. Here the new member is held before its copy
(stopReplProducer) and one original secondary is killed: majority writes go
on with 2 of the 3 real voters, which 2 of 4 could not do. Once the member is
SECONDARY the primary clears the flag by a reconfig of its own (version + 1);
from then on it votes, which an election among the 3 survivors shows."""
import pymongo
import pytest
from pymongo import WriteConcern

from conftest import PRIMARY, SECONDARY
from members_help import current_config, member_entry, reconfig
from stale_help import (TEST_ARGS, data_hash, fill, newly_added_ids, start_member, stored_config,
                        wait_caught_up)

STARTUP2 = 5


def add(rs, p, i, _id, **opts):
    r = reconfig(rs, p, lambda cfg: cfg["members"].append(member_entry(rs, i, _id, **opts)))
    assert r.get("ok") == 1, r


def hold(rs, i, on):
    r = rs.command(i, {"configureFailPoint": "stopReplProducer", "mode": "alwaysOn" if on else "off"})
    assert r.get("ok") == 1, r


def flag_gone(rs, p, _id):
    def gone():
        try:
            return _id not in newly_added_ids(stored_config(rs, p))
        except pymongo.errors.PyMongoError:
            return False
    rs.wait_until("primary clears newlyAdded of member %d" % _id, gone, 60)


@pytest.fixture
def held(replset):
    """A 3-member set with ~3 MB, and a 4th member added while held before
    its initial sync (STARTUP2, flagged newlyAdded)."""
    rs = replset(3)
    p = rs.wait_primary()
    c = rs.client()
    fill(c, 3, w="majority")
    new = start_member(rs, TEST_ARGS)
    hold(rs, new, True)
    version = current_config(rs, p)["version"]
    add(rs, p, new, 3)
    rs.wait_state(new, STARTUP2, 30)
    rs.wait_until("the primary hears the new member in STARTUP2",
                  lambda: rs.status(p)["members"][3]["state"] == STARTUP2, 30)
    return {"rs": rs, "p": p, "new": new, "version": version + 1}


def test_the_stored_config_flags_the_new_voter_and_user_views_hide_it(held):
    rs, p, new = held["rs"], held["p"], held["new"]
    stored = stored_config(rs, p)
    assert stored["version"] == held["version"]
    assert newly_added_ids(stored) == [3]
    m = stored["members"][3]
    assert m["votes"] == 1 and m["priority"] == 1, m
    # replSetGetConfig (rs.conf()) shows the member as configured, without the flag.
    cfg = current_config(rs, p)
    assert "newlyAdded" not in cfg["members"][3] and cfg["members"][3]["votes"] == 1, cfg
    # The set counts 3 voters; the new member is a passive, shown normally in rs.status().
    st = rs.status(p)
    assert st["votingMembersCount"] == 3 and st["majorityVoteCount"] == 2 and st["writeMajorityCount"] == 2, st
    assert st["members"][3]["name"] == rs.host(new) and st["members"][3]["stateStr"] == "STARTUP2"
    h = rs.hello(p)
    assert rs.host(new) in h.get("passives", []) and rs.host(new) not in h["hosts"], h
    # The new member learnt the flagged config by heartbeat.
    assert newly_added_ids(stored_config(rs, new)) == [3]
    # A user reconfig of something else keeps the flag the user never saw.
    r = reconfig(rs, p, lambda c: c["members"][1].update(priority=0.5))
    assert r.get("ok") == 1, r
    stored = stored_config(rs, p)
    assert newly_added_ids(stored) == [3] and stored["members"][1]["priority"] == 0.5
    # A flag supplied by a user is refused.
    cfg = current_config(rs, p)
    cfg["members"][3]["newlyAdded"] = True
    cfg["version"] += 1
    r = rs.command(p, {"replSetReconfig": cfg})
    assert r["ok"] == 0 and r["code"] == 93 and "newlyAdded" in r["errmsg"], r


def test_majority_writes_go_on_with_a_secondary_dead_while_the_new_member_syncs(held):
    rs, p, new = held["rs"], held["p"], held["new"]
    dead = [i for i in range(3) if i != p][0]
    rs.kill9(dead)
    c = rs.client()
    # 2 of the 3 real voters hold the write: a majority, because the
    # syncing member does not count (2 of 4 would not be).
    r = c.nl.docs.with_options(write_concern=WriteConcern(w="majority", wtimeout=10000)).insert_one({"_id": 1})
    assert r.acknowledged
    assert rs.primaries() == [p]
    st = rs.status(p)
    assert st["votingMembersCount"] == 3 and st["myState"] == PRIMARY, st
    assert st["members"][new]["state"] == STARTUP2

    # Let it copy: once SECONDARY the primary clears the flag (version + 1).
    hold(rs, new, False)
    wait_caught_up(rs, new)
    flag_gone(rs, p, 3)
    stored = stored_config(rs, p)
    assert stored["version"] >= held["version"] + 1 and stored["members"][3]["votes"] == 1
    assert stored["members"][3]["priority"] == 1
    st = rs.status(p)
    assert st["votingMembersCount"] == 4 and st["majorityVoteCount"] == 3, st
    assert "removing its newlyAdded flag" in rs.members[p].log_text()
    # 3 of 4 voters are alive: majority writes need the new member now, and get it.
    c.nl.docs.with_options(write_concern=WriteConcern(w="majority", wtimeout=10000)).insert_one({"_id": 2})
    assert data_hash(rs.direct(new)) == data_hash(rs.direct(p))

    # It votes: with one of 4 voters dead, a new primary needs all 3 survivors.
    rs.wait_until("every survivor has the new config",
                  lambda: all(newly_added_ids(stored_config(rs, i)) == [] for i in range(len(rs.members))
                              if i != dead), 30)
    r = rs.command(p, {"replSetStepDown": 10, "secondaryCatchUpPeriodSecs": 5}, timeout_s=30)
    assert r.get("ok") == 1, r
    q = rs.wait_primary(30, exclude=(p,))
    assert q != dead
    st = rs.status(q)
    assert st["electionCandidateMetrics"]["numVotesNeeded"] == 3, st


def test_an_arbiter_or_a_non_voter_is_never_flagged(replset):
    rs = replset(3)
    p = rs.wait_primary()
    nv = start_member(rs)
    add(rs, p, nv, 3, votes=0, priority=0)
    arb = start_member(rs)
    add(rs, p, arb, 4, arbiterOnly=True)
    stored = stored_config(rs, p)
    assert newly_added_ids(stored) == [], stored
    rs.wait_state(arb, 7, 30)
    wait_caught_up(rs, nv)
    assert rs.status(p)["votingMembersCount"] == 4


def test_two_voters_at_once_are_still_refused(held):
    rs, p = held["rs"], held["p"]
    a, b = start_member(rs), start_member(rs)

    def add_two(cfg):
        cfg["members"] += [member_entry(rs, a, 4), member_entry(rs, b, 5)]
    r = reconfig(rs, p, add_two)
    assert r["ok"] == 0 and r["code"] == 103 and "at most 1 voting member" in r["errmsg"], r
    # One more voter while another is still flagged is one change: accepted, and flagged too.
    add(rs, p, a, 4)
    assert sorted(newly_added_ids(stored_config(rs, p))) == [3, 4]
    st = rs.status(p)
    assert st["votingMembersCount"] == 3, st

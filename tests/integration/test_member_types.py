"""Every member type, with real processes: priority 0, hidden, delayed,
arbiter, non-voting, tags and custom write concern modes, and the limits
of a config.

The shared five-member set `mixed` has three voters and two non-voters:
  0: priority 2, tags {dc: east}      (the preferred primary)
  1: priority 1, tags {dc: west}
  2: priority 0, tags {dc: east}      (votes, never elected)
  3: hidden, votes 0                  (not in hello host lists)
  4: votes 0, tags {dc: west}         (replicates, serves reads, no vote)
with settings.getLastErrorModes {twoDCs: {dc: 2}}. Tests that kill members
of it run last in this file and restart what they kill.
"""
import time

import pymongo
import pytest
from pymongo.read_preferences import Secondary
from pymongo.write_concern import WriteConcern

from conftest import FAST_SETTINGS, SECONDARY, ReplSet

ARBITER = 7

MIXED_MEMBERS = [
    {"priority": 2, "tags": {"dc": "east"}},
    {"priority": 1, "tags": {"dc": "west"}},
    {"priority": 0, "tags": {"dc": "east"}},
    {"hidden": True, "priority": 0, "votes": 0},
    {"priority": 0, "votes": 0, "tags": {"dc": "west"}},
]


@pytest.fixture(scope="module")
def mixed():
    settings = dict(FAST_SETTINGS, getLastErrorModes={"twoDCs": {"dc": 2}})
    rs = ReplSet(n=5, settings=settings, members=MIXED_MEMBERS)
    try:
        rs.up(timeout_s=30)
        # Priority takeover makes member 0 primary once it is caught up.
        rs.wait_until("member 0 is primary", lambda: rs.primaries() == [0], 30)
        yield rs
    finally:
        rs.cleanup()


def wc_coll(rs, db, **wc):
    c = rs.client()
    return c[db].get_collection("docs", write_concern=WriteConcern(**wc))


# -- hello and status --------------------------------------------------------
def test_hello_lists_electable_members_as_hosts_priority_zero_as_passives_and_hides_hidden(mixed):
    h = mixed.hello(0)
    assert sorted(h["hosts"]) == sorted([mixed.host(0), mixed.host(1)]), h
    assert sorted(h["passives"]) == sorted([mixed.host(2), mixed.host(4)]), h
    assert "arbiters" not in h
    assert mixed.host(3) not in h["hosts"] + h["passives"]
    assert h["tags"] == {"dc": "east"} and "passive" not in h and "hidden" not in h


def test_hello_on_each_member_describes_its_own_type(mixed):
    h2 = mixed.hello(2)
    assert h2["passive"] is True and h2["tags"] == {"dc": "east"} and h2["secondary"] is True, h2
    h3 = mixed.hello(3)
    assert h3["hidden"] is True and h3["passive"] is True and h3["secondary"] is True, h3
    assert mixed.host(3) not in h3["hosts"] + h3.get("passives", [])
    h4 = mixed.hello(4)
    assert h4["passive"] is True and h4["tags"] == {"dc": "west"}, h4


def test_status_and_config_show_every_member_including_the_hidden_one(mixed):
    st = mixed.status(0)
    assert [m["name"] for m in st["members"]] == mixed.hosts()
    assert st["votingMembersCount"] == 3 and st["majorityVoteCount"] == 2 and st["writeMajorityCount"] == 2, st
    states = {m["name"]: m["state"] for m in st["members"]}
    assert states[mixed.host(3)] == SECONDARY
    cfg = mixed.command(0, {"replSetGetConfig": 1})["config"]
    m3 = cfg["members"][3]
    assert m3["hidden"] is True and m3["priority"] == 0 and m3["votes"] == 0, m3


# -- replication and write concern -------------------------------------------
def test_every_data_member_replicates_and_counts_for_w_n(mixed):
    coll = wc_coll(mixed, "types_wn", w=5, wtimeout=20000)
    coll.insert_many([{"_id": i} for i in range(5)])
    for i in range(5):
        assert mixed.ids_on(i, "types_wn", "docs") == list(range(5)), i


def test_w_greater_than_the_number_of_data_members_is_unsatisfiable(mixed):
    r = mixed.command(0, {"insert": "docs", "documents": [{"_id": 1}], "writeConcern": {"w": 6}},
                      db="types_w6")
    wce = r.get("writeConcernError") or {}
    assert r.get("code") == 100 or wce.get("code") == 100, r


def test_a_custom_mode_waits_for_two_distinct_dc_values(mixed):
    coll = wc_coll(mixed, "types_mode", w="twoDCs", wtimeout=20000)
    coll.insert_one({"_id": 1})
    # A west member holds it: 1 or 4.
    held = [i for i in (1, 4) if mixed.ids_on(i, "types_mode", "docs") == [1]]
    assert held, "no west member has the write acknowledged with w:twoDCs"


def test_an_unknown_write_concern_mode_fails_with_UnknownReplWriteConcern_79(mixed):
    r = mixed.command(0, {"insert": "docs", "documents": [{"_id": 1}], "writeConcern": {"w": "threeDCs"}},
                      db="types_mode79")
    wce = r.get("writeConcernError") or {}
    code = r.get("code") or wce.get("code")
    name = r.get("codeName") or wce.get("codeName")
    assert code == 79 and name == "UnknownReplWriteConcern", r
    assert "threeDCs" in (r.get("errmsg") or wce.get("errmsg")), r


def test_a_read_with_a_tag_set_reaches_a_tagged_secondary(mixed):
    c = mixed.client()
    c.admin.command("ping")
    for tag, allowed in (("west", {1, 4}), ("east", {2})):
        seen = set()
        for _ in range(6):
            h = c.admin.command("isMaster", read_preference=Secondary(tag_sets=[{"dc": tag}]))
            seen.add(mixed.index_of(h["me"]))
        assert seen and seen <= allowed, (tag, seen)
    # A tag no member carries selects nothing.
    c2 = mixed.client(serverSelectionTimeoutMS=1500)
    with pytest.raises(pymongo.errors.ServerSelectionTimeoutError):
        c2.admin.command("isMaster", read_preference=Secondary(tag_sets=[{"dc": "north"}]))


# -- elections -------------------------------------------------------------------
def test_priority_zero_hidden_and_non_voting_members_refuse_replSetStepUp(mixed):
    for i in (2, 3, 4):
        r = mixed.command(i, {"replSetStepUp": 1}, timeout_s=10)
        assert r["ok"] == 0, (i, r)
    time.sleep(1.0)
    assert mixed.primaries() == [0]


def test_non_voters_do_not_count_two_of_three_voters_elect_and_one_alone_steps_down(mixed):
    """Kills the primary (voters 1 and 2 remain: 1 wins, 2 never does), then
    voter 2 too: member 1 hears only non-voters and steps down."""
    mixed.kill9(0)
    try:
        p = mixed.wait_primary(timeout_s=20)
        assert p == 1, p
        coll = wc_coll(mixed, "types_nv", w="majority", wtimeout=20000)
        coll.insert_one({"_id": 1})
        mixed.kill9(2)
        try:
            mixed.wait_until("member 1 steps down without a majority of voters",
                             lambda: mixed.hello(1).get("isWritablePrimary") is False, 20)
            time.sleep(2.0)
            assert mixed.primaries() == []
        finally:
            mixed.restart(2)
    finally:
        mixed.restart(0)
    mixed.wait_until("member 0 is primary again", lambda: mixed.primaries() == [0], 40)


def test_majority_counts_voters_only_so_it_times_out_with_only_non_voters_up(mixed):
    mixed.wait_all_secondaries(30)
    # Pause the two voting secondaries: the primary keeps office for an
    # election timeout, long enough to show that majority waits for voters.
    coll = wc_coll(mixed, "types_maj", w=5, wtimeout=20000)
    coll.insert_one({"_id": 0})
    mixed.pause(1)
    mixed.pause(2)
    try:
        r = mixed.command(0, {"insert": "docs", "documents": [{"_id": 1}],
                              "writeConcern": {"w": "majority", "wtimeout": 500}}, db="types_maj")
        assert r["ok"] == 1 and r["writeConcernError"]["code"] == 64, r
        # The non-voters do hold the earlier write: they are up, yet not enough.
        assert mixed.ids_on(3, "types_maj", "docs")[:1] == [0]
        assert mixed.ids_on(4, "types_maj", "docs")[:1] == [0]
    finally:
        mixed.resume(1)
        mixed.resume(2)
    mixed.wait_until("member 0 is primary again", lambda: mixed.primaries() == [0], 40)


# -- arbiters (primary-secondary-arbiter) --------------------------------------
@pytest.fixture(scope="module")
def psa():
    rs = ReplSet(n=3, members=[{}, {}, {"arbiterOnly": True}])
    try:
        rs.start()
        rs.initiate()
        rs.wait_primary(20)
        rs.wait_until("member 2 is ARBITER", lambda: rs.states()[2] == ARBITER, 20)
        yield rs
    finally:
        rs.cleanup()


def test_an_arbiter_is_in_state_ARBITER_and_hello_lists_it_under_arbiters(psa):
    h = psa.hello(2)
    assert h["arbiterOnly"] is True and h["secondary"] is False and h["isWritablePrimary"] is False, h
    assert "lastWrite" not in h
    hp = psa.hello(psa.primaries()[0])
    assert hp["arbiters"] == [psa.host(2)] and psa.host(2) not in hp["hosts"], hp
    st = psa.status(0)
    m = st["members"][2]
    assert m["stateStr"] == "ARBITER" and "lastAppliedWallTime" not in m, m
    assert st["writeMajorityCount"] == 2 and st["majorityVoteCount"] == 2


def test_an_arbiter_holds_no_data_and_refuses_reads(psa):
    p = psa.primaries()[0]
    c = psa.client()
    c.arb.docs.with_options(write_concern=WriteConcern(w=2, wtimeout=10000)).insert_many(
        [{"_id": i} for i in range(3)])
    time.sleep(1.0)
    r = psa.command(2, {"find": "docs", "$readPreference": {"mode": "secondaryPreferred"}}, db="arb")
    assert r["ok"] == 0 and r["code"] == 13436 and r["codeName"] == "NotPrimaryOrSecondary", r
    # Nothing was fetched into its oplog, and it has no user database.
    r = psa.command(2, {"find": "oplog.rs", "filter": {"ns": "arb.docs"}}, db="local")
    assert r["ok"] == 1 and r["cursor"]["firstBatch"] == [], r
    r = psa.command(2, {"listDatabases": 1, "nameOnly": True})
    names = [d["name"] for d in r.get("databases", [])]
    assert "arb" not in names, r
    r = psa.command(2, {"insert": "docs", "documents": [{"_id": 9}]}, db="arb")
    assert r["ok"] == 0 and r["code"] == 10107, r
    assert psa.ids_on(p, "arb", "docs") == [0, 1, 2]


def test_an_arbiter_refuses_replSetStepUp(psa):
    r = psa.command(2, {"replSetStepUp": 1}, timeout_s=10)
    assert r["ok"] == 0, r


def test_psa_with_the_secondary_down_keeps_a_primary_majority_times_out_and_the_default_w1_succeeds(psa):
    p = psa.primaries()[0]
    s = 1 - p
    psa.kill9(s)
    try:
        time.sleep(3.0)  # several election timeouts: P + A still hold a majority
        assert psa.primaries() == [p]
        r = psa.command(p, {"insert": "docs", "documents": [{"_id": "m"}],
                            "writeConcern": {"w": "majority", "wtimeout": 1000}}, db="psa")
        assert r["ok"] == 1 and r["n"] == 1, r
        wce = r["writeConcernError"]
        assert wce["code"] == 64 and wce["errInfo"]["wtimeout"] is True, r
        t0 = time.monotonic()
        r = psa.command(p, {"insert": "docs", "documents": [{"_id": "d"}]}, db="psa")
        assert r["ok"] == 1 and r["n"] == 1 and "writeConcernError" not in r, r
        assert time.monotonic() - t0 < 3.0
    finally:
        psa.restart(s)
    psa.wait_until("the secondary is back", lambda: psa.states()[s] == SECONDARY, 30)
    psa.wait_until("the secondary catches up", lambda: psa.ids_on(s, "psa", "docs") == ["d", "m"], 30)
    assert psa.ids_on(p, "psa", "docs") == ["d", "m"]


def test_psa_with_the_primary_down_elects_the_secondary_never_the_arbiter(psa):
    p = psa.primaries()[0]
    s = 1 - p
    psa.kill9(p)
    try:
        assert psa.wait_primary(20) == s
        assert psa.states()[2] == ARBITER
    finally:
        psa.restart(p)
    psa.wait_until("the old primary is a secondary", lambda: psa.states()[p] == SECONDARY, 30)


# -- delayed members -------------------------------------------------------------
DELAY_S = 6


@pytest.fixture(scope="module")
def delayed():
    rs = ReplSet(n=3, members=[{"priority": 2}, {},
                               {"priority": 0, "hidden": True, "secondaryDelaySecs": DELAY_S}])
    try:
        rs.up(timeout_s=30)
        rs.wait_until("member 0 is primary", lambda: rs.primaries() == [0], 30)
        yield rs
    finally:
        rs.cleanup()


def test_a_delayed_member_applies_each_entry_only_when_it_is_delay_old(delayed):
    c = delayed.client()
    t0 = time.monotonic()
    c.dl.docs.with_options(write_concern=WriteConcern(w=2, wtimeout=10000)).insert_one({"_id": 1})
    time.sleep(1.0)
    assert delayed.ids_on(2, "dl", "docs") == []
    # Heartbeats go on meanwhile: the primary sees it healthy, it answers at once.
    st = delayed.status(0)
    assert st["members"][2]["health"] == 1 and st["members"][2]["state"] == SECONDARY, st
    # Hidden but voting: it counts for elections and is in no host list.
    assert st["votingMembersCount"] == 3 and st["writeMajorityCount"] == 2, st
    h = delayed.hello(0)
    assert delayed.host(2) not in h["hosts"] + h.get("passives", []), h
    assert delayed.hello(2)["secondaryDelaySecs"] == DELAY_S
    delayed.wait_until("the delayed member applies the insert",
                       lambda: delayed.ids_on(2, "dl", "docs") == [1], DELAY_S + 20, 0.2)
    assert time.monotonic() - t0 >= DELAY_S - 1.0


def test_a_dropped_collection_can_be_read_back_from_the_delayed_member_within_the_delay(delayed):
    c = delayed.client()
    coll = c.dl2.docs.with_options(write_concern=WriteConcern(w=2, wtimeout=10000))
    coll.insert_many([{"_id": i} for i in range(4)])
    delayed.wait_until("the delayed member has the documents",
                       lambda: delayed.ids_on(2, "dl2", "docs") == [0, 1, 2, 3], DELAY_S + 20, 0.2)
    c.dl2.docs.drop()
    delayed.wait_until("the drop reaches the undelayed secondary",
                       lambda: delayed.ids_on(1, "dl2", "docs") == [], 10, 0.1)
    assert delayed.ids_on(2, "dl2", "docs") == [0, 1, 2, 3]
    delayed.wait_until("the drop reaches the delayed member",
                       lambda: delayed.ids_on(2, "dl2", "docs") == [], DELAY_S + 20, 0.2)


def test_w_all_waits_for_the_delayed_member_but_majority_does_not(delayed):
    c = delayed.client()
    t0 = time.monotonic()
    c.dl3.docs.with_options(write_concern=WriteConcern(w="majority", wtimeout=10000)).insert_one({"_id": 1})
    assert time.monotonic() - t0 < DELAY_S - 1.0
    t0 = time.monotonic()
    c.dl3.docs.with_options(write_concern=WriteConcern(w=3, wtimeout=30000)).insert_one({"_id": 2})
    assert time.monotonic() - t0 >= DELAY_S - 1.5


# -- limits ------------------------------------------------------------------------
def limit_cases(me, other):
    base = lambda members, **kw: dict({"_id": "rs0", "version": 1, "members": members}, **kw)
    many = [{"_id": 0, "host": me}] + [{"_id": i, "host": "127.0.0.1:%d" % (20000 + i), "votes": 0,
                                        "priority": 0} for i in range(1, 51)]
    return [
        (base(many), ["50"]),
        (base([{"_id": 0, "host": me, "priority": -1}]), ["priority", "1000"]),
        (base([{"_id": 0, "host": me, "priority": 1000.5}]), ["priority", "1000"]),
        (base([{"_id": 0, "host": me, "hidden": True}]), ["priority"]),
        (base([{"_id": 0, "host": me}, {"_id": 1, "host": other, "hidden": True, "priority": 1}]),
         ["members[1].priority", "hidden"]),
        (base([{"_id": 0, "host": me}, {"_id": 1, "host": other, "secondaryDelaySecs": 10, "priority": 1}]),
         ["members[1]", "secondaryDelaySecs"]),
        (base([{"_id": 0, "host": me}, {"_id": 1, "host": other, "votes": 0, "priority": 1}]),
         ["members[1].priority", "votes"]),
        (base([{"_id": 0, "host": me}, {"_id": 1, "host": other, "arbiterOnly": True, "votes": 0}]),
         ["arbiter"]),
        (base([{"_id": 0, "host": me}, {"_id": 1, "host": other, "arbiterOnly": True, "tags": {"dc": "x"}}]),
         ["arbiter", "tags"]),
        (base([{"_id": 0, "host": me, "secondaryDelaySecs": 31622401, "priority": 0}]), ["secondaryDelaySecs"]),
        (base([{"_id": 0, "host": me, "tags": {"dc": 1}}]), ["tags"]),
        (base([{"_id": 0, "host": me}], settings={"getLastErrorModes": {"m": {"rack": 2}}}), ["rack"]),
        (base([{"_id": 0, "host": me}], settings={"getLastErrorDefaults": {"w": "majority"}}),
         ["getLastErrorDefaults"]),
    ]


def test_config_limits_are_refused_with_messages_naming_the_field_and_rule(replset):
    rs = replset(n=1, up=False)
    me, other = rs.host(0), "127.0.0.1:%d" % (rs.members[0].port + 1)
    failures = []
    for cfg, words in limit_cases(me, other):
        r = rs.command(0, {"replSetInitiate": cfg})
        msg = r.get("errmsg", "")
        if r.get("ok") != 0 or r.get("code") not in (93, 14) or not all(w.lower() in msg.lower() for w in words):
            failures.append((words, r))
    assert failures == []
    assert rs.hello(0)["isreplicaset"] is True


# -- too stale -------------------------------------------------------------------------
def oldest_oplog_ts(rs, i):
    r = rs.command(i, {"find": "oplog.rs", "sort": {"$natural": 1}, "limit": 1}, db="local")
    return r["cursor"]["firstBatch"][0]["ts"]


def test_a_member_that_fell_off_its_sources_oplog_is_RECOVERING_and_tooStale(replset):
    rs = replset(n=3, up=False)
    for m in rs.members:
        m.stop(check=False)
        m.extra_args += ["--oplogSize", "1"]
        m.start()
    rs.initiate()
    p = rs.wait_primary(20)
    rs.wait_all_secondaries(20)
    victim = [i for i in range(3) if i != p][0]
    c = rs.client()
    c.stale.docs.with_options(write_concern=WriteConcern(w=3, wtimeout=20000)).insert_one({"_id": "first"})
    rs.kill9(victim)
    before = {i: oldest_oplog_ts(rs, i) for i in range(3) if i != victim}
    pad = "x" * 60000
    coll = c.stale.docs.with_options(write_concern=WriteConcern(w="majority", wtimeout=20000))
    for k in range(50):
        coll.insert_one({"_id": k, "pad": pad})
    rs.wait_until("both remaining members trimmed their oplog",
                  lambda: all(oldest_oplog_ts(rs, i) != before[i] for i in before), 30, 0.5)
    rs.restart(victim)

    def too_stale():
        st = rs.try_command(victim, {"replSetGetStatus": 1})
        return st is not None and st.get("myState") == 3 and st.get("tooStale") is True
    rs.wait_until("the restarted member reports tooStale", too_stale, 30)
    st = rs.status(victim)
    assert "resync" in st["infoMessage"], st
    h = rs.hello(victim)
    assert h["secondary"] is False and h["isWritablePrimary"] is False, h
    # Healthy members never show the field.
    assert "tooStale" not in rs.status(p)

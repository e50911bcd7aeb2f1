"""Online reconfiguration with real processes: adding and removing members
(data members, arbiters, non-voters), the single-voter-change rule, the wait
for the current config to be committed, version rules, removed members, force
reconfig on a surviving minority, and the mongosh helpers rs.add / rs.addArb /
rs.remove / rs.reconfig.
"""
import json
import os
import subprocess
import tempfile
import time

import pytest
from pymongo.write_concern import WriteConcern

from conftest import PRIMARY, ROOT, SECONDARY, free_port
from members_help import current_config, member_entry, new_member, reconfig, wait_config_version

ARBITER, REMOVED = 7, 10
MONGOSH = os.path.join(ROOT, "node_modules", ".bin", "mongosh")


def seed(rs, db="rc", n=5):
    c = rs.client()
    c[db].docs.with_options(write_concern=WriteConcern(w="majority", wtimeout=20000)).insert_many(
        [{"_id": i} for i in range(n)])


def test_adding_a_data_member_makes_it_a_secondary_with_the_data(replset):
    rs = replset(n=2)
    p = rs.wait_primary()
    seed(rs)
    j = new_member(rs)
    r = reconfig(rs, p, lambda cfg: cfg["members"].append(member_entry(rs, j, 5)))
    assert r["ok"] == 1, r
    rs.wait_state(j, SECONDARY, 30)
    assert rs.wait_converged("rc", "docs") == list(range(5))
    # Added as newlyAdded (version 2); once SECONDARY the primary clears the flag (version 3).
    rs.wait_until("newlyAdded cleared", lambda: rs.hello(p)["setVersion"] == 3, 30)
    h = rs.hello(p)
    assert rs.host(j) in h["hosts"], h
    st = rs.status(p)
    assert st["votingMembersCount"] == 3 and st["majorityVoteCount"] == 2


def test_adding_an_arbiter_to_an_empty_member_makes_it_ARBITER_without_data(replset):
    rs = replset(n=2)
    p = rs.wait_primary()
    seed(rs)
    j = new_member(rs)
    r = reconfig(rs, p, lambda cfg: cfg["members"].append(member_entry(rs, j, 2, arbiterOnly=True)))
    assert r["ok"] == 1, r
    rs.wait_state(j, ARBITER, 30)
    time.sleep(1.0)
    r = rs.command(j, {"find": "oplog.rs"}, db="local")
    assert r["ok"] == 1 and r["cursor"]["firstBatch"] == [], r
    assert rs.hello(p)["arbiters"] == [rs.host(j)]
    cfg = current_config(rs, p)
    assert cfg["members"][2]["arbiterOnly"] is True and cfg["members"][2]["priority"] == 0


def test_adding_two_voters_at_once_fails_with_103_and_changes_nothing(replset):
    rs = replset(n=1)
    a, b = new_member(rs), new_member(rs)

    def add_two(cfg):
        cfg["members"] += [member_entry(rs, a, 1), member_entry(rs, b, 2)]
    r = reconfig(rs, 0, add_two)
    assert r["ok"] == 0 and r["code"] == 103 and r["codeName"] == "NewReplicaSetConfigurationIncompatible", r
    assert "at most 1 voting member" in r["errmsg"], r
    assert current_config(rs, 0)["version"] == 1
    # One voter and one non-voter at once is fine.

    def add_one_and_a_non_voter(cfg):
        cfg["members"] += [member_entry(rs, a, 1), member_entry(rs, b, 2, votes=0, priority=0)]
    r = reconfig(rs, 0, add_one_and_a_non_voter)
    assert r["ok"] == 1, r
    rs.wait_all_secondaries(30)


def test_removing_two_voters_at_once_fails_with_103(replset):
    rs = replset(n=3)
    p = rs.wait_primary()
    others = [i for i in range(3) if i != p]
    r = reconfig(rs, p, lambda cfg: cfg.update(members=[m for m in cfg["members"]
                                                         if m["host"] == rs.host(p)]))
    assert r["ok"] == 0 and r["code"] == 103, r
    assert current_config(rs, p)["version"] == 1
    assert all(rs.status(i)["myState"] in (PRIMARY, SECONDARY) for i in others)


def test_a_removed_member_goes_REMOVED_and_says_so(replset):
    rs = replset(n=3)
    p = rs.wait_primary()
    gone = [i for i in range(3) if i != p][0]
    r = reconfig(rs, p, lambda cfg: cfg.update(members=[m for m in cfg["members"]
                                                         if m["host"] != rs.host(gone)]))
    assert r["ok"] == 1, r

    def removed():
        st = rs.try_command(gone, {"replSetGetStatus": 1})
        return st is not None and st.get("code") == 93 and st.get("stateStr") == "REMOVED"
    rs.wait_until("the removed member reports REMOVED", removed, 20)
    st = rs.status(gone)
    assert st["ok"] == 0 and st["codeName"] == "InvalidReplicaSetConfig" and st["state"] == REMOVED, st
    h = rs.hello(gone)
    assert h["isWritablePrimary"] is False and h["secondary"] is False and "hosts" not in h, h
    assert rs.host(gone) not in rs.hello(p)["hosts"]
    # The two remaining members still elect and commit majority writes.
    seed(rs, "rc_rm")


def test_reconfig_version_and_identity_rules(replset):
    rs = replset(n=3)
    p = rs.wait_primary()
    cfg = current_config(rs, p)
    bad = dict(cfg)
    r = rs.command(p, {"replSetReconfig": bad})
    assert r["ok"] == 0 and r["code"] == 103 and "version" in r["errmsg"], r
    bad = dict(cfg, version=cfg["version"] + 1, _id="other")
    r = rs.command(p, {"replSetReconfig": bad})
    assert r["ok"] == 0 and r["code"] in (93, 103), r
    members = [dict(m) for m in cfg["members"]]
    members[1]["arbiterOnly"] = True
    r = rs.command(p, {"replSetReconfig": dict(cfg, version=cfg["version"] + 1, members=members)})
    assert r["ok"] == 0 and r["code"] == 103 and "arbiterOnly" in r["errmsg"], r
    members = [dict(m) for m in cfg["members"]]
    members[1]["_id"] = 7
    r = rs.command(p, {"replSetReconfig": dict(cfg, version=cfg["version"] + 1, members=members)})
    assert r["ok"] == 0 and r["code"] == 103 and "_id" in r["errmsg"], r
    s = [i for i in range(3) if i != p][0]
    r = rs.command(s, {"replSetReconfig": dict(cfg, version=cfg["version"] + 1)})
    assert r["ok"] == 0 and r["code"] == 10107, r
    # A valid one installs and the term is stamped; the secondary learns it by heartbeat.
    r = reconfig(rs, p, lambda c: c["members"][s].update(priority=0.5))
    assert r["ok"] == 1, r
    new = current_config(rs, p)
    assert new["version"] == cfg["version"] + 1 and new["term"] == rs.status(p)["term"], new
    wait_config_version(rs, s, new["version"])
    assert current_config(rs, s)["members"][s]["priority"] == 0.5


def test_back_to_back_reconfigs_wait_for_the_previous_config_to_spread(replset):
    rs = replset(n=3)
    p = rs.wait_primary()
    for k in range(3):
        r = reconfig(rs, p, lambda cfg: cfg["members"][0].update(priority=1 + k * 0.25), retries=1)
        assert r["ok"] == 1, (k, r)
    for i in range(3):
        wait_config_version(rs, i, 4)


def test_a_reconfig_fails_with_109_while_the_current_config_is_not_committed(replset):
    """A voter that never answers is added (4 voters, majority 3) while a
    third member is paused: the new config reaches only 2 voters, so the
    next reconfig cannot start. A long election timeout keeps the primary in
    office meanwhile."""
    rs = replset(n=3)
    p = rs.wait_primary()
    r = reconfig(rs, p, lambda cfg: cfg["settings"].update(electionTimeoutMillis=10000))
    assert r["ok"] == 1, r
    for i in range(3):
        wait_config_version(rs, i, 2)
    paused = [i for i in range(3) if i != p][0]
    rs.pause(paused)
    try:
        # Added as a non-voter, then given its vote: a new voter would be
        # newlyAdded and count for no majority until it held data.
        ghost = {"_id": 9, "host": "127.0.0.1:%d" % free_port(), "priority": 0, "votes": 0}
        r = reconfig(rs, p, lambda cfg: cfg["members"].append(ghost), retries=1)
        assert r["ok"] == 1, r
        r = reconfig(rs, p, lambda cfg: cfg["members"][-1].update(votes=1), retries=1)
        assert r["ok"] == 1, r
        t0 = time.monotonic()
        r = reconfig(rs, p, lambda cfg: cfg["members"][-1].update(votes=0), retries=1, maxTimeMS=1500)
        assert r["ok"] == 0 and r["code"] == 109 and r["codeName"] == "ConfigurationInProgress", r
        assert "not yet committed" in r["errmsg"] and "2 of 4 voting members" in r["errmsg"], r
        assert time.monotonic() - t0 >= 1.0
    finally:
        rs.resume(paused)
    wait_config_version(rs, paused, 4)
    p = rs.wait_primary(30)
    r = reconfig(rs, p, lambda cfg: cfg["members"].pop())
    assert r["ok"] == 1, r


def test_force_reconfig_on_a_surviving_secondary_recovers_the_set(replset):
    rs = replset(n=3)
    p = rs.wait_primary()
    seed(rs, "rc_force")
    s = [i for i in range(3) if i != p][0]
    other = 3 - p - s
    rs.kill9(p)
    rs.kill9(other)
    rs.wait_until("the survivor is not primary", lambda: rs.hello(s).get("isWritablePrimary") is False, 10)
    old = current_config(rs, s)
    # Without force a secondary refuses.
    cfg = dict(old, version=old["version"] + 1, members=[m for m in old["members"] if m["host"] == rs.host(s)])
    r = rs.command(s, {"replSetReconfig": cfg})
    assert r["ok"] == 0 and r["code"] == 10107, r
    r = rs.command(s, {"replSetReconfig": cfg, "force": True}, timeout_s=20)
    assert r["ok"] == 1, r
    new = current_config(rs, s)
    assert new["version"] >= old["version"] + 10000 and "term" not in new, new
    assert "FORCED reconfig" in rs.members[s].log_text()
    assert rs.wait_primary(20) == s
    assert rs.ids_on(s, "rc_force", "docs") == list(range(5))
    rs.members[s].client().rc_force.docs.insert_one({"_id": 99})


# -- mongosh helpers ----------------------------------------------------------------
def mongosh(rs, i, script, timeout_s=90):
    uri = "mongodb://%s/?directConnection=true" % rs.host(i)
    with tempfile.TemporaryDirectory(prefix="tally-mongosh-") as home:
        env = dict(os.environ, HOME=home, DO_NOT_TRACK="1", MONGOSH_NO_UPDATE_CHECK="1", NO_COLOR="1")
        r = subprocess.run([MONGOSH, uri, "--quiet", "--eval", script], capture_output=True, text=True,
                           timeout=timeout_s, env=env)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r.stdout


@pytest.mark.skipif(not os.path.exists(MONGOSH), reason="mongosh is not installed (npm ci)")
def test_mongosh_rs_add_addArb_remove_and_reconfig(replset):
    rs = replset(n=2)
    p = rs.wait_primary()
    seed(rs, "rc_sh")
    j, a = new_member(rs), new_member(rs)
    out = mongosh(rs, p, "const r = rs.add('%s'); print(JSON.stringify({ok: r.ok}))" % rs.host(j))
    assert json.loads(out.strip().splitlines()[-1]) == {"ok": 1}, out
    rs.wait_state(j, SECONDARY, 30)
    # The primary clears j's newlyAdded flag by itself (version 3) before the next change.
    rs.wait_until("newlyAdded cleared", lambda: rs.hello(p)["setVersion"] == 3, 30)
    out = mongosh(rs, p, "const r = rs.addArb('%s'); print(JSON.stringify({ok: r.ok}))" % rs.host(a))
    assert json.loads(out.strip().splitlines()[-1]) == {"ok": 1}, out
    rs.wait_state(a, ARBITER, 30)
    rs.wait_until("the new member has the data", lambda: rs.ids_on(j, "rc_sh", "docs") == list(range(5)), 30)
    script = ("const c = rs.conf(); c.members[1].priority = 3; const r = rs.reconfig(c);"
              "print(JSON.stringify({ok: r.ok, v: rs.conf().version}))")
    out = json.loads(mongosh(rs, p, script).strip().splitlines()[-1])
    assert out["ok"] == 1 and out["v"] == 5, out
    # Priority takeover: member 1 becomes primary.
    rs.wait_until("member 1 takes over", lambda: rs.primaries() == [1], 30)
    out = mongosh(rs, 1, "const r = rs.remove('%s'); print(JSON.stringify({ok: r.ok}))" % rs.host(a))
    assert json.loads(out.strip().splitlines()[-1]) == {"ok": 1}, out
    cfg = current_config(rs, 1)
    assert [m["host"] for m in cfg["members"]] == [rs.host(0), rs.host(1), rs.host(j)], cfg
    out = mongosh(rs, 1, "print(JSON.stringify(rs.status().members.map(m => m.stateStr)))")
    assert sorted(json.loads(out.strip().splitlines()[-1])) == ["PRIMARY", "SECONDARY", "SECONDARY"], out

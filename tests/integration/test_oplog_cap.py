"""The oplog is capped by --oplogSize / replication.oplogSizeMB: it is
trimmed from the oldest end once over its size, never past the commit point,
and reports its size the way mongod does (collStats maxSize, listCollections
options, getCmdLineOpts)."""
import subprocess

from pymongo.write_concern import WriteConcern

from conftest import tallyd_binary

MB = 1024 * 1024


def oplog_stats(rs, i):
    c = rs.direct(i)
    return c.local.command("collStats", "oplog.rs")


def test_a_one_megabyte_oplog_stays_near_its_size_on_every_member_while_data_keeps_growing(replset):
    rs = replset(extra_args=["--oplogSize", "1"])
    p = rs.wait_primary()
    coll = rs.client().t_cap.docs.with_options(write_concern=WriteConcern(w="majority", wtimeout=20000))
    pad = "x" * 2000
    for batch in range(30):  # about 6 MB of oplog entries
        coll.insert_many([{"_id": batch * 100 + k, "pad": pad} for k in range(100)])
    first_ids = {}

    def trimmed_everywhere():
        for i in range(3):
            st = oplog_stats(rs, i)
            # One check interval of writes may sit above the size before the
            # next trim; 2 MB leaves room for that and no more.
            if st["size"] > 2 * MB or st["maxSize"] != MB:
                return False
            first = rs.direct(i).local.oplog.rs.find().sort("$natural", 1).limit(1).next()
            first_ids[i] = first["ts"]
        return True
    rs.wait_until("every member's oplog trimmed to about 1 MB", trimmed_everywhere, 30)
    # The oldest entries are gone: the first remaining one is not the
    # set's first (the initiate entry), and the data is all there.
    for i in range(3):
        assert rs.direct(i).local.oplog.rs.count_documents({"o.msg": "initiating set"}) == 0
    assert coll.count_documents({}) == 3000
    # The set keeps working: a member that restarts catches up from what is left.
    rs.restart((p + 1) % 3)
    coll.insert_one({"_id": "after-restart"})
    rs.wait_converged("t_cap", "docs", timeout_s=30)


def test_the_oplog_size_is_reported_by_getCmdLineOpts_and_listCollections(replset):
    rs = replset(extra_args=["--oplogSize", "3"])
    p = rs.wait_primary()
    c = rs.direct(p)
    parsed = c.admin.command("getCmdLineOpts")["parsed"]
    assert parsed["replication"]["oplogSizeMB"] == 3
    info = list(c.local.list_collections(filter={"name": "oplog.rs"}))
    assert info[0]["options"]["capped"] is True and info[0]["options"]["size"] == 3 * MB


def test_a_bad_oplog_size_is_refused_at_start_with_a_message_naming_the_flag():
    for bad in ("0", "-5", "big"):
        r = subprocess.run([tallyd_binary(), "--oplogSize", bad, "--replSet", "rs0"],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 2, (bad, r.returncode, r.stderr)
        assert "oplogSize" in r.stderr, r.stderr


def test_without_oplogSize_the_default_is_at_least_990_megabytes(replset):
    rs = replset(n=1)
    st = oplog_stats(rs, 0)
    assert st["capped"] is True and st["maxSize"] >= 990 * MB

"""Session records expire: retryable writes leave one record per session in
config.transactions, replicated with the writes; the primary's reaper deletes
the records idle for longer than the session lifetime, through replicated
deletes, so every member drops them. A session that keeps writing keeps its
record; endSessions does not remove one (mongod keeps them until they expire);
a retry after expiry runs as a new write.

The lifetime is shortened with the test-only sessionRecordLifetimeMillisForTest
and the reaper's period with logicalSessionRefreshMillis."""
import subprocess
import tempfile
import threading
import time
import uuid

import bson
import pytest
from bson.binary import Binary, UUID_SUBTYPE

from conftest import tallyd_binary

LIFETIME_MS = 4000
REFRESH_MS = 500
SESSION_ARGS = ["--setParameter", "enableTestCommands=1",
                "--setParameter", "sessionRecordLifetimeMillisForTest=%d" % LIFETIME_MS,
                "--setParameter", "logicalSessionRefreshMillis=%d" % REFRESH_MS]


def new_lsid():
    return {"id": Binary(uuid.uuid4().bytes, UUID_SUBTYPE)}


def retryable_insert(rs, i, lsid, txn, docs, coll="c"):
    """One retryable insert on member i, as a driver sends it."""
    return rs.command(i, {"insert": coll, "documents": docs, "lsid": lsid,
                          "txnNumber": bson.int64.Int64(txn)}, db="test", timeout_s=20)


def session_ids_on(rs, i):
    """The session ids (raw bytes) of member i's config.transactions."""
    return set(v.bytes if isinstance(v, uuid.UUID) else bytes(v) for v in rs.ids_on(i, "config", "transactions"))


def wait_records(rs, pred, what, timeout_s=30):
    """Waits until pred(set of session ids) holds on every member."""
    def everywhere():
        try:
            return all(pred(session_ids_on(rs, i)) for i in range(len(rs.members)))
        except Exception:
            return False
    rs.wait_until(what, everywhere, timeout_s, 0.2)


@pytest.fixture
def rs(replset):
    return replset(n=3, extra_args=SESSION_ARGS)


def test_idle_records_expire_on_every_member_and_a_live_session_keeps_its_own(rs):
    p = rs.wait_primary()
    idle = [new_lsid() for _ in range(5)]
    for n, lsid in enumerate(idle):
        reply = retryable_insert(rs, p, lsid, 1, [{"_id": "idle%d" % n}])
        assert reply["ok"] == 1 and reply["n"] == 1, reply
    idle_ids = set(bytes(l["id"]) for l in idle)
    wait_records(rs, lambda ids: idle_ids <= ids, "the idle sessions' records reached every member")

    # A live session writes every 200 ms: its record never gets old.
    live = new_lsid()
    stop = threading.Event()
    errors = []

    def keep_writing():
        txn = 0
        while not stop.is_set():
            txn += 1
            try:
                r = retryable_insert(rs, p, live, txn, [{"_id": "live%d" % txn}])
                if r.get("ok") != 1:
                    errors.append(r)
            except Exception as exc:  # reported below, after the wait
                errors.append(repr(exc))
            stop.wait(0.2)

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    try:
        live_id = bytes(live["id"])
        wait_records(rs, lambda ids: not (ids & idle_ids) and live_id in ids,
                     "the idle records were reaped everywhere while the live one stayed",
                     timeout_s=LIFETIME_MS / 1000 + 30)
        # Still there after more reaper rounds than the lifetime spans.
        time.sleep(LIFETIME_MS / 1000 + 1)
        assert live_id in session_ids_on(rs, p)
    finally:
        stop.set()
        writer.join(30)
    assert not errors, errors[:3]
    # The data itself is untouched: only session records go.
    assert "idle0" in rs.ids_on(p, "test", "c")
    assert "expired session record" in rs.members[p].log_text()


def test_a_retry_after_expiry_runs_as_a_new_write(rs):
    p = rs.wait_primary()
    lsid = new_lsid()
    first = retryable_insert(rs, p, lsid, 7, [{"_id": 1}])
    assert first["ok"] == 1 and first["n"] == 1, first
    # A retry while the record lives is answered from it, not executed.
    again = retryable_insert(rs, p, lsid, 7, [{"_id": 1}])
    assert again["ok"] == 1 and again["n"] == 1 and "writeErrors" not in again, again
    assert again.get("retriedStmtIds") == [0], again
    # An older txnNumber is refused while the record lives.
    old = retryable_insert(rs, p, lsid, 6, [{"_id": 2}])
    assert old["ok"] == 0 and old["code"] == 225, old

    gone = rs.command(p, {"delete": "c", "deletes": [{"q": {"_id": 1}, "limit": 1}]}, db="test")
    assert gone["ok"] == 1 and gone["n"] == 1, gone
    sid = bytes(lsid["id"])
    wait_records(rs, lambda ids: sid not in ids, "the session's record expired everywhere",
                 timeout_s=LIFETIME_MS / 1000 + 30)

    # mongod: once the record is gone, the same statement executes again.
    retry = retryable_insert(rs, p, lsid, 7, [{"_id": 1}])
    assert retry["ok"] == 1 and retry["n"] == 1 and "retriedStmtIds" not in retry, retry
    assert rs.ids_on(p, "test", "c") == [1]
    # It wrote a fresh record, so the session is deduplicated again.
    replay = retryable_insert(rs, p, lsid, 7, [{"_id": 1}])
    assert replay["ok"] == 1 and replay.get("retriedStmtIds") == [0], replay


def test_end_sessions_keeps_the_record_until_it_expires(rs):
    p = rs.wait_primary()
    lsid = new_lsid()
    assert retryable_insert(rs, p, lsid, 1, [{"_id": "e"}])["n"] == 1
    ended = rs.command(p, {"endSessions": [lsid]})
    assert ended["ok"] == 1, ended
    killed = rs.command(p, {"killAllSessions": []})
    assert killed["ok"] == 1, killed
    sid = bytes(lsid["id"])
    assert sid in session_ids_on(rs, p)
    # Still deduplicated: the retry is answered from the record.
    again = retryable_insert(rs, p, lsid, 1, [{"_id": "e"}])
    assert again["ok"] == 1 and again.get("retriedStmtIds") == [0], again
    wait_records(rs, lambda ids: sid not in ids, "the ended session's record expired everywhere",
                 timeout_s=LIFETIME_MS / 1000 + 30)


def test_a_new_primary_reaps_records_written_under_the_old_one(rs):
    p = rs.wait_primary()
    lsid = new_lsid()
    assert retryable_insert(rs, p, lsid, 1, [{"_id": "f"}])["n"] == 1
    sid = bytes(lsid["id"])
    wait_records(rs, lambda ids: sid in ids, "the record reached every member")
    # Hand the primacy over before the record expires; the new primary reaps it.
    rs.try_command(p, {"replSetStepDown": 10, "secondaryCatchUpPeriodSecs": 5}, timeout_s=30)
    q = rs.wait_primary(timeout_s=30, exclude=(p,))
    assert q != p
    wait_records(rs, lambda ids: sid not in ids, "the new primary reaped the record everywhere",
                 timeout_s=LIFETIME_MS / 1000 + 30)
    assert "expired session record" in rs.members[q].log_text()


def run_tallyd_args(*args):
    """Starts tallyd with args that must be refused; its exit code and output."""
    with tempfile.TemporaryDirectory(prefix="tally-it-") as d:
        proc = subprocess.run([tallyd_binary(), "--dbpath", d, "--port", "0"] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        return proc.returncode, proc.stdout.decode(errors="replace")


@pytest.mark.parametrize("args,needle", [
    (["--setParameter", "localLogicalSessionTimeoutMinutes=0"], "localLogicalSessionTimeoutMinutes"),
    (["--setParameter", "logicalSessionRefreshMillis=soon"], "logicalSessionRefreshMillis"),
    (["--setParameter", "TransactionRecordMinimumLifetimeMinutes=-3"], "TransactionRecordMinimumLifetimeMinutes"),
    (["--setParameter", "sessionRecordLifetimeMillisForTest=100"], "needs enableTestCommands"),
])
def test_bad_session_parameters_are_refused_at_startup(args, needle):
    rc, out = run_tallyd_args(*args)
    assert rc != 0, out
    assert needle in out, out


def test_session_parameters_show_in_getCmdLineOpts(new_server):
    s = new_server(extra_args=["--setParameter", "localLogicalSessionTimeoutMinutes=45",
                               "--setParameter", "logicalSessionRefreshMillis=1000"]).start()
    opts = s.client().admin.command("getCmdLineOpts")
    params = opts["parsed"]["setParameter"]
    assert params["localLogicalSessionTimeoutMinutes"] == "45"
    assert params["logicalSessionRefreshMillis"] == "1000"

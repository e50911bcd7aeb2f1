"""The fault suite's checkers reject known-bad histories and accept
known-good ones, including the tricky cases (concurrency, indeterminate ops
that must be assumed to have happened, the search bound)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checkers  # noqa: E402


def op(f, key, value, invoke, complete, type_="ok", process=0):
    return {"process": process, "f": f, "key": key, "value": value, "type": type_, "invoke": invoke,
            "complete": None if type_ == "info" else complete}


def regs(*ops, level="linearizable", **kw):
    return checkers.check_registers(list(ops), read_level=level, **kw)


# -- registers ---------------------------------------------------------------
def test_a_sequential_register_history_is_linearizable():
    r = regs(op("write", "x", 1, 0, 1), op("read", "x", 1, 2, 3), op("cas", "x", [1, 2], 4, 5),
             op("read", "x", 2, 6, 7))
    assert r["valid"] is True


def test_a_stale_read_after_an_acknowledged_write_is_rejected():
    r = regs(op("write", "x", 1, 0, 1), op("write", "x", 2, 2, 3), op("read", "x", 1, 4, 5, process=1))
    assert r["valid"] is False
    assert "x" in r["keys"] and r["keys"]["x"]["valid"] is False
    assert r["anomalies"]


def test_a_read_of_the_initial_value_after_a_write_completed_is_rejected():
    r = regs(op("write", "x", 1, 0, 1), op("read", "x", None, 2, 3, process=1))
    assert r["valid"] is False


def test_concurrent_reads_may_see_old_or_new_value():
    r = regs(op("write", "x", 1, 0, 10), op("read", "x", None, 1, 2, process=1),
             op("read", "x", 1, 3, 4, process=2), op("read", "x", 1, 11, 12, process=3))
    assert r["valid"] is True


def test_reads_may_not_go_back_once_a_newer_value_was_read():
    # Both reads are concurrent with the write but sequential to each other.
    r = regs(op("write", "x", 1, 0, 10), op("read", "x", 1, 1, 2, process=1),
             op("read", "x", None, 3, 4, process=2))
    assert r["valid"] is False


def test_an_indeterminate_write_that_was_read_must_have_happened():
    r = regs(op("write", "x", 1, 0, None, "info"), op("read", "x", 1, 5, 6, process=1))
    assert r["valid"] is True
    # ...and then it cannot un-happen.
    r = regs(op("write", "x", 1, 0, None, "info"), op("read", "x", 1, 5, 6, process=1),
             op("read", "x", None, 7, 8, process=2))
    assert r["valid"] is False


def test_an_indeterminate_write_may_take_effect_long_after_its_invoke():
    r = regs(op("write", "x", 1, 0, None, "info"), op("read", "x", None, 5, 6, process=1),
             op("read", "x", 1, 20, 21, process=2))
    assert r["valid"] is True


def test_an_indeterminate_write_nobody_read_may_never_have_happened():
    r = regs(op("write", "x", 1, 0, 1), op("write", "x", 2, 2, None, "info", process=1),
             op("read", "x", 1, 3, 4, process=2), op("read", "x", 1, 9, 10, process=3))
    assert r["valid"] is True


def test_a_failed_write_must_not_be_observed():
    r = regs(op("write", "x", 1, 0, 1, "fail"), op("read", "x", 1, 2, 3, process=1))
    assert r["valid"] is False


def test_a_read_of_a_value_never_written_is_rejected():
    r = regs(op("write", "x", 1, 0, 1), op("read", "x", 7, 2, 3, process=1))
    assert r["valid"] is False


def test_cas_from_a_value_the_register_did_not_hold_is_rejected():
    r = regs(op("write", "x", 1, 0, 1), op("cas", "x", [0, 3], 2, 3, process=1))
    assert r["valid"] is False


def test_two_successful_cas_from_the_same_old_value_are_rejected():
    r = regs(op("write", "x", 1, 0, 1), op("cas", "x", [1, 2], 2, 5, process=1),
             op("cas", "x", [1, 3], 2, 5, process=2))
    assert r["valid"] is False


def test_concurrent_cas_chain_is_linearizable_in_the_only_possible_order():
    r = regs(op("write", "x", 1, 0, 1), op("cas", "x", [2, 3], 2, 5, process=1),
             op("cas", "x", [1, 2], 2, 5, process=2), op("read", "x", 3, 6, 7, process=3))
    assert r["valid"] is True


def test_keys_are_checked_independently():
    r = regs(op("write", "x", 1, 0, 1), op("write", "y", 1, 0, 1), op("read", "x", 1, 2, 3),
             op("read", "y", None, 2, 3))
    assert r["valid"] is False
    assert r["keys"]["x"]["valid"] is True and r["keys"]["y"]["valid"] is False


def test_majority_reads_may_be_stale_but_not_from_the_future():
    stale = [op("write", "x", 1, 0, 1), op("write", "x", 2, 2, 3), op("read", "x", 1, 4, 5, process=1)]
    assert regs(*stale, level="majority")["valid"] is True
    future = [op("write", "x", 1, 0, 1), op("read", "x", 2, 2, 3, process=1), op("write", "x", 2, 4, 5)]
    assert regs(*future, level="majority")["valid"] is False


def test_majority_mode_still_checks_writes_and_cas():
    bad = [op("write", "x", 1, 0, 1), op("cas", "x", [5, 6], 2, 3)]
    assert regs(*bad, level="majority")["valid"] is False


def test_a_search_too_big_for_the_bound_is_unknown_not_a_pass():
    # Invalid (3 is read again after 4 replaced it), but proving it means
    # trying every order of the concurrent writes.
    ops = [op("write", "x", i, 0, 100, process=i) for i in range(14)]
    ops += [op("read", "x", 3, 101, 102, process=97), op("read", "x", 4, 103, 104, process=98),
            op("read", "x", 3, 105, 106, process=99)]
    r = regs(*ops, max_steps=50)
    assert r["valid"] == "unknown"
    assert r["unknown_keys"] == ["x"]
    assert regs(*ops)["valid"] is False


def test_many_concurrent_writes_with_a_consistent_read_pass_within_the_bound():
    ops = [op("write", "x", i, 0, 100, process=i) for i in range(12)]
    ops.append(op("read", "x", 5, 101, 102, process=99))
    assert regs(*ops)["valid"] is True


# -- durable set --------------------------------------------------------------
def adds(*pairs):
    return [op("add", "s", v, i, i + 1, t) for i, (v, t) in enumerate(pairs)]


def test_a_set_holding_every_acknowledged_add_passes():
    r = checkers.check_set(adds((1, "ok"), (2, "ok"), (3, "info"), (4, "info")),
                           {"m0": [1, 2, 3], "m1": [2, 1, 3]})
    assert r["valid"] is True
    assert r["counts"]["info_present"] == 1


def test_a_lost_acknowledged_add_is_reported():
    r = checkers.check_set(adds((1, "ok"), (2, "ok")), {"m0": [1, 2], "m1": [1]})
    assert r["valid"] is False
    assert any("lost" in a and "m1" in a for a in r["anomalies"])


def test_a_duplicate_in_the_set_is_reported():
    r = checkers.check_set(adds((1, "ok"), (2, "info")), {"m0": [1, 2, 2]})
    assert r["valid"] is False
    assert any("more than once" in a for a in r["anomalies"])


def test_a_set_value_never_attempted_or_failed_is_reported():
    r = checkers.check_set(adds((1, "ok"), (2, "fail")), {"m0": [1, 2]})
    assert r["valid"] is False
    r = checkers.check_set(adds((1, "ok")), {"m0": [1, 9]})
    assert r["valid"] is False


# -- list append ---------------------------------------------------------------
def test_list_reads_that_are_prefixes_of_the_final_list_pass():
    h = [op("append", "a", 1, 0, 1), op("append", "a", 2, 0, 3, process=1), op("read", "a", [1], 2, 3, process=2),
         op("append", "a", 3, 4, None, "info"), op("read", "a", [1, 2], 5, 6, process=3)]
    assert checkers.check_list_append(h, {"a": [1, 2, 3]})["valid"] is True
    assert checkers.check_list_append(h, {"a": [1, 2]})["valid"] is True


def test_a_list_read_that_is_not_a_prefix_is_rejected():
    h = [op("append", "a", 1, 0, 1), op("append", "a", 2, 0, 1, process=1), op("read", "a", [2], 2, 3)]
    r = checkers.check_list_append(h, {"a": [1, 2]})
    assert r["valid"] is False
    assert any("not a prefix" in a for a in r["anomalies"])


def test_a_duplicate_append_is_rejected():
    h = [op("append", "a", 1, 0, 1), op("append", "a", 2, 0, 1, process=1)]
    r = checkers.check_list_append(h, {"a": [1, 2, 2]})
    assert r["valid"] is False
    assert any("duplicate" in a for a in r["anomalies"])


def test_a_lost_append_is_rejected():
    h = [op("append", "a", 1, 0, 1), op("append", "a", 2, 0, 1, process=1)]
    assert checkers.check_list_append(h, {"a": [1]})["valid"] is False


def test_a_linearizable_list_read_missing_an_acknowledged_append_is_rejected():
    h = [op("append", "a", 1, 0, 1), op("read", "a", [], 2, 3, process=1)]
    assert checkers.check_list_append(h, {"a": [1]})["valid"] is False
    assert checkers.check_list_append(h, {"a": [1]}, read_level="majority")["valid"] is True


def test_a_linearizable_list_read_shorter_than_an_earlier_read_is_rejected():
    h = [op("append", "a", 1, 0, 10), op("read", "a", [1], 1, 2, process=1), op("read", "a", [], 3, 4, process=2)]
    assert checkers.check_list_append(h, {"a": [1]})["valid"] is False


# -- elections -------------------------------------------------------------------
def logline(msg):
    return json.dumps({"t": {"$date": "2024-01-01T00:00:00.000Z"}, "s": "I", "c": "REPL", "msg": msg}) + "\n"


def test_one_primary_per_term_passes():
    logs = {"m0": logline("REPL [1.3] won the election for term 1 with 2 votes (needed 2)")
            + logline("REPL: SECONDARY -> PRIMARY (won the election)")
            + logline("REPL: PRIMARY -> SECONDARY (stepping down)"),
            "m1": logline("REPL [1.7] adopting term 2 > 1 from vote request")
            + logline("REPL [1.3] won the election for term 3 with 2 votes (needed 2)")
            + logline("REPL: SECONDARY -> PRIMARY (won the election)")}
    r = checkers.check_elections(logs)
    assert r["valid"] is True
    assert r["primary_terms"] == [1, 3]


def test_two_primaries_in_one_term_are_rejected():
    win = logline("REPL [1.3] won the election for term 4 with 2 votes (needed 2)") + \
        logline("REPL: SECONDARY -> PRIMARY (won the election)")
    r = checkers.check_elections({"m0": win, "m2": "not json\n" + win})
    assert r["valid"] is False
    assert "term 4" in r["anomalies"][0]


def test_the_term_survives_a_restart_line_and_adoption():
    logs = {"m0": logline("REPL: replica set member of 'rs0' as h:1: term 5, last vote {}")
            + logline("REPL: SECONDARY -> PRIMARY (won the election)"),
            "m1": logline("REPL [1.7] adopting term 5 > 4 from heartbeat")
            + logline("REPL: SECONDARY -> PRIMARY (won the election)")}
    assert checkers.check_elections(logs)["valid"] is False


def test_a_double_vote_in_one_term_is_rejected():
    logs = {"m0": logline("REPL [1.4] real vote for h1:1 in term 3: granted")
            + logline("REPL [1.4] real vote for h2:1 in term 3: granted")
            + logline("REPL [1.4] dry-run vote for h2:1 in term 4: granted")}
    r = checkers.check_elections(logs)
    assert r["valid"] is False
    assert "voted for" in r["anomalies"][0]


# -- convergence -----------------------------------------------------------------
def test_identical_oplogs_over_the_common_range_converge():
    a = {"oplog": [(1, 1), (2, 1), (3, 2)], "data": "h"}
    b = {"oplog": [(2, 1), (3, 2)], "data": "h"}
    assert checkers.check_convergence({"m0": a, "m1": b})["valid"] is True


def test_a_diverged_or_short_oplog_and_different_data_are_rejected():
    a = {"oplog": [(1, 1), (2, 1), (3, 2)], "data": "h"}
    assert checkers.check_convergence({"m0": a, "m1": {"oplog": [(1, 1), (2, 2), (3, 2)], "data": "h"}})[
        "valid"] is False
    assert checkers.check_convergence({"m0": a, "m1": {"oplog": [(1, 1), (2, 1)], "data": "h"}})["valid"] is False
    assert checkers.check_convergence({"m0": a, "m1": dict(a, data="other")})["valid"] is False

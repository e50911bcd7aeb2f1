/* test_repl_commit.c - the commit point (digest 3.5, 3.6), replSetUpdatePosition
 * (3.4) and the leader-elect's catch-up and no-op (1.6). */
#include "repl_testnet.h"
#include "testhelp.h"

static struct net net;
static struct repl_config cfg;

static int elect(uint64_t seed)
{
    cfg_build(&cfg, 3, NULL, NULL);
    net_init(&net, &cfg, seed);
    for (int64_t t = 0; t < 30000; t += 100) {
        net_run(&net, 100);
        int p = net_primary(&net);
        if (p >= 0 && repl_is_writable_primary(&net.st[p]))
            return p;
    }
    return -1;
}

static void done(void)
{
    net_destroy(&net);
    repl_config_destroy(&cfg);
}

static struct repl_actions acts;

static int report(int p, int from, struct optime applied, struct optime durable)
{
    struct repl_position_entry e;
    memset(&e, 0, sizeof e);
    e.member_id = from;
    e.cfgver = 1;
    e.applied = applied;
    e.durable = durable;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_UPDATE_POSITION;
    ev.now_ms = net.now;
    ev.peer = from;
    ev.request_id = 3;
    ev.update_position.entries = &e;
    ev.update_position.n_entries = 1;
    repl_actions_init(&acts);
    repl_step(&net.st[p], &ev, &acts);
    int code = 1;
    for (int i = 0; i < acts.n; i++)
        if (acts.v[i].type == REPL_ACT_COMMAND_RESULT && acts.v[i].request_id == 3)
            code = acts.v[i].result.code;
    repl_actions_destroy(&acts);
    return code;
}

TEST(commit_point_needs_a_majority_of_durable_optimes)
{
    int p = elect(21);
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    net.is_replicating = false;
    int a = (p + 1) % 3, b = (p + 2) % 3;
    struct optime before = net.st[p].commit_point;
    struct optime w = net_write(&net, p);
    CHECK(optime_compare(net.st[p].commit_point, w) < 0);
    CHECK(optime_compare(net.st[p].commit_point, before) == 0);
    /* Applied but not durable does not count (writeConcernMajorityJournalDefault). */
    CHECK_EQ_INT(report(p, a, w, before), 0);
    CHECK(optime_compare(net.st[p].commit_point, w) < 0);
    CHECK_EQ_INT(report(p, a, w, w), 0);
    CHECK(optime_compare(net.st[p].commit_point, w) == 0);
    /* A later write durable on b only (not on a) and on the primary: 2 of 3 again. */
    struct optime w2 = net_write(&net, p);
    CHECK_EQ_INT(report(p, b, w2, w2), 0);
    CHECK(optime_compare(net.st[p].commit_point, w2) == 0);
out:
    done();
}

TEST(optimes_from_another_term_are_not_counted)
{
    int p = elect(22);
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    net.is_replicating = false;
    int a = (p + 1) % 3;
    struct optime w = net_write(&net, p);
    struct optime cp = net.st[p].commit_point;
    /* A member claiming a huge timestamp in an older term (another branch) does not commit w. */
    struct optime other = {w.ts + 1000, w.term - 1};
    report(p, a, other, other);
    CHECK(optime_compare(net.st[p].commit_point, cp) == 0);
out:
    done();
}

TEST(commit_point_never_moves_backwards)
{
    int p = elect(23);
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    net_write(&net, p);
    net_run(&net, 3000);
    struct optime cp = net.st[p].commit_point;
    CHECK(!optime_is_null(cp));
    /* Heartbeats after a "rollback" report older optimes: the commit point stays. */
    net.is_replicating = false;
    int a = (p + 1) % 3, b = (p + 2) % 3;
    struct optime old = {(1ull << 32) | 1, 1};
    net_set_optimes(&net, a, old);
    net_set_optimes(&net, b, old);
    net_run(&net, 4000);
    CHECK(optime_compare(net.st[p].commit_point, cp) == 0);
out:
    done();
}

TEST(update_position_for_an_unknown_member_fails_with_node_not_found)
{
    int p = elect(24);
    CHECK(p >= 0);
    if (p >= 0) {
        struct optime o = {(1ull << 32) | 1, 1};
        CHECK_EQ_INT(report(p, 42, o, o), -ERR_NODE_NOT_FOUND);
    }
    done();
}

TEST(leader_elect_catches_up_then_writes_the_noop_before_accepting_writes)
{
    cfg_build(&cfg, 3, NULL, NULL);
    net_init(&net, &cfg, 25);
    net.is_replicating = false;
    /* Node 2 has an entry nobody else has; it is frozen so 0 or 1 wins. */
    struct optime ahead = {(5ull << 32) | 1, 1};
    net_set_optimes(&net, 2, ahead);
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_FREEZE_REQUEST;
    ev.freeze_secs = 1000;
    net_event(&net, 2, ev);
    int p = -1;
    for (int64_t t = 0; t < 30000 && p < 0; t += 100) {
        net_run(&net, 100);
        p = net_primary(&net);
    }
    CHECK(p == 0 || p == 1);
    if (p < 0)
        goto out;
    CHECK_EQ_INT(net.st[p].leader_mode, REPL_LEADER_CATCHING_UP);
    CHECK(!repl_is_writable_primary(&net.st[p]));
    CHECK(optime_compare(net.st[p].catch_up_target, ahead) == 0);
    CHECK_EQ_INT(net.st[p].sync_source, 2);
    CHECK_EQ_INT(net.n_noops[p], 0);
    net_run(&net, 3000);
    CHECK(!repl_is_writable_primary(&net.st[p]));
    /* Fetching the target ends catch-up: the no-op, then writable. */
    net_set_optimes(&net, p, ahead);
    CHECK_EQ_INT(net.n_noops[p], 1);
    CHECK(repl_is_writable_primary(&net.st[p]));
    CHECK_EQ_INT(net.st[p].first_optime_of_term.term, net.st[p].term);
    /* Older-term entries commit only with the new term's no-op. */
    int other = p == 0 ? 1 : 0;
    report(p, other, ahead, ahead);
    CHECK(optime_compare(net.st[p].commit_point, ahead) < 0);
    report(p, other, net.st[p].first_optime_of_term, net.st[p].first_optime_of_term);
    CHECK(optime_compare(net.st[p].commit_point, net.st[p].first_optime_of_term) == 0);
out:
    done();
}

TEST(catch_up_timeout_bounds_the_leader_elect)
{
    cfg_build(&cfg, 3, NULL, NULL);
    cfg.settings.catch_up_timeout_ms = 2000;
    net_init(&net, &cfg, 26);
    net.is_replicating = false;
    struct optime ahead = {(5ull << 32) | 1, 1};
    net_set_optimes(&net, 2, ahead);
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_FREEZE_REQUEST;
    ev.freeze_secs = 1000;
    net_event(&net, 2, ev);
    int p = -1;
    for (int64_t t = 0; t < 30000 && p < 0; t += 100) {
        net_run(&net, 100);
        p = net_primary(&net);
    }
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    CHECK(!repl_is_writable_primary(&net.st[p]));
    net_run(&net, 2100);
    CHECK(repl_is_writable_primary(&net.st[p]));
out:
    done();
}

static struct repl_state sec;

static void secondary_setup(struct optime applied)
{
    cfg_build(&cfg, 3, NULL, NULL);
    repl_state_init(&sec, "n1:1", 5);
    repl_state_restore(&sec, 4, -1, -1, applied, applied);
    repl_actions_init(&acts);
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_CONFIG_INSTALLED;
    ev.now_ms = 1000;
    ev.config = &cfg;
    repl_step(&sec, &ev, &acts);
}

static void hb_from_primary(struct optime cp, int64_t term)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_HB_RESPONSE;
    ev.now_ms = 2000;
    ev.peer = 0;
    ev.hb_response.ok = true;
    snprintf(ev.hb_response.set_name, sizeof ev.hb_response.set_name, "rs0");
    ev.hb_response.state = REPL_PRIMARY;
    ev.hb_response.term = term;
    ev.hb_response.applied = cp;
    ev.hb_response.durable = cp;
    ev.hb_response.commit_point = cp;
    ev.hb_response.config_version = 1;
    ev.hb_response.config_term = 1;
    repl_step(&sec, &ev, &acts);
}

TEST(secondary_takes_a_heartbeat_commit_point_only_in_its_own_applied_term)
{
    struct optime mine = {(10ull << 32) | 1, 3};
    secondary_setup(mine);
    /* Commit point in term 4 while our last entry is in term 3: another branch may be involved. */
    hb_from_primary((struct optime){(20ull << 32) | 1, 4}, 4);
    CHECK(optime_is_null(sec.commit_point));
    /* Same term, behind us: adopted. */
    hb_from_primary((struct optime){(9ull << 32) | 1, 3}, 4);
    CHECK(optime_compare(sec.commit_point, (struct optime){(9ull << 32) | 1, 3}) == 0);
    /* Same term, ahead of us: capped at our last applied. */
    hb_from_primary((struct optime){(15ull << 32) | 1, 3}, 4);
    CHECK(optime_compare(sec.commit_point, mine) == 0);
    /* Never backwards. */
    hb_from_primary((struct optime){(5ull << 32) | 1, 3}, 4);
    CHECK(optime_compare(sec.commit_point, mine) == 0);
    repl_actions_destroy(&acts);
    repl_state_destroy(&sec);
    repl_config_destroy(&cfg);
}

TEST(sync_source_commit_point_is_capped_when_terms_differ)
{
    struct optime mine = {(10ull << 32) | 1, 3};
    secondary_setup(mine);
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_SYNC_SOURCE_META;
    ev.now_ms = 2000;
    ev.meta.term = 4;
    ev.meta.commit_point = (struct optime){(20ull << 32) | 1, 4};
    ev.meta.primary_index = 0;
    repl_step(&sec, &ev, &acts);
    CHECK(optime_compare(sec.commit_point, mine) == 0);
    CHECK_EQ_INT(sec.term, 4);
    CHECK_EQ_INT(sec.primary_index, 0);
    repl_actions_destroy(&acts);
    repl_state_destroy(&sec);
    repl_config_destroy(&cfg);
}

TEST(arbiter_takes_the_commit_point_unconditionally)
{
    bool arb[3] = {false, true, false};
    cfg_build(&cfg, 3, NULL, arb);
    repl_state_init(&sec, "n1:1", 5);
    repl_actions_init(&acts);
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_CONFIG_INSTALLED;
    ev.now_ms = 1000;
    ev.config = &cfg;
    repl_step(&sec, &ev, &acts);
    CHECK_EQ_INT(sec.member_state, REPL_ARBITER);
    hb_from_primary((struct optime){(20ull << 32) | 1, 4}, 4);
    CHECK(optime_compare(sec.commit_point, (struct optime){(20ull << 32) | 1, 4}) == 0);
    /* Arbiters never stand and never fetch. */
    CHECK_EQ_INT(sec.sync_source, -1);
    CHECK(repl_unelectable_reason(&sec, false) != NULL);
    repl_actions_destroy(&acts);
    repl_state_destroy(&sec);
    repl_config_destroy(&cfg);
}

TEST(arbiter_does_not_count_toward_the_commit_point)
{
    bool arb[3] = {false, false, true};
    cfg_build(&cfg, 3, NULL, arb);
    net_init(&net, &cfg, 27);
    int p = -1;
    for (int64_t t = 0; t < 30000; t += 100) {
        net_run(&net, 100);
        p = net_primary(&net);
        if (p >= 0 && repl_is_writable_primary(&net.st[p]))
            break;
    }
    CHECK(p == 0 || p == 1);
    if (p < 0)
        goto out;
    net.is_replicating = false;
    int other = p == 0 ? 1 : 0;
    struct optime w = net_write(&net, p);
    /* PSA: writeMajority is 2, the arbiter's vote does not help; the primary alone is not enough. */
    net_run(&net, 3000);
    CHECK(optime_compare(net.st[p].commit_point, w) < 0);
    net_set_optimes(&net, other, w);
    net_run(&net, 2500);
    CHECK(optime_compare(net.st[p].commit_point, w) == 0);
out:
    done();
}

/* One position entry about member `about`, sent by member `sender`, to p. */
static void report_about(int p, int sender, int about, struct optime applied)
{
    struct repl_position_entry e;
    memset(&e, 0, sizeof e);
    e.member_id = about;
    e.cfgver = 1;
    e.applied = applied;
    e.durable = applied;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_UPDATE_POSITION;
    ev.now_ms = net.now;
    ev.peer = sender;
    ev.request_id = 4;
    ev.update_position.entries = &e;
    ev.update_position.n_entries = 1;
    repl_actions_init(&acts);
    repl_step(&net.st[p], &ev, &acts);
    repl_actions_destroy(&acts);
}

TEST(a_forwarded_position_entry_that_moves_nothing_does_not_refresh_liveness)
{
    int p = elect(31);
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    int a = (p + 1) % 3, b = (p + 2) % 3;
    net_run(&net, 1000);
    struct repl_peer *pb = &net.st[p].peers[b];
    int64_t before = pb->last_update_ms;
    /* a forwards what it last knew of b: nothing new, so no news of b being alive. */
    net.now += 500;
    report_about(p, a, b, pb->applied);
    CHECK_EQ_INT(pb->last_update_ms, before);
    /* An entry that advances b's optime is news of b. */
    struct optime newer = pb->applied;
    newer.ts += 1;
    report_about(p, a, b, newer);
    CHECK_EQ_INT(pb->last_update_ms, net.now);
out:
    done();
}

int main(void)
{
    RUN(commit_point_needs_a_majority_of_durable_optimes);
    RUN(optimes_from_another_term_are_not_counted);
    RUN(commit_point_never_moves_backwards);
    RUN(update_position_for_an_unknown_member_fails_with_node_not_found);
    RUN(leader_elect_catches_up_then_writes_the_noop_before_accepting_writes);
    RUN(catch_up_timeout_bounds_the_leader_elect);
    RUN(secondary_takes_a_heartbeat_commit_point_only_in_its_own_applied_term);
    RUN(sync_source_commit_point_is_capped_when_terms_differ);
    RUN(arbiter_takes_the_commit_point_unconditionally);
    RUN(arbiter_does_not_count_toward_the_commit_point);
    RUN(a_forwarded_position_entry_that_moves_nothing_does_not_refresh_liveness);
    return test_report();
}

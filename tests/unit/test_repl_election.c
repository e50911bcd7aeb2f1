/* test_repl_election.c - elections of the pure core driven purely by events
 * through the in-test network (repl_testnet.h): one primary, failover,
 * priority takeover, liveness stepdown, single-node sets, dry runs. */
#include "repl_testnet.h"
#include "testhelp.h"

static struct net net;

static int run_until_primary(int64_t max_ms)
{
    for (int64_t t = 0; t < max_ms; t += 100) {
        net_run(&net, 100);
        int p = net_primary(&net);
        if (p >= 0 && net.st[p].leader_mode == REPL_LEADER_WRITABLE)
            return p;
    }
    return net_primary(&net);
}

TEST(three_nodes_elect_exactly_one_writable_primary)
{
    struct repl_config cfg;
    cfg_build(&cfg, 3, NULL, NULL);
    net_init(&net, &cfg, 1);
    for (int k = 0; k < 3; k++)
        CHECK_EQ_INT(net.st[k].member_state, REPL_SECONDARY);
    int p = run_until_primary(20000);
    CHECK(p >= 0);
    if (p >= 0) {
        CHECK_EQ_INT(net.st[p].term, 2);
        CHECK(repl_is_writable_primary(&net.st[p]));
        CHECK_EQ_INT(net.n_noops[p], 1);
        /* Nobody else is primary, and the others learned who is. */
        net_run(&net, 5000);
        CHECK_EQ_INT(net_primary(&net), p);
        for (int k = 0; k < 3; k++) {
            CHECK_EQ_INT(net.st[k].term, 2);
            CHECK_EQ_INT(net.st[k].primary_index, p);
        }
    }
    net_destroy(&net);
    repl_config_destroy(&cfg);
}

TEST(killing_the_primary_elects_another_with_a_higher_term)
{
    struct repl_config cfg;
    cfg_build(&cfg, 3, NULL, NULL);
    net_init(&net, &cfg, 2);
    int p = run_until_primary(20000);
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    int64_t old_term = net.st[p].term;
    net.is_up[p] = false;
    net_run(&net, 9000);
    /* No election before the election timeout has passed. */
    for (int k = 0; k < 3; k++)
        if (k != p)
            CHECK(net.st[k].member_state == REPL_SECONDARY);
    int q = run_until_primary(15000);
    CHECK(q >= 0 && q != p);
    if (q >= 0)
        CHECK(net.st[q].term > old_term);
out:
    net_destroy(&net);
    repl_config_destroy(&cfg);
}

TEST(priority_takeover_returns_office_to_the_higher_priority_member)
{
    double prio[3] = {5, 1, 1};
    struct repl_config cfg;
    cfg_build(&cfg, 3, prio, NULL);
    net_init(&net, &cfg, 3);
    /* Node 0 is away while 1 and 2 elect someone. */
    net.is_up[0] = false;
    int p = run_until_primary(20000);
    CHECK(p == 1 || p == 2);
    net_write(&net, p);
    net.is_up[0] = true;
    /* Takeover after (rank 0 + 1) x electionTimeout + offset, once node 0 caught up. */
    int q = -1;
    for (int64_t t = 0; t < 30000 && q != 0; t += 100) {
        net_run(&net, 100);
        q = net_primary(&net);
    }
    CHECK_EQ_INT(q, 0);
    CHECK_EQ_INT(net.st[0].last_election_reason, REPL_REASON_PRIORITY_TAKEOVER);
    CHECK(net.st[0].term > net.st[p].term - 1);
    net_run(&net, 3000);
    CHECK_EQ_INT(net_primary(&net), 0);
    net_destroy(&net);
    repl_config_destroy(&cfg);
}

TEST(partitioned_primary_steps_down_after_an_election_timeout)
{
    struct repl_config cfg;
    cfg_build(&cfg, 3, NULL, NULL);
    net_init(&net, &cfg, 4);
    int p = run_until_primary(20000);
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    net_isolate(&net, p, true);
    net_run(&net, 9000);
    CHECK_EQ_INT(net.st[p].member_state, REPL_PRIMARY);
    net_run(&net, 1500);
    CHECK_EQ_INT(net.st[p].member_state, REPL_SECONDARY);
    CHECK(!repl_is_writable_primary(&net.st[p]));
    /* The majority side elects a new primary; the old one cannot (no majority). */
    int q = -1;
    for (int64_t t = 0; t < 20000; t += 100) {
        net_run(&net, 100);
        q = net_primary(&net);
        if (q >= 0 && q != p)
            break;
    }
    CHECK(q >= 0 && q != p);
    CHECK_EQ_INT(net.st[p].member_state, REPL_SECONDARY);
    /* Heal: the old primary adopts the new term and follows. */
    net_isolate(&net, p, false);
    net_run(&net, 5000);
    CHECK_EQ_INT(net.st[p].term, net.st[q].term);
    CHECK_EQ_INT(net_primary(&net), q);
out:
    net_destroy(&net);
    repl_config_destroy(&cfg);
}

TEST(single_node_set_elects_itself_at_once)
{
    struct repl_config cfg;
    cfg_build(&cfg, 1, NULL, NULL);
    net_init(&net, &cfg, 5);
    net_run(&net, 100);
    CHECK_EQ_INT(net.st[0].member_state, REPL_PRIMARY);
    CHECK(repl_is_writable_primary(&net.st[0]));
    CHECK_EQ_INT(net.st[0].term, 2);
    CHECK_EQ_INT(net.st[0].last_election_reason, REPL_REASON_SINGLE_NODE);
    net_destroy(&net);
    repl_config_destroy(&cfg);
}

TEST(dry_run_does_not_change_any_term)
{
    struct repl_config cfg;
    cfg_build(&cfg, 3, NULL, NULL);
    net_init(&net, &cfg, 6);
    /* Node 0 holds older data than both voters: its dry run must fail everywhere without term changes. */
    struct optime newer = {(2ull << 32) | 1, 1};
    net_set_optimes(&net, 1, newer);
    net_set_optimes(&net, 2, newer);
    net.link[1][2] = net.link[2][1] = false;
    /* Keep 1 and 2 from standing: freeze them. */
    for (int k = 1; k <= 2; k++) {
        struct repl_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = REPL_EV_FREEZE_REQUEST;
        ev.freeze_secs = 1000;
        net_event(&net, k, ev);
    }
    net.is_replicating = false;
    net_run(&net, 30000);
    for (int k = 0; k < 3; k++) {
        CHECK_EQ_INT(net.st[k].term, 1);
        CHECK_EQ_INT(net.st[k].last_vote_term, -1);
        CHECK_EQ_INT(net.st[k].member_state, REPL_SECONDARY);
    }
    net_destroy(&net);
    repl_config_destroy(&cfg);
}

TEST(candidate_sends_real_requests_only_after_its_vote_is_persisted)
{
    struct repl_config cfg;
    cfg_build(&cfg, 3, NULL, NULL);
    struct repl_state st;
    repl_state_init(&st, "n0:1", 7);
    struct optime data = {(1ull << 32) | 1, 1};
    repl_state_restore(&st, 1, -1, -1, data, data);
    struct repl_actions acts;
    repl_actions_init(&acts);
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_CONFIG_INSTALLED;
    ev.now_ms = 1000;
    ev.config = &cfg;
    repl_step(&st, &ev, &acts);
    /* Peers answer heartbeats so we see a majority. */
    for (int j = 1; j <= 2; j++) {
        memset(&ev, 0, sizeof ev);
        ev.type = REPL_EV_HB_RESPONSE;
        ev.now_ms = 1100;
        ev.peer = j;
        ev.hb_response.ok = true;
        snprintf(ev.hb_response.set_name, sizeof ev.hb_response.set_name, "rs0");
        ev.hb_response.state = REPL_SECONDARY;
        ev.hb_response.term = 1;
        ev.hb_response.applied = data;
        ev.hb_response.durable = data;
        ev.hb_response.config_version = 1;
        ev.hb_response.config_term = 1;
        repl_step(&st, &ev, &acts);
    }
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_STEP_UP_REQUEST;
    ev.now_ms = 1200;
    ev.request_id = 5;
    repl_actions_clear(&acts);
    repl_step(&st, &ev, &acts);
    CHECK_EQ_INT(st.phase, REPL_ELECT_DRY_RUN);
    CHECK_EQ_INT(st.term, 1);
    int n_dry = 0;
    for (int i = 0; i < acts.n; i++)
        if (acts.v[i].type == REPL_ACT_SEND_VOTE_REQUEST) {
            CHECK(acts.v[i].vote_request.dry_run);
            CHECK_EQ_INT(acts.v[i].vote_request.term, 1);
            n_dry++;
        }
    CHECK_EQ_INT(n_dry, 2);
    /* One yes wins the dry run: term+1 and PERSIST_VOTE, but no real request yet. */
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_VOTE_RESPONSE;
    ev.now_ms = 1300;
    ev.peer = 1;
    ev.vote_dry_run = true;
    ev.vote_term = 1;
    ev.vote_response.term = 1;
    ev.vote_response.vote_granted = true;
    repl_actions_clear(&acts);
    repl_step(&st, &ev, &acts);
    CHECK_EQ_INT(st.phase, REPL_ELECT_PERSISTING);
    CHECK_EQ_INT(st.term, 2);
    uint64_t seq = 0;
    for (int i = 0; i < acts.n; i++) {
        CHECK(acts.v[i].type != REPL_ACT_SEND_VOTE_REQUEST);
        if (acts.v[i].type == REPL_ACT_PERSIST_VOTE) {
            CHECK_EQ_INT(acts.v[i].persist.term, 2);
            CHECK_EQ_INT(acts.v[i].persist.candidate_index, 0);
            seq = acts.v[i].persist.seq;
        }
    }
    CHECK(seq > 0);
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_PERSISTED;
    ev.now_ms = 1400;
    ev.persisted_seq = seq;
    repl_actions_clear(&acts);
    repl_step(&st, &ev, &acts);
    CHECK_EQ_INT(st.phase, REPL_ELECT_REAL);
    int n_real = 0;
    for (int i = 0; i < acts.n; i++)
        if (acts.v[i].type == REPL_ACT_SEND_VOTE_REQUEST) {
            CHECK(!acts.v[i].vote_request.dry_run);
            CHECK_EQ_INT(acts.v[i].vote_request.term, 2);
            n_real++;
        }
    CHECK_EQ_INT(n_real, 2);
    /* A stale dry-run answer does not count toward the real round. */
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_VOTE_RESPONSE;
    ev.now_ms = 1450;
    ev.peer = 2;
    ev.vote_dry_run = true;
    ev.vote_term = 1;
    ev.vote_response.term = 1;
    ev.vote_response.vote_granted = true;
    repl_step(&st, &ev, &acts);
    CHECK_EQ_INT(st.member_state, REPL_SECONDARY);
    ev.vote_dry_run = false;
    ev.vote_term = 2;
    ev.vote_response.term = 2;
    repl_actions_clear(&acts);
    repl_step(&st, &ev, &acts);
    CHECK_EQ_INT(st.member_state, REPL_PRIMARY);
    /* Digest 1.6: the catch-up target comes from heartbeats answered after the
     * win; until both peers (answering before it) answer again, it waits. */
    CHECK_EQ_INT(st.leader_mode, REPL_LEADER_CATCHING_UP);
    for (int j = 1; j <= 2; j++) {
        memset(&ev, 0, sizeof ev);
        ev.type = REPL_EV_HB_RESPONSE;
        ev.now_ms = 1460;
        ev.peer = j;
        ev.hb_response.ok = true;
        snprintf(ev.hb_response.set_name, sizeof ev.hb_response.set_name, "rs0");
        ev.hb_response.state = REPL_SECONDARY;
        ev.hb_response.term = 2;
        ev.hb_response.applied = data;
        ev.hb_response.durable = data;
        ev.hb_response.config_version = 1;
        ev.hb_response.config_term = 1;
        repl_step(&st, &ev, &acts);
    }
    /* Everyone is at its optime: no catch-up, the no-op is requested, not writable yet. */
    CHECK_EQ_INT(st.leader_mode, REPL_LEADER_AWAITING_NOOP);
    CHECK(!repl_is_writable_primary(&st));
    bool has_ok = false, has_noop = false;
    for (int i = 0; i < acts.n; i++) {
        if (acts.v[i].type == REPL_ACT_COMMAND_RESULT && acts.v[i].request_id == 5)
            has_ok = acts.v[i].result.code == 0;
        if (acts.v[i].type == REPL_ACT_WRITE_NOOP)
            has_noop = acts.v[i].noop_term == 2;
    }
    CHECK(has_ok);
    CHECK(has_noop);
    repl_actions_destroy(&acts);
    repl_state_destroy(&st);
    repl_config_destroy(&cfg);
}

TEST(frozen_member_does_not_stand)
{
    struct repl_config cfg;
    cfg_build(&cfg, 1, NULL, NULL);
    struct repl_state st;
    repl_state_init(&st, "n0:1", 9);
    struct optime data = {(1ull << 32) | 1, 1};
    repl_state_restore(&st, 1, -1, -1, data, data);
    struct repl_actions acts;
    repl_actions_init(&acts);
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_FREEZE_REQUEST;
    ev.now_ms = 500;
    ev.freeze_secs = 30;
    ev.request_id = 1;
    repl_step(&st, &ev, &acts); /* no config yet: STARTUP is not primary, freeze accepted */
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_CONFIG_INSTALLED;
    ev.now_ms = 1000;
    ev.config = &cfg;
    repl_step(&st, &ev, &acts);
    CHECK_EQ_INT(st.member_state, REPL_SECONDARY);
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_TICK;
    for (int64_t t = 1000; t < 30000; t += 500) {
        ev.now_ms = t;
        repl_step(&st, &ev, &acts);
    }
    CHECK_EQ_INT(st.member_state, REPL_SECONDARY);
    CHECK_EQ_INT(st.term, 1);
    CHECK(repl_unelectable_reason(&st, false) != NULL);
    /* replSetFreeze 0 unfreezes and the single node elects itself. */
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_FREEZE_REQUEST;
    ev.now_ms = 30000;
    ev.freeze_secs = 0;
    repl_step(&st, &ev, &acts);
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_PERSISTED;
    ev.now_ms = 30001;
    ev.persisted_seq = st.persist_seq;
    repl_step(&st, &ev, &acts);
    CHECK_EQ_INT(st.member_state, REPL_PRIMARY);
    repl_actions_destroy(&acts);
    repl_state_destroy(&st);
    repl_config_destroy(&cfg);
}

TEST(many_seeds_never_produce_two_primaries_in_one_term)
{
    struct repl_config cfg;
    cfg_build(&cfg, 5, NULL, NULL);
    for (uint64_t seed = 10; seed < 16; seed++) {
        net_init(&net, &cfg, seed);
        int64_t leader_of_term[64];
        for (int i = 0; i < 64; i++)
            leader_of_term[i] = -1;
        for (int step = 0; step < 600; step++) {
            if (step % 150 == 75) {
                int victim = (int)((seed + (uint64_t)step) % 5);
                net.is_up[victim] = !net.is_up[victim];
            }
            net_run(&net, 100);
            for (int k = 0; k < 5; k++) {
                if (net.st[k].member_state != REPL_PRIMARY || net.st[k].term >= 64)
                    continue;
                int64_t t = net.st[k].term;
                CHECK(leader_of_term[t] == -1 || leader_of_term[t] == k);
                leader_of_term[t] = k;
            }
        }
        net_destroy(&net);
    }
    repl_config_destroy(&cfg);
}

int main(void)
{
    RUN(three_nodes_elect_exactly_one_writable_primary);
    RUN(killing_the_primary_elects_another_with_a_higher_term);
    RUN(priority_takeover_returns_office_to_the_higher_priority_member);
    RUN(partitioned_primary_steps_down_after_an_election_timeout);
    RUN(single_node_set_elects_itself_at_once);
    RUN(dry_run_does_not_change_any_term);
    RUN(candidate_sends_real_requests_only_after_its_vote_is_persisted);
    RUN(frozen_member_does_not_stand);
    RUN(many_seeds_never_produce_two_primaries_in_one_term);
    return test_report();
}

/* test_repl_stepdown.c - replSetStepDown (conditional, force, handoff),
 * replSetFreeze, replSetStepUp and heartbeat reconfig (digest 1.5, 1.7, 6.3). */
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

static void stepdown(int k, int64_t secs, int64_t catch_up_secs, bool force)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_STEPDOWN_REQUEST;
    ev.request_id = 777;
    ev.stepdown.secs = secs;
    ev.stepdown.catch_up_secs = catch_up_secs;
    ev.stepdown.force = force;
    net.has_result[k] = false;
    net_event(&net, k, ev);
}

TEST(stepdown_without_caught_up_secondaries_fails_after_the_catch_up_period)
{
    int p = elect(31);
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    net.is_replicating = false;
    net_write(&net, p);
    stepdown(p, 60, 10, false);
    CHECK(!net.has_result[p]);
    CHECK_EQ_INT(net.st[p].leader_mode, REPL_LEADER_STEPPING_DOWN);
    CHECK(!repl_is_writable_primary(&net.st[p]));
    net_run(&net, 9500);
    CHECK(!net.has_result[p]);
    net_run(&net, 600);
    CHECK(net.has_result[p]);
    CHECK_EQ_INT(net.last_result_code[p], -ERR_EXCEEDED_TIME_LIMIT);
    CHECK_EQ_INT(net.st[p].member_state, REPL_PRIMARY);
    CHECK(repl_is_writable_primary(&net.st[p]));
out:
    done();
}

TEST(forced_stepdown_succeeds_at_the_deadline_without_caught_up_secondaries)
{
    int p = elect(32);
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    net.is_replicating = false;
    net_write(&net, p);
    stepdown(p, 60, 2, true);
    CHECK(!net.has_result[p]);
    net_run(&net, 2100);
    CHECK(net.has_result[p]);
    CHECK_EQ_INT(net.last_result_code[p], 0);
    CHECK_EQ_INT(net.st[p].member_state, REPL_SECONDARY);
    CHECK(net.st[p].stepdown_until_ms > net.now + 55000);
out:
    done();
}

TEST(stepdown_with_caught_up_secondaries_succeeds_and_hands_off)
{
    int p = elect(33);
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    net_write(&net, p);
    net_run(&net, 4000); /* replicate and report */
    int64_t term = net.st[p].term;
    stepdown(p, 60, 10, false);
    CHECK(net.has_result[p]);
    CHECK_EQ_INT(net.last_result_code[p], 0);
    CHECK_EQ_INT(net.st[p].member_state, REPL_SECONDARY);
    CHECK_EQ_INT(net.n_step_up_sent, 1);
    /* Handoff skips the dry run and the election timeout: a new primary almost at once. */
    net_run(&net, 500);
    int q = net_primary(&net);
    CHECK(q >= 0 && q != p);
    if (q >= 0)
        CHECK_EQ_INT(net.st[q].term, term + 1);
    /* The old primary cannot stand during its stepdown period. */
    CHECK(repl_unelectable_reason(&net.st[p], false) != NULL);
out:
    done();
}

TEST(stepdown_rejects_non_primaries_bad_periods_and_concurrent_attempts)
{
    int p = elect(34);
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    int s = (p + 1) % 3;
    stepdown(s, 60, 10, false);
    CHECK(net.has_result[s]);
    CHECK_EQ_INT(net.last_result_code[s], -ERR_NOT_WRITABLE_PRIMARY);
    stepdown(p, 5, 10, false);
    CHECK_EQ_INT(net.last_result_code[p], -ERR_BAD_VALUE);
    net.is_replicating = false;
    net_write(&net, p);
    stepdown(p, 60, 10, false);
    CHECK(!net.has_result[p]);
    stepdown(p, 60, 10, false);
    CHECK(net.has_result[p]);
    CHECK_EQ_INT(net.last_result_code[p], -ERR_CONFLICTING_OPERATION_IN_PROGRESS);
out:
    done();
}

TEST(higher_term_during_a_conditional_stepdown_answers_it)
{
    int p = elect(35);
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    net.is_replicating = false;
    net_write(&net, p);
    stepdown(p, 60, 10, false);
    CHECK(!net.has_result[p]);
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_SYNC_SOURCE_META;
    ev.meta.term = net.st[p].term + 5;
    ev.meta.primary_index = -1;
    ev.meta.commit_point = OPTIME_NULL;
    net_event(&net, p, ev);
    CHECK(net.has_result[p]);
    CHECK_EQ_INT(net.last_result_code[p], -ERR_PRIMARY_STEPPED_DOWN);
    CHECK_EQ_INT(net.st[p].member_state, REPL_SECONDARY);
out:
    done();
}

TEST(freeze_is_refused_on_a_primary_and_warns_for_one_second)
{
    int p = elect(36);
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_FREEZE_REQUEST;
    ev.request_id = 777;
    ev.freeze_secs = 10;
    net_event(&net, p, ev);
    CHECK_EQ_INT(net.last_result_code[p], -ERR_NOT_SECONDARY);
    int s = (p + 1) % 3;
    struct repl_actions acts;
    repl_actions_init(&acts);
    ev.freeze_secs = 1;
    ev.now_ms = net.now;
    repl_step(&net.st[s], &ev, &acts);
    bool is_warned = false;
    for (int i = 0; i < acts.n; i++)
        if (acts.v[i].type == REPL_ACT_COMMAND_RESULT)
            is_warned = acts.v[i].result.code == 0 && acts.v[i].result.is_warning;
    CHECK(is_warned);
    CHECK(net.st[s].stepdown_until_ms == net.now + 1000);
    repl_actions_destroy(&acts);
out:
    done();
}

TEST(step_up_on_a_secondary_makes_it_primary)
{
    int p = elect(37);
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    net_run(&net, 4000);
    int s = (p + 1) % 3;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_STEP_UP_REQUEST;
    ev.request_id = 777;
    net_event(&net, s, ev);
    CHECK(net.has_result[s]);
    CHECK_EQ_INT(net.last_result_code[s], 0);
    CHECK_EQ_INT(net.st[s].member_state, REPL_PRIMARY);
    CHECK_EQ_INT(net.st[p].member_state, REPL_SECONDARY);
    CHECK_EQ_INT(net.st[s].last_election_reason, REPL_REASON_STEP_UP);
out:
    done();
}

TEST(heartbeat_reconfig_adopts_only_newer_configs)
{
    int p = elect(38);
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    /* The primary installs version 2 with a new priority; the others fetch it by heartbeat. */
    struct repl_config v2;
    repl_config_copy(&v2, &cfg);
    v2.version = 2;
    v2.members[0].priority = 3;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_CONFIG_INSTALLED;
    ev.config = &v2;
    net_event(&net, p, ev);
    net_run(&net, 3000);
    for (int k = 0; k < 3; k++) {
        CHECK_EQ_INT(net.st[k].config.version, 2);
        CHECK(net.st[k].config.members[0].priority == 3);
    }
    int persists = net.n_config_persists[(p + 1) % 3];
    CHECK_EQ_INT(persists, 1);
    /* An older config handed to a node directly is ignored. */
    ev.config = &cfg;
    net_event(&net, (p + 1) % 3, ev);
    CHECK_EQ_INT(net.st[(p + 1) % 3].config.version, 2);
    /* More heartbeats at the same version do not persist again. */
    net_run(&net, 5000);
    CHECK_EQ_INT(net.n_config_persists[(p + 1) % 3], persists);
    repl_config_destroy(&v2);
out:
    done();
}

TEST(member_removed_from_the_config_becomes_removed)
{
    int p = elect(39);
    CHECK(p >= 0);
    if (p < 0)
        goto out;
    int gone = (p + 1) % 3;
    struct repl_config v2;
    repl_config_copy(&v2, &cfg);
    v2.version = 2;
    /* Drop member `gone` by moving the last member into its slot. */
    if (gone != 2) {
        bson_destroy(v2.members[gone].tags);
        v2.members[gone] = v2.members[2];
    } else {
        bson_destroy(v2.members[2].tags);
    }
    v2.n_members = 2;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_CONFIG_INSTALLED;
    ev.config = &v2;
    net_event(&net, gone, ev);
    CHECK_EQ_INT(net.st[gone].member_state, REPL_REMOVED);
    CHECK_EQ_INT(net.st[gone].self, -1);
    repl_config_destroy(&v2);
out:
    done();
}

int main(void)
{
    RUN(stepdown_without_caught_up_secondaries_fails_after_the_catch_up_period);
    RUN(forced_stepdown_succeeds_at_the_deadline_without_caught_up_secondaries);
    RUN(stepdown_with_caught_up_secondaries_succeeds_and_hands_off);
    RUN(stepdown_rejects_non_primaries_bad_periods_and_concurrent_attempts);
    RUN(higher_term_during_a_conditional_stepdown_answers_it);
    RUN(freeze_is_refused_on_a_primary_and_warns_for_one_second);
    RUN(step_up_on_a_secondary_makes_it_primary);
    RUN(heartbeat_reconfig_adopts_only_newer_configs);
    RUN(member_removed_from_the_config_becomes_removed);
    return test_report();
}

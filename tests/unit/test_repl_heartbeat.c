/* test_repl_heartbeat.c - heartbeats (digest 1.1): schedule, DOWN marking and
 * retries, answering requests (set name, STARTUP2 null optimes, config
 * attachment), and sync-source choice (3.2). */
#include "repl_testnet.h"
#include "testhelp.h"

static struct repl_config cfg;
static struct repl_state st;
static struct repl_actions acts;
static const struct optime DATA = {(10ull << 32) | 1, 2};

static void setup(bool has_data)
{
    cfg_build(&cfg, 3, NULL, NULL);
    cfg.version = 3;
    repl_state_init(&st, "n0:1", 1);
    if (has_data)
        repl_state_restore(&st, 2, -1, -1, DATA, DATA);
    repl_actions_init(&acts);
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_CONFIG_INSTALLED;
    ev.now_ms = 1000;
    ev.config = &cfg;
    repl_step(&st, &ev, &acts);
}

static void teardown(void)
{
    repl_actions_destroy(&acts);
    repl_state_destroy(&st);
    repl_config_destroy(&cfg);
}

static int count(enum repl_action_type type, int target)
{
    int n = 0;
    for (int i = 0; i < acts.n; i++)
        n += acts.v[i].type == type && (target < 0 || acts.v[i].target == target);
    return n;
}

static void tick(int64_t now)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_TICK;
    ev.now_ms = now;
    repl_actions_clear(&acts);
    repl_step(&st, &ev, &acts);
}

/* A heartbeat response from peer, which syncs from member sync_id (-1: none). */
static void answer_syncing(int peer, int64_t now, int state, struct optime applied, int sync_id)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_HB_RESPONSE;
    ev.now_ms = now;
    ev.peer = peer;
    ev.rtt_ms = 10;
    ev.hb_response.ok = true;
    snprintf(ev.hb_response.set_name, sizeof ev.hb_response.set_name, "rs0");
    ev.hb_response.state = state;
    ev.hb_response.term = 2;
    ev.hb_response.applied = applied;
    ev.hb_response.durable = applied;
    ev.hb_response.config_version = 3;
    ev.hb_response.config_term = 1;
    ev.hb_response.sync_source_id = sync_id;
    repl_actions_clear(&acts);
    repl_step(&st, &ev, &acts);
}

static void answer(int peer, int64_t now, int state, struct optime applied)
{
    answer_syncing(peer, now, state, applied, -1);
}

static void feed_peer(enum repl_event_type type, int peer, int64_t now)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.now_ms = now;
    ev.peer = peer;
    repl_actions_clear(&acts);
    repl_step(&st, &ev, &acts);
}

TEST(heartbeats_go_to_every_peer_on_schedule)
{
    setup(true);
    CHECK_EQ_INT(count(REPL_ACT_SEND_HEARTBEAT, 1), 1);
    CHECK_EQ_INT(count(REPL_ACT_SEND_HEARTBEAT, 2), 1);
    CHECK_EQ_INT(count(REPL_ACT_SEND_HEARTBEAT, 0), 0);
    /* With a sync source the interval is heartbeatIntervalMillis. */
    answer(1, 1100, REPL_PRIMARY, (struct optime){DATA.ts + 5, 2});
    CHECK_EQ_INT(st.sync_source, 1);
    /* Without a sync source the first interval was heartbeatIntervalMillis / 4 (500 ms). */
    tick(1400);
    CHECK_EQ_INT(count(REPL_ACT_SEND_HEARTBEAT, 1), 0);
    tick(1500);
    CHECK_EQ_INT(count(REPL_ACT_SEND_HEARTBEAT, 1), 1);
    tick(3499);
    CHECK_EQ_INT(count(REPL_ACT_SEND_HEARTBEAT, 1), 0);
    tick(3500);
    CHECK_EQ_INT(count(REPL_ACT_SEND_HEARTBEAT, 1), 1);
    teardown();
}

TEST(peer_is_marked_down_only_after_the_heartbeat_timeout)
{
    setup(true);
    answer(1, 1100, REPL_SECONDARY, DATA);
    CHECK(st.peers[1].is_up);
    /* The window opens with the first unanswered request after the answer (at 1500 at the latest). */
    for (int64_t t = 1200; t < 11000; t += 100) {
        tick(t);
        CHECK(st.peers[1].is_up);
    }
    for (int64_t t = 11000; t < 12000; t += 100)
        tick(t);
    CHECK(!st.peers[1].is_up);
    CHECK_EQ_INT(st.peers[1].state, REPL_DOWN);
    /* An answer brings it back. */
    answer(1, 12100, REPL_SECONDARY, DATA);
    CHECK(st.peers[1].is_up);
    CHECK_EQ_INT(st.peers[1].state, REPL_SECONDARY);
    teardown();
}

TEST(failed_heartbeat_is_retried_at_most_twice)
{
    setup(true);
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_HB_FAILURE;
    ev.peer = 2;
    int retries = 0;
    for (int i = 0; i < 4; i++) {
        ev.now_ms = 1100 + i;
        repl_actions_clear(&acts);
        repl_step(&st, &ev, &acts);
        retries += count(REPL_ACT_SEND_HEARTBEAT, 2);
    }
    CHECK_EQ_INT(retries, 2);
    teardown();
}

TEST(heartbeat_request_from_another_set_gets_an_error)
{
    setup(true);
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_HB_REQUEST;
    ev.now_ms = 1100;
    ev.request_id = 4;
    snprintf(ev.hb_request.set_name, sizeof ev.hb_request.set_name, "other");
    repl_actions_clear(&acts);
    repl_step(&st, &ev, &acts);
    CHECK_EQ_INT(count(REPL_ACT_REPLY_HEARTBEAT, -1), 1);
    for (int i = 0; i < acts.n; i++)
        if (acts.v[i].type == REPL_ACT_REPLY_HEARTBEAT) {
            CHECK(!acts.v[i].hb_response.ok);
            CHECK_EQ_INT(acts.v[i].hb_response.code, 185);
        }
    teardown();
}

TEST(heartbeat_reply_attaches_config_only_for_older_callers_and_hides_startup2_optimes)
{
    setup(false);
    CHECK_EQ_INT(st.member_state, REPL_STARTUP2);
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_HB_REQUEST;
    ev.now_ms = 1100;
    ev.request_id = 4;
    snprintf(ev.hb_request.set_name, sizeof ev.hb_request.set_name, "rs0");
    ev.hb_request.config_version = 2;
    ev.hb_request.config_term = 1;
    ev.hb_request.from_id = 1;
    ev.hb_request.term = 2;
    repl_actions_clear(&acts);
    repl_step(&st, &ev, &acts);
    bool ok = false;
    for (int i = 0; i < acts.n; i++)
        if (acts.v[i].type == REPL_ACT_REPLY_HEARTBEAT) {
            ok = acts.v[i].include_config && acts.v[i].hb_response.ok &&
                 optime_is_null(acts.v[i].hb_response.applied) && acts.v[i].hb_response.state == REPL_STARTUP2;
        }
    CHECK(ok);
    CHECK_EQ_INT(st.term, 2); /* adopted from the request */
    CHECK_EQ_INT(st.peers[1].last_hb_recv_ms, 1100);
    ev.hb_request.config_version = 3;
    repl_actions_clear(&acts);
    repl_step(&st, &ev, &acts);
    for (int i = 0; i < acts.n; i++)
        if (acts.v[i].type == REPL_ACT_REPLY_HEARTBEAT)
            CHECK(!acts.v[i].include_config);
    teardown();
}

TEST(sync_source_is_the_closest_member_ahead_unless_chaining_is_off)
{
    setup(true);
    struct optime ahead = {DATA.ts + 5, 2};
    answer(2, 1100, REPL_SECONDARY, ahead); /* rtt 10 */
    CHECK_EQ_INT(st.sync_source, 2);
    /* A member not ahead of us is never chosen. */
    teardown();
    setup(true);
    answer(2, 1100, REPL_SECONDARY, DATA);
    CHECK_EQ_INT(st.sync_source, -1);
    teardown();
    setup(true);
    cfg.settings.is_chaining_allowed = false;
    struct repl_config c2;
    repl_config_copy(&c2, &cfg);
    c2.version = 4;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_CONFIG_INSTALLED;
    ev.now_ms = 1050;
    ev.config = &c2;
    repl_step(&st, &ev, &acts);
    answer(2, 1100, REPL_SECONDARY, ahead);
    CHECK_EQ_INT(st.sync_source, -1);
    answer(1, 1200, REPL_PRIMARY, ahead);
    CHECK_EQ_INT(st.sync_source, 1);
    repl_config_destroy(&c2);
    teardown();
}

TEST(failed_fetch_moves_to_another_source_at_once_and_the_denial_expires)
{
    setup(true);
    struct optime ahead = {DATA.ts + 5, 2};
    answer(1, 1100, REPL_PRIMARY, ahead);
    answer(2, 1100, REPL_SECONDARY, ahead);
    CHECK_EQ_INT(st.sync_source, 1);
    /* Heartbeats still call the source up; the fetcher says it failed. */
    feed_peer(REPL_EV_SYNC_SOURCE_FAILED, 1, 1200);
    CHECK_EQ_INT(st.sync_source, 2);
    CHECK_EQ_INT(count(REPL_ACT_SYNC_SOURCE, 2), 1);
    /* A report about a member that is not our source changes nothing. */
    feed_peer(REPL_EV_SYNC_SOURCE_FAILED, 1, 1300);
    CHECK_EQ_INT(st.sync_source, 2);
    CHECK_EQ_INT(count(REPL_ACT_SYNC_SOURCE, -1), 0);
    /* 2 fails too while 1 is still denied (electionTimeout 10 s): no better
     * choice than the denied 2, which stays. */
    feed_peer(REPL_EV_SYNC_SOURCE_FAILED, 2, 1400);
    CHECK_EQ_INT(st.sync_source, 2);
    CHECK_EQ_INT(count(REPL_ACT_SYNC_SOURCE, -1), 0);
    /* After 1's denial ended and 2 failed again, 1 is chosen. */
    answer(1, 11300, REPL_PRIMARY, ahead);
    feed_peer(REPL_EV_SYNC_SOURCE_FAILED, 2, 11500);
    CHECK_EQ_INT(st.sync_source, 1);
    teardown();
}

TEST(a_secondary_that_syncs_from_us_is_never_our_source)
{
    setup(true);
    struct optime ahead = {DATA.ts + 5, 2}, further = {DATA.ts + 9, 2};
    answer_syncing(2, 1100, REPL_SECONDARY, ahead, 0);
    CHECK_EQ_INT(st.sync_source, -1);
    answer_syncing(2, 1200, REPL_SECONDARY, ahead, 1);
    CHECK_EQ_INT(st.sync_source, 2);
    /* Once it reports syncing from us, it is dropped for the primary. */
    answer(1, 1300, REPL_PRIMARY, further);
    CHECK_EQ_INT(st.sync_source, 2);
    answer_syncing(2, 1400, REPL_SECONDARY, ahead, 0);
    CHECK_EQ_INT(st.sync_source, 1);
    teardown();
}

TEST(a_source_whose_heartbeat_trails_what_we_applied_is_kept)
{
    setup(true);
    struct optime ahead = {DATA.ts + 5, 2};
    answer(2, 1100, REPL_SECONDARY, ahead);
    CHECK_EQ_INT(st.sync_source, 2);
    /* We applied past what the last heartbeat of 2 said: that is normal. */
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_OPTIMES;
    ev.now_ms = 1150;
    ev.peer = -1;
    ev.optimes.applied = ev.optimes.durable = (struct optime){DATA.ts + 7, 2};
    repl_actions_clear(&acts);
    repl_step(&st, &ev, &acts);
    CHECK_EQ_INT(st.sync_source, 2);
    teardown();
}

TEST(sync_from_request_waits_for_the_member_to_be_usable_then_expires)
{
    setup(true);
    struct optime ahead = {DATA.ts + 5, 2};
    answer(1, 1100, REPL_PRIMARY, ahead);
    CHECK_EQ_INT(st.sync_source, 1);
    /* 2 is not known yet: the request waits. */
    feed_peer(REPL_EV_SYNC_FROM, 2, 1200);
    CHECK_EQ_INT(st.sync_source, 1);
    answer(2, 1300, REPL_SECONDARY, DATA);
    CHECK_EQ_INT(st.sync_source, 2);
    CHECK_EQ_INT(st.forced_sync_source_until_ms, 0);
    /* It stays: chosen sources are kept while usable. */
    answer(1, 1400, REPL_PRIMARY, ahead);
    CHECK_EQ_INT(st.sync_source, 2);
    teardown();
    setup(true);
    answer(1, 1100, REPL_PRIMARY, ahead);
    feed_peer(REPL_EV_SYNC_FROM, 2, 1200);
    /* Usable only after the request expired (electionTimeout 10 s): ignored. */
    answer(2, 11300, REPL_SECONDARY, ahead);
    CHECK_EQ_INT(st.sync_source, 1);
    teardown();
}

int main(void)
{
    RUN(heartbeats_go_to_every_peer_on_schedule);
    RUN(peer_is_marked_down_only_after_the_heartbeat_timeout);
    RUN(failed_heartbeat_is_retried_at_most_twice);
    RUN(heartbeat_request_from_another_set_gets_an_error);
    RUN(heartbeat_reply_attaches_config_only_for_older_callers_and_hides_startup2_optimes);
    RUN(sync_source_is_the_closest_member_ahead_unless_chaining_is_off);
    RUN(failed_fetch_moves_to_another_source_at_once_and_the_denial_expires);
    RUN(a_secondary_that_syncs_from_us_is_never_our_source);
    RUN(a_source_whose_heartbeat_trails_what_we_applied_is_kept);
    RUN(sync_from_request_waits_for_the_member_to_be_usable_then_expires);
    return test_report();
}

/* test_repl_vote.c - the voter side of replSetRequestVotes (digest 1.4): every
 * refusal rule with a failing example, in order; the persisted-vote-before-reply
 * contract; dry runs never record votes; the arbiter veto. */
#include "repl_testnet.h"
#include "testhelp.h"

static struct repl_config cfg;
static struct repl_state st;
static struct repl_actions acts;
static const struct optime DATA = {(10ull << 32) | 5, 3};

static void voter_setup(const char *host, bool is_arbiter_cfg)
{
    bool arb[3] = {false, false, is_arbiter_cfg};
    cfg_build(&cfg, 3, NULL, arb);
    cfg.version = 4;
    cfg.term = 3;
    repl_state_init(&st, host, 42);
    repl_state_restore(&st, 5, 4, 2, DATA, DATA);
    repl_actions_init(&acts);
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_CONFIG_INSTALLED;
    ev.now_ms = 1000;
    ev.config = &cfg;
    repl_step(&st, &ev, &acts);
    repl_actions_clear(&acts);
}

static void voter_teardown(void)
{
    repl_actions_destroy(&acts);
    repl_state_destroy(&st);
    repl_config_destroy(&cfg);
}

static struct repl_vote_request good_request(bool dry_run)
{
    struct repl_vote_request r;
    memset(&r, 0, sizeof r);
    snprintf(r.set_name, sizeof r.set_name, "rs0");
    r.dry_run = dry_run;
    r.term = dry_run ? 5 : 6;
    r.candidate_index = 0;
    r.config_version = 4;
    r.config_term = 3;
    r.last_applied = DATA;
    return r;
}

/* Sends req; returns the REPLY_VOTE action emitted now, or NULL. */
static const struct repl_action *ask(struct repl_vote_request req, uint64_t id)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_VOTE_REQUEST;
    ev.now_ms = 2000;
    ev.peer = 0;
    ev.request_id = id;
    ev.vote_request = req;
    repl_actions_clear(&acts);
    repl_step(&st, &ev, &acts);
    for (int i = 0; i < acts.n; i++)
        if (acts.v[i].type == REPL_ACT_REPLY_VOTE && acts.v[i].request_id == id)
            return &acts.v[i];
    return NULL;
}

static void persist_all(void)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_PERSISTED;
    ev.now_ms = 2001;
    ev.persisted_seq = st.persist_seq;
    repl_actions_clear(&acts);
    repl_step(&st, &ev, &acts);
}

TEST(rule1_older_config_is_refused)
{
    voter_setup("n1:1", false);
    struct repl_vote_request r = good_request(true);
    r.config_version = 3;
    const struct repl_action *a = ask(r, 1);
    CHECK(a && !a->vote_response.vote_granted);
    CHECK(a && strstr(a->vote_response.reason, "config") != NULL);
    /* A newer config term with a lower version still counts as newer. */
    r.config_term = 4;
    r.config_version = 1;
    a = ask(r, 2);
    CHECK(a && a->vote_response.vote_granted);
    voter_teardown();
}

TEST(rule2_lower_term_is_refused)
{
    voter_setup("n1:1", false);
    struct repl_vote_request r = good_request(true);
    r.term = 4;
    const struct repl_action *a = ask(r, 1);
    CHECK(a && !a->vote_response.vote_granted);
    CHECK(a && strstr(a->vote_response.reason, "term") != NULL);
    CHECK(a && a->vote_response.term == 5);
    voter_teardown();
}

TEST(rule3_other_set_name_is_refused)
{
    voter_setup("n1:1", false);
    struct repl_vote_request r = good_request(true);
    snprintf(r.set_name, sizeof r.set_name, "other");
    const struct repl_action *a = ask(r, 1);
    CHECK(a && !a->vote_response.vote_granted);
    CHECK(a && strstr(a->vote_response.reason, "set name") != NULL);
    voter_teardown();
}

TEST(rule4_staler_candidate_is_refused_comparing_term_first)
{
    voter_setup("n1:1", false);
    struct repl_vote_request r = good_request(true);
    r.last_applied = (struct optime){(10ull << 32) | 4, 3};
    const struct repl_action *a = ask(r, 1);
    CHECK(a && !a->vote_response.vote_granted);
    CHECK(a && strstr(a->vote_response.reason, "staler") != NULL);
    /* An older timestamp in a newer term is fresher: granted. */
    r.last_applied = (struct optime){(1ull << 32) | 1, 4};
    a = ask(r, 2);
    CHECK(a && a->vote_response.vote_granted);
    /* A newer timestamp in an older term is staler. */
    r.last_applied = (struct optime){(99ull << 32) | 1, 2};
    a = ask(r, 3);
    CHECK(a && !a->vote_response.vote_granted);
    voter_teardown();
}

TEST(rule5_second_real_vote_in_a_term_is_refused)
{
    voter_setup("n1:1", false);
    struct repl_vote_request r = good_request(false);
    const struct repl_action *a = ask(r, 1);
    CHECK(a == NULL); /* held until persisted */
    CHECK_EQ_INT(st.last_vote_term, 6);
    CHECK_EQ_INT(st.last_vote_candidate, 0);
    persist_all();
    /* Another candidate in the same term is refused. */
    r.candidate_index = 2;
    a = ask(r, 2);
    CHECK(a && !a->vote_response.vote_granted);
    CHECK(a && strstr(a->vote_response.reason, "already voted") != NULL);
    /* Dry runs do not consult LastVote: a dry run for term 6 is still granted. */
    r.dry_run = true;
    a = ask(r, 3);
    CHECK(a && a->vote_response.vote_granted);
    CHECK_EQ_INT(st.last_vote_candidate, 0);
    voter_teardown();
}

TEST(granted_real_vote_is_replied_only_after_persistence)
{
    voter_setup("n1:1", false);
    const struct repl_action *a = ask(good_request(false), 9);
    CHECK(a == NULL);
    uint64_t seq = 0;
    for (int i = 0; i < acts.n; i++)
        if (acts.v[i].type == REPL_ACT_PERSIST_VOTE)
            seq = acts.v[i].persist.seq;
    CHECK(seq > 0);
    CHECK_EQ_INT(st.term, 6);
    /* An older durable sequence does not release it. */
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_PERSISTED;
    ev.now_ms = 2001;
    ev.persisted_seq = seq - 1;
    repl_actions_clear(&acts);
    repl_step(&st, &ev, &acts);
    for (int i = 0; i < acts.n; i++)
        CHECK(acts.v[i].type != REPL_ACT_REPLY_VOTE);
    ev.persisted_seq = seq;
    repl_actions_clear(&acts);
    repl_step(&st, &ev, &acts);
    int n_replies = 0;
    for (int i = 0; i < acts.n; i++)
        if (acts.v[i].type == REPL_ACT_REPLY_VOTE) {
            n_replies++;
            CHECK_EQ_INT(acts.v[i].request_id, 9);
            CHECK(acts.v[i].vote_response.vote_granted);
            CHECK_EQ_INT(acts.v[i].vote_response.term, 6);
        }
    CHECK_EQ_INT(n_replies, 1);
    voter_teardown();
}

TEST(dry_run_never_moves_the_voters_term_or_vote)
{
    voter_setup("n1:1", false);
    struct repl_vote_request r = good_request(true);
    r.term = 9; /* a dry run with a term above ours */
    const struct repl_action *a = ask(r, 1);
    CHECK(a && a->vote_response.vote_granted);
    CHECK_EQ_INT(st.term, 5);
    CHECK_EQ_INT(st.last_vote_term, 4);
    voter_teardown();
}

TEST(real_request_with_higher_term_deposes_a_primary_voter)
{
    voter_setup("n1:1", false);
    /* Make the voter a primary by hand through a step-up on a set where it sees everyone. */
    struct repl_event ev;
    for (int j = 0; j < 3; j += 2) {
        memset(&ev, 0, sizeof ev);
        ev.type = REPL_EV_HB_RESPONSE;
        ev.now_ms = 1500;
        ev.peer = j;
        ev.hb_response.ok = true;
        snprintf(ev.hb_response.set_name, sizeof ev.hb_response.set_name, "rs0");
        ev.hb_response.state = REPL_SECONDARY;
        ev.hb_response.term = 5;
        ev.hb_response.applied = DATA;
        ev.hb_response.durable = DATA;
        ev.hb_response.config_version = 4;
        ev.hb_response.config_term = 3;
        repl_step(&st, &ev, &acts);
    }
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_STEP_UP_REQUEST;
    ev.now_ms = 1600;
    ev.step_up_skip_dry_run = true;
    repl_step(&st, &ev, &acts);
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_PERSISTED;
    ev.now_ms = 1601;
    ev.persisted_seq = st.persist_seq;
    repl_step(&st, &ev, &acts);
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_VOTE_RESPONSE;
    ev.now_ms = 1602;
    ev.peer = 0;
    ev.vote_term = 6;
    ev.vote_response.term = 6;
    ev.vote_response.vote_granted = true;
    repl_step(&st, &ev, &acts);
    CHECK_EQ_INT(st.member_state, REPL_PRIMARY);
    CHECK_EQ_INT(st.term, 6);
    /* A fresher candidate in term 7: the primary steps down and grants (priority takeover path). */
    struct repl_vote_request r = good_request(false);
    r.term = 7;
    r.last_applied = (struct optime){(11ull << 32) | 1, 6};
    const struct repl_action *a = ask(r, 4);
    CHECK(a == NULL);
    CHECK_EQ_INT(st.member_state, REPL_SECONDARY);
    CHECK_EQ_INT(st.term, 7);
    persist_all();
    bool granted = false;
    for (int i = 0; i < acts.n; i++)
        if (acts.v[i].type == REPL_ACT_REPLY_VOTE)
            granted = acts.v[i].vote_response.vote_granted;
    CHECK(granted);
    voter_teardown();
}

static void arbiter_sees(int primary_state, int64_t term)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_HB_RESPONSE;
    ev.now_ms = 1500;
    ev.peer = 1;
    ev.hb_response.ok = true;
    snprintf(ev.hb_response.set_name, sizeof ev.hb_response.set_name, "rs0");
    ev.hb_response.state = primary_state;
    ev.hb_response.term = term;
    ev.hb_response.applied = DATA;
    ev.hb_response.config_version = 4;
    ev.hb_response.config_term = 3;
    repl_step(&st, &ev, &acts);
}

TEST(rule6_arbiter_vetoes_when_it_sees_a_primary_of_equal_priority)
{
    voter_setup("n2:1", true);
    CHECK_EQ_INT(st.member_state, REPL_ARBITER);
    arbiter_sees(REPL_PRIMARY, 5);
    struct repl_vote_request r = good_request(true);
    const struct repl_action *a = ask(r, 1);
    CHECK(a && !a->vote_response.vote_granted);
    CHECK(a && strstr(a->vote_response.reason, "healthy primary") != NULL);
    /* Different config: the veto does not apply. */
    r.config_version = 5;
    a = ask(r, 2);
    CHECK(a && a->vote_response.vote_granted);
    voter_teardown();
}

TEST(arbiter_grants_when_no_primary_is_visible_and_ignores_data)
{
    voter_setup("n2:1", true);
    arbiter_sees(REPL_SECONDARY, 5);
    struct repl_vote_request r = good_request(false);
    r.last_applied = (struct optime){(1ull << 32) | 1, 1}; /* arbiters hold null: any data passes */
    const struct repl_action *a = ask(r, 1);
    CHECK(a == NULL);
    persist_all();
    bool granted = false;
    for (int i = 0; i < acts.n; i++)
        if (acts.v[i].type == REPL_ACT_REPLY_VOTE)
            granted = acts.v[i].vote_response.vote_granted;
    CHECK(granted);
    voter_teardown();
}

TEST(candidate_index_outside_the_config_is_refused)
{
    voter_setup("n1:1", false);
    struct repl_vote_request r = good_request(true);
    r.candidate_index = 7;
    const struct repl_action *a = ask(r, 1);
    CHECK(a && !a->vote_response.vote_granted);
    voter_teardown();
}

int main(void)
{
    RUN(rule1_older_config_is_refused);
    RUN(rule2_lower_term_is_refused);
    RUN(rule3_other_set_name_is_refused);
    RUN(rule4_staler_candidate_is_refused_comparing_term_first);
    RUN(rule5_second_real_vote_in_a_term_is_refused);
    RUN(granted_real_vote_is_replied_only_after_persistence);
    RUN(dry_run_never_moves_the_voters_term_or_vote);
    RUN(real_request_with_higher_term_deposes_a_primary_voter);
    RUN(rule6_arbiter_vetoes_when_it_sees_a_primary_of_equal_priority);
    RUN(arbiter_grants_when_no_primary_is_visible_and_ignores_data);
    RUN(candidate_index_outside_the_config_is_refused);
    return test_report();
}

/* test_repl_reconfig.c - the rules of a safe and a forced replSetReconfig
 * (src/repl/reconfig.c, and repl_config_check_reconfig in config.c for the
 * member-type changes): when the current config counts as committed, what a
 * forced config's version becomes, and which member-type changes one
 * reconfig may make. */
#include "repl/config.h"
#include "repl/reconfig.h"

#include "repl_cfg_testhelp.h"

#include <bson/bson.h>
#include <limits.h>

/* A primary (member 0) of cfg_json in term 3, config stamped with term 3,
 * every peer up with the same config, nothing written in its term yet. */
static void primary_state(struct repl_state *st, const char *cfg_json)
{
    memset(st, 0, sizeof *st);
    parse_config_or_die(cfg_json, REPL_CONFIG_STORED, &st->config);
    st->config.term = 3;
    st->has_config = true;
    st->self = 0;
    st->term = 3;
    st->member_state = REPL_PRIMARY;
    st->leader_mode = REPL_LEADER_WRITABLE;
    st->first_optime_of_term = OPTIME_NULL;
    st->commit_point = OPTIME_NULL;
    for (int i = 0; i < st->config.n_members; i++) {
        st->peers[i].is_up = true;
        st->peers[i].config_version = st->config.version;
        st->peers[i].config_term = st->config.term;
    }
}

#define FIVE                                                                                                      \
    "{'_id': 'rs0', 'version': 4, 'members': [{'_id': 0, 'host': 'h0:1'}, {'_id': 1, 'host': 'h1:1'}, "           \
    "{'_id': 2, 'host': 'h2:1'}, {'_id': 3, 'host': 'h3:1', 'votes': 0, 'priority': 0}, "                         \
    "{'_id': 4, 'host': 'h4:1', 'votes': 0, 'priority': 0}]}"
#define PSA                                                                                                       \
    "{'_id': 'rs0', 'version': 2, 'members': [{'_id': 0, 'host': 'h0:1'}, {'_id': 1, 'host': 'h1:1'}, "           \
    "{'_id': 2, 'host': 'h2:1', 'arbiterOnly': true}]}"

TEST(a_config_on_every_member_with_nothing_written_in_the_term_is_committed)
{
    struct repl_state st;
    char why[256] = "";
    primary_state(&st, FIVE);
    CHECK(repl_reconfig_is_committed(&st, why, sizeof why));
    repl_config_destroy(&st.config);
}

TEST(a_config_on_a_minority_of_voters_is_not_committed_and_says_how_many_have_it)
{
    struct repl_state st;
    char why[256] = "";
    primary_state(&st, FIVE);
    st.peers[1].config_version = 3;
    st.peers[2].is_up = false;
    CHECK(!repl_reconfig_is_committed(&st, why, sizeof why));
    CHECK(strstr(why, "installed on 1 of 3 voting members") != NULL);
    CHECK(strstr(why, "{version: 4, term: 3}") != NULL);
    /* One more voter with the config is a majority. */
    st.peers[2].is_up = true;
    CHECK(repl_reconfig_is_committed(&st, why, sizeof why));
    repl_config_destroy(&st.config);
}

TEST(non_voters_do_not_make_a_config_committed)
{
    struct repl_state st;
    primary_state(&st, FIVE);
    st.peers[1].config_version = 3;
    st.peers[2].config_version = 3;
    /* Members 3 and 4 (votes 0) have it; voters 1 and 2 do not. */
    CHECK(!repl_reconfig_is_committed(&st, NULL, 0));
    repl_config_destroy(&st.config);
}

TEST(a_config_of_another_term_does_not_count_as_installed)
{
    struct repl_state st;
    primary_state(&st, FIVE);
    st.peers[1].config_term = 2;
    st.peers[2].config_term = 2;
    CHECK(!repl_reconfig_is_committed(&st, NULL, 0));
    st.peers[2].config_term = 3;
    CHECK(repl_reconfig_is_committed(&st, NULL, 0));
    repl_config_destroy(&st.config);
}

TEST(an_arbiter_counts_for_config_commitment)
{
    struct repl_state st;
    primary_state(&st, PSA);
    st.peers[1].is_up = false;
    CHECK(repl_reconfig_is_committed(&st, NULL, 0));
    st.peers[2].is_up = false;
    CHECK(!repl_reconfig_is_committed(&st, NULL, 0));
    repl_config_destroy(&st.config);
}

TEST(the_first_entry_of_the_primarys_term_must_be_majority_committed)
{
    struct repl_state st;
    char why[256] = "";
    primary_state(&st, FIVE);
    st.first_optime_of_term = (struct optime){.ts = (uint64_t)100 << 32 | 1, .term = 3};
    st.commit_point = (struct optime){.ts = (uint64_t)99 << 32 | 7, .term = 2};
    CHECK(!repl_reconfig_is_committed(&st, why, sizeof why));
    CHECK(strstr(why, "first oplog entry of this primary's term") != NULL);
    st.commit_point = st.first_optime_of_term;
    CHECK(repl_reconfig_is_committed(&st, why, sizeof why));
    repl_config_destroy(&st.config);
}

TEST(a_forced_version_jumps_by_a_large_amount_above_both_versions)
{
    CHECK_EQ_INT(repl_reconfig_force_version(5, 6, 0), 6 + REPL_FORCE_VERSION_MIN_BUMP);
    CHECK_EQ_INT(repl_reconfig_force_version(50, 6, 0), 50 + REPL_FORCE_VERSION_MIN_BUMP);
    int v = repl_reconfig_force_version(5, 6, 123456789u);
    CHECK(v >= 6 + REPL_FORCE_VERSION_MIN_BUMP && v < 6 + REPL_FORCE_VERSION_MIN_BUMP + REPL_FORCE_VERSION_SPAN);
    CHECK_EQ_INT(v, 6 + REPL_FORCE_VERSION_MIN_BUMP + (int)(123456789u % REPL_FORCE_VERSION_SPAN));
    CHECK_EQ_INT(repl_reconfig_force_version(INT_MAX - 5, 1, 7), INT_MAX);
}

/* ---- member-type changes through repl_config_check_reconfig ---- */

static int check_change(const char *old_json, const char *new_json, bool is_force, int want_code, const char *needle)
{
    struct repl_config a, b;
    struct err e;
    err_init(&e);
    parse_config_or_die(old_json, REPL_CONFIG_STORED, &a);
    parse_config_or_die(new_json, REPL_CONFIG_FOR_RECONFIG, &b);
    a.term = 3;
    b.term = 3;
    if (a.version >= b.version)
        a.version = b.version - 1; /* the new config is always the newer one here */
    int rc = repl_config_check_reconfig(&a, &b, is_force, &e);
    int ok = want_code == 0 ? rc == 0 : rc == -want_code && strstr(e.msg, needle) != NULL;
    if (!ok)
        fprintf(stderr, "  want %d \"%s\", got %d \"%s\"\n", want_code, needle ? needle : "", rc, e.msg);
    repl_config_destroy(&a);
    repl_config_destroy(&b);
    err_clear(&e);
    return ok;
}

#define V5(m) "{'_id': 'rs0', 'version': 5, 'members': [" m "]}"
#define M0 "{'_id': 0, 'host': 'h0:1'}"
#define M1 "{'_id': 1, 'host': 'h1:1'}"
#define M2 "{'_id': 2, 'host': 'h2:1'}"
#define M3 "{'_id': 3, 'host': 'h3:1'}"

TEST(turning_a_voter_into_a_non_voter_is_one_voter_change)
{
    /* h1 losing its vote while h3 joins as a voter is two changes. */
    CHECK(check_change(PSA, V5(M0 ", {'_id': 1, 'host': 'h1:1', 'votes': 0, 'priority': 0}, "
                               "{'_id': 2, 'host': 'h2:1', 'arbiterOnly': true}, " M3),
                       false, 103, "changes 2"));
    CHECK(check_change(V5(M0 ", " M1 ", " M2), V5(M0 ", " M1 ", {'_id': 2, 'host': 'h2:1', 'votes': 0, "
                                                          "'priority': 0}"),
                       false, 0, NULL));
}

TEST(any_number_of_non_voters_may_come_and_go_at_once)
{
    CHECK(check_change(V5(M0 ", " M1 ", " M2),
                       V5(M0 ", " M1 ", " M2 ", {'_id': 3, 'host': 'h3:1', 'votes': 0, 'priority': 0}, "
                          "{'_id': 4, 'host': 'h4:1', 'votes': 0, 'priority': 0}, "
                          "{'_id': 5, 'host': 'h5:1', 'votes': 0, 'priority': 0, 'hidden': true}"),
                       false, 0, NULL));
    CHECK(check_change(FIVE, V5(M0 ", " M1 ", " M2), false, 0, NULL));
}

TEST(adding_an_arbiter_and_a_voter_at_once_is_refused_unless_forced)
{
    const char *to = V5(M0 ", " M1 ", " M2 ", " M3 ", {'_id': 4, 'host': 'h4:1', 'arbiterOnly': true}");
    CHECK(check_change(V5(M0 ", " M1 ", " M2), to, false, 103, "at most 1 voting member"));
    CHECK(check_change(V5(M0 ", " M1 ", " M2), to, true, 0, NULL));
}

TEST(hidden_priority_tags_and_delay_may_change_in_one_reconfig)
{
    CHECK(check_change(V5(M0 ", " M1 ", " M2),
                       V5(M0 ", {'_id': 1, 'host': 'h1:1', 'priority': 0, 'hidden': true, "
                          "'secondaryDelaySecs': 3600}, {'_id': 2, 'host': 'h2:1', 'tags': {'dc': 'x'}}"),
                       false, 0, NULL));
}

TEST(an_arbiter_cannot_become_a_data_member_and_back)
{
    CHECK(check_change(PSA, V5(M0 ", " M1 ", " M2), false, 103, "arbiterOnly"));
    CHECK(check_change(V5(M0 ", " M1 ", " M2 ", " M3),
                       V5(M0 ", " M1 ", " M2 ", {'_id': 3, 'host': 'h3:1', 'arbiterOnly': true}"), false, 103,
                       "arbiterOnly"));
    /* Remove it in one reconfig and re-add under another _id in the next. */
    CHECK(check_change(PSA, V5(M0 ", " M1), false, 0, NULL));
}

int main(void)
{
    RUN(a_config_on_every_member_with_nothing_written_in_the_term_is_committed);
    RUN(a_config_on_a_minority_of_voters_is_not_committed_and_says_how_many_have_it);
    RUN(non_voters_do_not_make_a_config_committed);
    RUN(a_config_of_another_term_does_not_count_as_installed);
    RUN(an_arbiter_counts_for_config_commitment);
    RUN(the_first_entry_of_the_primarys_term_must_be_majority_committed);
    RUN(a_forced_version_jumps_by_a_large_amount_above_both_versions);
    RUN(turning_a_voter_into_a_non_voter_is_one_voter_change);
    RUN(any_number_of_non_voters_may_come_and_go_at_once);
    RUN(adding_an_arbiter_and_a_voter_at_once_is_refused_unless_forced);
    RUN(hidden_priority_tags_and_delay_may_change_in_one_reconfig);
    RUN(an_arbiter_cannot_become_a_data_member_and_back);
    return test_report();
}

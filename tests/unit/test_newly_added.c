/* test_newly_added.c - MongoDB's newlyAdded member flag (digest 5.2): what
 * the flag does to a config (config.c: votes and priority read 0, the stored
 * document keeps votes 1 and the priority, replSetGetConfig's document hides
 * it), which members a reconfig flags or keeps flagged, and when a primary
 * may clear the flag (src/repl/newly_added.c). */
#include "repl/config.h"
#include "repl/newly_added.h"
#include "repl/reconfig.h"

#include "repl_cfg_testhelp.h"

#include <bson/bson.h>

/* The value at path in doc, or NULL-ish false when absent. */
static bool find(const bson_t *doc, const char *path, bson_iter_t *it)
{
    return bson_iter_init(it, doc) && bson_iter_find_descendant(it, path, it);
}

#define PSS_M(extra)                                                                                              \
    "{'_id': 'rs0', 'version': 5, 'members': [{'_id': 0, 'host': 'h0:1'}, {'_id': 1, 'host': 'h1:1'}, "           \
    "{'_id': 2, 'host': 'h2:1'}" extra "]}"
#define NEW3 ", {'_id': 3, 'host': 'h3:1', 'priority': 2, 'newlyAdded': true}"

TEST(a_flagged_member_neither_votes_nor_stands_but_prints_as_configured)
{
    struct repl_config cfg;
    parse_config_or_die(PSS_M(NEW3), REPL_CONFIG_STORED, &cfg);
    const struct repl_member *m = &cfg.members[3];
    CHECK(m->is_newly_added);
    CHECK_EQ_INT(m->votes, 0);
    CHECK(m->priority == 0);
    CHECK(m->newly_added_priority == 2);
    CHECK(!repl_config_is_electable(&cfg, 3));
    /* 3 voters, not 4: the majority stays 2 of 3. */
    CHECK_EQ_INT(repl_config_n_voters(&cfg), 3);
    CHECK_EQ_INT(repl_config_majority_vote_count(&cfg), 2);
    CHECK_EQ_INT(repl_config_write_majority(&cfg), 2);

    bson_t out = BSON_INITIALIZER;
    bson_iter_t it;
    repl_config_to_bson(&cfg, &out);
    CHECK(find(&out, "members.3.newlyAdded", &it) && bson_iter_as_bool(&it));
    CHECK(find(&out, "members.3.votes", &it) && bson_iter_as_int64(&it) == 1);
    CHECK(find(&out, "members.3.priority", &it) && bson_iter_double(&it) == 2);
    /* The stored document parses back to the same flagged member. */
    struct repl_config again;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(repl_config_parse(&out, REPL_CONFIG_STORED, &again, &e), 0);
    CHECK(again.members[3].is_newly_added && again.members[3].newly_added_priority == 2);
    CHECK_EQ_INT(again.members[3].votes, 0);
    repl_config_destroy(&again);
    bson_destroy(&out);

    /* replSetGetConfig's document hides the flag, keeps votes and priority. */
    bson_init(&out);
    repl_config_to_user_bson(&cfg, &out);
    CHECK(!find(&out, "members.3.newlyAdded", &it));
    CHECK(find(&out, "members.3.votes", &it) && bson_iter_as_int64(&it) == 1);
    CHECK(find(&out, "members.3.priority", &it) && bson_iter_double(&it) == 2);
    /* ... and is a valid user config. */
    CHECK_EQ_INT(repl_config_parse(&out, REPL_CONFIG_FOR_RECONFIG, &again, &e), 0);
    CHECK(!again.members[3].is_newly_added && again.members[3].votes == 1 && again.members[3].priority == 2);
    repl_config_destroy(&again);
    bson_destroy(&out);
    err_clear(&e);
    repl_config_destroy(&cfg);
}

TEST(setting_and_clearing_the_flag_moves_the_vote_and_priority)
{
    struct repl_config cfg;
    parse_config_or_die(PSS_M(", {'_id': 3, 'host': 'h3:1', 'priority': 0.5}"), REPL_CONFIG_STORED, &cfg);
    CHECK_EQ_INT(repl_config_n_voters(&cfg), 4);
    repl_config_set_newly_added(&cfg, 3, true);
    CHECK(cfg.members[3].is_newly_added && cfg.members[3].votes == 0 && cfg.members[3].priority == 0);
    CHECK_EQ_INT(repl_config_n_voters(&cfg), 3);
    /* Setting twice keeps the saved priority. */
    repl_config_set_newly_added(&cfg, 3, true);
    CHECK(cfg.members[3].newly_added_priority == 0.5);
    repl_config_set_newly_added(&cfg, 3, false);
    CHECK(!cfg.members[3].is_newly_added && cfg.members[3].votes == 1 && cfg.members[3].priority == 0.5);
    CHECK_EQ_INT(repl_config_n_voters(&cfg), 4);
    CHECK(repl_config_is_electable(&cfg, 3));
    /* Out of range indexes are ignored. */
    repl_config_set_newly_added(&cfg, 9, true);
    repl_config_set_newly_added(&cfg, -1, true);
    CHECK_EQ_INT(repl_config_n_voters(&cfg), 4);
    repl_config_destroy(&cfg);
}

TEST(only_voting_data_members_can_be_flagged)
{
    struct repl_config cfg;
    struct err e;
    err_init(&e);
    CHECK(parse_config(PSS_M(", {'_id': 3, 'host': 'h3:1', 'votes': 0, 'priority': 0, 'newlyAdded': true}"),
                       REPL_CONFIG_STORED, &cfg, &e) == -ERR_INVALID_REPLICA_SET_CONFIG);
    CHECK(strstr(e.msg, "only voting members can be newlyAdded") != NULL);
    repl_config_destroy(&cfg);
    err_clear(&e);
    err_init(&e);
    CHECK(parse_config(PSS_M(", {'_id': 3, 'host': 'h3:1', 'arbiterOnly': true, 'newlyAdded': true}"),
                       REPL_CONFIG_STORED, &cfg, &e) < 0);
    CHECK(strstr(e.msg, "arbiters cannot be newlyAdded") != NULL);
    repl_config_destroy(&cfg);
    err_clear(&e);
    err_init(&e);
    CHECK(parse_config(PSS_M(", {'_id': 3, 'host': 'h3:1', 'newlyAdded': false}"), REPL_CONFIG_STORED, &cfg, &e) < 0);
    repl_config_destroy(&cfg);
    err_clear(&e);
    /* Setting the flag on an arbiter or a non-voter does nothing. */
    parse_config_or_die(PSS_M(", {'_id': 3, 'host': 'h3:1', 'votes': 0, 'priority': 0}, "
                              "{'_id': 4, 'host': 'h4:1', 'arbiterOnly': true}"),
                        REPL_CONFIG_STORED, &cfg);
    repl_config_set_newly_added(&cfg, 3, true);
    repl_config_set_newly_added(&cfg, 4, true);
    CHECK(!cfg.members[3].is_newly_added && !cfg.members[4].is_newly_added);
    CHECK_EQ_INT(cfg.members[4].votes, 1);
    repl_config_destroy(&cfg);
}

/* Limits count a flagged member as the voter it will be: an 8th voter
 * cannot hide behind the flag, and Tally's arbiter rule holds once it goes. */
TEST(set_limits_count_a_flagged_member_as_a_voter)
{
    struct repl_config cfg;
    struct err e;
    err_init(&e);
    CHECK(
        parse_config("{'_id': 'rs0', 'version': 2, 'members': [{'_id': 0, 'host': 'h0:1'}, {'_id': 1, 'host': 'h1:1'}, "
                     "{'_id': 2, 'host': 'h2:1'}, {'_id': 3, 'host': 'h3:1'}, {'_id': 4, 'host': 'h4:1'}, "
                     "{'_id': 5, 'host': 'h5:1'}, {'_id': 6, 'host': 'h6:1'}, "
                     "{'_id': 7, 'host': 'h7:1', 'newlyAdded': true}]}",
                     REPL_CONFIG_STORED, &cfg, &e) == -ERR_INVALID_REPLICA_SET_CONFIG);
    CHECK(strstr(e.msg, "8 voting members") != NULL);
    repl_config_destroy(&cfg);
    err_clear(&e);
    /* P + S(flagged) + A is valid: once S votes there are 2 data voters to 1 arbiter. */
    parse_config_or_die(
        "{'_id': 'rs0', 'version': 2, 'members': [{'_id': 0, 'host': 'h0:1'}, "
        "{'_id': 1, 'host': 'h1:1', 'newlyAdded': true}, {'_id': 2, 'host': 'h2:1', 'arbiterOnly': true}]}",
        REPL_CONFIG_STORED, &cfg);
    CHECK_EQ_INT(repl_config_n_voters(&cfg), 2);
    repl_config_destroy(&cfg);
}

TEST(a_reconfig_flags_the_voters_it_adds_and_nothing_else)
{
    struct repl_config old_cfg, new_cfg;
    parse_config_or_die(PSS_M(""), REPL_CONFIG_STORED, &old_cfg);
    parse_config_or_die(
        "{'_id': 'rs0', 'version': 6, 'members': [{'_id': 0, 'host': 'h0:1'}, {'_id': 1, 'host': 'h1:1', "
        "'votes': 0, 'priority': 0}, {'_id': 2, 'host': 'h2:1'}, {'_id': 3, 'host': 'h3:1'}, "
        "{'_id': 4, 'host': 'h4:1', 'votes': 0, 'priority': 0}, {'_id': 5, 'host': 'h5:1', 'arbiterOnly': "
        "true}]}",
        REPL_CONFIG_FOR_RECONFIG, &new_cfg);
    CHECK_EQ_INT(repl_newly_added_mark(&old_cfg, &new_cfg), 1);
    CHECK(new_cfg.members[3].is_newly_added);
    CHECK(!new_cfg.members[0].is_newly_added && !new_cfg.members[2].is_newly_added);
    /* An old member that gains its vote back is not new; non-voters and arbiters never are flagged. */
    CHECK(!new_cfg.members[1].is_newly_added);
    CHECK(!new_cfg.members[4].is_newly_added && !new_cfg.members[5].is_newly_added);
    /* Marking again flags nothing more. */
    CHECK_EQ_INT(repl_newly_added_mark(&old_cfg, &new_cfg), 0);
    repl_config_destroy(&old_cfg);
    repl_config_destroy(&new_cfg);
}

/* rs.conf() hides the flag, so the next user config lacks it: it stays, and
 * the single-voter rule does not count the member twice. */
TEST(a_later_reconfig_keeps_the_flag_the_user_never_saw)
{
    struct repl_config old_cfg, new_cfg;
    struct err e;
    err_init(&e);
    parse_config_or_die(PSS_M(NEW3), REPL_CONFIG_STORED, &old_cfg);
    old_cfg.term = 2;
    /* The user changes member 1's priority and adds a non-voter. */
    parse_config_or_die(
        "{'_id': 'rs0', 'version': 6, 'members': [{'_id': 0, 'host': 'h0:1'}, {'_id': 1, 'host': 'h1:1', "
        "'priority': 3}, {'_id': 2, 'host': 'h2:1'}, {'_id': 3, 'host': 'h3:1', 'priority': 2}, "
        "{'_id': 4, 'host': 'h4:1', 'votes': 0, 'priority': 0}]}",
        REPL_CONFIG_FOR_RECONFIG, &new_cfg);
    new_cfg.term = 2;
    /* Without the carried flag, member 3 would count as a voter gained. */
    repl_newly_added_carry(&old_cfg, &new_cfg);
    CHECK(new_cfg.members[3].is_newly_added && new_cfg.members[3].newly_added_priority == 2);
    CHECK_EQ_INT(repl_config_check_reconfig(&old_cfg, &new_cfg, false, &e), 0);
    CHECK_EQ_INT(repl_newly_added_mark(&old_cfg, &new_cfg), 0);
    repl_config_destroy(&new_cfg);

    /* Turning the flagged member into a non-voter drops the flag. */
    parse_config_or_die(
        "{'_id': 'rs0', 'version': 6, 'members': [{'_id': 0, 'host': 'h0:1'}, {'_id': 1, 'host': 'h1:1'}, "
        "{'_id': 2, 'host': 'h2:1'}, {'_id': 3, 'host': 'h3:1', 'votes': 0, 'priority': 0}]}",
        REPL_CONFIG_FOR_RECONFIG, &new_cfg);
    repl_newly_added_carry(&old_cfg, &new_cfg);
    CHECK(!new_cfg.members[3].is_newly_added && new_cfg.members[3].votes == 0);
    repl_config_destroy(&new_cfg);

    /* Two new voters in one reconfig still break the single-voter rule. */
    parse_config_or_die(
        "{'_id': 'rs0', 'version': 6, 'members': [{'_id': 0, 'host': 'h0:1'}, {'_id': 1, 'host': 'h1:1'}, "
        "{'_id': 2, 'host': 'h2:1'}, {'_id': 3, 'host': 'h3:1', 'priority': 2}, {'_id': 4, 'host': "
        "'h4:1'}, {'_id': 5, 'host': 'h5:1'}]}",
        REPL_CONFIG_FOR_RECONFIG, &new_cfg);
    new_cfg.term = 2;
    repl_newly_added_carry(&old_cfg, &new_cfg);
    CHECK(repl_config_check_reconfig(&old_cfg, &new_cfg, false, &e) == -ERR_NEW_REPLICA_SET_CONFIGURATION_INCOMPATIBLE);
    CHECK(strstr(e.msg, "changes 2") != NULL);
    repl_config_destroy(&new_cfg);
    err_clear(&e);
    repl_config_destroy(&old_cfg);
}

/* Primary (member 0) of PSS + one flagged member, every peer up. */
static void primary_state(struct repl_state *st)
{
    memset(st, 0, sizeof *st);
    parse_config_or_die(PSS_M(NEW3), REPL_CONFIG_STORED, &st->config);
    st->config.term = 3;
    st->has_config = true;
    st->self = 0;
    st->term = 3;
    st->member_state = REPL_PRIMARY;
    st->leader_mode = REPL_LEADER_WRITABLE;
    for (int i = 0; i < st->config.n_members; i++) {
        st->peers[i].is_up = true;
        st->peers[i].state = REPL_SECONDARY;
        st->peers[i].config_version = st->config.version;
        st->peers[i].config_term = st->config.term;
    }
    st->peers[0].state = REPL_PRIMARY;
}

TEST(the_flag_may_go_once_the_member_is_heard_with_data)
{
    struct repl_state st;
    primary_state(&st);
    static const enum repl_member_state not_yet[] = {REPL_STARTUP, REPL_STARTUP2, REPL_UNKNOWN, REPL_DOWN,
                                                      REPL_REMOVED};
    for (size_t k = 0; k < sizeof not_yet / sizeof not_yet[0]; k++) {
        st.peers[3].state = not_yet[k];
        CHECK_EQ_INT(repl_newly_added_ready(&st), -1);
    }
    static const enum repl_member_state ready[] = {REPL_SECONDARY, REPL_RECOVERING, REPL_ROLLBACK};
    for (size_t k = 0; k < sizeof ready / sizeof ready[0]; k++) {
        st.peers[3].state = ready[k];
        CHECK_EQ_INT(repl_newly_added_ready(&st), 3);
    }
    /* Its last known state does not count once it is marked down. */
    st.peers[3].state = REPL_SECONDARY;
    st.peers[3].is_up = false;
    CHECK_EQ_INT(repl_newly_added_ready(&st), -1);
    /* Nothing flagged: nothing to do. */
    st.peers[3].is_up = true;
    repl_config_set_newly_added(&st.config, 3, false);
    CHECK_EQ_INT(repl_newly_added_ready(&st), -1);
    st.has_config = false;
    CHECK_EQ_INT(repl_newly_added_ready(&st), -1);
    repl_config_destroy(&st.config);
}

/* The flagged member is not among the voters whose copy of the config
 * makes it committed: 2 of 3 real voters suffice. */
TEST(a_flagged_member_is_not_needed_for_commitment)
{
    struct repl_state st;
    primary_state(&st);
    st.peers[2].is_up = false;
    st.peers[3].config_version = 1;
    CHECK(repl_reconfig_is_committed(&st, NULL, 0));
    st.peers[1].is_up = false;
    char why[256] = "";
    CHECK(!repl_reconfig_is_committed(&st, why, sizeof why));
    CHECK(strstr(why, "1 of 3 voting members") != NULL);
    repl_config_destroy(&st.config);
}

int main(void)
{
    RUN(a_flagged_member_neither_votes_nor_stands_but_prints_as_configured);
    RUN(setting_and_clearing_the_flag_moves_the_vote_and_priority);
    RUN(only_voting_data_members_can_be_flagged);
    RUN(set_limits_count_a_flagged_member_as_a_voter);
    RUN(a_reconfig_flags_the_voters_it_adds_and_nothing_else);
    RUN(a_later_reconfig_keeps_the_flag_the_user_never_saw);
    RUN(the_flag_may_go_once_the_member_is_heard_with_data);
    RUN(a_flagged_member_is_not_needed_for_commitment);
    return test_report();
}

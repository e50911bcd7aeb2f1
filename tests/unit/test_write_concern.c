/* test_write_concern.c - write concern parsing, defaults, satisfiability and
 * the acknowledgement decision (src/repl/write_concern.c) for PSS, PSA and
 * sets with hidden, delayed and non-voting members and custom tag modes. */
#include "repl/write_concern.h"

#include "repl_cfg_testhelp.h"

#include <bson/bson.h>

static int wc_parse(const char *json, struct write_concern *wc, struct err *e)
{
    bson_t *b = doc_from(json);
    err_clear(e);
    int rc = write_concern_parse(b, wc, e);
    bson_destroy(b);
    return rc;
}

static int wc_fails(const char *json, int code, const char *needle)
{
    struct write_concern wc;
    struct err e;
    err_init(&e);
    int rc = wc_parse(json, &wc, &e);
    int ok = rc == -code && strstr(e.msg, needle) != NULL;
    if (!ok)
        fprintf(stderr, "  %s: expected %d \"%s\", got %d \"%s\"\n", json, code, needle, rc, e.msg);
    err_clear(&e);
    return ok;
}

#define SET(members) "{'_id': 'rs0', 'version': 1, 'members': [" members "]}"
#define PSS_MEMBERS "{'_id': 0, 'host': 'p:1'}, {'_id': 1, 'host': 's1:1'}, {'_id': 2, 'host': 's2:1'}"
#define PSA_MEMBERS                                                                                              \
    "{'_id': 0, 'host': 'p:1'}, {'_id': 1, 'host': 's1:1'}, {'_id': 2, 'host': 'a:1', 'arbiterOnly': true}"

static struct optime ot(int64_t term, uint32_t secs)
{
    return (struct optime){(uint64_t)secs << 32 | 1, term};
}

/* A primary at index 0 plus recorded progress; each test fills what it needs. */
struct fixture {
    struct repl_config cfg;
    struct write_concern_member_progress progress[8];
    struct write_concern_view view;
};

static void fixture_init(struct fixture *f, const char *json)
{
    memset(f, 0, sizeof *f);
    parse_config_or_die(json, REPL_CONFIG_STORED, &f->cfg);
    f->view.cfg = &f->cfg;
    f->view.self_index = 0;
    f->view.self_applied = OPTIME_NULL;
    f->view.self_durable = OPTIME_NULL;
    f->view.members = f->progress;
    f->view.commit_point = OPTIME_NULL;
    for (int i = 0; i < f->cfg.n_members && i < 8; i++) {
        f->progress[i].member_id = f->cfg.members[i].id;
        f->progress[i].applied = OPTIME_NULL;
        f->progress[i].durable = OPTIME_NULL;
    }
    f->view.n_members = f->cfg.n_members;
}

/* Member at config index i has applied a and made durable d. */
static void at(struct fixture *f, int i, struct optime applied, struct optime durable)
{
    if (i == f->view.self_index) {
        f->view.self_applied = applied;
        f->view.self_durable = durable;
    } else {
        f->progress[i].applied = applied;
        f->progress[i].durable = durable;
    }
}

/* 1 satisfied, 0 not, negative the error code. */
static int eval(struct fixture *f, const char *wc_json, struct optime target)
{
    struct write_concern wc;
    struct err e;
    bool is_satisfied = true;
    err_init(&e);
    if (wc_parse(wc_json, &wc, &e) != 0) {
        fprintf(stderr, "  bad write concern %s: %s\n", wc_json, e.msg);
        return -1000;
    }
    int rc = write_concern_evaluate(&wc, &f->view, target, &is_satisfied, &e);
    err_clear(&e);
    if (rc < 0)
        return rc;
    return is_satisfied ? 1 : 0;
}

TEST(a_full_write_concern_parses)
{
    struct write_concern wc;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(wc_parse("{'w': 2, 'j': true, 'wtimeout': 500}", &wc, &e), 0);
    CHECK(wc.has_w && wc.w_kind == WRITE_CONCERN_W_NUMBER && wc.w == 2);
    CHECK(wc.has_j && wc.j);
    CHECK(wc.has_wtimeout && wc.wtimeout_ms == 500);
    CHECK_EQ_INT(wc.provenance, WRITE_CONCERN_PROVENANCE_CLIENT_SUPPLIED);
    CHECK_EQ_INT(wc_parse("{'w': 'majority', 'wtimeoutMS': {'$numberLong': '1000'}}", &wc, &e), 0);
    CHECK(wc.w_kind == WRITE_CONCERN_W_MAJORITY && !wc.has_j && wc.wtimeout_ms == 1000);
    CHECK_EQ_INT(wc_parse("{'w': 'multiDC', 'fsync': 1}", &wc, &e), 0);
    CHECK(wc.w_kind == WRITE_CONCERN_W_MODE && wc.fsync);
    CHECK_EQ_STR(wc.mode, "multiDC");
    CHECK_EQ_INT(wc_parse("{'w': 3.0}", &wc, &e), 0);
    CHECK_EQ_INT(wc.w, 3);
    CHECK_EQ_INT(wc_parse("{'w': {'$numberLong': '0'}, 'somethingElse': 1}", &wc, &e), 0);
    CHECK_EQ_INT(wc.w, 0);
    CHECK_EQ_INT(wc_parse("{}", &wc, &e), 0);
    CHECK(!wc.has_w && wc.w == 1);
    CHECK_EQ_INT(wc_parse("{'w': 1, 'provenance': 'implicitDefault'}", &wc, &e), 0);
    CHECK_EQ_INT(wc.provenance, WRITE_CONCERN_PROVENANCE_IMPLICIT_DEFAULT);
}

TEST(bad_write_concerns_are_refused_like_mongod)
{
    CHECK(wc_fails("{'w': -1}", 9, "w has to be a non-negative number and not greater than 50; found: -1"));
    CHECK(wc_fails("{'w': 51}", 9, "not greater than 50; found: 51"));
    CHECK(wc_fails("{'w': 1.5}", 9, "found: 1.5"));
    CHECK(wc_fails("{'w': true}", 9, "w has to be a number or a string"));
    CHECK(wc_fails("{'w': null}", 9, "w has to be a number or a string"));
    CHECK(wc_fails("{'j': 'yes'}", 9, "j must be numeric or a boolean value"));
    CHECK(wc_fails("{'fsync': []}", 9, "fsync must be numeric or a boolean value"));
    CHECK(wc_fails("{'j': true, 'fsync': true}", 9, "fsync and j options cannot be used together"));
    CHECK(wc_fails("{'wtimeout': 'x'}", 9, "wtimeout must be a number"));
    CHECK(wc_fails("{'wtimeout': -5}", 9, "wtimeout must be a non-negative number"));
    CHECK(wc_fails("{'provenance': 'mine'}", 9, "provenance"));
}

TEST(to_bson_prints_mongods_shape)
{
    struct write_concern wc;
    struct err e;
    bson_t out = BSON_INITIALIZER;
    err_init(&e);
    CHECK_EQ_INT(wc_parse("{'w': 'majority', 'j': false, 'wtimeout': 100}", &wc, &e), 0);
    write_concern_to_bson(&wc, &out);
    char *json = bson_as_relaxed_extended_json(&out, NULL);
    CHECK_EQ_STR(json, "{ \"w\" : \"majority\", \"j\" : false, \"wtimeout\" : 100, \"provenance\" : "
                       "\"clientSupplied\" }");
    bson_free(json);
    bson_destroy(&out);
    write_concern_init(&wc);
    bson_init(&out);
    write_concern_to_bson(&wc, &out);
    json = bson_as_relaxed_extended_json(&out, NULL);
    CHECK_EQ_STR(json, "{ \"w\" : 1, \"wtimeout\" : 0 }");
    bson_free(json);
    bson_destroy(&out);
}

TEST(the_implicit_default_is_w1_only_for_psa_like_sets)
{
    struct repl_config cfg;
    parse_config_or_die(SET(PSS_MEMBERS), REPL_CONFIG_STORED, &cfg);
    CHECK(write_concern_implicit_default_is_majority(&cfg));
    repl_config_destroy(&cfg);
    parse_config_or_die(SET(PSA_MEMBERS), REPL_CONFIG_STORED, &cfg);
    CHECK(!write_concern_implicit_default_is_majority(&cfg));
    repl_config_destroy(&cfg);
    /* P S S A: 4 voters, majority 3, 3 data-bearing voters <= 3 -> w:1. */
    parse_config_or_die(SET(PSS_MEMBERS ", {'_id': 3, 'host': 'a:1', 'arbiterOnly': true}"), REPL_CONFIG_STORED, &cfg);
    CHECK(!write_concern_implicit_default_is_majority(&cfg));
    repl_config_destroy(&cfg);
    /* P S S S A: 5 voters, majority 3, 4 data-bearing voters -> majority. */
    parse_config_or_die(SET(PSS_MEMBERS ", {'_id': 3, 'host': 's3:1'}, {'_id': 4, 'host': 'a:1', 'arbiterOnly': true}"),
                        REPL_CONFIG_STORED, &cfg);
    CHECK(write_concern_implicit_default_is_majority(&cfg));
    repl_config_destroy(&cfg);
    /* P S(votes 0) A... is refused by config validation; P alone -> majority. */
    parse_config_or_die(SET("{'_id': 0, 'host': 'p:1'}"), REPL_CONFIG_STORED, &cfg);
    CHECK(write_concern_implicit_default_is_majority(&cfg));
    repl_config_destroy(&cfg);
}

TEST(apply_default_fills_only_a_missing_w)
{
    struct repl_config pss, psa;
    struct write_concern wc;
    struct err e;
    err_init(&e);
    parse_config_or_die(SET(PSS_MEMBERS), REPL_CONFIG_STORED, &pss);
    parse_config_or_die(SET(PSA_MEMBERS), REPL_CONFIG_STORED, &psa);
    CHECK_EQ_INT(wc_parse("{'j': true, 'wtimeout': 50}", &wc, &e), 0);
    write_concern_apply_default(&wc, &pss);
    CHECK(wc.has_w && wc.w_kind == WRITE_CONCERN_W_MAJORITY);
    CHECK(wc.j && wc.wtimeout_ms == 50);
    CHECK_EQ_INT(wc.provenance, WRITE_CONCERN_PROVENANCE_IMPLICIT_DEFAULT);
    CHECK_EQ_INT(wc_parse("{}", &wc, &e), 0);
    write_concern_apply_default(&wc, &psa);
    CHECK(wc.w_kind == WRITE_CONCERN_W_NUMBER && wc.w == 1);
    CHECK_EQ_INT(wc_parse("{'w': 2}", &wc, &e), 0);
    write_concern_apply_default(&wc, &pss);
    CHECK(wc.w_kind == WRITE_CONCERN_W_NUMBER && wc.w == 2);
    CHECK_EQ_INT(wc.provenance, WRITE_CONCERN_PROVENANCE_CLIENT_SUPPLIED);
    repl_config_destroy(&pss);
    repl_config_destroy(&psa);
}

#define TAGGED_SET                                                                                               \
    "{'_id': 'rs0', 'version': 1, 'members': [{'_id': 0, 'host': 'p:1', 'tags': {'dc': 'east', 'rack': 'r1'}}, " \
    "{'_id': 1, 'host': 's1:1', 'tags': {'dc': 'east', 'rack': 'r2'}}, {'_id': 2, 'host': 's2:1', 'tags': "      \
    "{'dc': 'west', 'rack': 'r3'}}], 'settings': {'getLastErrorModes': {'multiDC': {'dc': 2}, 'threeDC': "       \
    "{'dc': 3}, 'dcAndRacks': {'dc': 2, 'rack': 3}}}}"

TEST(impossible_write_concerns_are_refused_up_front)
{
    struct fixture f;
    fixture_init(&f, SET(PSS_MEMBERS));
    CHECK_EQ_INT(eval(&f, "{'w': 4}", ot(1, 10)), -100);
    CHECK_EQ_INT(eval(&f, "{'w': 'nope'}", ot(1, 10)), -79);
    repl_config_destroy(&f.cfg);
    /* Arbiters never acknowledge. */
    fixture_init(&f, SET(PSA_MEMBERS));
    CHECK_EQ_INT(eval(&f, "{'w': 3}", ot(1, 10)), -100);
    repl_config_destroy(&f.cfg);

    struct repl_config cfg;
    struct write_concern wc;
    struct err e;
    err_init(&e);
    parse_config_or_die(TAGGED_SET, REPL_CONFIG_STORED, &cfg);
    CHECK_EQ_INT(wc_parse("{'w': 'threeDC'}", &wc, &e), 0);
    CHECK_EQ_INT(write_concern_check_satisfiable(&wc, &cfg, &e), -100);
    CHECK(strstr(e.msg, "Not enough nodes match write concern mode \"threeDC\"") != NULL);
    CHECK_EQ_INT(wc_parse("{'w': 'multiDC'}", &wc, &e), 0);
    CHECK_EQ_INT(write_concern_check_satisfiable(&wc, &cfg, &e), 0);
    CHECK_EQ_INT(wc_parse("{'w': 'other'}", &wc, &e), 0);
    CHECK_EQ_INT(write_concern_check_satisfiable(&wc, &cfg, &e), -79);
    CHECK_EQ_STR(e.msg, "No write concern mode named 'other' found in replica set configuration");
    CHECK_EQ_STR(err_code_name(e.code), "UnknownReplWriteConcern");
    CHECK_EQ_INT(wc_parse("{'w': 3}", &wc, &e), 0);
    CHECK_EQ_INT(write_concern_check_satisfiable(&wc, &cfg, &e), 0);
    CHECK_EQ_INT(wc_parse("{'w': 4}", &wc, &e), 0);
    CHECK_EQ_INT(write_concern_check_satisfiable(&wc, &cfg, &e), -100);
    CHECK_EQ_STR(e.msg, "Not enough data-bearing nodes");
    repl_config_destroy(&cfg);
}

TEST(w_n_counts_members_in_the_targets_term_including_the_primary)
{
    struct fixture f;
    fixture_init(&f, SET(PSS_MEMBERS));
    struct optime t = ot(2, 100);
    at(&f, 0, t, t);
    CHECK_EQ_INT(eval(&f, "{'w': 0}", t), 1);
    CHECK_EQ_INT(eval(&f, "{'w': 1}", t), 1);
    CHECK_EQ_INT(eval(&f, "{'w': 2}", t), 0);
    /* An optime of an older term, even with a later timestamp, proves nothing. */
    at(&f, 1, ot(1, 200), ot(1, 200));
    CHECK_EQ_INT(eval(&f, "{'w': 2}", t), 0);
    at(&f, 1, ot(2, 99), ot(2, 99));
    CHECK_EQ_INT(eval(&f, "{'w': 2}", t), 0);
    at(&f, 1, ot(2, 150), ot(2, 150));
    CHECK_EQ_INT(eval(&f, "{'w': 2}", t), 1);
    CHECK_EQ_INT(eval(&f, "{'w': 3}", t), 0);
    at(&f, 2, t, t);
    CHECK_EQ_INT(eval(&f, "{'w': 3}", t), 1);
    /* The primary itself must hold the write. */
    at(&f, 0, ot(2, 50), ot(2, 50));
    CHECK_EQ_INT(eval(&f, "{'w': 2}", t), 0);
    CHECK_EQ_INT(eval(&f, "{'w': 1}", t), 0);
    repl_config_destroy(&f.cfg);
}

TEST(j_true_counts_durable_optimes)
{
    struct fixture f;
    fixture_init(&f, SET(PSS_MEMBERS));
    struct optime t = ot(3, 10), before = ot(3, 9);
    at(&f, 0, t, before);
    at(&f, 1, t, t);
    CHECK_EQ_INT(eval(&f, "{'w': 1}", t), 1);
    CHECK_EQ_INT(eval(&f, "{'w': 1, 'j': true}", t), 0);
    CHECK_EQ_INT(eval(&f, "{'w': 2, 'fsync': true}", t), 0);
    at(&f, 0, t, t);
    CHECK_EQ_INT(eval(&f, "{'w': 1, 'j': true}", t), 1);
    CHECK_EQ_INT(eval(&f, "{'w': 2, 'j': true}", t), 1);
    at(&f, 1, t, before);
    CHECK_EQ_INT(eval(&f, "{'w': 2, 'j': true}", t), 0);
    CHECK_EQ_INT(eval(&f, "{'w': 2}", t), 1);
    repl_config_destroy(&f.cfg);
}

TEST(majority_needs_write_majority_durable_and_the_commit_point)
{
    struct fixture f;
    fixture_init(&f, SET(PSS_MEMBERS));
    struct optime t = ot(4, 70), before = ot(4, 69);
    at(&f, 0, t, t);
    at(&f, 1, t, t);
    f.view.commit_point = before;
    CHECK_EQ_INT(eval(&f, "{'w': 'majority'}", t), 0);
    f.view.commit_point = t;
    CHECK_EQ_INT(eval(&f, "{'w': 'majority'}", t), 1);
    /* Durable by default (writeConcernMajorityJournalDefault). */
    at(&f, 1, t, before);
    CHECK_EQ_INT(eval(&f, "{'w': 'majority'}", t), 0);
    CHECK_EQ_INT(eval(&f, "{'w': 'majority', 'j': true}", t), 0);
    CHECK_EQ_INT(eval(&f, "{'w': 'majority', 'j': false}", t), 1);
    /* The commit point alone is not enough either. */
    at(&f, 1, before, before);
    CHECK_EQ_INT(eval(&f, "{'w': 'majority', 'j': false}", t), 0);
    repl_config_destroy(&f.cfg);

    fixture_init(&f, "{'_id': 'rs0', 'version': 1, 'writeConcernMajorityJournalDefault': false, 'members': ["
                     PSS_MEMBERS "]}");
    at(&f, 0, t, t);
    at(&f, 2, t, before);
    f.view.commit_point = t;
    CHECK_EQ_INT(eval(&f, "{'w': 'majority'}", t), 1);
    CHECK_EQ_INT(eval(&f, "{'w': 'majority', 'j': true}", t), 0);
    repl_config_destroy(&f.cfg);
}

TEST(psa_majority_needs_both_data_members_and_never_the_arbiter)
{
    struct fixture f;
    fixture_init(&f, SET(PSA_MEMBERS));
    struct optime t = ot(5, 5);
    CHECK_EQ_INT(repl_config_write_majority(&f.cfg), 2);
    at(&f, 0, t, t);
    at(&f, 2, t, t); /* an arbiter's report, which must not count */
    f.view.commit_point = t;
    CHECK_EQ_INT(eval(&f, "{'w': 'majority'}", t), 0);
    CHECK_EQ_INT(eval(&f, "{'w': 2}", t), 0);
    at(&f, 1, t, t);
    CHECK_EQ_INT(eval(&f, "{'w': 'majority'}", t), 1);
    CHECK_EQ_INT(eval(&f, "{'w': 2}", t), 1);
    repl_config_destroy(&f.cfg);
}

/* P, S(hidden), S(votes 0), S(delayed, hidden): 3 voters, write majority 2;
 * every data-bearing member counts for w:N, only voters for majority. */
TEST(hidden_delayed_and_non_voting_members)
{
    struct fixture f;
    fixture_init(&f, SET("{'_id': 0, 'host': 'p:1'}, {'_id': 1, 'host': 'hid:1', 'hidden': true}, {'_id': 2, "
                         "'host': 'nv:1', 'votes': 0}, {'_id': 3, 'host': 'del:1', 'secondaryDelaySecs': 3600, "
                         "'hidden': true, 'votes': 0}"));
    struct optime t = ot(6, 1000);
    CHECK_EQ_INT(repl_config_write_majority(&f.cfg), 2);
    at(&f, 0, t, t);
    at(&f, 2, t, t);
    f.view.commit_point = t;
    CHECK_EQ_INT(eval(&f, "{'w': 2}", t), 1);
    CHECK_EQ_INT(eval(&f, "{'w': 'majority'}", t), 0);
    at(&f, 3, t, t);
    CHECK_EQ_INT(eval(&f, "{'w': 3}", t), 1);
    CHECK_EQ_INT(eval(&f, "{'w': 4}", t), 0);
    CHECK_EQ_INT(eval(&f, "{'w': 'majority'}", t), 0);
    at(&f, 1, t, t);
    CHECK_EQ_INT(eval(&f, "{'w': 4}", t), 1);
    CHECK_EQ_INT(eval(&f, "{'w': 'majority'}", t), 1);
    CHECK_EQ_INT(eval(&f, "{'w': 5}", t), -100);
    repl_config_destroy(&f.cfg);
}

TEST(custom_modes_count_distinct_tag_values)
{
    struct fixture f;
    fixture_init(&f, TAGGED_SET);
    struct optime t = ot(7, 7);
    at(&f, 0, t, t);
    at(&f, 1, t, t); /* same dc as the primary */
    CHECK_EQ_INT(eval(&f, "{'w': 'multiDC'}", t), 0);
    CHECK_EQ_INT(eval(&f, "{'w': 'dcAndRacks'}", t), 0);
    at(&f, 2, ot(6, 99), ot(6, 99)); /* wrong term */
    CHECK_EQ_INT(eval(&f, "{'w': 'multiDC'}", t), 0);
    at(&f, 2, t, ot(7, 6));
    CHECK_EQ_INT(eval(&f, "{'w': 'multiDC'}", t), 1);
    CHECK_EQ_INT(eval(&f, "{'w': 'dcAndRacks'}", t), 1);
    CHECK_EQ_INT(eval(&f, "{'w': 'multiDC', 'j': true}", t), 0);
    CHECK_EQ_INT(eval(&f, "{'w': 'threeDC'}", t), -100);
    CHECK_EQ_INT(eval(&f, "{'w': 'fourDC'}", t), -79);
    repl_config_destroy(&f.cfg);
}

TEST(progress_for_unknown_members_and_for_self_is_ignored)
{
    struct fixture f;
    fixture_init(&f, SET(PSS_MEMBERS));
    struct optime t = ot(8, 8);
    at(&f, 0, t, t);
    /* The view's entry for the primary disagrees with self_*: self_* wins. */
    f.progress[0].applied = OPTIME_NULL;
    f.progress[1].member_id = 42;
    f.progress[1].applied = t;
    f.progress[1].durable = t;
    CHECK_EQ_INT(eval(&f, "{'w': 2}", t), 0);
    f.progress[1].member_id = 1;
    CHECK_EQ_INT(eval(&f, "{'w': 2}", t), 1);
    /* A primary index outside the config satisfies nothing but w:0. */
    f.view.self_index = -1;
    CHECK_EQ_INT(eval(&f, "{'w': 1}", t), 0);
    CHECK_EQ_INT(eval(&f, "{'w': 0}", t), 1);
    repl_config_destroy(&f.cfg);
}

TEST(the_timeout_error_has_the_drivers_shape)
{
    struct write_concern wc;
    struct err e;
    bson_t reply = BSON_INITIALIZER;
    bson_iter_t it;
    err_init(&e);
    BSON_APPEND_DOUBLE(&reply, "ok", 1.0);
    CHECK_EQ_INT(wc_parse("{'w': 'majority', 'wtimeout': 1000}", &wc, &e), 0);
    write_concern_append_timeout_error(&wc, &reply);
    CHECK(bson_iter_init(&it, &reply) && bson_iter_find_descendant(&it, "writeConcernError.code", &it) &&
          bson_iter_int32(&it) == 64);
    CHECK(bson_iter_init(&it, &reply) && bson_iter_find_descendant(&it, "writeConcernError.codeName", &it));
    CHECK_EQ_STR(bson_iter_utf8(&it, NULL), "WriteConcernFailed");
    CHECK(bson_iter_init(&it, &reply) && bson_iter_find_descendant(&it, "writeConcernError.errmsg", &it));
    CHECK_EQ_STR(bson_iter_utf8(&it, NULL), "waiting for replication timed out");
    CHECK(bson_iter_init(&it, &reply) && bson_iter_find_descendant(&it, "writeConcernError.errInfo.wtimeout", &it) &&
          bson_iter_bool(&it));
    CHECK(bson_iter_init(&it, &reply) &&
          bson_iter_find_descendant(&it, "writeConcernError.errInfo.writeConcern.w", &it));
    CHECK_EQ_STR(bson_iter_utf8(&it, NULL), "majority");
    CHECK(bson_iter_init(&it, &reply) &&
          bson_iter_find_descendant(&it, "writeConcernError.errInfo.writeConcern.wtimeout", &it) &&
          bson_iter_int32(&it) == 1000);
    CHECK(bson_iter_init(&it, &reply) && bson_iter_find(&it, "ok") && bson_iter_double(&it) == 1.0);
    bson_destroy(&reply);
}

int main(void)
{
    RUN(a_full_write_concern_parses);
    RUN(bad_write_concerns_are_refused_like_mongod);
    RUN(to_bson_prints_mongods_shape);
    RUN(the_implicit_default_is_w1_only_for_psa_like_sets);
    RUN(apply_default_fills_only_a_missing_w);
    RUN(impossible_write_concerns_are_refused_up_front);
    RUN(w_n_counts_members_in_the_targets_term_including_the_primary);
    RUN(j_true_counts_durable_optimes);
    RUN(majority_needs_write_majority_durable_and_the_commit_point);
    RUN(psa_majority_needs_both_data_members_and_never_the_arbiter);
    RUN(hidden_delayed_and_non_voting_members);
    RUN(custom_modes_count_distinct_tag_values);
    RUN(progress_for_unknown_members_and_for_self_is_ignored);
    RUN(the_timeout_error_has_the_drivers_shape);
    return test_report();
}

/* test_repl_messages.c - BSON round trips and validation of the replication
 * messages (messages.c) and OpTimes (optime.c). */
#include "repl/messages.h"
#include "testhelp.h"

#include <string.h>

TEST(optime_round_trips_and_orders_term_first)
{
    bson_t d = BSON_INITIALIZER;
    struct optime o = {(7ull << 32) | 3, 9};
    optime_append(&d, "x", o);
    bson_iter_t it;
    CHECK(bson_iter_init_find(&it, &d, "x"));
    struct optime back;
    CHECK(optime_from_iter(&it, &back));
    CHECK(optime_compare(o, back) == 0);
    CHECK(optime_compare((struct optime){3, 2}, (struct optime){2, 3}) < 0);
    CHECK(optime_compare(OPTIME_NULL, (struct optime){1, 0}) < 0);
    bson_destroy(&d);
}

TEST(optime_with_wrong_shapes_is_rejected)
{
    bson_t *d = BCON_NEW("a", "{", "ts", BCON_INT32(1), "t", BCON_INT64(1), "}", "b", "{", "ts",
                         BCON_TIMESTAMP(1, 1), "}", "c", BCON_INT32(5), "d", "{", "ts", BCON_TIMESTAMP(1, 1), "t",
                         BCON_DOUBLE(1.5), "}");
    const char *keys[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        bson_iter_t it;
        struct optime o;
        CHECK(bson_iter_init_find(&it, d, keys[i]));
        CHECK(!optime_from_iter(&it, &o));
    }
    bson_destroy(d);
}

TEST(vote_request_round_trips_with_mongodb_field_names)
{
    struct repl_vote_request r = {0};
    snprintf(r.set_name, sizeof r.set_name, "rs0");
    r.dry_run = true;
    r.term = 12;
    r.candidate_index = 2;
    r.config_version = 5;
    r.config_term = 11;
    r.last_applied = (struct optime){(100ull << 32) | 2, 12};
    bson_t d = BSON_INITIALIZER;
    repl_vote_request_to_bson(&r, &d);
    CHECK(bson_has_field(&d, "replSetRequestVotes"));
    CHECK(bson_has_field(&d, "candidateIndex"));
    CHECK(bson_has_field(&d, "lastAppliedOpTime"));
    struct repl_vote_request back;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(repl_vote_request_from_bson(&d, &back, &e), 0);
    CHECK_EQ_STR(back.set_name, "rs0");
    CHECK(back.dry_run);
    CHECK_EQ_INT(back.term, 12);
    CHECK_EQ_INT(back.candidate_index, 2);
    CHECK_EQ_INT(back.config_version, 5);
    CHECK_EQ_INT(back.config_term, 11);
    CHECK(optime_compare(back.last_applied, r.last_applied) == 0);
    bson_destroy(&d);
    err_clear(&e);
}

TEST(vote_request_with_missing_or_mistyped_fields_is_rejected)
{
    struct err e;
    err_init(&e);
    struct repl_vote_request r;
    bson_t *d = BCON_NEW("replSetRequestVotes", BCON_INT32(1), "setName", "rs0", "dryRun", BCON_BOOL(false), "term",
                         BCON_INT64(1), "candidateIndex", BCON_INT32(0), "configVersion", BCON_INT32(1));
    CHECK_EQ_INT(repl_vote_request_from_bson(d, &r, &e), -ERR_NO_SUCH_KEY);
    CHECK(strstr(e.msg, "lastAppliedOpTime") != NULL);
    bson_destroy(d);
    d = BCON_NEW("setName", BCON_INT32(3));
    CHECK_EQ_INT(repl_vote_request_from_bson(d, &r, &e), -ERR_TYPE_MISMATCH);
    bson_destroy(d);
    d = BCON_NEW("candidateIndex", BCON_INT32(99));
    CHECK_EQ_INT(repl_vote_request_from_bson(d, &r, &e), -ERR_BAD_VALUE);
    bson_destroy(d);
    err_clear(&e);
}

TEST(vote_response_round_trips)
{
    struct repl_vote_response r = {.term = 4, .vote_granted = true};
    snprintf(r.reason, sizeof r.reason, "ok");
    bson_t d = BSON_INITIALIZER;
    repl_vote_response_to_bson(&r, &d);
    struct repl_vote_response back;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(repl_vote_response_from_bson(&d, &back, &e), 0);
    CHECK_EQ_INT(back.term, 4);
    CHECK(back.vote_granted);
    bson_destroy(&d);
    bson_t *bad = BCON_NEW("term", BCON_INT64(1));
    CHECK_EQ_INT(repl_vote_response_from_bson(bad, &back, &e), -ERR_NO_SUCH_KEY);
    bson_destroy(bad);
    err_clear(&e);
}

TEST(heartbeat_request_and_response_round_trip)
{
    struct repl_hb_request q = {0};
    snprintf(q.set_name, sizeof q.set_name, "rs0");
    snprintf(q.from, sizeof q.from, "h:1");
    q.config_version = 3;
    q.config_term = 2;
    q.from_id = 1;
    q.term = 2;
    q.primary_id = 0;
    bson_t d = BSON_INITIALIZER;
    repl_hb_request_to_bson(&q, &d);
    struct repl_hb_request qb;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(repl_hb_request_from_bson(&d, &qb, &e), 0);
    CHECK_EQ_STR(qb.from, "h:1");
    CHECK_EQ_INT(qb.config_term, 2);
    CHECK_EQ_INT(qb.primary_id, 0);
    bson_destroy(&d);

    struct repl_hb_response r = {0};
    r.ok = true;
    snprintf(r.set_name, sizeof r.set_name, "rs0");
    r.state = 1;
    r.term = 2;
    r.primary_id = 0;
    r.election_time = (5ull << 32) | 1;
    r.applied = (struct optime){(6ull << 32) | 1, 2};
    r.durable = (struct optime){(5ull << 32) | 1, 2};
    r.electable = true;
    r.config_version = 3;
    r.config_term = 2;
    r.commit_point = (struct optime){(4ull << 32) | 1, 2};
    bson_init(&d);
    repl_hb_response_to_bson(&r, NULL, &d);
    CHECK(bson_has_field(&d, "durableOpTime"));
    CHECK(bson_has_field(&d, "$replData.lastOpCommitted"));
    struct repl_hb_response rb;
    bson_t *cfg_doc = NULL;
    CHECK_EQ_INT(repl_hb_response_from_bson(&d, &rb, &cfg_doc, &e), 0);
    CHECK(cfg_doc == NULL);
    CHECK(rb.ok);
    CHECK_EQ_INT(rb.state, 1);
    CHECK(rb.election_time == r.election_time);
    CHECK(optime_compare(rb.applied, r.applied) == 0);
    CHECK(optime_compare(rb.durable, r.durable) == 0);
    CHECK(optime_compare(rb.commit_point, r.commit_point) == 0);
    CHECK(rb.electable);
    bson_destroy(&d);
    err_clear(&e);
}

TEST(heartbeat_error_response_decodes_its_code)
{
    bson_t *d = BCON_NEW("ok", BCON_DOUBLE(0), "errmsg", "nope", "code", BCON_INT32(185));
    struct repl_hb_response r;
    bson_t *cfg_doc = NULL;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(repl_hb_response_from_bson(d, &r, &cfg_doc, &e), 0);
    CHECK(!r.ok);
    CHECK_EQ_INT(r.code, 185);
    CHECK_EQ_STR(r.errmsg, "nope");
    bson_destroy(d);
    d = BCON_NEW("ok", BCON_DOUBLE(1), "set", "rs0", "state", BCON_INT32(42));
    CHECK_EQ_INT(repl_hb_response_from_bson(d, &r, &cfg_doc, &e), -ERR_BAD_VALUE);
    bson_destroy(d);
    err_clear(&e);
}

TEST(update_position_round_trips_and_bounds_its_array)
{
    struct repl_position_entry v[2] = {0};
    v[0].member_id = 1;
    v[0].cfgver = 2;
    v[0].applied = (struct optime){(3ull << 32) | 1, 1};
    v[0].durable = (struct optime){(2ull << 32) | 1, 1};
    v[1].member_id = 2;
    v[1].applied = v[1].durable = OPTIME_NULL;
    bson_t d = BSON_INITIALIZER;
    repl_update_position_to_bson(v, 2, &d);
    struct repl_position_entry back[2];
    int n = 0;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(repl_update_position_from_bson(&d, back, 2, &n, &e), 0);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(back[0].member_id, 1);
    CHECK(optime_compare(back[0].durable, v[0].durable) == 0);
    CHECK_EQ_INT(repl_update_position_from_bson(&d, back, 1, &n, &e), -ERR_BAD_VALUE);
    bson_destroy(&d);
    bson_t *bad = BCON_NEW("optimes", "[", "{", "cfgver", BCON_INT32(1), "}", "]");
    CHECK_EQ_INT(repl_update_position_from_bson(bad, back, 2, &n, &e), -ERR_NO_SUCH_KEY);
    bson_destroy(bad);
    err_clear(&e);
}

int main(void)
{
    RUN(optime_round_trips_and_orders_term_first);
    RUN(optime_with_wrong_shapes_is_rejected);
    RUN(vote_request_round_trips_with_mongodb_field_names);
    RUN(vote_request_with_missing_or_mistyped_fields_is_rejected);
    RUN(vote_response_round_trips);
    RUN(heartbeat_request_and_response_round_trip);
    RUN(heartbeat_error_response_decodes_its_code);
    RUN(update_position_round_trips_and_bounds_its_array);
    return test_report();
}

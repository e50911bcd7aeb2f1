/* test_dispatch_repl.c - the dispatcher's replica-set rules (cmd/dispatch_repl.c):
 * role checks of an uninitialised member, write concern parsing and defaults,
 * writeConcernError shapes and RetryableWriteError labels. */
#include "cmd/dispatch_repl.h"

#include "core/mem.h"
#include "net/server.h"
#include "repl/node.h"
#include "store_testhelp.h"

#include <uv.h>

static struct cmd_request *req_new(const char *json, const char *db)
{
    struct cmd_request *r = xcalloc(1, sizeof *r);
    bson_error_t be;
    bson_iter_t it;

    if (!bson_init_from_json(&r->body, json, -1, &be)) {
        fprintf(stderr, "bad test json %s: %s\n", json, be.message);
        abort();
    }
    if (bson_iter_init(&it, &r->body) && bson_iter_next(&it))
        r->name = bson_iter_key(&it);
    r->db = db;
    return r;
}

static void req_free(struct cmd_request *r)
{
    bson_destroy(&r->body);
    free(r);
}

static bool has_label(const bson_t *doc)
{
    bson_iter_t it;

    return bson_iter_init_find(&it, doc, "errorLabels") && BSON_ITER_HOLDS_ARRAY(&it) &&
           bson_iter_recurse(&it, &it) && bson_iter_next(&it) && BSON_ITER_HOLDS_UTF8(&it) &&
           strcmp(bson_iter_utf8(&it, NULL), "RetryableWriteError") == 0;
}

static bool has_path(const bson_t *doc, const char *path)
{
    bson_iter_t it, sub;

    return bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &sub);
}

static const char *str_at(const bson_t *doc, const char *path)
{
    bson_iter_t it, sub;

    if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &sub) || !BSON_ITER_HOLDS_UTF8(&sub))
        return "";
    return bson_iter_utf8(&sub, NULL);
}

static int int_at(const bson_t *doc, const char *path)
{
    bson_iter_t it, sub;

    if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &sub) || !BSON_ITER_HOLDS_NUMBER(&sub))
        return -1;
    return (int)bson_iter_as_int64(&sub);
}

TEST(retryable_codes_are_the_retriable_error_category)
{
    CHECK(dispatch_repl_is_retryable_code(ERR_NOT_WRITABLE_PRIMARY));
    CHECK(dispatch_repl_is_retryable_code(ERR_INTERRUPTED_DUE_TO_REPL_STATE_CHANGE));
    CHECK(dispatch_repl_is_retryable_code(ERR_SHUTDOWN_IN_PROGRESS));
    CHECK(dispatch_repl_is_retryable_code(ERR_NOT_PRIMARY_OR_SECONDARY));
    CHECK(dispatch_repl_is_retryable_code(ERR_PRIMARY_STEPPED_DOWN));
    CHECK(!dispatch_repl_is_retryable_code(ERR_WRITE_CONCERN_FAILED));
    CHECK(!dispatch_repl_is_retryable_code(ERR_DUPLICATE_KEY));
    CHECK(!dispatch_repl_is_retryable_code(ERR_BAD_VALUE));
}

TEST(a_retryable_write_has_a_txn_number_and_no_autocommit)
{
    struct cmd_request *a = req_new("{\"insert\": \"c\", \"txnNumber\": {\"$numberLong\": \"1\"}}", "db");
    struct cmd_request *b = req_new("{\"insert\": \"c\", \"txnNumber\": 1, \"autocommit\": false}", "db");
    struct cmd_request *c = req_new("{\"insert\": \"c\"}", "db");
    struct cmd_request *d = req_new("{\"commitTransaction\": 1}", "admin");

    CHECK(dispatch_repl_is_retryable_write(a));
    CHECK(!dispatch_repl_is_retryable_write(b));
    CHECK(!dispatch_repl_is_retryable_write(c));
    CHECK(dispatch_repl_is_retryable_write(d));
    req_free(a);
    req_free(b);
    req_free(c);
    req_free(d);
}

TEST(user_writes_are_write_rows_and_writing_aggregates_outside_local)
{
    static const struct cmd_def insert_def = {"insert", NULL, CMD_EXEC_WRITE, CMD_FLAG_WRITE};
    static const struct cmd_def agg_def = {"aggregate", NULL, CMD_EXEC_READ, CMD_FLAG_READ};
    struct cmd_request *ins = req_new("{\"insert\": \"c\"}", "db");
    struct cmd_request *ins_local = req_new("{\"insert\": \"c\"}", "local");
    struct cmd_request *out = req_new("{\"aggregate\": \"c\", \"pipeline\": [{\"$match\": {}}, {\"$out\": \"x\"}]}", "db");
    struct cmd_request *merge = req_new("{\"aggregate\": \"c\", \"pipeline\": [{\"$merge\": {\"into\": \"x\"}}]}", "db");
    struct cmd_request *plain = req_new("{\"aggregate\": \"c\", \"pipeline\": [{\"$match\": {}}]}", "db");
    struct cmd_request *bad = req_new("{\"aggregate\": \"c\", \"pipeline\": 3}", "db");

    CHECK(dispatch_repl_is_user_write(ins, &insert_def));
    CHECK(!dispatch_repl_is_user_write(ins_local, &insert_def));
    CHECK(dispatch_repl_is_user_write(out, &agg_def));
    CHECK(dispatch_repl_is_user_write(merge, &agg_def));
    CHECK(!dispatch_repl_is_user_write(plain, &agg_def));
    CHECK(!dispatch_repl_is_user_write(bad, &agg_def));
    req_free(ins);
    req_free(ins_local);
    req_free(out);
    req_free(merge);
    req_free(plain);
    req_free(bad);
}

TEST(only_w_above_one_or_named_modes_wait)
{
    struct write_concern wc;

    write_concern_init(&wc);
    CHECK(!dispatch_repl_wc_needs_wait(&wc));
    wc.w = 0;
    CHECK(!dispatch_repl_wc_needs_wait(&wc));
    wc.w = 2;
    CHECK(dispatch_repl_wc_needs_wait(&wc));
    wc.w_kind = WRITE_CONCERN_W_MAJORITY;
    CHECK(dispatch_repl_wc_needs_wait(&wc));
    wc.w_kind = WRITE_CONCERN_W_MODE;
    CHECK(dispatch_repl_wc_needs_wait(&wc));
}

TEST(merged_fields_drop_ok_and_label_a_retryable_write_concern_error_inside)
{
    bson_t *fields = J("{\"ok\": 1, \"writeConcernError\": {\"code\": 11602, \"errmsg\": \"x\"}, \"n\": 3}");
    bson_t *timeout = J("{\"writeConcernError\": {\"code\": 64, \"errmsg\": \"timed out\"}}");
    bson_t out = BSON_INITIALIZER, out2 = BSON_INITIALIZER, out3 = BSON_INITIALIZER;
    bson_iter_t it;

    dispatch_repl_merge_fields(fields, true, &out);
    CHECK(!bson_iter_init_find(&it, &out, "ok"));
    CHECK_EQ_INT(int_at(&out, "n"), 3);
    CHECK_EQ_INT(int_at(&out, "writeConcernError.code"), 11602);
    CHECK(bson_iter_init_find(&it, &out, "writeConcernError"));
    {
        bson_t wce;
        const uint8_t *data;
        uint32_t len;
        bson_iter_document(&it, &len, &data);
        CHECK(bson_init_static(&wce, data, len));
        CHECK(has_label(&wce));
    }
    dispatch_repl_merge_fields(timeout, true, &out2);
    CHECK_EQ_INT(int_at(&out2, "writeConcernError.code"), 64);
    CHECK(!has_path(&out2, "writeConcernError.errorLabels"));
    dispatch_repl_merge_fields(fields, false, &out3);
    CHECK(!has_path(&out3, "writeConcernError.errorLabels"));
    dispatch_repl_merge_fields(NULL, true, &out3);
    bson_destroy(&out);
    bson_destroy(&out2);
    bson_destroy(&out3);
    bson_destroy(fields);
    bson_destroy(timeout);
}

TEST(a_write_concern_error_from_an_err_has_code_name_message_and_info)
{
    struct err e;
    bson_t out = BSON_INITIALIZER;

    err_init(&e);
    err_set(&e, ERR_UNSATISFIABLE_WRITE_CONCERN, "Not enough data-bearing nodes");
    BSON_APPEND_INT32(err_info(&e), "x", 7);
    dispatch_repl_append_wc_error(&e, true, &out);
    CHECK_EQ_INT(int_at(&out, "writeConcernError.code"), 100);
    CHECK_EQ_STR(str_at(&out, "writeConcernError.codeName"), "UnsatisfiableWriteConcern");
    CHECK_EQ_STR(str_at(&out, "writeConcernError.errmsg"), "Not enough data-bearing nodes");
    CHECK_EQ_INT(int_at(&out, "writeConcernError.errInfo.x"), 7);
    /* 100 is not retriable: no label even for a retryable write. */
    CHECK(!has_path(&out, "writeConcernError.errorLabels"));
    bson_destroy(&out);
    err_clear(&e);
}

TEST(labels_go_on_retryable_errors_of_retryable_writes_only)
{
    struct cmd_request *retry = req_new("{\"insert\": \"c\", \"txnNumber\": 5}", "db");
    struct cmd_request *plain = req_new("{\"insert\": \"c\"}", "db");
    struct err e;
    bson_t a = BSON_INITIALIZER, b = BSON_INITIALIZER, c = BSON_INITIALIZER;
    bson_t *wce = J("{\"n\": 1, \"writeConcernError\": {\"code\": 11602, \"errmsg\": \"stepped down\"}}");
    bson_t *wce64 = J("{\"n\": 1, \"writeConcernError\": {\"code\": 64, \"errmsg\": \"timeout\"}}");

    err_init(&e);
    err_set(&e, ERR_NOT_WRITABLE_PRIMARY, "not primary");
    err_append_reply(&e, &a);
    dispatch_repl_add_labels(retry, -ERR_NOT_WRITABLE_PRIMARY, &e, &a);
    CHECK(has_label(&a));
    /* Idempotent: a second call does not add a second errorLabels. */
    dispatch_repl_add_labels(retry, -ERR_NOT_WRITABLE_PRIMARY, &e, &a);
    CHECK_EQ_INT(bson_count_keys(&a), 5);
    err_append_reply(&e, &b);
    dispatch_repl_add_labels(plain, -ERR_NOT_WRITABLE_PRIMARY, &e, &b);
    CHECK(!has_label(&b));
    err_set(&e, ERR_DUPLICATE_KEY, "E11000 duplicate key error");
    err_append_reply(&e, &c);
    dispatch_repl_add_labels(retry, -ERR_DUPLICATE_KEY, &e, &c);
    CHECK(!has_label(&c));
    err_clear(&e);
    dispatch_repl_add_labels(retry, 0, &e, wce);
    CHECK(has_label(wce));
    dispatch_repl_add_labels(retry, 0, &e, wce64);
    CHECK(!has_label(wce64));
    bson_destroy(&a);
    bson_destroy(&b);
    bson_destroy(&c);
    bson_destroy(wce);
    bson_destroy(wce64);
    req_free(retry);
    req_free(plain);
}

/* A real member with no config (STARTUP): neither primary nor secondary. */
struct fixture {
    struct server srv;
    uv_loop_t loop;
    bool is_ok;
};

static void fixture_open(struct fixture *f)
{
    struct err e;

    memset(f, 0, sizeof *f);
    err_init(&e);
    uv_loop_init(&f->loop);
    f->srv.loop = &f->loop;
    f->srv.port = 27999;
    snprintf(f->srv.host_port, sizeof f->srv.host_port, "localhost:27999");
    f->srv.store = open_ok();
    if (f->srv.store && repl_node_create(&f->srv, "rs0", &f->srv.repl, &e) == 0)
        f->is_ok = true;
    else
        fprintf(stderr, "  repl_node_create: %s\n", e.msg);
    err_clear(&e);
}

static void fixture_close(struct fixture *f)
{
    if (f->srv.repl)
        repl_node_destroy(f->srv.repl);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    if (f->srv.store)
        store_close(f->srv.store);
}

static int role(struct fixture *f, const char *json, const char *db, const struct cmd_def *def, bool is_secondary_ok)
{
    struct cmd_request *r = req_new(json, db);
    struct err e;
    int rc;

    err_init(&e);
    r->is_secondary_ok = is_secondary_ok;
    rc = dispatch_repl_check_role(&f->srv, r, def, &e);
    err_clear(&e);
    req_free(r);
    return rc;
}

TEST(an_uninitialised_member_refuses_user_reads_and_writes_but_not_local_or_admin_commands)
{
    static const struct cmd_def insert_def = {"insert", NULL, CMD_EXEC_WRITE, CMD_FLAG_WRITE};
    static const struct cmd_def find_def = {"find", NULL, CMD_EXEC_READ, CMD_FLAG_READ};
    static const struct cmd_def get_more_def = {"getMore", NULL, CMD_EXEC_READ, 0};
    static const struct cmd_def status_def = {"replSetGetStatus", NULL, CMD_EXEC_LOOP, CMD_FLAG_ADMIN_ONLY};
    struct fixture f;

    fixture_open(&f);
    CHECK(f.is_ok);
    if (f.is_ok) {
        CHECK_EQ_INT(role(&f, "{\"insert\": \"c\"}", "db", &insert_def, false), -ERR_NOT_WRITABLE_PRIMARY);
        CHECK_EQ_INT(role(&f, "{\"insert\": \"c\"}", "db", &insert_def, true), -ERR_NOT_WRITABLE_PRIMARY);
        CHECK_EQ_INT(role(&f, "{\"find\": \"c\"}", "db", &find_def, false), -ERR_NOT_PRIMARY_OR_SECONDARY);
        CHECK_EQ_INT(role(&f, "{\"find\": \"c\"}", "db", &find_def, true), -ERR_NOT_PRIMARY_OR_SECONDARY);
        CHECK_EQ_INT(role(&f, "{\"insert\": \"c\"}", "local", &insert_def, false), 0);
        CHECK_EQ_INT(role(&f, "{\"find\": \"c\"}", "local", &find_def, false), 0);
        CHECK_EQ_INT(role(&f, "{\"getMore\": 5}", "db", &get_more_def, false), 0);
        CHECK_EQ_INT(role(&f, "{\"replSetGetStatus\": 1}", "admin", &status_def, false), 0);
    }
    fixture_close(&f);
}

static int parse_wc(struct fixture *f, const char *json, struct write_concern *wc, int *unsat_code)
{
    struct cmd_request *r = req_new(json, "db");
    struct err e, unsat;
    int rc;

    err_init(&e);
    err_init(&unsat);
    rc = dispatch_repl_write_concern(&f->srv, r, wc, &unsat, &e);
    *unsat_code = unsat.code;
    err_clear(&e);
    err_clear(&unsat);
    req_free(r);
    return rc;
}

TEST(write_concerns_are_parsed_or_defaulted_and_malformed_ones_fail)
{
    struct fixture f;
    struct write_concern wc;
    int unsat;

    fixture_open(&f);
    CHECK(f.is_ok);
    if (f.is_ok) {
        CHECK_EQ_INT(parse_wc(&f, "{\"insert\": \"c\", \"writeConcern\": {\"w\": \"majority\", \"wtimeout\": 50}}",
                              &wc, &unsat),
                     0);
        CHECK(wc.has_w);
        CHECK_EQ_INT(wc.w_kind, WRITE_CONCERN_W_MAJORITY);
        CHECK_EQ_INT(wc.wtimeout_ms, 50);
        CHECK_EQ_INT(wc.provenance, WRITE_CONCERN_PROVENANCE_CLIENT_SUPPLIED);
        CHECK_EQ_INT(unsat, 0); /* no config: nothing to judge it against */
        CHECK_EQ_INT(parse_wc(&f, "{\"insert\": \"c\", \"writeConcern\": {\"w\": 3}}", &wc, &unsat), 0);
        CHECK_EQ_INT(wc.w, 3);
        CHECK_EQ_INT(parse_wc(&f, "{\"insert\": \"c\", \"writeConcern\": {\"w\": 51}}", &wc, &unsat),
                     -ERR_FAILED_TO_PARSE);
        CHECK_EQ_INT(parse_wc(&f, "{\"insert\": \"c\", \"writeConcern\": {\"w\": -1}}", &wc, &unsat),
                     -ERR_FAILED_TO_PARSE);
        CHECK_EQ_INT(parse_wc(&f, "{\"insert\": \"c\", \"writeConcern\": 1}", &wc, &unsat), -ERR_TYPE_MISMATCH);
        /* No writeConcern, or one without w: the member's default fills w and keeps wtimeout. */
        CHECK_EQ_INT(parse_wc(&f, "{\"insert\": \"c\"}", &wc, &unsat), 0);
        CHECK(wc.has_w);
        CHECK_EQ_INT(parse_wc(&f, "{\"insert\": \"c\", \"writeConcern\": {\"wtimeout\": 77}}", &wc, &unsat), 0);
        CHECK(wc.has_w);
        CHECK_EQ_INT(wc.wtimeout_ms, 77);
    }
    fixture_close(&f);
}

int main(void)
{
    RUN(retryable_codes_are_the_retriable_error_category);
    RUN(a_retryable_write_has_a_txn_number_and_no_autocommit);
    RUN(user_writes_are_write_rows_and_writing_aggregates_outside_local);
    RUN(only_w_above_one_or_named_modes_wait);
    RUN(merged_fields_drop_ok_and_label_a_retryable_write_concern_error_inside);
    RUN(a_write_concern_error_from_an_err_has_code_name_message_and_info);
    RUN(labels_go_on_retryable_errors_of_retryable_writes_only);
    RUN(an_uninitialised_member_refuses_user_reads_and_writes_but_not_local_or_admin_commands);
    RUN(write_concerns_are_parsed_or_defaulted_and_malformed_ones_fail);
    return test_report();
}

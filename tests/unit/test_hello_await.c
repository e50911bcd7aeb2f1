/* test_hello_await.c - topologyVersion, awaitable hello and exhaust rounds.
 *
 * Runs hello through the real dispatcher on a private libuv loop with a
 * standalone server struct (no store, no network): parsing errors, the
 * reply's topologyVersion, a parked hello answered by its timer or by a
 * topology change, release by connection, the state-change error rule,
 * the exhaust body rewrite and the moreToCome framing. */
#include "testhelp.h"

#include "cmd/cmd.h"
#include "cmd/hello_await.h"
#include "core/mem.h"
#include "net/server.h"
#include "wire/wire.h"

#include <bson/bson.h>
#include <string.h>
#include <uv.h>

struct reply_box {
    int n;
    bson_t last;
    struct cmd_request *req;
};

static uv_loop_t loop;
static struct server srv;

static void setup(void)
{
    memset(&srv, 0, sizeof srv);
    uv_loop_init(&loop);
    srv.loop = &loop;
}

static void teardown(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}

static struct cmd_request *make_req(const char *json, int64_t conn_id)
{
    struct cmd_request *req = xcalloc(1, sizeof *req);
    bson_error_t berr;
    bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &berr);
    bson_iter_t it;

    if (b == NULL) {
        fprintf(stderr, "bad json %s: %s\n", json, berr.message);
        exit(2);
    }
    bson_init(&req->body);
    bson_concat(&req->body, b);
    bson_destroy(b);
    bson_iter_init(&it, &req->body);
    bson_iter_next(&it);
    req->name = bson_iter_key(&it);
    if (bson_iter_init_find(&it, &req->body, "$db"))
        req->db = bson_iter_utf8(&it, NULL);
    req->request_id = 7;
    req->connection_id = conn_id;
    return req;
}

static void free_req(struct cmd_request *req)
{
    bson_destroy(&req->body);
    free(req);
}

static void on_reply(void *arg, struct cmd_request *req, const bson_t *reply)
{
    struct reply_box *box = arg;

    (void)req;
    if (box->n++)
        bson_destroy(&box->last);
    bson_copy_to(reply, &box->last);
}

static void box_clear(struct reply_box *box)
{
    if (box->n)
        bson_destroy(&box->last);
    box->n = 0;
}

static int64_t reply_int(const bson_t *doc, const char *path)
{
    bson_iter_t it;

    if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &it) || !BSON_ITER_HOLDS_NUMBER(&it))
        return -999;
    return bson_iter_as_int64(&it);
}

/* {"$oid": "..."} JSON of this server's processId. */
static void process_id_hex(char out[25])
{
    bson_oid_t oid;

    memcpy(oid.bytes, srv.topology.process_id, 12);
    bson_oid_to_string(&oid, out);
}

/* Dispatches json and runs the loop until the reply came (or nothing is left). */
static void run_hello(const char *json, int64_t conn_id, struct reply_box *box)
{
    struct cmd_request *req = make_req(json, conn_id);

    cmd_dispatch(&srv, req, on_reply, box);
    uv_run(&loop, UV_RUN_DEFAULT);
    free_req(req);
}

static void awaitable_json(char *buf, size_t cap, int64_t counter, int64_t wait_ms)
{
    char hex[25];

    process_id_hex(hex);
    snprintf(buf, cap,
             "{\"hello\": 1, \"$db\": \"admin\", \"topologyVersion\": {\"processId\": {\"$oid\": \"%s\"}, "
             "\"counter\": {\"$numberLong\": \"%lld\"}}, \"maxAwaitTimeMS\": %lld}",
             hex, (long long)counter, (long long)wait_ms);
}

TEST(a_plain_hello_carries_an_object_id_and_an_int64_counter)
{
    struct reply_box box = {0};
    bson_iter_t it;

    setup();
    run_hello("{\"hello\": 1, \"$db\": \"admin\"}", 1, &box);
    CHECK_EQ_INT(box.n, 1);
    CHECK(bson_iter_init(&it, &box.last) && bson_iter_find_descendant(&it, "topologyVersion.processId", &it) &&
          BSON_ITER_HOLDS_OID(&it));
    CHECK(bson_iter_init(&it, &box.last) && bson_iter_find_descendant(&it, "topologyVersion.counter", &it) &&
          BSON_ITER_HOLDS_INT64(&it) && bson_iter_int64(&it) == 0);
    CHECK(srv.topology.has_process_id);
    box_clear(&box);
    teardown();
}

TEST(an_awaitable_hello_waits_for_its_timer_when_nothing_changes)
{
    struct reply_box box = {0};
    char json[400];
    uint64_t t0;

    setup();
    run_hello("{\"hello\": 1, \"$db\": \"admin\"}", 1, &box);
    box_clear(&box);
    awaitable_json(json, sizeof json, 0, 150);
    t0 = uv_hrtime();
    run_hello(json, 1, &box);
    CHECK_EQ_INT(box.n, 1);
    CHECK((uv_hrtime() - t0) / 1000000 >= 100);
    CHECK_EQ_INT(reply_int(&box.last, "ok"), 1);
    CHECK_EQ_INT(reply_int(&box.last, "topologyVersion.counter"), 0);
    CHECK(srv.topology.waiters == NULL);
    box_clear(&box);
    teardown();
}

TEST(an_awaitable_hello_with_an_older_counter_or_another_process_is_answered_at_once)
{
    struct reply_box box = {0};
    char json[400];
    struct cmd_request *req;

    setup();
    run_hello("{\"hello\": 1, \"$db\": \"admin\"}", 1, &box);
    srv.topology.counter = 3; /* as if three changes happened */
    box_clear(&box);
    awaitable_json(json, sizeof json, 2, 60000);
    req = make_req(json, 1);
    cmd_dispatch(&srv, req, on_reply, &box);
    CHECK_EQ_INT(box.n, 1); /* synchronously: not parked */
    CHECK_EQ_INT(reply_int(&box.last, "topologyVersion.counter"), 3);
    free_req(req);
    box_clear(&box);
    req = make_req("{\"hello\": 1, \"$db\": \"admin\", \"topologyVersion\": {\"processId\": {\"$oid\": "
                   "\"000000000000000000000001\"}, \"counter\": {\"$numberLong\": \"9\"}}, \"maxAwaitTimeMS\": 60000}",
                   1);
    cmd_dispatch(&srv, req, on_reply, &box);
    CHECK_EQ_INT(box.n, 1);
    CHECK_EQ_INT(reply_int(&box.last, "ok"), 1);
    free_req(req);
    box_clear(&box);
    teardown();
}

TEST(a_topology_change_answers_every_parked_hello_with_the_new_counter)
{
    struct reply_box a = {0}, b = {0};
    char json[400];
    struct cmd_request *ra, *rb;

    setup();
    run_hello("{\"hello\": 1, \"$db\": \"admin\"}", 1, &a);
    box_clear(&a);
    awaitable_json(json, sizeof json, 0, 60000);
    ra = make_req(json, 1);
    rb = make_req(json, 2);
    cmd_dispatch(&srv, ra, on_reply, &a);
    cmd_dispatch(&srv, rb, on_reply, &b);
    CHECK_EQ_INT(a.n + b.n, 0);
    CHECK(srv.topology.waiters != NULL);
    server_topology_changed(&srv); /* nothing changed: nobody wakes */
    CHECK_EQ_INT(a.n + b.n, 0);
    srv.topology.fingerprint ^= 1; /* what hello reports is now different */
    server_topology_changed(&srv);
    CHECK_EQ_INT(a.n, 1);
    CHECK_EQ_INT(b.n, 1);
    CHECK_EQ_INT(reply_int(&a.last, "topologyVersion.counter"), 1);
    CHECK_EQ_INT(reply_int(&b.last, "topologyVersion.counter"), 1);
    CHECK(srv.topology.waiters == NULL);
    free_req(ra);
    free_req(rb);
    box_clear(&a);
    box_clear(&b);
    teardown();
}

TEST(releasing_a_connection_answers_only_its_own_parked_hello)
{
    struct reply_box a = {0}, b = {0};
    char json[400];
    struct cmd_request *ra, *rb;

    setup();
    run_hello("{\"hello\": 1, \"$db\": \"admin\"}", 1, &a);
    box_clear(&a);
    awaitable_json(json, sizeof json, 0, 200);
    ra = make_req(json, 11);
    rb = make_req(json, 12);
    cmd_dispatch(&srv, ra, on_reply, &a);
    cmd_dispatch(&srv, rb, on_reply, &b);
    hello_await_release_conn(&srv, 99);
    CHECK_EQ_INT(a.n + b.n, 0);
    hello_await_release_conn(&srv, 12);
    CHECK_EQ_INT(a.n, 0);
    CHECK_EQ_INT(b.n, 1);
    uv_run(&loop, UV_RUN_DEFAULT); /* a's timer */
    CHECK_EQ_INT(a.n, 1);
    free_req(ra);
    free_req(rb);
    box_clear(&a);
    box_clear(&b);
    teardown();
}

TEST(a_parked_hello_released_at_shutdown_gets_shutdown_in_progress_with_topology_version)
{
    struct reply_box a = {0};
    char json[400];
    struct cmd_request *ra;

    setup();
    run_hello("{\"hello\": 1, \"$db\": \"admin\"}", 1, &a);
    box_clear(&a);
    awaitable_json(json, sizeof json, 0, 60000);
    ra = make_req(json, 5);
    cmd_dispatch(&srv, ra, on_reply, &a);
    srv.is_shutting_down = true;
    hello_await_release_conn(&srv, 5);
    CHECK_EQ_INT(a.n, 1);
    CHECK_EQ_INT(reply_int(&a.last, "ok"), 0);
    CHECK_EQ_INT(reply_int(&a.last, "code"), 91);
    CHECK(bson_has_field(&a.last, "topologyVersion"));
    free_req(ra);
    box_clear(&a);
    teardown();
}

static int64_t error_code_of(const char *json, bool is_exhaust)
{
    struct reply_box box = {0};
    struct cmd_request *req = make_req(json, 1);
    int64_t code;

    req->is_exhaust_allowed = is_exhaust;
    cmd_dispatch(&srv, req, on_reply, &box);
    uv_run(&loop, UV_RUN_DEFAULT);
    code = box.n == 1 && reply_int(&box.last, "ok") == 0 ? reply_int(&box.last, "code") : -1;
    free_req(req);
    box_clear(&box);
    return code;
}

TEST(malformed_awaitable_hellos_get_mongods_error_codes)
{
    setup();
    CHECK_EQ_INT(error_code_of("{\"hello\": 1, \"$db\": \"admin\", \"maxAwaitTimeMS\": 5}", false), 31368);
    CHECK_EQ_INT(error_code_of("{\"hello\": 1, \"$db\": \"admin\", \"topologyVersion\": {\"processId\": {\"$oid\": "
                               "\"000000000000000000000001\"}, \"counter\": 1}}", false), 31368);
    CHECK_EQ_INT(error_code_of("{\"hello\": 1, \"$db\": \"admin\"}", true), 51756);
    CHECK_EQ_INT(error_code_of("{\"isMaster\": 1, \"$db\": \"admin\", \"topologyVersion\": 1, \"maxAwaitTimeMS\": 5}",
                               false), 14);
    CHECK_EQ_INT(error_code_of("{\"hello\": 1, \"$db\": \"admin\", \"topologyVersion\": {\"processId\": 1, "
                               "\"counter\": 1}, \"maxAwaitTimeMS\": 5}", false), 14);
    CHECK_EQ_INT(error_code_of("{\"hello\": 1, \"$db\": \"admin\", \"topologyVersion\": {\"processId\": {\"$oid\": "
                               "\"000000000000000000000001\"}, \"counter\": \"x\"}, \"maxAwaitTimeMS\": 5}", false),
                 14);
    CHECK_EQ_INT(error_code_of("{\"hello\": 1, \"$db\": \"admin\", \"topologyVersion\": {\"counter\": 1}, "
                               "\"maxAwaitTimeMS\": 5}", false), 40414);
    CHECK_EQ_INT(error_code_of("{\"hello\": 1, \"$db\": \"admin\", \"topologyVersion\": {\"processId\": {\"$oid\": "
                               "\"000000000000000000000001\"}}, \"maxAwaitTimeMS\": 5}", false), 40414);
    CHECK_EQ_INT(error_code_of("{\"hello\": 1, \"$db\": \"admin\", \"topologyVersion\": {\"processId\": {\"$oid\": "
                               "\"000000000000000000000001\"}, \"counter\": 1, \"z\": 1}, \"maxAwaitTimeMS\": 5}",
                               false), 40415);
    CHECK_EQ_INT(error_code_of("{\"hello\": 1, \"$db\": \"admin\", \"topologyVersion\": {\"processId\": {\"$oid\": "
                               "\"000000000000000000000001\"}, \"counter\": 1}, \"maxAwaitTimeMS\": -1}", false),
                 31373);
    CHECK_EQ_INT(error_code_of("{\"hello\": 1, \"$db\": \"admin\", \"topologyVersion\": {\"processId\": {\"$oid\": "
                               "\"000000000000000000000001\"}, \"counter\": 1}, \"maxAwaitTimeMS\": \"1\"}", false),
                 14);
    teardown();
}

TEST(a_counter_ahead_of_this_process_is_refused)
{
    char json[400];

    setup();
    CHECK_EQ_INT(error_code_of("{\"hello\": 1, \"$db\": \"admin\"}", false), -1);
    awaitable_json(json, sizeof json, 4, 10);
    CHECK_EQ_INT(error_code_of(json, false), 31382);
    teardown();
}

TEST(state_change_errors_and_write_concern_errors_get_topology_version_others_do_not)
{
    static const int codes[] = {10107, 13435, 13436, 11602, 189, 91, 11600};
    bson_t *doc;

    setup();
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        doc = BCON_NEW("ok", BCON_DOUBLE(0), "code", BCON_INT32(codes[i]));
        hello_topology_append_on_state_error(&srv, doc);
        CHECK(bson_has_field(doc, "topologyVersion"));
        bson_destroy(doc);
    }
    doc = BCON_NEW("ok", BCON_DOUBLE(0), "code", BCON_INT32(11000));
    hello_topology_append_on_state_error(&srv, doc);
    CHECK(!bson_has_field(doc, "topologyVersion"));
    bson_destroy(doc);
    doc = BCON_NEW("ok", BCON_DOUBLE(1));
    hello_topology_append_on_state_error(&srv, doc);
    CHECK(!bson_has_field(doc, "topologyVersion"));
    bson_destroy(doc);
    doc = BCON_NEW("ok", BCON_DOUBLE(1), "n", BCON_INT32(1), "writeConcernError", "{", "code", BCON_INT32(11602),
                   "}");
    hello_topology_append_on_state_error(&srv, doc);
    CHECK(bson_has_field(doc, "topologyVersion"));
    hello_topology_append_on_state_error(&srv, doc); /* never twice */
    CHECK_EQ_INT(bson_count_keys(doc), 4);
    bson_destroy(doc);
    teardown();
}

TEST(an_exhaust_round_rewrites_the_topology_version_and_drops_client_metadata)
{
    struct cmd_request *req;
    bson_t *ok_reply, *err_reply;
    bson_iter_t it;
    char hex[25];

    setup();
    server_topology_changed(&srv); /* makes the processId */
    process_id_hex(hex);
    srv.topology.counter = 6;
    req = make_req("{\"hello\": 1, \"client\": {\"a\": 1}, \"topologyVersion\": {\"processId\": {\"$oid\": "
                   "\"000000000000000000000001\"}, \"counter\": 1}, \"maxAwaitTimeMS\": 10, \"$db\": \"admin\"}",
                   1);
    ok_reply = bson_new();
    hello_topology_append(&srv, ok_reply);
    BSON_APPEND_DOUBLE(ok_reply, "ok", 1.0);
    err_reply = BCON_NEW("ok", BCON_DOUBLE(0), "code", BCON_INT32(2));

    CHECK(!hello_await_exhaust_next(&srv, req, ok_reply)); /* no exhaustAllowed */
    req->is_exhaust_allowed = true;
    CHECK(!hello_await_exhaust_next(&srv, req, err_reply)); /* never after ok: 0 */
    req->is_op_query = true;
    CHECK(!hello_await_exhaust_next(&srv, req, ok_reply));
    req->is_op_query = false;
    CHECK(hello_await_exhaust_next(&srv, req, ok_reply));
    CHECK_EQ_STR(req->name, "hello");
    CHECK_EQ_STR(req->db, "admin");
    CHECK(!bson_has_field(&req->body, "client"));
    CHECK_EQ_INT(reply_int(&req->body, "topologyVersion.counter"), 6);
    CHECK_EQ_INT(reply_int(&req->body, "maxAwaitTimeMS"), 10);
    CHECK(bson_iter_init(&it, &req->body) && bson_iter_find_descendant(&it, "topologyVersion.processId", &it) &&
          BSON_ITER_HOLDS_OID(&it));
    {
        char got[25];
        bson_oid_to_string(bson_iter_oid(&it), got);
        CHECK_EQ_STR(got, hex);
    }
    srv.is_shutting_down = true;
    CHECK(!hello_await_exhaust_next(&srv, req, ok_reply));
    bson_destroy(ok_reply);
    bson_destroy(err_reply);
    free_req(req);
    teardown();
}

static int32_t le32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

TEST(a_streamed_reply_sets_more_to_come_and_reports_its_request_id)
{
    struct cmd_request req;
    bson_t *doc = BCON_NEW("ok", BCON_DOUBLE(1));
    uint8_t *buf;
    size_t len;
    int32_t id = 0;

    memset(&req, 0, sizeof req);
    req.request_id = 77;
    wire_encode_streamed_reply(&req, doc, &buf, &len, &id);
    CHECK_EQ_INT(le32(buf + 4), id);
    CHECK_EQ_INT(le32(buf + 8), 77);
    CHECK_EQ_INT(le32(buf + 12), WIRE_OP_MSG);
    CHECK_EQ_INT(le32(buf + 16), WIRE_MSG_MORE_TO_COME);
    free(buf);
    wire_encode_reply(&req, doc, &buf, &len);
    CHECK_EQ_INT(le32(buf + 16), 0);
    free(buf);
    req.is_op_query = true;
    wire_encode_streamed_reply(&req, doc, &buf, &len, &id);
    CHECK_EQ_INT(le32(buf + 12), WIRE_OP_REPLY);
    CHECK_EQ_INT(le32(buf + 4), id);
    free(buf);
    bson_destroy(doc);
}

TEST(the_decoder_reports_exhaust_allowed)
{
    bson_t *doc = BCON_NEW("hello", BCON_INT32(1), "$db", "admin");
    size_t n = 16 + 5 + doc->len;
    uint8_t *msg = calloc(1, n);
    struct cmd_request req;
    struct err e;
    uint32_t flags = WIRE_MSG_EXHAUST_ALLOWED;

    msg[0] = (uint8_t)n;
    msg[12] = (uint8_t)(WIRE_OP_MSG & 0xff);
    msg[13] = (uint8_t)(WIRE_OP_MSG >> 8);
    memcpy(msg + 16, &flags, 4);
    memcpy(msg + 21, bson_get_data(doc), doc->len);
    memset(&req, 0, sizeof req);
    bson_init(&req.body);
    err_init(&e);
    CHECK_EQ_INT(wire_decode(msg, n, &req, &e), WIRE_DISPATCH);
    CHECK(req.is_exhaust_allowed);
    flags = 0;
    memcpy(msg + 16, &flags, 4);
    CHECK_EQ_INT(wire_decode(msg, n, &req, &e), WIRE_DISPATCH);
    CHECK(!req.is_exhaust_allowed);
    bson_destroy(&req.body);
    err_clear(&e);
    free(msg);
    bson_destroy(doc);
}

int main(void)
{
    RUN(a_plain_hello_carries_an_object_id_and_an_int64_counter);
    RUN(an_awaitable_hello_waits_for_its_timer_when_nothing_changes);
    RUN(an_awaitable_hello_with_an_older_counter_or_another_process_is_answered_at_once);
    RUN(a_topology_change_answers_every_parked_hello_with_the_new_counter);
    RUN(releasing_a_connection_answers_only_its_own_parked_hello);
    RUN(a_parked_hello_released_at_shutdown_gets_shutdown_in_progress_with_topology_version);
    RUN(malformed_awaitable_hellos_get_mongods_error_codes);
    RUN(a_counter_ahead_of_this_process_is_refused);
    RUN(state_change_errors_and_write_concern_errors_get_topology_version_others_do_not);
    RUN(an_exhaust_round_rewrites_the_topology_version_and_drops_client_metadata);
    RUN(a_streamed_reply_sets_more_to_come_and_reports_its_request_id);
    RUN(the_decoder_reports_exhaust_allowed);
    return test_report();
}

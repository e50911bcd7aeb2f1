/* hello_await.c - topologyVersion, parked awaitable hellos, exhaust rounds.
 *
 * Sits between cmd_hello.c (which parses a hello and builds its reply), the
 * connection (net/conn.c, which streams exhaust replies and releases a
 * parked hello when its client sends more or leaves) and the replica-set
 * glue (which calls server_topology_changed after every protocol step).
 *
 * Guarantees: the counter changes exactly when a field hello reports about
 * this member's role or config changed (member state, writability, setVersion
 * and config term, the primary it names, being in a config at all), so a
 * client never waits through a change and is never woken for nothing; a
 * parked hello costs a list entry and a timer, no polling; every parked
 * hello is answered exactly once (change, timeout, client activity,
 * connection close or shutdown), after which its waiter is freed with its
 * timer handle. Loop thread only (one server per process). */
#include "cmd/hello_await.h"

#include "cmd/args.h"
#include "core/bsonutil.h"
#include "core/mem.h"
#include "net/server.h"
#include "repl/core.h"
#include "repl/node.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

/* mongod's assertion codes for awaitable hello (no codeName: "Location<n>"). */
#define ERR_HELLO_AWAIT_PAIR 31368
#define ERR_HELLO_AWAIT_NEGATIVE 31373
#define ERR_HELLO_COUNTER_AHEAD 31382
#define ERR_HELLO_EXHAUST_NO_AWAIT 51756

struct hello_waiter {
    uv_timer_t timer; /* data = this waiter; the waiter is freed in the close callback */
    struct server *srv;
    struct cmd_ctx *ctx;
    hello_answer_fn answer;
    int64_t conn_id;
    bool is_listed; /* in srv->topology.waiters */
    struct hello_waiter *prev, *next;
};

/* ---- topologyVersion ---- */

static uint64_t fnv1a(uint64_t h, int64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (uint8_t)((uint64_t)v >> (8 * i));
        h *= 1099511628211ull;
    }
    return h;
}

/* Digest of every hello field a topology change may alter. lastWrite and
 * localTime move constantly and are not topology. */
static uint64_t fingerprint(const struct server *srv)
{
    uint64_t h = 14695981039346656037ull;

    if (srv->repl == NULL)
        return fnv1a(h, 0);
    const struct repl_state *st = repl_node_state(srv->repl);
    h = fnv1a(h, 1);
    h = fnv1a(h, st->has_config);
    h = fnv1a(h, st->self);
    h = fnv1a(h, st->member_state);
    h = fnv1a(h, repl_is_writable_primary(st));
    if (st->has_config) {
        h = fnv1a(h, st->config.version);
        h = fnv1a(h, st->config.term);
    }
    h = fnv1a(h, st->member_state == REPL_PRIMARY ? st->self : st->primary_index);
    return h;
}

static void ensure_process_id(struct server *srv)
{
    bson_oid_t oid;

    if (srv->topology.has_process_id)
        return;
    bson_oid_init(&oid, NULL);
    memcpy(srv->topology.process_id, oid.bytes, sizeof oid.bytes);
    srv->topology.has_process_id = true;
}

static void answer(struct hello_waiter *w);

/* Answers every parked hello. The list is detached first: an exhaust stream
 * parks its next round while this runs, and that round must keep waiting. */
static void wake_all(struct server *srv)
{
    struct hello_waiter *list = srv->topology.waiters;

    srv->topology.waiters = NULL;
    for (struct hello_waiter *w = list; w; w = w->next)
        w->is_listed = false;
    while (list) {
        struct hello_waiter *w = list;
        list = w->next;
        w->prev = w->next = NULL;
        answer(w);
    }
}

/* Brings the counter up to date without waking anyone; true when it moved. */
static bool sync_counter(struct server *srv)
{
    uint64_t fp = fingerprint(srv);

    ensure_process_id(srv);
    if (!srv->topology.has_fingerprint) {
        srv->topology.fingerprint = fp;
        srv->topology.has_fingerprint = true;
        return false;
    }
    if (fp == srv->topology.fingerprint)
        return false;
    srv->topology.fingerprint = fp;
    srv->topology.counter++;
    return true;
}

void server_topology_changed(struct server *srv)
{
    if (sync_counter(srv))
        wake_all(srv);
}

void hello_topology_append(struct server *srv, bson_t *doc)
{
    bson_t tv;
    bson_oid_t oid;

    server_topology_changed(srv);
    memcpy(oid.bytes, srv->topology.process_id, sizeof oid.bytes);
    BSON_APPEND_DOCUMENT_BEGIN(doc, "topologyVersion", &tv);
    BSON_APPEND_OID(&tv, "processId", &oid);
    BSON_APPEND_INT64(&tv, "counter", srv->topology.counter);
    bson_append_document_end(doc, &tv);
}

static bool is_state_change_code(int64_t code)
{
    switch (code) {
    case ERR_NOT_WRITABLE_PRIMARY:
    case ERR_NOT_PRIMARY_NO_SECONDARY_OK:
    case ERR_NOT_PRIMARY_OR_SECONDARY:
    case ERR_INTERRUPTED_DUE_TO_REPL_STATE_CHANGE:
    case ERR_PRIMARY_STEPPED_DOWN:
    case ERR_SHUTDOWN_IN_PROGRESS:
    case ERR_INTERRUPTED_AT_SHUTDOWN:
        return true;
    default:
        return false;
    }
}

static bool has_state_change_code(const bson_t *doc, const char *path)
{
    bson_iter_t it;

    return bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &it) && BSON_ITER_HOLDS_NUMBER(&it) &&
           is_state_change_code(bson_iter_as_int64(&it));
}

void hello_topology_append_on_state_error(struct server *srv, bson_t *reply)
{
    if (bson_has_field(reply, "topologyVersion"))
        return;
    if (has_state_change_code(reply, "code") || has_state_change_code(reply, "writeConcernError.code"))
        hello_topology_append(srv, reply);
}

/* ---- parsing ---- */

static int parse_topology_version(struct cmd_ctx *ctx, const bson_iter_t *field, struct hello_await_req *out)
{
    bson_iter_t it;
    bool has_pid = false, has_counter = false;

    if (!BSON_ITER_HOLDS_DOCUMENT(field))
        return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                       "BSON field '%s.topologyVersion' is the wrong type '%s', expected type 'object'",
                       ctx->req->name, bsonutil_type_name(bson_iter_type(field)));
    if (!bson_iter_recurse(field, &it))
        return err_set(&ctx->err, ERR_FAILED_TO_PARSE, "topologyVersion is not a valid document");
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "processId") == 0) {
            if (!BSON_ITER_HOLDS_OID(&it))
                return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                               "BSON field 'TopologyVersion.processId' is the wrong type '%s', expected type "
                               "'objectId'", bsonutil_type_name(bson_iter_type(&it)));
            memcpy(out->process_id, bson_iter_oid(&it)->bytes, sizeof out->process_id);
            has_pid = true;
        } else if (strcmp(k, "counter") == 0) {
            if (BSON_ITER_HOLDS_INT64(&it))
                out->counter = bson_iter_int64(&it);
            else if (BSON_ITER_HOLDS_INT32(&it))
                out->counter = bson_iter_int32(&it);
            else
                return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                               "BSON field 'TopologyVersion.counter' is the wrong type '%s', expected type 'long'",
                               bsonutil_type_name(bson_iter_type(&it)));
            has_counter = true;
        } else {
            return err_set(&ctx->err, ERR_UNKNOWN_FIELD, "BSON field 'TopologyVersion.%s' is an unknown field.", k);
        }
    }
    if (!has_pid)
        return err_set(&ctx->err, ERR_MISSING_FIELD,
                       "BSON field 'TopologyVersion.processId' is missing but a required field");
    if (!has_counter)
        return err_set(&ctx->err, ERR_MISSING_FIELD,
                       "BSON field 'TopologyVersion.counter' is missing but a required field");
    return 0;
}

int hello_await_parse(struct cmd_ctx *ctx, struct hello_await_req *out)
{
    bson_iter_t tv;
    bool has_tv, has_wait;
    int rc;

    memset(out, 0, sizeof *out);
    has_tv = bson_iter_init_find(&tv, &ctx->req->body, "topologyVersion");
    has_wait = bson_has_field(&ctx->req->body, "maxAwaitTimeMS");
    if (has_tv && !has_wait)
        return err_set(&ctx->err, ERR_HELLO_AWAIT_PAIR, "A request with a 'topologyVersion' must include "
                       "'maxAwaitTimeMS'");
    if (has_wait && !has_tv)
        return err_set(&ctx->err, ERR_HELLO_AWAIT_PAIR, "A request with 'maxAwaitTimeMS' must include a "
                       "'topologyVersion'");
    if (!has_tv) {
        if (ctx->req->is_exhaust_allowed)
            return err_set(&ctx->err, ERR_HELLO_EXHAUST_NO_AWAIT, "A hello/isMaster request with exhaust must "
                           "specify 'maxAwaitTimeMS'");
        return 0;
    }
    if ((rc = parse_topology_version(ctx, &tv, out)) < 0)
        return rc;
    if ((rc = args_int64(ctx, "maxAwaitTimeMS", &out->max_await_ms)) < 0)
        return rc;
    if (out->max_await_ms < 0)
        return err_set(&ctx->err, ERR_HELLO_AWAIT_NEGATIVE, "maxAwaitTimeMS must be a non-negative integer");
    out->is_awaitable = true;
    return 0;
}

int hello_await_must_wait(struct server *srv, const struct hello_await_req *a, struct err *e)
{
    if (!a->is_awaitable)
        return 0;
    server_topology_changed(srv);
    if (memcmp(a->process_id, srv->topology.process_id, sizeof a->process_id) != 0)
        return 0;
    if (a->counter > srv->topology.counter)
        return err_set(e, ERR_HELLO_COUNTER_AHEAD, "Received a topology version with the same process ID and a "
                       "higher counter than the server");
    return a->counter == srv->topology.counter ? 1 : 0;
}

/* ---- parking ---- */

static void on_waiter_closed(uv_handle_t *h)
{
    free(h->data);
}

static void unlink_waiter(struct hello_waiter *w)
{
    struct server_topology *t = &w->srv->topology;

    if (!w->is_listed)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        t->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->is_listed = false;
}

/* The waiter is unlinked; its reply goes out and the waiter is freed. */
static void answer(struct hello_waiter *w)
{
    struct cmd_ctx *ctx = w->ctx;
    hello_answer_fn fn = w->answer;

    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, on_waiter_closed);
    cmd_dispatch_finish(ctx, fn(ctx));
}

static void on_deadline(uv_timer_t *t)
{
    struct hello_waiter *w = t->data;

    unlink_waiter(w);
    answer(w);
}

int hello_await_park(struct cmd_ctx *ctx, int64_t max_await_ms, hello_answer_fn fn)
{
    struct server *srv = ctx->srv;
    struct hello_waiter *w = xcalloc(1, sizeof *w);

    w->srv = srv;
    w->ctx = ctx;
    w->answer = fn;
    w->conn_id = ctx->req->connection_id;
    ctx->is_awaiting = true;
    uv_timer_init(srv->loop, &w->timer);
    w->timer.data = w;
    /* Even a 0 ms wait answers from the timer, never from inside the
     * handler: an exhaust stream then advances one loop turn at a time. */
    uv_timer_start(&w->timer, on_deadline, (uint64_t)max_await_ms, 0);
    w->next = srv->topology.waiters;
    if (w->next)
        w->next->prev = w;
    srv->topology.waiters = w;
    w->is_listed = true;
    return CMD_ASYNC;
}

void hello_await_release_conn(struct server *srv, int64_t conn_id)
{
    for (struct hello_waiter *w = srv->topology.waiters; w; w = w->next) {
        if (w->conn_id == conn_id) {
            unlink_waiter(w);
            answer(w);
            return; /* one command in flight per connection */
        }
    }
}

/* ---- exhaust ---- */

static bool is_hello_name(const char *name)
{
    return name && (strcmp(name, "hello") == 0 || strcmp(name, "isMaster") == 0 || strcmp(name, "ismaster") == 0);
}

static bool reply_is_ok(const bson_t *reply)
{
    bson_iter_t it;

    return bson_iter_init_find(&it, reply, "ok") && BSON_ITER_HOLDS_NUMBER(&it) && bson_iter_as_double(&it) == 1.0;
}

/* Points req->name and req->db into the (rebuilt) body again. */
static bool repoint(struct cmd_request *req)
{
    bson_iter_t it;

    if (!bson_iter_init(&it, &req->body) || !bson_iter_next(&it))
        return false;
    req->name = bson_iter_key(&it);
    if (!bson_iter_init_find(&it, &req->body, "$db") || !BSON_ITER_HOLDS_UTF8(&it))
        return false;
    req->db = bson_iter_utf8(&it, NULL);
    return true;
}

bool hello_await_exhaust_next(struct server *srv, struct cmd_request *req, const bson_t *reply)
{
    bson_iter_t it, tv;
    bson_t next;

    if (!req->is_exhaust_allowed || req->is_op_query || srv->is_shutting_down || !is_hello_name(req->name))
        return false;
    if (!reply_is_ok(reply) || !bson_iter_init_find(&tv, reply, "topologyVersion") || !BSON_ITER_HOLDS_DOCUMENT(&tv))
        return false;
    if (!bson_has_field(&req->body, "topologyVersion") || !bson_has_field(&req->body, "maxAwaitTimeMS"))
        return false;
    bson_init(&next);
    if (!bson_iter_init(&it, &req->body)) {
        bson_destroy(&next);
        return false;
    }
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "client") == 0)
            continue; /* metadata goes in the first hello only */
        if (strcmp(k, "topologyVersion") == 0)
            bson_append_iter(&next, k, -1, &tv);
        else
            bson_append_iter(&next, k, -1, &it);
    }
    bson_destroy(&req->body);
    bson_steal(&req->body, &next);
    if (!repoint(req)) {
        req->name = req->db = NULL;
        return false;
    }
    return true;
}

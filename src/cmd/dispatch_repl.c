/* dispatch_repl.c - replica-set rules applied by the dispatcher.
 *
 * Sits beside dispatch.c and is consulted only when server.repl is set. It
 * decides whether this member may run a command in its current state (only
 * a writable primary takes user writes; reads on a secondary need
 * secondaryOk; the "local" database is always open), settles the write
 * concern of a write (client's or the member's default), and shapes the
 * replica-set parts of replies: writeConcernError documents and the
 * RetryableWriteError label that drivers need to retry across a failover
 * (wire-compat.md 4.3, 6). Loop thread only; nothing here blocks. */
#include "cmd/dispatch_repl.h"

#include "net/server.h"
#include "repl/node.h"

#include <string.h>

static bool is_local_db(const struct cmd_request *req)
{
    return req->db != NULL && strcmp(req->db, "local") == 0;
}

/* aggregate with $out / $merge writes; its table row only says READ. */
static bool is_writing_aggregate(const struct cmd_request *req)
{
    bson_iter_t it, stages, stage;

    if (strcmp(req->name, "aggregate") != 0)
        return false;
    if (!bson_iter_init_find(&it, &req->body, "pipeline") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &stages))
        return false;
    while (bson_iter_next(&stages)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&stages) || !bson_iter_recurse(&stages, &stage) || !bson_iter_next(&stage))
            continue;
        if (strcmp(bson_iter_key(&stage), "$out") == 0 || strcmp(bson_iter_key(&stage), "$merge") == 0)
            return true;
    }
    return false;
}

bool dispatch_repl_is_user_write(const struct cmd_request *req, const struct cmd_def *def)
{
    if (is_local_db(req))
        return false;
    return (def->flags & CMD_FLAG_WRITE) != 0 || is_writing_aggregate(req);
}

/* Has this member heard from voters holding a majority within electionTimeout?
 * The same liveness rule that makes a primary step down (digest 1.7); it
 * turns false long before heartbeats mark the peers down. */
static bool hears_majority(const struct repl_state *st)
{
    int64_t timeout_ms = st->config.settings.election_timeout_ms;
    int total = 0, live = 0;

    for (int i = 0; i < st->config.n_members; i++) {
        const struct repl_peer *p = &st->peers[i];
        if (st->config.members[i].votes <= 0)
            continue;
        total++;
        if (i == st->self || (p->last_update_ms >= 0 && st->now_ms - p->last_update_ms < timeout_ms))
            live++;
    }
    return live * 2 > total;
}

static int not_primary(const struct repl_node *n, struct err *e)
{
    const struct repl_state *st = repl_node_state(n);

    /* A member cut off from the majority is read-only by design; say so, so
     * an operator does not hunt for a bug. */
    if (st->has_config && st->self >= 0 && st->config.n_members > 1 &&
        (!repl_node_sees_majority(n) || !hears_majority(st)))
        return err_set(e, ERR_NOT_WRITABLE_PRIMARY,
                       "not primary: no majority of the replica set is reachable; this member is read-only");
    return err_set(e, ERR_NOT_WRITABLE_PRIMARY, "not primary");
}

int dispatch_repl_check_role(struct server *srv, const struct cmd_request *req, const struct cmd_def *def,
                             struct err *e)
{
    const struct repl_node *n = srv->repl;
    const struct repl_state *st;
    bool is_write;

    if (is_local_db(req))
        return 0;
    is_write = dispatch_repl_is_user_write(req, def);
    if (!is_write && !(def->flags & CMD_FLAG_READ))
        return 0;
    if (repl_node_is_writable_primary(n))
        return 0;
    if (is_write)
        return not_primary(n, e);
    st = repl_node_state(n);
    /* A primary still catching up or draining is not writable yet, but its
     * data is as consistent as a secondary's: same secondaryOk rule. */
    if (st->member_state == REPL_PRIMARY || st->member_state == REPL_SECONDARY) {
        if (req->is_secondary_ok)
            return 0;
        return err_set(e, ERR_NOT_PRIMARY_NO_SECONDARY_OK, "not primary and secondaryOk=false");
    }
    return err_set(e, ERR_NOT_PRIMARY_OR_SECONDARY, "node is not in primary or recovering state");
}

int dispatch_repl_write_concern(struct server *srv, const struct cmd_request *req, struct write_concern *wc,
                                struct err *unsat, struct err *e)
{
    const struct repl_state *st = repl_node_state(srv->repl);
    bson_iter_t it;
    int rc;

    write_concern_init(wc);
    if (bson_iter_init_find(&it, &req->body, "writeConcern")) {
        bson_t doc;
        const uint8_t *data;
        uint32_t len;

        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            return err_set(e, ERR_TYPE_MISMATCH,
                           "BSON field '%s.writeConcern' is the wrong type, expected type 'object'", req->name);
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&doc, data, len))
            return err_set(e, ERR_FAILED_TO_PARSE, "writeConcern is not a valid BSON document");
        if ((rc = write_concern_parse(&doc, wc, e)) < 0)
            return rc;
    }
    if (!wc->has_w) {
        struct write_concern def;

        repl_node_default_write_concern(srv->repl, &def);
        wc->has_w = true;
        wc->w_kind = def.w_kind;
        wc->w = def.w;
        memcpy(wc->mode, def.mode, sizeof wc->mode);
        wc->provenance = def.provenance;
        /* The client's j and wtimeout stand; the default only fills what is missing. */
        if (!wc->has_j && def.has_j) {
            wc->has_j = true;
            wc->j = def.j;
        }
        if (!wc->has_wtimeout && def.has_wtimeout) {
            wc->has_wtimeout = true;
            wc->wtimeout_ms = def.wtimeout_ms;
        }
    }
    if (st->has_config)
        write_concern_check_satisfiable(wc, &st->config, unsat);
    return 0;
}

bool dispatch_repl_wc_needs_wait(const struct write_concern *wc)
{
    return wc->w_kind != WRITE_CONCERN_W_NUMBER || wc->w > 1;
}

bool dispatch_repl_is_retryable_code(int code)
{
    switch (code) {
    case ERR_HOST_UNREACHABLE:
    case ERR_HOST_NOT_FOUND:
    case ERR_NETWORK_TIMEOUT:
    case ERR_SHUTDOWN_IN_PROGRESS:
    case 134: /* ReadConcernMajorityNotAvailableYet */
    case ERR_PRIMARY_STEPPED_DOWN:
    case ERR_EXCEEDED_TIME_LIMIT:
    case 9001: /* SocketException */
    case ERR_NOT_WRITABLE_PRIMARY:
    case ERR_INTERRUPTED_AT_SHUTDOWN:
    case ERR_INTERRUPTED_DUE_TO_REPL_STATE_CHANGE:
    case ERR_NOT_PRIMARY_NO_SECONDARY_OK:
    case ERR_NOT_PRIMARY_OR_SECONDARY:
        return true;
    default:
        return false;
    }
}

bool dispatch_repl_is_retryable_write(const struct cmd_request *req)
{
    bson_iter_t it;

    if (strcmp(req->name, "commitTransaction") == 0 || strcmp(req->name, "abortTransaction") == 0)
        return true;
    return bson_iter_init_find(&it, &req->body, "txnNumber") && !bson_iter_init_find(&it, &req->body, "autocommit");
}

static void append_label(bson_t *doc)
{
    bson_t arr;

    BSON_APPEND_ARRAY_BEGIN(doc, "errorLabels", &arr);
    BSON_APPEND_UTF8(&arr, "0", "RetryableWriteError");
    bson_append_array_end(doc, &arr);
}

static int wc_error_code(const bson_iter_t *wce)
{
    bson_iter_t it;

    if (!BSON_ITER_HOLDS_DOCUMENT(wce) || !bson_iter_recurse(wce, &it) || !bson_iter_find(&it, "code") ||
        !BSON_ITER_HOLDS_NUMBER(&it))
        return 0;
    return (int)bson_iter_as_int64(&it);
}

void dispatch_repl_merge_fields(const bson_t *fields, bool is_retryable, bson_t *reply)
{
    bson_iter_t it, sub;

    if (fields == NULL || !bson_iter_init(&it, fields))
        return;
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (strcmp(key, "ok") == 0)
            continue;
        /* pymongo 3.11 reads labels only inside writeConcernError (PYTHON-2452). */
        if (strcmp(key, "writeConcernError") == 0 && is_retryable && dispatch_repl_is_retryable_code(wc_error_code(&it)) &&
            bson_iter_recurse(&it, &sub)) {
            bson_t wce;
            BSON_APPEND_DOCUMENT_BEGIN(reply, key, &wce);
            while (bson_iter_next(&sub))
                if (strcmp(bson_iter_key(&sub), "errorLabels") != 0)
                    bson_append_iter(&wce, NULL, 0, &sub);
            append_label(&wce);
            bson_append_document_end(reply, &wce);
            continue;
        }
        bson_append_iter(reply, NULL, 0, &it);
    }
}

void dispatch_repl_append_wc_error(const struct err *e, bool is_retryable, bson_t *reply)
{
    bson_t wce;

    BSON_APPEND_DOCUMENT_BEGIN(reply, "writeConcernError", &wce);
    BSON_APPEND_INT32(&wce, "code", e->code);
    BSON_APPEND_UTF8(&wce, "codeName", err_code_name(e->code));
    BSON_APPEND_UTF8(&wce, "errmsg", e->msg);
    if (e->has_info)
        BSON_APPEND_DOCUMENT(&wce, "errInfo", &e->info);
    if (is_retryable && dispatch_repl_is_retryable_code(e->code))
        append_label(&wce);
    bson_append_document_end(reply, &wce);
}

void dispatch_repl_add_labels(const struct cmd_request *req, int rc, const struct err *e, bson_t *reply)
{
    bson_iter_t it;

    if (req->name == NULL || !dispatch_repl_is_retryable_write(req))
        return;
    if (bson_iter_init_find(&it, reply, "errorLabels"))
        return;
    if (rc < 0) {
        if (dispatch_repl_is_retryable_code(e->code))
            append_label(reply);
        return;
    }
    if (bson_iter_init_find(&it, reply, "writeConcernError") && dispatch_repl_is_retryable_code(wc_error_code(&it)))
        append_label(reply);
}

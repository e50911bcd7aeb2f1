/* retryable.c - retryable writes: validation, replay and the per-session record.
 *
 * Sits between the dispatcher (dispatch.c calls it around a write command's
 * handler on the writer thread) and storage (config.transactions, written
 * through store_doc_insert/update so the change hook logs and replicates it).
 * Guarantees: a txnNumber already executed on a session is never executed
 * again while its record exists (the stored reply is sent instead); an older
 * txnNumber is refused; the record commits in the same transaction as the
 * writes it describes. A record lives until its session expires: the
 * primary's session reaper (repl/node_sessions.c) calls retryable_reap,
 * whose replicated deletes drop records idle for longer than the session
 * timeout on every member; a retry after that runs as a new write, as it
 * does on mongod. */
#include "cmd/retryable.h"
#include "core/bsonutil.h"

#include "core/mem.h"
#include "query/bsonval.h"

#include <inttypes.h>
#include <string.h>

/* The commands mongod accepts as retryable writes (wire-compat.md 4.2). */
static bool is_write_command(const char *name)
{
    return strcmp(name, "insert") == 0 || strcmp(name, "update") == 0 || strcmp(name, "delete") == 0 ||
           strcmp(name, "findAndModify") == 0 || strcmp(name, "findandmodify") == 0;
}

static bool is_find_and_modify(const char *name)
{
    return strcmp(name, "findAndModify") == 0 || strcmp(name, "findandmodify") == 0;
}

/* The statements array of a batched write, or NULL. */
static const char *statements_field(const char *name)
{
    if (strcmp(name, "insert") == 0)
        return "documents";
    if (strcmp(name, "update") == 0)
        return "updates";
    if (strcmp(name, "delete") == 0)
        return "deletes";
    return NULL;
}

static int parse_lsid(const bson_t *body, struct retryable_write *out, struct err *e)
{
    bson_iter_t it, id;
    bson_subtype_t subtype;
    const uint8_t *data;
    uint32_t len;

    /* mongod: "Transaction number requires a session ID to also be specified". */
    if (!bson_iter_init_find(&it, body, "lsid"))
        return err_set(e, ERR_INVALID_OPTIONS, "Transaction number requires a session ID to also be specified");
    if (!BSON_ITER_HOLDS_DOCUMENT(&it))
        return err_set(e, ERR_TYPE_MISMATCH,
                       "BSON field 'OperationSessionInfo.lsid' is the wrong type '%s', expected type 'object'",
                       bsonutil_type_name(bson_iter_type(&it)));
    if (!bson_iter_recurse(&it, &id) || !bson_iter_find(&id, "id"))
        return err_set(e, ERR_MISSING_FIELD,
                       "BSON field 'OperationSessionInfo.lsid.id' is missing but a required field");
    if (!BSON_ITER_HOLDS_BINARY(&id))
        return err_set(e, ERR_TYPE_MISMATCH,
                       "BSON field 'OperationSessionInfo.lsid.id' is the wrong type '%s', expected type 'binData'",
                       bsonutil_type_name(bson_iter_type(&id)));
    bson_iter_binary(&id, &subtype, &len, &data);
    if (subtype != BSON_SUBTYPE_UUID || len != RETRYABLE_SESSION_ID_BYTES)
        return err_set(e, ERR_BAD_VALUE, "uuid must be a 16-byte binary field with UUID (4) subtype");
    memcpy(out->session_id, data, RETRYABLE_SESSION_ID_BYTES);
    return 0;
}

/* mongod refuses txnNumber on statements that may touch many documents:
 * update multi: true, delete limit: 0 ("Cannot use (or request) retryable
 * writes with multi=true" / "with limit=0", InvalidOptions). Malformed
 * statements are left to the handler, which reports them precisely. */
static int check_statements(const struct cmd_request *req, struct err *e)
{
    const char *field = statements_field(req->name);
    bool is_update = strcmp(req->name, "update") == 0;
    bson_iter_t it, stmts, f;

    if (field == NULL || strcmp(req->name, "insert") == 0)
        return 0;
    if (!bson_iter_init_find(&it, &req->body, field) || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &stmts))
        return 0;
    while (bson_iter_next(&stmts)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&stmts) || !bson_iter_recurse(&stmts, &f))
            continue;
        if (is_update) {
            if (bson_iter_find(&f, "multi") && (BSON_ITER_HOLDS_BOOL(&f) || BSON_ITER_HOLDS_NUMBER(&f)) &&
                bson_iter_as_bool(&f))
                return err_set(e, ERR_INVALID_OPTIONS, "Cannot use (or request) retryable writes with multi=true");
        } else if (bson_iter_find(&f, "limit") && BSON_ITER_HOLDS_NUMBER(&f) && bson_iter_as_double(&f) == 0.0) {
            return err_set(e, ERR_INVALID_OPTIONS, "Cannot use (or request) retryable writes with limit=0");
        }
    }
    return 0;
}

int retryable_check_request(const struct cmd_request *req, bool is_repl, struct retryable_write *out,
                            struct err *e)
{
    struct retryable_write rw;
    bson_iter_t it;
    int rc;

    memset(&rw, 0, sizeof rw);
    if (req->name == NULL || !bson_iter_init_find(&it, &req->body, "txnNumber")) {
        *out = rw;
        return 0;
    }
    if (!BSON_ITER_HOLDS_INT64(&it))
        return err_set(e, ERR_TYPE_MISMATCH,
                       "BSON field 'OperationSessionInfo.txnNumber' is the wrong type '%s', expected type 'long'",
                       bsonutil_type_name(bson_iter_type(&it)));
    rw.txn_number = bson_iter_int64(&it);
    if (rw.txn_number < 0)
        return err_set(e, ERR_BAD_VALUE, "TxnNumber cannot be negative");
    if ((rc = parse_lsid(&req->body, &rw, e)) < 0)
        return rc;
    /* A standalone has no replicated history to dedupe against; drivers read
     * this message as "retryable writes are not supported" (wire-compat.md 4.2.6). */
    if (!is_repl)
        return err_set(e, ERR_ILLEGAL_OPERATION,
                       "Transaction numbers are only allowed on a replica set member or mongos");
    if (bson_iter_init_find(&it, &req->body, "autocommit")) {
        if (bson_iter_as_bool(&it))
            return err_set(e, ERR_INVALID_OPTIONS, "Specifying autocommit=true is not allowed.");
        /* autocommit: false is a transaction: the dispatcher refuses those. */
        *out = rw;
        return 0;
    }
    if (!is_write_command(req->name))
        return err_set(e, ERR_NOT_A_RETRYABLE_WRITE_COMMAND,
                       "txnNumber may only be provided for multi-document transactions and retryable write "
                       "commands. autocommit:false was not provided, and %s is not a retryable write command.",
                       req->name);
    if ((rc = check_statements(req, e)) < 0)
        return rc;
    rw.is_active = true;
    *out = rw;
    return 0;
}

static void append_session_id(bson_t *doc, const char *key, const struct retryable_write *rw)
{
    bson_append_binary(doc, key, -1, BSON_SUBTYPE_UUID, rw->session_id, RETRYABLE_SESSION_ID_BYTES);
}

static void session_id_value(const struct retryable_write *rw, bson_value_t *v)
{
    memset(v, 0, sizeof *v);
    v->value_type = BSON_TYPE_BINARY;
    v->value.v_binary.subtype = BSON_SUBTYPE_UUID;
    v->value.v_binary.data = (uint8_t *)rw->session_id;
    v->value.v_binary.data_len = RETRYABLE_SESSION_ID_BYTES;
}

/* Reads the session's record; *found false when there is none. On success
 * *out is an owned copy (bson_destroy) when found. */
static int read_record(struct store_txn *t, const struct retryable_write *rw, struct coll_info **coll_out,
                       bson_t *out, bool *found, struct err *e)
{
    struct coll_info *c = NULL;
    bson_value_t id;
    bson_t doc;
    int rc;

    *found = false;
    rc = store_coll_find(t, RETRYABLE_DB, RETRYABLE_COLL, &c, e);
    if (rc < 0)
        return rc;
    if (c != NULL) {
        session_id_value(rw, &id);
        rc = store_doc_get(t, c, &id, &doc, found, e);
        if (rc < 0) {
            coll_info_destroy(c);
            return rc;
        }
        if (*found)
            bson_copy_to(&doc, out);
    }
    if (coll_out)
        *coll_out = c;
    else if (c)
        coll_info_destroy(c);
    return 0;
}

/* The statements the first attempt executed: every index up to the request's
 * size, except those that failed (writeErrors) and, in an ordered batch,
 * everything from the first failure on (mongod's retriedStmtIds). */
static void append_retried_stmt_ids(const struct cmd_request *req, const bson_t *result, bson_t *reply)
{
    const char *field = statements_field(req->name);
    bson_iter_t it, errs, f;
    bool is_ordered = true;
    int64_t n = 0, first_error = -1;
    bool *failed;
    bson_t arr;
    int key = 0;

    if (field == NULL) {
        if (is_find_and_modify(req->name))
            BSON_APPEND_INT32(reply, "retriedStmtId", 0);
        return;
    }
    if (bson_iter_init_find(&it, &req->body, field) && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &f))
        while (bson_iter_next(&f))
            n++;
    if (bson_iter_init_find(&it, &req->body, "ordered"))
        is_ordered = bson_iter_as_bool(&it);
    failed = xcalloc((size_t)n + 1, sizeof *failed);
    if (bson_iter_init_find(&it, result, "writeErrors") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &errs)) {
        while (bson_iter_next(&errs)) {
            int64_t index;
            if (!BSON_ITER_HOLDS_DOCUMENT(&errs) || !bson_iter_recurse(&errs, &f) || !bson_iter_find(&f, "index") ||
                !BSON_ITER_HOLDS_NUMBER(&f))
                continue;
            index = bson_iter_as_int64(&f);
            if (index < 0 || index >= n)
                continue;
            failed[index] = true;
            if (first_error < 0 || index < first_error)
                first_error = index;
        }
    }
    if (is_ordered && first_error >= 0)
        n = first_error;
    BSON_APPEND_ARRAY_BEGIN(reply, "retriedStmtIds", &arr);
    for (int64_t i = 0; i < n; i++) {
        char buf[16];
        const char *k;
        if (failed[i])
            continue;
        bson_uint32_to_string((uint32_t)key++, &k, buf, sizeof buf);
        BSON_APPEND_INT32(&arr, k, (int32_t)i);
    }
    bson_append_array_end(reply, &arr);
    free(failed);
}

static void hex_session_id(const struct retryable_write *rw, char *out)
{
    static const char digits[] = "0123456789abcdef";
    int j = 0;

    for (int i = 0; i < RETRYABLE_SESSION_ID_BYTES; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[j++] = '-';
        out[j++] = digits[rw->session_id[i] >> 4];
        out[j++] = digits[rw->session_id[i] & 15];
    }
    out[j] = '\0';
}

int retryable_lookup(struct store_txn *t, const struct retryable_write *rw, const struct cmd_request *req,
                     bson_t *reply, bool *is_replayed, struct err *e)
{
    bson_t rec, result;
    bson_iter_t it;
    bool found;
    int64_t stored = -1;
    int rc;

    *is_replayed = false;
    rc = read_record(t, rw, NULL, &rec, &found, e);
    if (rc < 0 || !found)
        return rc;
    if (bson_iter_init_find(&it, &rec, "txnNum") && BSON_ITER_HOLDS_NUMBER(&it))
        stored = bson_iter_as_int64(&it);
    if (stored > rw->txn_number) {
        char uuid[40];
        hex_session_id(rw, uuid);
        bson_destroy(&rec);
        return err_set(e, ERR_TRANSACTION_TOO_OLD,
                       "Retryable write with txnNumber %" PRId64 " is prohibited on session %s because a newer "
                       "retryable write with txnNumber %" PRId64 " has already started on this session.",
                       rw->txn_number, uuid, stored);
    }
    if (stored == rw->txn_number) {
        const uint8_t *data;
        uint32_t len;
        /* wire-compat.md 4.2.2: answer as if the statements succeeded now. */
        if (!bson_iter_init_find(&it, &rec, "result") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_destroy(&rec);
            return err_set(e, 217 /* IncompleteTransactionHistory */,
                           "Incomplete history detected for transaction %" PRId64 " on this session",
                           rw->txn_number);
        }
        bson_iter_document(&it, &len, &data);
        if (bson_init_static(&result, data, len)) {
            bson_concat(reply, &result);
            append_retried_stmt_ids(req, &result, reply);
        }
        *is_replayed = true;
    }
    bson_destroy(&rec);
    return 0;
}

static void build_record(const struct retryable_write *rw, const bson_t *result, struct optime last_write,
                         int64_t now_ms, bson_t *out)
{
    bson_init(out);
    append_session_id(out, "_id", rw);
    BSON_APPEND_INT64(out, "txnNum", rw->txn_number);
    optime_append(out, "lastWriteOpTime", last_write);
    BSON_APPEND_DATE_TIME(out, "lastWriteDate", now_ms);
    BSON_APPEND_DOCUMENT(out, "result", result);
}

int retryable_record(struct store_txn *t, const struct retryable_write *rw, const bson_t *result,
                     struct optime last_write, int64_t now_ms, struct err *e)
{
    struct coll_info *c = NULL;
    bson_t old, rec;
    bool found = false;
    int rc;

    rc = read_record(t, rw, &c, &old, &found, e);
    if (rc == 0 && c == NULL)
        rc = store_coll_create(t, RETRYABLE_DB, RETRYABLE_COLL, NULL, &c, e);
    if (rc < 0)
        goto out;
    build_record(rw, result, last_write, now_ms, &rec);
    rc = found ? store_doc_update(t, c, &old, &rec, e) : store_doc_insert(t, c, &rec, e);
    bson_destroy(&rec);
out:
    if (found)
        bson_destroy(&old);
    if (c)
        coll_info_destroy(c);
    /* The command's writes are already in the transaction and cannot be
     * taken back one by one: without its record, the whole transaction must
     * go, or a retry would execute them twice. */
    if (rc < 0 && rc != -ERR_OUT_OF_DISK_SPACE && rc != -ERR_INTERNAL_ERROR) {
        err_prefix(e, "cannot record retryable write txnNumber %" PRId64, rw->txn_number);
        e->code = ERR_INTERNAL_ERROR;
        rc = -ERR_INTERNAL_ERROR;
    }
    return rc;
}

/* A record is expired when its last write is older than the cutoff; one
 * without a usable lastWriteDate cannot be dated and goes too (only a
 * damaged or foreign record lacks it). */
static bool is_expired(const bson_t *rec, int64_t cutoff_ms)
{
    bson_iter_t it;

    if (!bson_iter_init_find(&it, rec, "lastWriteDate") || !BSON_ITER_HOLDS_DATE_TIME(&it))
        return true;
    return bson_iter_date_time(&it) < cutoff_ms;
}

int retryable_reap(struct store_txn *t, int64_t cutoff_ms, int max_n, int64_t *n_removed, bool *has_more,
                   struct err *e)
{
    struct coll_info *c = NULL;
    struct store_iter *it = NULL;
    bson_t **doomed = NULL;
    bson_t doc;
    int n_doomed = 0, rc;

    *n_removed = 0;
    *has_more = false;
    if (max_n <= 0)
        return err_set(e, ERR_BAD_VALUE, "the session reaper needs a positive batch size, got %d", max_n);
    if ((rc = store_coll_find(t, RETRYABLE_DB, RETRYABLE_COLL, &c, e)) < 0 || c == NULL)
        return rc;
    /* Collect first, delete after: the scan must not walk records it removes. */
    if ((rc = store_iter_open_coll(t, c, false, NULL, &it, e)) < 0)
        goto out;
    doomed = xcalloc((size_t)max_n, sizeof *doomed);
    while ((rc = store_iter_next(it, &doc, e)) == 1) {
        if (!is_expired(&doc, cutoff_ms))
            continue;
        if (n_doomed == max_n) {
            *has_more = true;
            break;
        }
        doomed[n_doomed++] = bson_copy(&doc);
    }
    store_iter_close(it);
    if (rc < 0)
        goto out;
    rc = 0;
    for (int i = 0; i < n_doomed && rc == 0; i++)
        if ((rc = store_doc_delete(t, c, doomed[i], e)) == 0)
            (*n_removed)++;
out:
    for (int i = 0; i < n_doomed; i++)
        bson_destroy(doomed[i]);
    free(doomed);
    coll_info_destroy(c);
    if (rc < 0)
        err_prefix(e, "cannot remove expired session records");
    return rc;
}

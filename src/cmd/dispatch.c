/* dispatch.c - runs one command request: checks, thread choice, reply.
 *
 * Sits between the connection (net/conn.c) and the handlers (cmd/table.c).
 * Guarantees: every request gets exactly one reply_cb call on the loop thread
 * (with NULL for moreToCome); the reply is the handler's fields plus ok: 1.0
 * or an error document ({ok: 0, errmsg, code, codeName}); READ handlers run
 * on the libuv thread pool inside a fresh read transaction, WRITE handlers on
 * the writer thread inside the shared write transaction and are answered only
 * after it committed; a handler returning CMD_PARK is re-run after the next
 * commit or at its deadline (is_await_expired on that last run). A LOOP
 * handler returning CMD_ASYNC is answered when it calls cmd_dispatch_finish.
 * A state-change error (NotPrimary or shutdown family, also as a
 * writeConcernError) carries topologyVersion, as hello does.
 *
 * With --replSet (server.repl set) a command first passes the role check of
 * dispatch_repl.c; a user write is refused on the writer thread too when the
 * oplog writer has no writable term (the member stepped down while the job
 * was queued), reports its last oplog entry to the node once committed, and
 * waits for its write concern before the reply goes out. A retryable write
 * (lsid + txnNumber, retryable.c) is looked up in its session's record before
 * the handler runs and recorded in the same transaction after it: a retry
 * gets the first reply instead of a second execution. */
#include "cmd/cmd.h"

#include "cmd/dispatch_repl.h"
#include "cmd/failcmd.h"
#include "cmd/hello_await.h"
#include "cmd/linearizable.h"
#include "cmd/oplog_read.h"
#include "cmd/readopt.h"
#include "cmd/retryable.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/server.h"
#include "repl/node.h"
#include "repl/oplog_writer.h"
#include "storage/oplog.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define SLOW_COMMAND_MS 100
#define MAJORITY_READ_DEFAULT_WAIT_MS 5000
#define DEFAULT_AWAIT_MS 1000

struct dispatch_req {
    struct cmd_ctx ctx; /* first: cmd_dispatch_finish gets back from ctx to here */
    struct cmd_request *req;
    const struct cmd_def *def;
    struct server *srv;
    cmd_reply_cb reply_cb;
    void *arg;
    int rc;
    uint64_t start_ns;
    uv_work_t work;
    struct write_job job;
    uv_timer_t timer;
    bool has_timer;
    struct dispatch_req *prev_parked, *next_parked;
    /* CMD_ASYNC: cmd_dispatch_finish called before the handler returned. */
    bool is_in_handler;
    bool has_early_finish;
    int early_rc;
    /* Replica sets (all unused for a standalone). */
    bool is_repl;                      /* server.repl was set when the request arrived */
    bool is_majority_read;             /* readConcern majority on a replica-set member */
    bool is_linearizable;              /* readConcern linearizable: no-op + majority wait after the read */
    bool has_fail_command;             /* the failCommand fail point fired for this request */
    struct fail_command fail_command;
    bool is_user_write;                /* dispatch_repl_is_user_write */
    bool is_retryable;                 /* may carry RetryableWriteError */
    bool has_wc;                       /* wc below applies */
    struct write_concern wc;
    struct err wc_unsat;               /* code set: report as writeConcernError after the write */
    struct oplog_writer *oplog_writer; /* read on the writer thread; captured on the loop */
    int64_t last_wall_ms;              /* wall time of ctx.last_optime's entry */
    struct retryable_write rw;         /* rw.is_active: dedupe by session and txnNumber */
};

/* Parked await-data requests; loop thread only (one server per process). */
static struct dispatch_req *parked_head;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run(struct dispatch_req *d);

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void release(struct dispatch_req *d)
{
    bson_destroy(&d->ctx.reply);
    err_clear(&d->ctx.err);
    err_clear(&d->wc_unsat);
    if (d->has_fail_command)
        failcmd_clear(&d->fail_command);
    if (d->has_timer)
        uv_close((uv_handle_t *)&d->timer, on_timer_closed);
    else
        free(d);
}

static void unpark(struct dispatch_req *d)
{
    if (d->prev_parked)
        d->prev_parked->next_parked = d->next_parked;
    else
        parked_head = d->next_parked;
    if (d->next_parked)
        d->next_parked->prev_parked = d->prev_parked;
    d->prev_parked = d->next_parked = NULL;
    uv_timer_stop(&d->timer);
}

static void on_await_deadline(uv_timer_t *t)
{
    struct dispatch_req *d = t->data;

    unpark(d);
    d->ctx.is_await_expired = true;
    run(d);
}

static void park(struct dispatch_req *d)
{
    int64_t deadline = d->ctx.await_deadline_ms ? d->ctx.await_deadline_ms : d->ctx.now_ms + DEFAULT_AWAIT_MS;
    int64_t wait_ms = deadline - wall_ms();

    if (!d->has_timer) {
        uv_timer_init(d->srv->loop, &d->timer);
        d->timer.data = d;
        d->has_timer = true;
    }
    d->next_parked = parked_head;
    d->prev_parked = NULL;
    if (parked_head)
        parked_head->prev_parked = d;
    parked_head = d;
    uv_timer_start(&d->timer, on_await_deadline, wait_ms > 0 ? (uint64_t)wait_ms : 0, 0);
}

/* Loop thread: the handler finished (or failed before running). */
static void finish(struct dispatch_req *d)
{
    struct cmd_request *req = d->req;
    uint64_t ms;

    if (d->rc == CMD_PARK && !d->ctx.is_await_expired) {
        if (d->srv->is_shutting_down) {
            /* No commit will come: give the handler its final run now. */
            d->ctx.is_await_expired = true;
            run(d);
        } else {
            park(d);
        }
        return;
    }
    if (d->rc < 0) {
        bson_reinit(&d->ctx.reply);
        err_append_reply(&d->ctx.err, &d->ctx.reply);
        if (d->is_retryable)
            dispatch_repl_add_labels(req, d->rc, &d->ctx.err, &d->ctx.reply);
    } else {
        if (d->is_retryable)
            dispatch_repl_add_labels(req, d->rc, &d->ctx.err, &d->ctx.reply);
        if (d->has_fail_command)
            failcmd_append_wc_error(&d->fail_command, &d->ctx.reply);
        bson_append_double(&d->ctx.reply, "ok", 2, 1.0);
        /* Digest 3.1/3.6: a sync source's oplog replies carry its term, commit
         * point and primary, which the fetcher checks; added here because
         * the replica-set state belongs to this (the loop) thread. */
        if (d->srv->repl && oplog_read_is_oplog_request(req))
            repl_node_append_repl_data(d->srv->repl, &d->ctx.reply);
    }
    if (d->rc < 0 && d->has_fail_command)
        failcmd_set_labels(&d->fail_command, &d->ctx.reply);
    hello_topology_append_on_state_error(d->srv, &d->ctx.reply);
    ms = (uv_hrtime() - d->start_ns) / 1000000;
    if (ms > SLOW_COMMAND_MS && !d->ctx.is_awaiting)
        log_info(LOGC_COMMAND, "Slow query: %s on db %s from conn%lld took %llu ms%s%s", req->name, req->db,
                 (long long)req->connection_id, (unsigned long long)ms, d->rc < 0 ? ": " : "",
                 d->rc < 0 ? d->ctx.err.msg : "");
    d->reply_cb(d->arg, req, req->is_more_to_come ? NULL : &d->ctx.reply);
    release(d);
}

/* readConcern majority: everything this snapshot shows is majority-committed
 * once the commit point reaches the newest oplog entry in it. Waits on this
 * pool thread, bounded by maxTimeMS (default 5 s). */
static int wait_snapshot_committed(struct dispatch_req *d, struct store_txn *t)
{
    struct optime newest;
    int64_t timeout_ms = 0;
    bson_iter_t it;
    int rc = oplog_last(t, &newest, NULL, &d->ctx.err);

    if (rc <= 0)
        return rc;
    if (bson_iter_init_find(&it, &d->req->body, "maxTimeMS") && BSON_ITER_HOLDS_NUMBER(&it))
        timeout_ms = bson_iter_as_int64(&it);
    if (timeout_ms <= 0)
        timeout_ms = MAJORITY_READ_DEFAULT_WAIT_MS;
    return repl_node_wait_committed(d->srv->repl, newest, timeout_ms, &d->ctx.err);
}

static void work_run(uv_work_t *w)
{
    struct dispatch_req *d = w->data;
    struct store_txn *t = NULL;

    if (d->srv->store == NULL) {
        d->rc = err_set(&d->ctx.err, ERR_SHUTDOWN_IN_PROGRESS, "The storage engine is not open");
        return;
    }
    d->rc = store_txn_begin_read(d->srv->store, &t, &d->ctx.err);
    if (d->rc < 0)
        return;
    if (d->is_majority_read && (d->rc = wait_snapshot_committed(d, t)) < 0) {
        store_txn_end(t);
        return;
    }
    d->ctx.txn = t;
    d->rc = d->def->handler(&d->ctx);
    d->ctx.txn = NULL;
    store_txn_end(t);
}

/* Loop thread: the linearizable read's no-op is majority-committed (rc 0) or
 * the read cannot be proven current (rc < 0). */
static void on_linearizable(void *arg, int rc, const struct err *e)
{
    struct dispatch_req *d = arg;

    if (rc < 0) {
        d->rc = err_set(&d->ctx.err, e && e->code ? e->code : -rc, "%s", e ? e->msg : "linearizable read failed");
        bson_reinit(&d->ctx.reply);
    }
    finish(d);
}

static int64_t max_time_ms(const struct cmd_request *req)
{
    bson_iter_t it;

    if (bson_iter_init_find(&it, &req->body, "maxTimeMS") && BSON_ITER_HOLDS_NUMBER(&it) &&
        bson_iter_as_int64(&it) > 0)
        return bson_iter_as_int64(&it);
    return 0;
}

static void work_done(uv_work_t *w, int status)
{
    struct dispatch_req *d = w->data;

    if (status >= 0 && d->rc >= 0 && d->rc != CMD_PARK && d->is_linearizable) {
        int64_t limit_ms = max_time_ms(d->req);
        int64_t spent_ms = (int64_t)((uv_hrtime() - d->start_ns) / 1000000u);
        linearizable_wait(d->srv, limit_ms ? (limit_ms > spent_ms ? limit_ms - spent_ms : 1) : 0, on_linearizable, d);
        return;
    }

    if (status < 0)
        d->rc = err_set(&d->ctx.err, ERR_INTERRUPTED_AT_SHUTDOWN, "The command was cancelled: %s",
                        uv_strerror(status));
    finish(d);
}

static int job_run(struct store_txn *t, struct write_job *job)
{
    struct dispatch_req *d = (struct dispatch_req *)((char *)job - offsetof(struct dispatch_req, job));
    struct oplog_writer *ow = d->oplog_writer;
    struct optime before = OPTIME_NULL;

    if (ow) {
        /* The member may have stepped down after the role check: the term
         * the writer would stamp is no longer ours to write in. */
        if (d->is_user_write && oplog_writer_writable_term(ow) == -1) {
            d->rc = err_set(&d->ctx.err, ERR_NOT_WRITABLE_PRIMARY, "not primary");
            return 0;
        }
        before = oplog_writer_last_optime(ow);
    }
    d->ctx.txn = t;
    if (d->rw.is_active) {
        bool is_replayed = false;
        d->rc = retryable_lookup(t, &d->rw, d->req, &d->ctx.reply, &is_replayed, &d->ctx.err);
        if (d->rc < 0 || is_replayed) {
            d->ctx.txn = NULL;
            /* mongod waits a replayed write's concern on the newest optime: the
             * record (and so the first attempt's writes) is at or before it. */
            if (is_replayed && ow) {
                d->ctx.last_optime = oplog_writer_last_optime(ow);
                d->last_wall_ms = oplog_writer_last_wall_ms(ow);
            }
            return d->rc == -ERR_OUT_OF_DISK_SPACE || d->rc == -ERR_INTERNAL_ERROR ? d->rc : 0;
        }
    }
    d->rc = d->def->handler(&d->ctx);
    if (d->rc >= 0 && d->rw.is_active) {
        /* Same transaction as the writes: the command is recorded whole or not at all. */
        int rc = retryable_record(t, &d->rw, &d->ctx.reply, ow ? oplog_writer_last_optime(ow) : OPTIME_NULL,
                                  d->ctx.now_ms, &d->ctx.err);
        if (rc < 0)
            d->rc = rc;
    }
    d->ctx.txn = NULL;
    if (ow) {
        struct optime after = oplog_writer_last_optime(ow);
        if (optime_compare(after, before) != 0) {
            d->ctx.last_optime = after;
            d->last_wall_ms = oplog_writer_last_wall_ms(ow);
        }
    }
    /* Only a storage failure poisons the shared transaction (writer.h). */
    if (d->rc == -ERR_OUT_OF_DISK_SPACE || d->rc == -ERR_INTERNAL_ERROR)
        return d->rc;
    return 0;
}

/* Loop thread: the write concern wait of a committed write ended. */
static void on_write_concern(void *arg, int rc, const struct err *e, const bson_t *fields)
{
    struct dispatch_req *d = arg;

    if (rc < 0 && e)
        dispatch_repl_append_wc_error(e, d->is_retryable, &d->ctx.reply);
    else if (rc >= 0)
        dispatch_repl_merge_fields(fields, d->is_retryable, &d->ctx.reply);
    finish(d);
}

/* Loop thread, after a replica-set write committed: tells the node and starts
 * the write concern wait. Returns true when the reply now waits (on_write_concern). */
static bool after_repl_commit(struct dispatch_req *d)
{
    struct repl_node *n = d->srv->repl;
    bool has_written = !optime_is_null(d->ctx.last_optime);
    int rc;

    if (n == NULL)
        return false; /* the node is gone: shutting down */
    if (d->srv->is_shutting_down) {
        /* The member stopped: nobody will report replication progress. */
        if (d->has_wc && d->rc >= 0 && has_written && dispatch_repl_wc_needs_wait(&d->wc)) {
            struct err e;
            err_init(&e);
            err_set(&e, ERR_SHUTDOWN_IN_PROGRESS, "The server is shutting down");
            dispatch_repl_append_wc_error(&e, d->is_retryable, &d->ctx.reply);
            err_clear(&e);
        }
        return false;
    }
    if (has_written)
        repl_node_note_local_write(n, d->ctx.last_optime, d->last_wall_ms);
    if (!d->has_wc || d->rc < 0)
        return false;
    if (d->wc_unsat.code != 0) {
        dispatch_repl_append_wc_error(&d->wc_unsat, d->is_retryable, &d->ctx.reply);
        return false;
    }
    /* A write that changed nothing has nothing to replicate. */
    if (!has_written || !dispatch_repl_wc_needs_wait(&d->wc))
        return false;
    rc = repl_node_wait_write_concern(n, &d->wc, d->ctx.last_optime, on_write_concern, d);
    return rc == REPL_ASYNC;
}

static void job_done(struct write_job *job, int commit_rc, const struct err *commit_err)
{
    struct dispatch_req *d = (struct dispatch_req *)((char *)job - offsetof(struct dispatch_req, job));
    struct server *srv = d->srv;

    if (commit_rc < 0) {
        err_set(&d->ctx.err, commit_err && commit_err->code ? commit_err->code : -commit_rc, "%s",
                commit_err ? commit_err->msg : "write transaction failed");
        d->rc = -d->ctx.err.code;
    }
    if (commit_rc < 0 || !d->is_repl || !after_repl_commit(d))
        finish(d);
    /* Await-data getMores may now see new documents. */
    cmd_dispatch_wake_parked(srv);
}

static void run(struct dispatch_req *d)
{
    bson_reinit(&d->ctx.reply);
    err_clear(&d->ctx.err);
    d->ctx.now_ms = wall_ms();
    d->rc = 0;
    switch (d->def->exec) {
    case CMD_EXEC_LOOP:
        d->is_in_handler = true;
        d->rc = d->def->handler(&d->ctx);
        d->is_in_handler = false;
        if (d->rc == CMD_ASYNC) {
            if (!d->has_early_finish)
                return; /* cmd_dispatch_finish answers */
            d->rc = d->early_rc;
        }
        finish(d);
        return;
    case CMD_EXEC_READ:
        d->work.data = d;
        if (uv_queue_work(d->srv->loop, &d->work, work_run, work_done) < 0) {
            d->rc = err_set(&d->ctx.err, ERR_INTERNAL_ERROR, "could not queue the command");
            finish(d);
        }
        return;
    case CMD_EXEC_WRITE:
        if (d->srv->writer == NULL || d->srv->is_shutting_down) {
            d->rc = err_set(&d->ctx.err, ERR_SHUTDOWN_IN_PROGRESS, "The server is shutting down");
            finish(d);
            return;
        }
        d->oplog_writer = d->srv->repl ? repl_node_oplog_writer(d->srv->repl) : NULL;
        d->job.run = job_run;
        d->job.done = job_done;
        writer_submit(d->srv->writer, &d->job);
        return;
    }
}

/* Standalone writeConcern: {w: int >= 0 | string, wtimeout: number, j: bool, fsync: bool}. */
static int check_write_concern(const struct cmd_request *req, struct err *e)
{
    bson_iter_t it, wc;

    if (!bson_iter_init_find(&it, &req->body, "writeConcern"))
        return 0;
    if (!BSON_ITER_HOLDS_DOCUMENT(&it))
        return err_set(e, ERR_TYPE_MISMATCH, "BSON field '%s.writeConcern' is the wrong type, expected type 'object'",
                       req->name);
    bson_iter_recurse(&it, &wc);
    while (bson_iter_next(&wc)) {
        const char *k = bson_iter_key(&wc);
        if (strcmp(k, "w") == 0) {
            if (BSON_ITER_HOLDS_UTF8(&wc))
                continue;
            if (!BSON_ITER_HOLDS_NUMBER(&wc))
                return err_set(e, ERR_FAILED_TO_PARSE, "w has to be a number or a string");
            int64_t w = bson_iter_as_int64(&wc);
            if (w < 0 || w > 50)
                return err_set(e, ERR_FAILED_TO_PARSE,
                               "w has to be a non-negative number and not greater than 50; found: %lld", (long long)w);
            if (w > 1)
                return err_set(e, ERR_BAD_VALUE, "cannot use 'w' > 1 on a standalone");
        } else if (strcmp(k, "wtimeout") == 0) {
            if (!BSON_ITER_HOLDS_NUMBER(&wc))
                return err_set(e, ERR_FAILED_TO_PARSE, "wtimeout must be a number");
        } else if (strcmp(k, "j") == 0 || strcmp(k, "fsync") == 0) {
            if (!BSON_ITER_HOLDS_BOOL(&wc) && !BSON_ITER_HOLDS_NUMBER(&wc))
                return err_set(e, ERR_FAILED_TO_PARSE, "%s must be a boolean", k);
        } else if (strcmp(k, "provenance") != 0 && strcmp(k, "getLastError") != 0) {
            return err_set(e, ERR_UNKNOWN_FIELD, "BSON field 'writeConcern.%s' is an unknown field.", k);
        }
    }
    return 0;
}

/* readConcern: local and available read the newest data; majority on a
 * replica-set member waits (in work_run) until its snapshot is committed; on
 * a standalone every write is already as durable as it will get. */
static int check_read_concern(struct dispatch_req *d, const struct cmd_request *req, bool *is_majority,
                              struct err *e)
{
    bson_iter_t it, rc;
    const char *level;

    if (!bson_iter_init_find(&it, &req->body, "readConcern"))
        return 0;
    if (!BSON_ITER_HOLDS_DOCUMENT(&it))
        return err_set(e, ERR_TYPE_MISMATCH, "BSON field '%s.readConcern' is the wrong type, expected type 'object'",
                       req->name);
    bson_iter_recurse(&it, &rc);
    if (!bson_iter_find(&rc, "level"))
        return 0;
    if (!BSON_ITER_HOLDS_UTF8(&rc))
        return err_set(e, ERR_TYPE_MISMATCH, "BSON field 'readConcern.level' is the wrong type, expected type 'string'");
    level = bson_iter_utf8(&rc, NULL);
    *is_majority = strcmp(level, "majority") == 0;
    if (strcmp(level, "local") == 0 || strcmp(level, "available") == 0 || *is_majority)
        return 0;
    if (strcmp(level, "linearizable") == 0) {
        bson_t doc;
        const uint8_t *data;
        uint32_t len;
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&doc, data, len))
            return err_set(e, ERR_INVALID_BSON, "readConcern is not valid BSON");
        d->is_linearizable = d->def->exec == CMD_EXEC_READ && (d->def->flags & CMD_FLAG_READ);
        return readopt_check_linearizable(d->srv, &doc, e);
    }
    if (strcmp(level, "snapshot") == 0)
        return err_set(e, ERR_NOT_IMPLEMENTED, "readConcern level '%s' is not supported by this server yet", level);
    return err_set(e, ERR_FAILED_TO_PARSE, "Invalid readConcern level '%s'", level);
}

/* Multi-document transactions are refused before anything runs. */
static int check_transaction(const struct cmd_request *req, struct err *e)
{
    bson_iter_t it;

    if ((bson_iter_init_find(&it, &req->body, "autocommit") && !bson_iter_as_bool(&it)) ||
        bson_iter_init_find(&it, &req->body, "startTransaction"))
        return err_set(e, ERR_NOT_IMPLEMENTED, "multi-document transactions are not supported by this server yet");
    return 0;
}

static bool is_secondary_ok(const struct cmd_request *req)
{
    bson_iter_t it, mode;

    if (req->is_secondary_ok)
        return true;
    if (!bson_iter_init_find(&it, &req->body, "$readPreference") || !BSON_ITER_HOLDS_DOCUMENT(&it))
        return false;
    bson_iter_recurse(&it, &mode);
    return bson_iter_find(&mode, "mode") && BSON_ITER_HOLDS_UTF8(&mode) &&
           strcmp(bson_iter_utf8(&mode, NULL), "primary") != 0;
}

/* Statements in a batched write (mongod's opcounters count each one). */
static int64_t n_statements(const bson_t *body, const char *field)
{
    bson_iter_t it;
    const uint8_t *data;
    uint32_t len;
    bson_t arr;

    if (!bson_iter_init_find(&it, body, field) || !BSON_ITER_HOLDS_ARRAY(&it))
        return 1;
    bson_iter_array(&it, &len, &data);
    if (!bson_init_static(&arr, data, len))
        return 1;
    return (int64_t)bson_count_keys(&arr);
}

static void count_op(struct server *srv, const struct cmd_request *req)
{
    struct server_counters *c = &srv->counters;
    const char *name = req->name;

    if (strcmp(name, "insert") == 0)
        atomic_fetch_add(&c->n_insert, n_statements(&req->body, "documents"));
    else if (strcmp(name, "update") == 0)
        atomic_fetch_add(&c->n_update, n_statements(&req->body, "updates"));
    else if (strcmp(name, "delete") == 0)
        atomic_fetch_add(&c->n_delete, n_statements(&req->body, "deletes"));
    else if (strcmp(name, "find") == 0)
        atomic_fetch_add(&c->n_query, 1);
    else if (strcmp(name, "getMore") == 0)
        atomic_fetch_add(&c->n_getmore, 1);
    else
        atomic_fetch_add(&c->n_command, 1);
}

/* The checks every command passes before its handler runs. */
static int precheck(struct dispatch_req *d, struct err *e)
{
    struct cmd_request *req = d->req;
    int rc;

    if (req->name == NULL || req->name[0] == '\0')
        return err_set(e, ERR_FAILED_TO_PARSE, "Empty command body");
    d->def = cmd_lookup(req->name);
    if (d->def == NULL)
        return err_set(e, ERR_COMMAND_NOT_FOUND, "no such command: '%s'", req->name);
    if ((d->def->flags & CMD_FLAG_ADMIN_ONLY) && (req->db == NULL || strcmp(req->db, "admin") != 0))
        return err_set(e, ERR_UNAUTHORIZED, "%s may only be run against the admin database.", req->name);
    if ((rc = check_transaction(req, e)) < 0)
        return rc;
    if ((rc = retryable_check_request(req, d->is_repl, &d->rw, e)) < 0)
        return rc;
    if (d->is_repl) {
        if ((rc = dispatch_repl_check_role(d->srv, req, d->def, e)) < 0)
            return rc;
        d->is_user_write = dispatch_repl_is_user_write(req, d->def);
        if (d->is_user_write) {
            if ((rc = dispatch_repl_write_concern(d->srv, req, &d->wc, &d->wc_unsat, e)) < 0)
                return rc;
            d->has_wc = true;
        }
    } else if ((d->def->flags & CMD_FLAG_WRITE) && (rc = check_write_concern(req, e)) < 0) {
        return rc;
    }
    if ((rc = check_read_concern(d, req, &d->is_majority_read, e)) < 0)
        return rc;
    d->is_majority_read = d->is_majority_read && d->is_repl && d->def->exec == CMD_EXEC_READ;
    return 0;
}

/* failCommand, after blockTimeMS if any: fail with errorCode or run. */
static void fail_or_run(struct dispatch_req *d)
{
    d->ctx.now_ms = wall_ms();
    if (d->fail_command.error_code != 0) {
        d->rc = failcmd_error(&d->fail_command, &d->ctx.err);
        finish(d);
        return;
    }
    run(d);
}

static void on_fail_command_unblocked(uv_timer_t *t)
{
    fail_or_run(t->data);
}

/* The failCommand fail point fired (failcmd.h): true when the request is
 * now answered or waits; false lets it run normally. */
static bool apply_fail_command(struct dispatch_req *d)
{
    if (d->fail_command.block_ms > 0) {
        if (!d->has_timer) {
            uv_timer_init(d->srv->loop, &d->timer);
            d->timer.data = d;
            d->has_timer = true;
        }
        uv_timer_start(&d->timer, on_fail_command_unblocked, (uint64_t)d->fail_command.block_ms, 0);
        return true;
    }
    if (d->fail_command.error_code != 0) {
        fail_or_run(d);
        return true;
    }
    return false;
}

void cmd_dispatch(struct server *srv, struct cmd_request *req, cmd_reply_cb reply_cb, void *arg)
{
    struct dispatch_req *d = xcalloc(1, sizeof *d);

    d->req = req;
    d->srv = srv;
    d->reply_cb = reply_cb;
    d->arg = arg;
    d->start_ns = uv_hrtime();
    d->ctx.srv = srv;
    d->ctx.req = req;
    d->ctx.last_optime = OPTIME_NULL;
    bson_init(&d->ctx.reply);
    err_init(&d->ctx.err);
    err_init(&d->wc_unsat);
    d->is_repl = srv->repl != NULL;
    d->is_retryable = d->is_repl && req->name && dispatch_repl_is_retryable_write(req);
    req->is_secondary_ok = is_secondary_ok(req);
    if (req->name)
        count_op(srv, req);
    if ((d->rc = precheck(d, &d->ctx.err)) < 0) {
        d->ctx.now_ms = wall_ms();
        finish(d);
        return;
    }
    if (failcmd_check(req, &d->fail_command)) {
        d->has_fail_command = true;
        if (apply_fail_command(d))
            return;
    }
    run(d);
}

void cmd_dispatch_finish(struct cmd_ctx *ctx, int rc)
{
    struct dispatch_req *d = (struct dispatch_req *)ctx;

    if (d->is_in_handler) {
        /* Answered before the handler even returned: run() finishes it. */
        d->has_early_finish = true;
        d->early_rc = rc;
        return;
    }
    d->rc = rc;
    finish(d);
}

void cmd_dispatch_wake_parked(struct server *srv)
{
    struct dispatch_req *list = parked_head;

    /* Detach first: a re-run may park again and must not be seen twice. */
    parked_head = NULL;
    while (list) {
        struct dispatch_req *d = list;
        list = d->next_parked;
        d->prev_parked = d->next_parked = NULL;
        uv_timer_stop(&d->timer);
        if (srv->is_shutting_down)
            d->ctx.is_await_expired = true;
        run(d);
    }
}

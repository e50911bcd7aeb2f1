/* initial_sync.c - snapshot-based initial sync: receiving a tallySnapshot
 * stream into <dbpath>/initialsync/, and swapping it in at the next start
 * (see initial_sync.h for the files and the protocol).
 *
 * Receiving: a peer connection of its own sends tallySnapshot, then one
 * getMore at a time; each batch's chunks are checked (consecutive seq),
 * hashed and written with uv_fs_write at their offset, and only then is the
 * next batch asked for, so memory stays at one batch. The end record's byte
 * count and SHA-256 must match what was written; the file and the directory
 * are fsynced before READY is written (and fsynced), so READY always means
 * "complete and durable".
 *
 * Why the swap happens at startup: after shutdown nothing can change the
 * member's own data file any more, so the identity read from it (term,
 * LastVote, config, rollback id) is final; a vote cast during the copy is
 * carried over, never lost. The swap is idempotent: a crash anywhere in it
 * redoes it from the same two files. */
#include "repl/initial_sync.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/wallclock.h"
#include "net/peer.h"
#include "net/server.h"
#include "repl/fetcher.h"
#include "repl/node_internal.h"
#include "storage/oplog.h"
#include "storage/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PENDING_FILE "initialsync.pending"
#define COPY_DIR "initialsync"
#define READY_FILE "READY"
#define SNAPSHOT_TIMEOUT_MS 120000
#define GET_MORE_TIMEOUT_MS 180000
#define MAX_FAILED_ATTEMPTS 10

struct initial_sync {
    struct server *srv;
    char source[300];
    struct peer *peer;
    initial_sync_done_cb cb;
    void *arg;
    int fd;
    char copy_dir[1024];
    int64_t cursor_id;
    int64_t next_seq;
    uint64_t n_bytes;
    struct snapshot_hash *hash;
    struct optime optime;
    int64_t data_size;
    int64_t start_ms;
    /* the end record, checked once the last write is done */
    bool has_end;
    int64_t end_bytes;
    char end_sha[65];
    /* one file operation at a time */
    uv_fs_t fs;
    bool is_fs_busy;
    uint8_t *wbuf;
    uint64_t wlen;
    bool is_cancelled;
};

static bool is_reexec_requested;

static int64_t wall_ms(void)
{
    return wallclock_now_ms();
}

/* --- files --- */

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static void join(char *out, size_t cap, const char *dir, const char *name)
{
    if (snprintf(out, cap, "%s/%s", dir, name) >= (int)cap)
        out[cap - 1] = '\0';
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Removes the copy directory and what is in it (no subdirectories are made). */
static int remove_copy_dir(const char *dbpath, struct err *e)
{
    char dir[1024], path[1200];
    join(dir, sizeof dir, dbpath, COPY_DIR);
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : err_set(e, ERR_OPERATION_FAILED, "cannot open %s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        join(path, sizeof path, dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    if (rmdir(dir) != 0 && errno != ENOENT)
        return err_set(e, ERR_OPERATION_FAILED, "cannot remove %s: %s", dir, strerror(errno));
    fsync_path(dbpath);
    return 0;
}

bool initial_sync_is_pending(const char *dbpath)
{
    char path[1024];
    join(path, sizeof path, dbpath, PENDING_FILE);
    return exists(path);
}

int initial_sync_mark_pending(const char *dbpath, struct err *e)
{
    char path[1024];
    join(path, sizeof path, dbpath, PENDING_FILE);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(e, ERR_OPERATION_FAILED, "cannot create %s: %s", path, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0 || fsync_path(dbpath) != 0)
        return err_set(e, ERR_OPERATION_FAILED, "cannot make %s durable: %s", path, strerror(errno));
    return 0;
}

/* --- the swap (startup) --- */

struct identity {
    int64_t term;
    struct oplog_last_vote vote;
    bool has_config;
    bson_t config;
    int32_t rbid;
};

static int64_t config_field(const bson_t *cfg, const char *key)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, cfg, key) && BSON_ITER_HOLDS_NUMBER(&it))
        return bson_iter_as_int64(&it);
    return -1;
}

/* Whether config a is newer than b: (term, version), or version alone when a term is missing. */
static bool config_is_newer(const bson_t *a, const bson_t *b)
{
    int64_t ta = config_field(a, "term"), tb = config_field(b, "term");
    int64_t va = config_field(a, "version"), vb = config_field(b, "version");
    if (ta >= 0 && tb >= 0 && ta != tb)
        return ta > tb;
    return va > vb;
}

static int read_identity(const char *dbpath, struct identity *id, struct err *e)
{
    struct store *s;
    struct store_txn *t;
    int rc;

    memset(id, 0, sizeof id[0]);
    if ((rc = store_open(dbpath, NULL, &s, e)) < 0)
        return rc;
    if ((rc = store_txn_begin_read(s, &t, e)) == 0) {
        if ((rc = oplog_get_term(t, &id->term, e)) == 0 && (rc = oplog_get_last_vote(t, &id->vote, e)) == 0 &&
            (rc = oplog_get_config(t, &id->config, e)) >= 0) {
            id->has_config = rc == 1;
            rc = oplog_get_rbid(t, &id->rbid, e);
        }
        store_txn_end(t);
    }
    store_close(s);
    if (rc < 0 && id->has_config) {
        bson_destroy(&id->config);
        id->has_config = false;
    }
    return rc < 0 ? rc : 0;
}

/* Gives the copy this member's identity (see the file comment). */
static int adopt_identity(const char *copy_dir, const struct identity *id, struct err *e)
{
    struct store *s;
    struct store_txn *t;
    int64_t term = -1;
    int32_t rbid = 0;
    bson_t cfg;
    int rc;

    if ((rc = store_open(copy_dir, NULL, &s, e)) < 0)
        return rc;
    if ((rc = store_txn_begin_write(s, &t, e)) < 0) {
        store_close(s);
        return rc;
    }
    rc = oplog_get_term(t, &term, e);
    if (rc == 0 && id->term > term)
        rc = oplog_put_term(t, id->term, e);
    if (rc == 0)
        rc = oplog_put_last_vote(t, &id->vote, e);
    if (rc == 0 && id->has_config) {
        rc = oplog_get_config(t, &cfg, e);
        if (rc == 1) {
            bool is_ours = !config_is_newer(&cfg, &id->config);
            bson_destroy(&cfg);
            rc = is_ours ? oplog_put_config(t, &id->config, e) : 0;
        } else if (rc == 0) {
            rc = oplog_put_config(t, &id->config, e);
        }
    }
    if (rc == 0)
        rc = oplog_get_rbid(t, &rbid, e);
    /* A new rollback id: members that read ours before see the data changed. */
    for (int i = 0; rc == 0 && rbid <= id->rbid && i < 100000; i++)
        rc = oplog_bump_rbid(t, &rbid, e);
    if (rc == 0)
        rc = oplog_put_min_valid(t, OPTIME_NULL, e);
    if (rc == 0)
        rc = oplog_put_truncate_after_point(t, 0, e);
    if (rc < 0) {
        store_txn_end(t);
        store_close(s);
        return rc;
    }
    rc = store_txn_commit(t, e);
    store_close(s);
    return rc;
}

static int swap_in(const char *dbpath, struct err *e)
{
    char copy_dir[1024], from[1100], to[1100], lock[1100];
    struct identity id;
    int rc;

    join(copy_dir, sizeof copy_dir, dbpath, COPY_DIR);
    join(from, sizeof from, copy_dir, "data.mdb");
    join(to, sizeof to, dbpath, "data.mdb");
    join(lock, sizeof lock, dbpath, "lock.mdb");
    if (exists(from)) {
        if ((rc = read_identity(dbpath, &id, e)) < 0) {
            err_prefix(e, "initial sync: cannot read this member's identity");
            return rc;
        }
        rc = adopt_identity(copy_dir, &id, e);
        if (id.has_config)
            bson_destroy(&id.config);
        if (rc < 0) {
            err_prefix(e, "initial sync: cannot prepare the copy");
            return rc;
        }
        if (fsync_path(from) != 0 || rename(from, to) != 0)
            return err_set(e, ERR_OPERATION_FAILED, "initial sync: cannot move %s to %s: %s", from, to,
                           strerror(errno));
        /* The reader table described the old file. */
        unlink(lock);
        fsync_path(dbpath);
        log_info(LOGC_REPL, "initial sync: the copy replaced the data files in %s", dbpath);
    }
    return 0;
}

int initial_sync_prepare_dbpath(const char *dbpath, struct err *e)
{
    char copy_dir[1024], ready[1100], pending[1024];
    int rc;

    join(copy_dir, sizeof copy_dir, dbpath, COPY_DIR);
    join(ready, sizeof ready, copy_dir, READY_FILE);
    join(pending, sizeof pending, dbpath, PENDING_FILE);
    if (exists(ready)) {
        if ((rc = swap_in(dbpath, e)) < 0)
            return rc;
        unlink(pending);
        fsync_path(dbpath);
    } else if (exists(copy_dir)) {
        log_info(LOGC_REPL, "initial sync: removing an unfinished copy; the initial sync starts over");
    }
    return remove_copy_dir(dbpath, e);
}

bool initial_sync_is_reexec_requested(void)
{
    return is_reexec_requested;
}

/* --- receiving --- */

static void is_free(struct initial_sync *is)
{
    if (is->fd >= 0)
        close(is->fd);
    if (is->hash) {
        char tmp[65];
        snapshot_hash_final(is->hash, tmp);
    }
    free(is->wbuf);
    free(is);
}

/* Ends the attempt: cancels it as initial_sync_cancel does (the peer goes
 * first; its callbacks see is_cancelled), then calls the callback. */
static void finish(struct initial_sync *is, int rc, const struct err *e)
{
    initial_sync_done_cb cb = is->cb;
    void *arg = is->arg;

    if (rc < 0)
        log_warn(LOGC_REPL, "initial sync from %s failed: %s", is->source, e ? e->msg : "?");
    initial_sync_cancel(is);
    cb(arg, rc, e);
}

static void fail(struct initial_sync *is, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct initial_sync *is, const char *fmt, ...)
{
    char msg[600];
    struct err e;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err_init(&e);
    err_set(&e, ERR_OPERATION_FAILED, "%s", msg);
    finish(is, -ERR_OPERATION_FAILED, &e);
    err_clear(&e);
}

static bool reply_ok(const bson_t *reply, const struct err *e, char *msg, size_t cap)
{
    bson_iter_t it;
    if (e) {
        if (snprintf(msg, cap, "%s", e->msg) >= (int)cap)
            msg[cap - 1] = '\0';
        return false;
    }
    if (bson_iter_init_find(&it, reply, "ok") && BSON_ITER_HOLDS_NUMBER(&it) && bson_iter_as_double(&it) == 1.0)
        return true;
    if (bson_iter_init_find(&it, reply, "errmsg") && BSON_ITER_HOLDS_UTF8(&it))
        snprintf(msg, cap, "%s", bson_iter_utf8(&it, NULL));
    else
        snprintf(msg, cap, "command failed");
    return false;
}

/* cursor.id and the batch array of a reply. */
static bool parse_cursor(const bson_t *reply, const char *key, int64_t *id, bson_iter_t *batch)
{
    bson_iter_t it, cur;
    bool has_id = false, has_batch = false;
    if (!bson_iter_init_find(&it, reply, "cursor") || !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &cur))
        return false;
    while (bson_iter_next(&cur)) {
        if (strcmp(bson_iter_key(&cur), "id") == 0 && BSON_ITER_HOLDS_INT64(&cur)) {
            *id = bson_iter_int64(&cur);
            has_id = true;
        } else if (strcmp(bson_iter_key(&cur), key) == 0 && BSON_ITER_HOLDS_ARRAY(&cur)) {
            has_batch = bson_iter_recurse(&cur, batch);
        }
    }
    return has_id && has_batch;
}

static void send_get_more(struct initial_sync *is);
static void on_fsync(uv_fs_t *req);

static int write_ready(struct initial_sync *is)
{
    char path[1100];
    join(path, sizeof path, is->copy_dir, READY_FILE);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    if (rc == 0)
        rc = fsync_path(is->copy_dir);
    return rc;
}

static void complete(struct initial_sync *is)
{
    char hex[65];
    struct snapshot_hash *h = is->hash;
    is->hash = NULL;
    snapshot_hash_final(h, hex);
    if ((int64_t)is->n_bytes != is->end_bytes || strcmp(hex, is->end_sha) != 0) {
        fail(is, "the received snapshot does not match its length and SHA-256");
        return;
    }
    if (write_ready(is) != 0) {
        fail(is, "cannot write the READY marker: %s", strerror(errno));
        return;
    }
    log_info(LOGC_REPL, "initial sync: received %llu bytes from %s in %lld ms (optime {ts: Timestamp(%u, %u), "
             "t: %lld}); restarting to swap the copy in",
             (unsigned long long)is->n_bytes, is->source, (long long)(wall_ms() - is->start_ms),
             optime_secs(is->optime), optime_inc(is->optime), (long long)is->optime.term);
    is_reexec_requested = true;
    /* The same clean path as SIGTERM; main.c re-execs after it. */
    uv_kill(getpid(), SIGTERM);
    finish(is, 0, NULL);
}

/* The start of every file-operation callback: releases the request and the
 * write buffer; false when the attempt was cancelled meanwhile (it is freed
 * now) or the operation failed (the attempt ends), true with *result set
 * when the callback goes on. */
static bool fs_op_done(struct initial_sync *is, uv_fs_t *req, const char *what, ssize_t *result)
{
    *result = req->result;
    uv_fs_req_cleanup(req);
    is->is_fs_busy = false;
    free(is->wbuf);
    is->wbuf = NULL;
    if (is->is_cancelled) {
        is_free(is);
        return false;
    }
    if (*result < 0) {
        fail(is, "cannot %s the copy: %s", what, uv_strerror((int)*result));
        return false;
    }
    return true;
}

static void on_write(uv_fs_t *req)
{
    struct initial_sync *is = req->data;
    ssize_t result;

    if (!fs_op_done(is, req, "write", &result))
        return;
    if ((uint64_t)result != is->wlen) {
        fail(is, "short write of the copy (%lld of %llu bytes): disk full?", (long long)result,
             (unsigned long long)is->wlen);
        return;
    }
    if (!is->has_end) {
        send_get_more(is);
        return;
    }
    is->is_fs_busy = true;
    is->fs.data = is;
    uv_fs_fsync(is->srv->loop, &is->fs, is->fd, on_fsync);
}

static void on_fsync(uv_fs_t *req)
{
    struct initial_sync *is = req->data;
    ssize_t result;

    if (fs_op_done(is, req, "fsync", &result))
        complete(is);
}

/* Collects the batch's chunks into one buffer and writes it. */
static void take_batch(struct initial_sync *is, bson_iter_t *batch)
{
    size_t cap = 0, n = 0;
    uint8_t *buf = NULL;
    bson_iter_t doc, f;

    while (bson_iter_next(batch)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(batch) || !bson_iter_recurse(batch, &doc))
            goto malformed;
        int64_t seq = -1;
        const uint8_t *data = NULL;
        uint32_t len = 0;
        bool is_end = false;
        while (bson_iter_next(&doc)) {
            const char *k = bson_iter_key(&doc);
            if (strcmp(k, "seq") == 0 && BSON_ITER_HOLDS_INT64(&doc))
                seq = bson_iter_int64(&doc);
            else if (strcmp(k, "data") == 0 && BSON_ITER_HOLDS_BINARY(&doc))
                bson_iter_binary(&doc, NULL, &len, &data);
            else if (strcmp(k, "end") == 0 && BSON_ITER_HOLDS_BOOL(&doc))
                is_end = bson_iter_bool(&doc);
        }
        if (is_end) {
            bson_iter_recurse(batch, &f);
            is->has_end = true;
            while (bson_iter_next(&f)) {
                if (strcmp(bson_iter_key(&f), "bytes") == 0 && BSON_ITER_HOLDS_INT64(&f))
                    is->end_bytes = bson_iter_int64(&f);
                else if (strcmp(bson_iter_key(&f), "sha256") == 0 && BSON_ITER_HOLDS_UTF8(&f))
                    snprintf(is->end_sha, sizeof is->end_sha, "%s", bson_iter_utf8(&f, NULL));
            }
            continue;
        }
        if (seq != is->next_seq || data == NULL)
            goto malformed;
        is->next_seq++;
        if (n + len > cap) {
            cap = (n + len) * 2;
            buf = xrealloc(buf, cap);
        }
        memcpy(buf + n, data, len);
        n += len;
    }
    if (is->has_end && is->cursor_id != 0)
        goto malformed;
    if (!is->has_end && is->cursor_id == 0)
        goto malformed;
    snapshot_hash_update(is->hash, buf, n);
    uint64_t offset = is->n_bytes;
    is->n_bytes += n;
    is->wbuf = buf ? buf : xmalloc(1);
    is->wlen = n;
    uv_buf_t b = uv_buf_init((char *)is->wbuf, (unsigned)n);
    is->is_fs_busy = true;
    is->fs.data = is;
    uv_fs_write(is->srv->loop, &is->fs, is->fd, &b, 1, (int64_t)offset, on_write);
    return;

malformed:
    free(buf);
    fail(is, "malformed snapshot stream (chunks out of order or missing end)");
}

static void on_get_more(void *arg, const bson_t *reply, const struct err *e)
{
    struct initial_sync *is = arg;
    char msg[300];
    bson_iter_t batch;

    if (is->is_cancelled)
        return;
    if (!reply_ok(reply, e, msg, sizeof msg)) {
        fail(is, "snapshot getMore failed: %s", msg);
        return;
    }
    if (!parse_cursor(reply, "nextBatch", &is->cursor_id, &batch)) {
        fail(is, "malformed snapshot getMore reply");
        return;
    }
    take_batch(is, &batch);
}

static void send_get_more(struct initial_sync *is)
{
    bson_t cmd = BSON_INITIALIZER;
    struct err e;

    bson_append_int64(&cmd, "getMore", -1, is->cursor_id);
    BSON_APPEND_UTF8(&cmd, "collection", "$snapshot");
    BSON_APPEND_UTF8(&cmd, "$db", "admin");
    err_init(&e);
    if (peer_send(is->peer, &cmd, GET_MORE_TIMEOUT_MS, on_get_more, is, &e) < 0) {
        bson_destroy(&cmd);
        finish(is, e.code ? -e.code : -ERR_INTERNAL_ERROR, &e);
        err_clear(&e);
        return;
    }
    bson_destroy(&cmd);
}

static bool parse_meta(struct initial_sync *is, bson_iter_t *batch)
{
    bson_iter_t doc, meta, f;
    if (!bson_iter_next(batch) || !BSON_ITER_HOLDS_DOCUMENT(batch) || !bson_iter_recurse(batch, &doc) ||
        !bson_iter_find(&doc, "meta") || !BSON_ITER_HOLDS_DOCUMENT(&doc) || !bson_iter_recurse(&doc, &meta))
        return false;
    bool has_format = false;
    while (bson_iter_next(&meta)) {
        const char *k = bson_iter_key(&meta);
        if (strcmp(k, "format") == 0 && BSON_ITER_HOLDS_UTF8(&meta))
            has_format = strcmp(bson_iter_utf8(&meta, NULL), "tally-lmdb-1") == 0;
        else if (strcmp(k, "dataSize") == 0 && BSON_ITER_HOLDS_NUMBER(&meta))
            is->data_size = bson_iter_as_int64(&meta);
        else if (strcmp(k, "optime") == 0 && BSON_ITER_HOLDS_DOCUMENT(&meta) && bson_iter_recurse(&meta, &f))
            while (bson_iter_next(&f)) {
                if (strcmp(bson_iter_key(&f), "ts") == 0 && BSON_ITER_HOLDS_TIMESTAMP(&f)) {
                    uint32_t s, i;
                    bson_iter_timestamp(&f, &s, &i);
                    is->optime.ts = (uint64_t)s << 32 | i;
                } else if (strcmp(bson_iter_key(&f), "t") == 0 && BSON_ITER_HOLDS_NUMBER(&f)) {
                    is->optime.term = bson_iter_as_int64(&f);
                }
            }
    }
    return has_format && !optime_is_null(is->optime);
}

static void on_snapshot(void *arg, const bson_t *reply, const struct err *e)
{
    struct initial_sync *is = arg;
    char msg[300], path[1100];
    bson_iter_t batch;

    if (is->is_cancelled)
        return;
    if (!reply_ok(reply, e, msg, sizeof msg)) {
        fail(is, "tallySnapshot failed: %s", msg);
        return;
    }
    if (!parse_cursor(reply, "firstBatch", &is->cursor_id, &batch) || !parse_meta(is, &batch) ||
        is->cursor_id == 0) {
        fail(is, "malformed tallySnapshot reply (unknown format or no optime)");
        return;
    }
    join(path, sizeof path, is->copy_dir, "data.mdb");
    is->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (is->fd < 0) {
        fail(is, "cannot create the copy: %s", strerror(errno));
        return;
    }
    log_info(LOGC_REPL, "initial sync: copying a snapshot of %s (~%lld bytes, optime {ts: Timestamp(%u, %u), t: "
             "%lld})",
             is->source, (long long)is->data_size, optime_secs(is->optime), optime_inc(is->optime),
             (long long)is->optime.term);
    send_get_more(is);
}

int initial_sync_request_resync(struct server *srv, struct err *e)
{
    struct repl_node *n = srv->repl;

    if (n == NULL)
        return err_set(e, ERR_NO_REPLICATION_ENABLED, "resync needs a replica set member (--replSet)");
    if (!n->st.has_config)
        return err_set(e, ERR_NOT_YET_INITIALIZED, "no replset config has been received");
    if (n->st.member_state == REPL_PRIMARY)
        return err_set(e, ERR_ILLEGAL_OPERATION, "primaries cannot resync: step down first");
    if (n->st.member_state == REPL_ARBITER)
        return err_set(e, ERR_ILLEGAL_OPERATION, "arbiters hold no data and cannot resync");
    if (n->fetcher == NULL)
        return err_set(e, ERR_SHUTDOWN_IN_PROGRESS, "The server is shutting down");
    return fetcher_resync(n->fetcher, e);
}

int initial_sync_start(struct server *srv, const char *source, initial_sync_done_cb cb, void *arg,
                       struct initial_sync **out, struct err *e)
{
    struct initial_sync *is;
    bson_t cmd = BSON_INITIALIZER;
    int rc;

    if ((rc = initial_sync_mark_pending(srv->cfg.dbpath, e)) < 0)
        return rc;
    if ((rc = remove_copy_dir(srv->cfg.dbpath, e)) < 0)
        return rc;
    is = xcalloc(1, sizeof *is);
    is->srv = srv;
    is->fd = -1;
    is->cb = cb;
    is->arg = arg;
    is->start_ms = wall_ms();
    snprintf(is->source, sizeof is->source, "%s", source);
    join(is->copy_dir, sizeof is->copy_dir, srv->cfg.dbpath, COPY_DIR);
    if (mkdir(is->copy_dir, 0700) != 0) {
        rc = err_set(e, ERR_OPERATION_FAILED, "cannot create %s: %s", is->copy_dir, strerror(errno));
        free(is);
        return rc;
    }
    if ((rc = peer_create(srv->loop, source, &is->peer, e)) < 0) {
        free(is);
        return rc;
    }
    is->hash = snapshot_hash_new();
    BSON_APPEND_INT32(&cmd, "tallySnapshot", 1);
    BSON_APPEND_UTF8(&cmd, "$db", "admin");
    if ((rc = peer_send(is->peer, &cmd, SNAPSHOT_TIMEOUT_MS, on_snapshot, is, e)) < 0) {
        bson_destroy(&cmd);
        peer_destroy(is->peer);
        is->peer = NULL;
        is_free(is);
        return rc;
    }
    bson_destroy(&cmd);
    log_info(LOGC_REPL, "initial sync: starting from %s", source);
    *out = is;
    return 0;
}

void initial_sync_cancel(struct initial_sync *is)
{
    struct peer *p;

    if (is == NULL)
        return;
    p = is->peer;
    is->peer = NULL;
    is->is_cancelled = true;
    if (p)
        peer_destroy(p);
    if (!is->is_fs_busy)
        is_free(is);
}

void initial_sync_append_status(const struct initial_sync *is, const struct initial_sync_stats *stats,
                                bson_t *reply)
{
    bson_t doc, attempts;
    int64_t now = wall_ms();

    if (is == NULL && stats->n_failed == 0)
        return;
    bson_append_document_begin(reply, "initialSyncStatus", -1, &doc);
    BSON_APPEND_INT32(&doc, "failedInitialSyncAttempts", stats->n_failed);
    BSON_APPEND_INT32(&doc, "maxFailedInitialSyncAttempts", MAX_FAILED_ATTEMPTS);
    if (stats->first_start_ms > 0) {
        BSON_APPEND_DATE_TIME(&doc, "initialSyncStart", stats->first_start_ms);
        BSON_APPEND_INT64(&doc, "totalInitialSyncElapsedMillis", now - stats->first_start_ms);
    }
    bson_append_array_begin(&doc, "initialSyncAttempts", -1, &attempts);
    bson_append_array_end(&doc, &attempts);
    if (stats->last_error[0])
        BSON_APPEND_UTF8(&doc, "lastError", stats->last_error);
    if (is) {
        BSON_APPEND_UTF8(&doc, "syncSource", is->source);
        BSON_APPEND_INT64(&doc, "approxTotalDataSize", is->data_size);
        BSON_APPEND_INT64(&doc, "approxTotalBytesCopied", (int64_t)is->n_bytes);
        bson_t op;
        bson_append_document_begin(&doc, "snapshotOptime", -1, &op);
        bson_append_timestamp(&op, "ts", -1, optime_secs(is->optime), optime_inc(is->optime));
        BSON_APPEND_INT64(&op, "t", is->optime.term);
        bson_append_document_end(&doc, &op);
        int64_t elapsed = now - is->start_ms;
        if (is->n_bytes > 0 && is->data_size > (int64_t)is->n_bytes)
            BSON_APPEND_INT64(&doc, "remainingInitialSyncEstimatedMillis",
                              (int64_t)((double)elapsed * (double)(is->data_size - (int64_t)is->n_bytes) /
                                        (double)is->n_bytes));
    }
    bson_append_document_end(reply, &doc);
}

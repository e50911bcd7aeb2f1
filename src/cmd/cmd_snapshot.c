/* cmd_snapshot.c - tallySnapshot: a consistent hot copy of this member's
 * data over the wire, as a cursor of chunks (see cmd_snapshot.h).
 *
 * The command runs on the loop (state checks, a slot among at most
 * SNAP_MAX_ACTIVE), then starts the copy on a pool thread, because starting
 * waits for the writer to reach the end of its batch and for the copy's
 * first bytes (storage/snapshot.c explains why that names the exact optime).
 * getMores run on pool threads and block while the copy produces the next
 * chunk. Snapshot cursors have their own small registry: one mutex, checked
 * out by a getMore so killCursors only marks a busy one. A loop timer stops
 * copies whose connection closed or that sat idle too long, so an abandoned
 * copy never pins an LMDB read transaction (and old pages) for long. */
#include "cmd/cmd_snapshot.h"

#include "cmd/args.h"
#include "cmd/cursor.h"
#include "cmd/handlers.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/net.h"
#include "net/server.h"
#include "repl/node.h"
#include "storage/snapshot.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define SNAP_MAX_ACTIVE 3
#define SNAP_CHUNK_DEFAULT (4 << 20)
#define SNAP_CHUNK_MIN (64 << 10)
#define SNAP_CHUNK_MAX (16 << 20)
/* A batch holds chunks up to this many bytes (a single larger chunk alone). */
#define SNAP_BATCH_BYTES (8 << 20)
#define SNAP_READ_TIMEOUT_MS 60000
#define SNAP_IDLE_MS (10 * 60 * 1000)
#define SNAP_REAP_MS 1000
#define SNAP_NS "admin." CMD_SNAPSHOT_COLL
#define SNAP_FORMAT "tally-lmdb-1"

struct snap_cursor {
    int64_t id;
    struct snapshot *sn;
    int64_t chunk_bytes;
    int64_t next_seq;
    int64_t conn_id;
    int64_t last_used_ms;
    bool is_in_use;
    bool is_killed;
    struct snap_cursor *next;
};

/* One server per process: the registry is file-level state. */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct snap_cursor *reg_head; /* guarded by reg_mu */
static int reg_n_active;             /* guarded by reg_mu: slots taken, starting copies included */
static uv_timer_t *reaper;           /* loop thread */
static struct server *reaper_srv;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t random_id(void)
{
    uint64_t v = 0;
    while (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        ;
    v &= INT64_MAX;
    return v ? (int64_t)v : 1;
}

/* Frees a cursor taken out of the list; its slot is given back. */
static void snap_free(struct snap_cursor *c)
{
    snapshot_destroy(c->sn);
    free(c);
    pthread_mutex_lock(&reg_mu);
    reg_n_active--;
    pthread_mutex_unlock(&reg_mu);
}

/* Under reg_mu. */
static struct snap_cursor **find_slot(int64_t id)
{
    struct snap_cursor **pp = &reg_head;
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    return pp;
}

/* --- the reaper --- */

static void on_reap(uv_timer_t *t)
{
    struct snap_cursor *dead = NULL;
    int64_t now = wall_ms();

    (void)t;
    pthread_mutex_lock(&reg_mu);
    for (struct snap_cursor **pp = &reg_head; *pp;) {
        struct snap_cursor *c = *pp;
        bool is_gone = !c->is_in_use && (now - c->last_used_ms > SNAP_IDLE_MS ||
                                         (reaper_srv && !net_conn_is_open(reaper_srv, c->conn_id)));
        if (is_gone) {
            *pp = c->next;
            c->next = dead;
            dead = c;
        } else {
            pp = &c->next;
        }
    }
    pthread_mutex_unlock(&reg_mu);
    while (dead) {
        struct snap_cursor *next = dead->next;
        log_info(LOGC_STORAGE, "snapshot cursor %lld stopped: its connection closed or it sat idle",
                 (long long)dead->id);
        snap_free(dead);
        dead = next;
    }
}

static void reaper_closed(uv_handle_t *h)
{
    free(h);
}

static void reaper_ensure(struct server *srv)
{
    if (reaper)
        return;
    reaper = xcalloc(1, sizeof *reaper);
    reaper_srv = srv;
    uv_timer_init(srv->loop, reaper);
    uv_timer_start(reaper, on_reap, SNAP_REAP_MS, SNAP_REAP_MS);
    /* The timer alone must not keep the loop (and shutdown) waiting. */
    uv_unref((uv_handle_t *)reaper);
}

void cmd_snapshot_shutdown(void)
{
    struct snap_cursor *dead = NULL;

    if (reaper) {
        uv_timer_stop(reaper);
        uv_close((uv_handle_t *)reaper, reaper_closed);
        reaper = NULL;
    }
    pthread_mutex_lock(&reg_mu);
    for (struct snap_cursor **pp = &reg_head; *pp;) {
        struct snap_cursor *c = *pp;
        if (c->is_in_use) {
            c->is_killed = true;
            pp = &c->next;
        } else {
            *pp = c->next;
            c->next = dead;
            dead = c;
        }
    }
    pthread_mutex_unlock(&reg_mu);
    while (dead) {
        struct snap_cursor *next = dead->next;
        snap_free(dead);
        dead = next;
    }
}

/* --- tallySnapshot --- */

struct start_work {
    uv_work_t work;
    struct cmd_ctx *ctx;
    int64_t chunk_bytes;
    int rc;
    struct err err;
    struct snapshot *sn;
    struct snapshot_meta meta;
};

static void start_run(uv_work_t *w)
{
    struct start_work *sw = w->data;
    struct server *srv = sw->ctx->srv;
    sw->rc = snapshot_start(srv->store, srv->writer, &sw->sn, &sw->meta, &sw->err);
}

static void append_meta(struct cmd_ctx *ctx, const struct snapshot_meta *m, bson_t *arr)
{
    struct server *srv = ctx->srv;
    bson_t doc, meta, op;

    bson_append_document_begin(arr, "0", 1, &doc);
    bson_append_document_begin(&doc, "meta", 4, &meta);
    BSON_APPEND_UTF8(&meta, "format", SNAP_FORMAT);
    bson_append_document_begin(&meta, "optime", -1, &op);
    bson_append_timestamp(&op, "ts", 2, optime_secs(m->optime), optime_inc(m->optime));
    BSON_APPEND_INT64(&op, "t", m->optime.term);
    bson_append_document_end(&meta, &op);
    BSON_APPEND_DATE_TIME(&meta, "wall", m->wall_ms);
    if (srv->repl)
        BSON_APPEND_UTF8(&meta, "setName", repl_node_set_name(srv->repl));
    else
        bson_append_null(&meta, "setName", -1);
    BSON_APPEND_UTF8(&meta, "host", srv->host_port);
    BSON_APPEND_INT64(&meta, "dataSize", m->data_bytes);
    bson_append_document_end(&doc, &meta);
    bson_append_document_end(arr, &doc);
}

static void start_done(uv_work_t *w, int status)
{
    struct start_work *sw = w->data;
    struct cmd_ctx *ctx = sw->ctx;
    int rc = sw->rc;

    (void)status;
    if (rc == 0 && ctx->srv->is_shutting_down) {
        snapshot_destroy(sw->sn);
        rc = err_set(&sw->err, ERR_SHUTDOWN_IN_PROGRESS, "The server is shutting down");
    }
    if (rc < 0) {
        err_set(&ctx->err, sw->err.code, "%s", sw->err.msg);
        pthread_mutex_lock(&reg_mu);
        reg_n_active--;
        pthread_mutex_unlock(&reg_mu);
    } else {
        struct snap_cursor *c = xcalloc(1, sizeof *c);
        bson_t arr = BSON_INITIALIZER;
        c->sn = sw->sn;
        c->chunk_bytes = sw->chunk_bytes;
        c->conn_id = ctx->req->connection_id;
        c->last_used_ms = wall_ms();
        pthread_mutex_lock(&reg_mu);
        do {
            c->id = random_id();
        } while (*find_slot(c->id) != NULL);
        c->next = reg_head;
        reg_head = c;
        pthread_mutex_unlock(&reg_mu);
        append_meta(ctx, &sw->meta, &arr);
        cursor_append_reply(&ctx->reply, c->id, SNAP_NS, &arr, true);
        bson_destroy(&arr);
        log_info(LOGC_STORAGE, "snapshot cursor %lld for conn%lld: optime {ts: Timestamp(%u, %u), t: %lld}, ~%lld bytes",
                 (long long)c->id, (long long)c->conn_id, optime_secs(sw->meta.optime), optime_inc(sw->meta.optime),
                 (long long)sw->meta.optime.term, (long long)sw->meta.data_bytes);
        reaper_ensure(ctx->srv);
    }
    err_clear(&sw->err);
    free(sw);
    cmd_dispatch_finish(ctx, rc);
}

/* Only a data-bearing member with a consistent copy may give one. */
static int check_state(struct cmd_ctx *ctx)
{
    const struct repl_state *st;

    if (!ctx->srv->repl)
        return 0;
    st = repl_node_state(ctx->srv->repl);
    if (st->member_state == REPL_ARBITER)
        return err_set(&ctx->err, ERR_ILLEGAL_OPERATION,
                       "tallySnapshot needs a data-bearing member: this member is an arbiter and holds no data");
    if (st->member_state != REPL_PRIMARY && st->member_state != REPL_SECONDARY)
        return err_set(&ctx->err, ERR_NOT_PRIMARY_OR_SECONDARY,
                       "tallySnapshot needs a member in PRIMARY or SECONDARY state with consistent data; this member "
                       "is %s",
                       repl_member_state_str(st->member_state));
    return 0;
}

static const char *const snapshot_fields[] = {"chunkBytes", NULL};

int cmd_tally_snapshot(struct cmd_ctx *ctx)
{
    int64_t chunk = SNAP_CHUNK_DEFAULT;
    int rc;

    if ((rc = args_check_known(ctx, snapshot_fields)) < 0 || (rc = args_int64(ctx, "chunkBytes", &chunk)) < 0)
        return rc;
    if (chunk < SNAP_CHUNK_MIN || chunk > SNAP_CHUNK_MAX)
        return err_set(&ctx->err, ERR_BAD_VALUE,
                       "tallySnapshot.chunkBytes must be between %d (64 KiB) and %d (16 MiB), got %lld",
                       SNAP_CHUNK_MIN, SNAP_CHUNK_MAX, (long long)chunk);
    if ((rc = check_state(ctx)) < 0)
        return rc;
    if (ctx->srv->is_shutting_down || !ctx->srv->writer)
        return err_set(&ctx->err, ERR_SHUTDOWN_IN_PROGRESS, "The server is shutting down");
    pthread_mutex_lock(&reg_mu);
    bool is_full = reg_n_active >= SNAP_MAX_ACTIVE;
    if (!is_full)
        reg_n_active++;
    pthread_mutex_unlock(&reg_mu);
    if (is_full)
        return err_set(&ctx->err, ERR_OPERATION_FAILED,
                       "too many snapshots in progress (at most %d at once): finish or kill one (killCursors) and "
                       "retry",
                       SNAP_MAX_ACTIVE);
    struct start_work *sw = xcalloc(1, sizeof *sw);
    sw->work.data = sw;
    sw->ctx = ctx;
    sw->chunk_bytes = chunk;
    err_init(&sw->err);
    rc = uv_queue_work(ctx->srv->loop, &sw->work, start_run, start_done);
    if (rc != 0) {
        free(sw);
        pthread_mutex_lock(&reg_mu);
        reg_n_active--;
        pthread_mutex_unlock(&reg_mu);
        return err_set(&ctx->err, ERR_INTERNAL_ERROR, "cannot start the snapshot: %s", uv_strerror(rc));
    }
    return CMD_ASYNC;
}

/* --- getMore and killCursors on "$snapshot" --- */

static bool names_snapshot(const struct cmd_ctx *ctx, const char *field)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, &ctx->req->body, field) || !BSON_ITER_HOLDS_UTF8(&it))
        return false;
    return strcmp(bson_iter_utf8(&it, NULL), CMD_SNAPSHOT_COLL) == 0;
}

bool cmd_snapshot_is_get_more(const struct cmd_ctx *ctx)
{
    return names_snapshot(ctx, "collection");
}

bool cmd_snapshot_is_kill_cursors(const struct cmd_ctx *ctx)
{
    return names_snapshot(ctx, "killCursors");
}

static int checkout(struct cmd_ctx *ctx, int64_t id, struct snap_cursor **out)
{
    int rc = 0;
    pthread_mutex_lock(&reg_mu);
    struct snap_cursor *c = *find_slot(id);
    if (c == NULL)
        rc = err_set(&ctx->err, ERR_CURSOR_NOT_FOUND, "cursor id %lld not found", (long long)id);
    else if (c->is_in_use)
        rc = err_set(&ctx->err, ERR_OPERATION_FAILED, "cursor id %lld is already in use", (long long)id);
    else
        c->is_in_use = true;
    pthread_mutex_unlock(&reg_mu);
    *out = c;
    return rc;
}

/* Gives c back, or frees it when it ended, failed or was killed meanwhile. */
static void checkin(struct snap_cursor *c, bool is_finished)
{
    pthread_mutex_lock(&reg_mu);
    c->is_in_use = false;
    c->last_used_ms = wall_ms();
    bool is_free = is_finished || c->is_killed;
    if (is_free) {
        struct snap_cursor **pp = find_slot(c->id);
        if (*pp)
            *pp = c->next;
    }
    pthread_mutex_unlock(&reg_mu);
    if (is_free)
        snap_free(c);
}

static void append_chunk(bson_t *arr, int k, int64_t seq, const uint8_t *data, int64_t n)
{
    char key[16];
    bson_t doc;
    snprintf(key, sizeof key, "%d", k);
    bson_append_document_begin(arr, key, -1, &doc);
    BSON_APPEND_INT64(&doc, "seq", seq);
    bson_append_binary(&doc, "data", 4, BSON_SUBTYPE_BINARY, data, (uint32_t)n);
    bson_append_document_end(arr, &doc);
}

/* Reads chunks into arr (at most max_chunks when > 0: getMore's batchSize); *is_end when the stream is complete (the end
 * record is appended). Returns 0 or a negative error. */
static int fill_batch(struct cmd_ctx *ctx, struct snap_cursor *c, int64_t max_chunks, bson_t *arr, bool *is_end)
{
    uint8_t *buf = xmalloc((size_t)c->chunk_bytes);
    int64_t batch_bytes = 0;
    int k = 0;

    *is_end = false;
    for (;;) {
        int64_t n = snapshot_read(c->sn, buf, (size_t)c->chunk_bytes, SNAP_READ_TIMEOUT_MS, &ctx->err);
        if (n < 0) {
            free(buf);
            return (int)n;
        }
        if (n > 0) {
            append_chunk(arr, k++, c->next_seq++, buf, n);
            batch_bytes += n;
        }
        if (n < c->chunk_bytes) {
            /* A short read only happens at the end of the stream. */
            char key[16], hex[65];
            bson_t doc;
            snapshot_sha256_hex(c->sn, hex);
            snprintf(key, sizeof key, "%d", k);
            bson_append_document_begin(arr, key, -1, &doc);
            BSON_APPEND_BOOL(&doc, "end", true);
            BSON_APPEND_INT64(&doc, "bytes", (int64_t)snapshot_n_bytes(c->sn));
            BSON_APPEND_UTF8(&doc, "sha256", hex);
            bson_append_document_end(arr, &doc);
            *is_end = true;
            break;
        }
        if (batch_bytes + c->chunk_bytes > SNAP_BATCH_BYTES || (max_chunks > 0 && k >= max_chunks))
            break;
    }
    free(buf);
    return 0;
}

static const char *const get_more_fields[] = {"collection", "batchSize", "maxTimeMS", "term",
                                              "lastKnownCommittedOpTime", NULL};

int cmd_snapshot_get_more(struct cmd_ctx *ctx)
{
    struct snap_cursor *c;
    bson_iter_t it;
    bool is_end = false;
    int rc;

    if ((rc = args_check_known(ctx, get_more_fields)) < 0)
        return rc;
    if (!bson_iter_init(&it, &ctx->req->body) || !bson_iter_next(&it) || !BSON_ITER_HOLDS_INT64(&it))
        return err_set(&ctx->err, ERR_TYPE_MISMATCH, "BSON field 'getMore.getMore' is the wrong type, expected type "
                       "'long'");
    int64_t id = bson_iter_int64(&it);
    int64_t batch_size = 0;
    if ((rc = args_int64(ctx, "batchSize", &batch_size)) < 0)
        return rc;
    if (strcmp(ctx->req->db, "admin") != 0)
        return err_set(&ctx->err, ERR_UNAUTHORIZED,
                       "Requested getMore on namespace '%s.%s', but cursor belongs to a different namespace %s",
                       ctx->req->db, CMD_SNAPSHOT_COLL, SNAP_NS);
    if ((rc = checkout(ctx, id, &c)) < 0)
        return rc;
    bson_t arr = BSON_INITIALIZER;
    rc = fill_batch(ctx, c, batch_size, &arr, &is_end);
    if (rc < 0) {
        log_warn(LOGC_STORAGE, "snapshot cursor %lld failed: %s", (long long)id, ctx->err.msg);
        bson_destroy(&arr);
        checkin(c, true);
        return rc;
    }
    checkin(c, is_end);
    cursor_append_reply(&ctx->reply, is_end ? 0 : id, SNAP_NS, &arr, false);
    bson_destroy(&arr);
    return 0;
}

/* Kills a snapshot cursor; a busy one is only marked (its getMore frees it). */
static bool snap_kill(void *arg, int64_t id)
{
    struct snap_cursor *dead = NULL;
    bool is_found;

    (void)arg;
    pthread_mutex_lock(&reg_mu);
    struct snap_cursor **pp = find_slot(id);
    is_found = *pp != NULL;
    if (is_found && (*pp)->is_in_use) {
        (*pp)->is_killed = true;
    } else if (is_found) {
        dead = *pp;
        *pp = dead->next;
    }
    pthread_mutex_unlock(&reg_mu);
    if (dead)
        snap_free(dead);
    return is_found;
}

int cmd_snapshot_kill_cursors(struct cmd_ctx *ctx)
{
    bson_t ids;
    bson_iter_t it;

    if (!bson_iter_init_find(&it, &ctx->req->body, "cursors") || !BSON_ITER_HOLDS_ARRAY(&it))
        return err_set(&ctx->err, ERR_MISSING_FIELD,
                       "BSON field 'killCursors.cursors' is missing but a required field");
    const uint8_t *data;
    uint32_t len;
    bson_iter_array(&it, &len, &data);
    if (!bson_init_static(&ids, data, len))
        return err_set(&ctx->err, ERR_INVALID_BSON, "killCursors.cursors is not valid BSON");
    return cursor_kill_ids(&ctx->reply, &ids, snap_kill, NULL, &ctx->err);
}

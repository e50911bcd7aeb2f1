/* fetcher.c - the secondary's oplog fetcher (see fetcher.h and
 * fetcher_internal.h for the state machine).
 *
 * One tailable await-data cursor on the source's local.oplog.rs, opened with
 * {ts: {$gte: <our newest ts>}} so its first entry must be the one we hold
 * (digest 3.1, the pull model's consistency check). Batches go to the applier
 * one at a time; the next getMore is sent once the batch is durable, so the
 * position we report upstream is always on disk. Errors restart the cursor
 * after a short delay, from the newest entry actually in our oplog.
 *
 * An empty local oplog (a member just added to the set), or the "initial
 * sync pending" marker (resync, or a crash during an initial sync), runs a
 * snapshot-based initial sync instead (initial_sync.h): the member copies a
 * consistent snapshot of the source and restarts with it, then fetches from
 * the snapshot's optime here. Delayed members (secondaryDelaySecs) apply
 * without delay.
 *
 * Staying on the right branch (digest 3.2, 4): the source's $replData (term,
 * commit point, primary) is fed to the core only from replies of a cursor
 * that passed the consistency check, so a diverged member never learns a
 * commit point from a branch it does not share. The source kills our cursor
 * when its own oplog is rolled back (CappedPositionLost, cmd/oplog_read.c),
 * which restarts the find and so the check. Each reply's metadata is also
 * checked: a source that claims to be primary in a term older than ours is
 * deposed, and a secondary source with no source of its own and nothing new
 * for us while a primary exists elsewhere is not going anywhere; both are
 * abandoned (reported failed: the core picks another). When our term grows,
 * the next request is a new find, which re-checks that the source still
 * holds our newest entry. An empty first batch means the source holds
 * nothing at or after our newest timestamp: behind us, unless its newest
 * entry is in a later term (our newest entries were stamped by a clock that
 * ran ahead on a deposed primary), which is a divergence like any other.
 * Batches must continue our oplog in (ts, term) order, or the source is
 * dropped. */
#include "repl/fetcher_internal.h"

#include "cmd/cmd.h"
#include "core/failpoint.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/wallclock.h"
#include "net/peer.h"
#include "net/server.h"
#include "repl/messages.h"
#include "repl/node.h"
#include "storage/oplog.h"

#include <string.h>

#define FIND_TIMEOUT_MS 60000
#define GET_MORE_AWAIT_MS 1000
#define GET_MORE_TIMEOUT_MS (GET_MORE_AWAIT_MS + 10000)
#define REPORT_TIMEOUT_MS 10000
#define FETCH_BATCH_SIZE 5000
#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 2000

static void start_find(struct fetcher *f);
static void report_failed_source(struct fetcher *f, const char *host);

struct optime fetcher_entry_optime(const bson_t *entry)
{
    struct optime o = OPTIME_NULL;
    uint32_t secs, inc;
    bson_iter_t it;

    if (bson_iter_init_find(&it, entry, "ts") && BSON_ITER_HOLDS_TIMESTAMP(&it)) {
        bson_iter_timestamp(&it, &secs, &inc);
        o.ts = (uint64_t)secs << 32 | inc;
    }
    if (bson_iter_init_find(&it, entry, "t") && BSON_ITER_HOLDS_NUMBER(&it))
        o.term = bson_iter_as_int64(&it);
    return o;
}

struct fetch_req *fetcher_req_new(struct fetcher *f)
{
    struct fetch_req *r = xmalloc(sizeof *r);

    r->f = f;
    r->generation = f->generation;
    return r;
}

bool fetcher_req_is_stale(struct fetch_req *req)
{
    bool is_stale = req->f->is_destroyed || req->generation != req->f->generation;

    if (is_stale)
        free(req);
    return is_stale;
}

static void log_optime(char *buf, size_t cap, struct optime o)
{
    snprintf(buf, cap, "{ts: Timestamp(%u, %u), t: %lld}", optime_secs(o), optime_inc(o), (long long)o.term);
}

/* --- source changes --- */

static void stop_source(struct fetcher *f)
{
    struct peer *p = f->peer, *rp = f->report_peer;

    f->generation++;
    f->peer = f->report_peer = NULL;
    f->cursor_id = 0;
    f->source[0] = '\0';
    f->phase = FETCH_IDLE;
    if (f->isync) {
        initial_sync_cancel(f->isync);
        f->isync = NULL;
    }
    if (!f->is_timer_closed)
        uv_timer_stop(&f->timer);
    /* Callbacks of these peers run inside peer_destroy and see a new generation. */
    if (p)
        peer_destroy(p);
    if (rp)
        peer_destroy(rp);
}

void fetcher_set_source(struct fetcher *f, const char *host_port)
{
    const char *h = host_port ? host_port : "";
    struct err e;

    if (f->is_destroyed)
        return;
    if (f->phase == FETCH_APPLYING || f->phase == FETCH_ROLLING_BACK) {
        f->has_wanted_source = strcmp(h, f->source) != 0;
        snprintf(f->wanted_source, sizeof f->wanted_source, "%s", h);
        return;
    }
    if (strcmp(h, f->source) == 0 && f->phase != FETCH_IDLE)
        return;
    stop_source(f);
    if (!*h)
        return;
    err_init(&e);
    if (peer_create(f->srv->loop, h, &f->peer, &e) < 0 || peer_create(f->srv->loop, h, &f->report_peer, &e) < 0) {
        log_warn(LOGC_REPL, "cannot use sync source %s: %s", h, e.msg);
        if (f->peer)
            peer_destroy(f->peer);
        f->peer = NULL;
        report_failed_source(f, h);
        return;
    }
    snprintf(f->source, sizeof f->source, "%s", h);
    log_info(LOGC_REPL, "Changed sync source to %s", h);
    f->n_failures = 0;
    start_find(f);
}

/* Applies a source change requested while a batch or a rollback ran. */
static bool take_wanted_source(struct fetcher *f)
{
    char h[sizeof f->wanted_source];

    if (!f->has_wanted_source)
        return false;
    f->has_wanted_source = false;
    memcpy(h, f->wanted_source, sizeof h);
    f->phase = FETCH_IDLE;
    f->source[0] = '\0';
    fetcher_set_source(f, h);
    return true;
}

/* --- retries --- */

static void on_timer(uv_timer_t *t)
{
    struct fetcher *f = t->data;

    if (f->phase == FETCH_WAITING && !f->is_destroyed)
        start_find(f);
}

void fetcher_schedule_retry(struct fetcher *f, const char *why)
{
    int64_t delay = RETRY_MIN_MS;

    for (int i = 0; i < f->n_failures && delay < RETRY_MAX_MS; i++)
        delay *= 2;
    if (delay > RETRY_MAX_MS)
        delay = RETRY_MAX_MS;
    f->n_failures++;
    log_info(LOGC_REPL, "oplog fetcher on %s restarts in %lld ms: %s", f->source, (long long)delay, why);
    /* Replies still in flight belong to the abandoned cursor. */
    f->generation++;
    f->cursor_id = 0;
    f->phase = FETCH_WAITING;
    uv_timer_start(&f->timer, on_timer, (uint64_t)delay, 0);
}

/* The source failed us: retry later, and tell the core, which denies it as a
 * source for a while and picks another member if there is one (heartbeats
 * alone would keep a dead source for heartbeatTimeoutSecs). */
static void report_failed_source(struct fetcher *f, const char *host)
{
    const struct repl_state *st = repl_node_state(f->node);
    struct repl_event ev;

    for (int i = 0; i < st->config.n_members; i++) {
        if (strcmp(st->config.members[i].host, host) != 0)
            continue;
        memset(&ev, 0, sizeof ev);
        ev.type = REPL_EV_SYNC_SOURCE_FAILED;
        ev.peer = i;
        repl_node_feed(f->node, &ev);
        return;
    }
}

static void source_failed(struct fetcher *f, const char *why)
{
    char host[sizeof f->source];

    snprintf(host, sizeof host, "%s", f->source);
    fetcher_schedule_retry(f, why);
    /* May change the source at once (fetcher_set_source). */
    report_failed_source(f, host);
}

/* --- metadata --- */

/* A reply's $replData; term -1 when absent. */
struct source_meta {
    int64_t term;
    struct optime commit_point;
    int primary_index;
    int sync_source_index;
};

static void parse_meta(const bson_t *reply, struct source_meta *m)
{
    bson_iter_t it, md;

    m->term = -1;
    m->commit_point = OPTIME_NULL;
    m->primary_index = -1;
    m->sync_source_index = -1;
    if (!bson_iter_init_find(&it, reply, "$replData") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
        !bson_iter_recurse(&it, &md))
        return;
    while (bson_iter_next(&md)) {
        const char *k = bson_iter_key(&md);
        if (strcmp(k, "term") == 0 && BSON_ITER_HOLDS_NUMBER(&md))
            m->term = bson_iter_as_int64(&md);
        else if (strcmp(k, "lastOpCommitted") == 0)
            optime_from_iter(&md, &m->commit_point);
        else if (strcmp(k, "primaryIndex") == 0 && BSON_ITER_HOLDS_NUMBER(&md))
            m->primary_index = (int)bson_iter_as_int64(&md);
        else if (strcmp(k, "syncSourceIndex") == 0 && BSON_ITER_HOLDS_NUMBER(&md))
            m->sync_source_index = (int)bson_iter_as_int64(&md);
    }
}

/* Only for replies of a cursor that passed the consistency check: a member
 * on another branch would otherwise take the source's commit point for its
 * own diverged entries (the core caps it at our newest entry). */
static void feed_meta(struct fetcher *f, const struct source_meta *m)
{
    struct repl_event ev;

    if (m->term < 0)
        return;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_SYNC_SOURCE_META;
    ev.peer = -1;
    ev.meta.term = m->term;
    ev.meta.commit_point = m->commit_point;
    ev.meta.primary_index = m->primary_index;
    repl_node_feed(f->node, &ev);
}

static int source_index(const struct fetcher *f)
{
    const struct repl_state *st = repl_node_state(f->node);

    for (int i = 0; i < st->config.n_members; i++)
        if (strcmp(st->config.members[i].host, f->source) == 0)
            return i;
    return -1;
}

/* Why the source should be abandoned, or NULL (MongoDB's
 * shouldChangeSyncSource on the metadata of every batch). is_idle: the reply
 * brought nothing newer than our newest entry. */
static const char *source_is_stale(const struct fetcher *f, const struct source_meta *m, bool is_idle, char *buf,
                                   size_t cap)
{
    const struct repl_state *st = repl_node_state(f->node);
    int src = source_index(f);

    /* A leader-elect catching up fetches from whoever is ahead, deposed or not. */
    if (m->term < 0 || src < 0 || st->member_state == REPL_PRIMARY)
        return NULL;
    if (m->primary_index == src && m->term < st->term) {
        snprintf(buf, cap, "sync source %.100s is a primary of term %lld, but our term is %lld: it was deposed",
                 f->source, (long long)m->term, (long long)st->term);
        return buf;
    }
    if (is_idle && m->primary_index != src && m->sync_source_index < 0 && st->primary_index >= 0 &&
        st->primary_index != src && st->primary_index != st->self) {
        snprintf(buf, cap, "sync source %.80s is not primary, has no sync source and nothing newer than our last "
                 "entry, while %.60s is primary", f->source, st->config.members[st->primary_index].host);
        return buf;
    }
    return NULL;
}

/* ok: 1 replies only; anything else is an error message in buf. */
static bool reply_is_ok(const bson_t *reply, const struct err *e, char *buf, size_t cap)
{
    bson_iter_t it;

    if (e) {
        snprintf(buf, cap, "%.200s", e->msg);
        return false;
    }
    if (bson_iter_init_find(&it, reply, "ok") && BSON_ITER_HOLDS_NUMBER(&it) && bson_iter_as_double(&it) == 1.0)
        return true;
    if (bson_iter_init_find(&it, reply, "errmsg") && BSON_ITER_HOLDS_UTF8(&it))
        snprintf(buf, cap, "%.200s", bson_iter_utf8(&it, NULL));
    else
        snprintf(buf, cap, "command failed");
    return false;
}

/* The cursor id and batch array of a find/getMore reply. */
static bool parse_cursor(const bson_t *reply, const char *batch_key, int64_t *id, bson_t *batch)
{
    bson_iter_t it, cur;
    const uint8_t *data;
    uint32_t len;
    bool has_batch = false, has_id = false;

    if (!bson_iter_init_find(&it, reply, "cursor") || !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &cur))
        return false;
    while (bson_iter_next(&cur)) {
        if (strcmp(bson_iter_key(&cur), "id") == 0 && BSON_ITER_HOLDS_INT64(&cur)) {
            *id = bson_iter_int64(&cur);
            has_id = true;
        } else if (strcmp(bson_iter_key(&cur), batch_key) == 0 && BSON_ITER_HOLDS_ARRAY(&cur)) {
            bson_iter_array(&cur, &len, &data);
            has_batch = bson_init_static(batch, data, len);
        }
    }
    return has_batch && has_id;
}

/* --- batches --- */

static void send_get_more(struct fetcher *f);

/* Hands the batch's documents (minus the first skip) to the applier, or asks
 * for more when there is nothing to apply. */
static void apply_batch(struct fetcher *f, const bson_t *batch, int skip)
{
    bson_t **docs = NULL;
    int n = 0, cap = 0, i = 0;
    bson_iter_t it;
    const uint8_t *data;
    uint32_t len;
    bson_t doc;
    struct optime prev = f->last, ot;
    char why[256], ours[80], theirs[80];

    if (failpoint_enter(FP_STOP_REPL_PRODUCER, NULL)) {
        fetcher_schedule_retry(f, "the stopReplProducer fail point is on");
        return;
    }
    bson_iter_init(&it, batch);
    while (bson_iter_next(&it)) {
        if (i++ < skip || !BSON_ITER_HOLDS_DOCUMENT(&it))
            continue;
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&doc, data, len))
            continue;
        ot = fetcher_entry_optime(&doc);
        if (ot.ts <= prev.ts || ot.term < prev.term) {
            log_optime(ours, sizeof ours, prev);
            log_optime(theirs, sizeof theirs, ot);
            snprintf(why, sizeof why, "sync source returned %s after %s: entries out of order", theirs, ours);
            for (int k = 0; k < n; k++)
                bson_destroy(docs[k]);
            free(docs);
            source_failed(f, why);
            return;
        }
        prev = ot;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            docs = xrealloc(docs, (size_t)cap * sizeof *docs);
        }
        docs[n++] = bson_copy(&doc);
    }
    if (n == 0) {
        free(docs);
        send_get_more(f);
        return;
    }
    f->phase = FETCH_APPLYING;
    f->n_jobs++;
    applier_submit(f, docs, n);
}

void fetcher_on_applied(struct fetcher *f, int rc, const char *errmsg, struct optime last, int64_t last_wall_ms)
{
    struct repl_event ev;

    f->n_jobs--;
    if (f->is_destroyed) {
        fetcher_maybe_free(f);
        return;
    }
    if (optime_compare(last, f->last) != 0 && !optime_is_null(last)) {
        f->last = last;
        f->last_wall_ms = last_wall_ms;
        memset(&ev, 0, sizeof ev);
        ev.type = REPL_EV_OPTIMES;
        ev.peer = -1;
        ev.optimes.applied = ev.optimes.durable = last;
        ev.optimes.applied_wall_ms = ev.optimes.durable_wall_ms = last_wall_ms;
        repl_node_feed(f->node, &ev);
        /* Await-data readers of our own oplog (chained secondaries) may go on. */
        cmd_dispatch_wake_parked(f->srv);
        if (f->is_destroyed)
            return;
    }
    if (take_wanted_source(f))
        return;
    if (f->phase != FETCH_APPLYING)
        return;
    if (rc < 0) {
        log_error(LOGC_REPL, "applying oplog entries from %s failed: %s", f->source, errmsg);
        fetcher_schedule_retry(f, "apply failed");
        return;
    }
    f->n_failures = 0;
    fetcher_report_position(f);
    send_get_more(f);
}

static void on_get_more_reply(void *arg, const bson_t *reply, const struct err *e)
{
    struct fetch_req *req = arg;
    struct fetcher *f = req->f;
    struct source_meta meta;
    uint64_t generation;
    char msg[256];
    bson_t batch;

    if (fetcher_req_is_stale(req))
        return;
    free(req);
    if (!reply_is_ok(reply, e, msg, sizeof msg)) {
        source_failed(f, msg);
        return;
    }
    if (f->phase != FETCH_GETTING_MORE)
        return;
    if (!parse_cursor(reply, "nextBatch", &f->cursor_id, &batch)) {
        source_failed(f, "malformed getMore reply");
        return;
    }
    parse_meta(reply, &meta);
    if (source_is_stale(f, &meta, bson_count_keys(&batch) == 0, msg, sizeof msg)) {
        source_failed(f, msg);
        return;
    }
    generation = f->generation;
    feed_meta(f, &meta);
    /* The metadata may have changed or stopped the source. */
    if (f->is_destroyed || f->generation != generation || f->phase != FETCH_GETTING_MORE)
        return;
    apply_batch(f, &batch, 0);
}

static void send_get_more(struct fetcher *f)
{
    struct err e;
    bson_t cmd;

    if (f->cursor_id == 0) {
        start_find(f);
        return;
    }
    if (repl_node_state(f->node)->term > f->cursor_term) {
        /* A new term may mean a new branch: check again that the source holds our newest entry. */
        log_info(LOGC_REPL, "oplog fetcher: term %lld began since the cursor on %s was opened; re-checking the "
                 "source's oplog", (long long)repl_node_state(f->node)->term, f->source);
        f->generation++;
        f->cursor_id = 0;
        start_find(f);
        return;
    }
    bson_init(&cmd);
    bson_append_int64(&cmd, "getMore", -1, f->cursor_id);
    BSON_APPEND_UTF8(&cmd, "collection", "oplog.rs");
    BSON_APPEND_INT32(&cmd, "batchSize", FETCH_BATCH_SIZE);
    BSON_APPEND_INT32(&cmd, "maxTimeMS", GET_MORE_AWAIT_MS);
    BSON_APPEND_UTF8(&cmd, "$db", "local");
    err_init(&e);
    f->phase = FETCH_GETTING_MORE;
    if (peer_send(f->peer, &cmd, GET_MORE_TIMEOUT_MS, on_get_more_reply, fetcher_req_new(f), &e) < 0)
        source_failed(f, e.msg);
    bson_destroy(&cmd);
}

/* --- the first batch --- */

static void on_oldest_reply(void *arg, const bson_t *reply, const struct err *e)
{
    struct fetch_req *req = arg;
    struct fetcher *f = req->f;
    struct repl_event ev;
    char msg[256], ours[80], theirs[80];
    bson_t batch;
    bson_iter_t it;
    struct optime oldest = OPTIME_NULL;
    int64_t id = 0;

    if (fetcher_req_is_stale(req))
        return;
    free(req);
    if (!reply_is_ok(reply, e, msg, sizeof msg) || !parse_cursor(reply, "firstBatch", &id, &batch)) {
        source_failed(f, "cannot read the source's oldest oplog entry");
        return;
    }
    if (bson_iter_init(&it, &batch) && bson_iter_next(&it) && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        const uint8_t *data;
        uint32_t len;
        bson_t doc;
        bson_iter_document(&it, &len, &data);
        if (bson_init_static(&doc, data, len))
            oldest = fetcher_entry_optime(&doc);
    }
    if (!optime_is_null(oldest) && oldest.ts > f->last.ts) {
        log_optime(ours, sizeof ours, f->last);
        log_optime(theirs, sizeof theirs, oldest);
        log_error(LOGC_REPL, "too stale to catch up: our last optime %s is older than the oldest entry %s in the "
                  "oplog of %s (tooStale: true; this member needs a resync)",
                  ours, theirs, f->source);
        f->phase = FETCH_STALE;
        memset(&ev, 0, sizeof ev);
        ev.type = REPL_EV_SET_STATE;
        ev.peer = -1;
        ev.new_state = REPL_RECOVERING;
        repl_node_feed(f->node, &ev);
        return;
    }
    f->phase = FETCH_ROLLING_BACK;
    rollback_start(f);
}

/* Asks the source for its oldest (direction 1) or newest (-1) oplog entry. */
static void find_oplog_edge(struct fetcher *f, int direction, peer_reply_cb on_reply)
{
    struct err e;
    bson_t cmd, sort;

    bson_init(&cmd);
    BSON_APPEND_UTF8(&cmd, "find", "oplog.rs");
    bson_append_document_begin(&cmd, "sort", -1, &sort);
    BSON_APPEND_INT32(&sort, "$natural", direction);
    bson_append_document_end(&cmd, &sort);
    BSON_APPEND_INT32(&cmd, "limit", 1);
    BSON_APPEND_UTF8(&cmd, "$db", "local");
    err_init(&e);
    if (peer_send(f->peer, &cmd, FIND_TIMEOUT_MS, on_reply, fetcher_req_new(f), &e) < 0)
        source_failed(f, e.msg);
    bson_destroy(&cmd);
}

/* Our newest entry is not the source's first returned one: stale or diverged. */
static void check_stale_or_diverged(struct fetcher *f)
{
    find_oplog_edge(f, 1, on_oldest_reply);
}

/* The first document of a cursor reply's firstBatch as an optime (null when
 * the batch is empty or malformed). */
static struct optime first_batch_optime(const bson_t *reply)
{
    struct optime o = OPTIME_NULL;
    int64_t id = 0;
    bson_iter_t it;
    bson_t batch;

    if (!parse_cursor(reply, "firstBatch", &id, &batch))
        return o;
    if (bson_iter_init(&it, &batch) && bson_iter_next(&it) && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        const uint8_t *data;
        uint32_t len;
        bson_t doc;
        bson_iter_document(&it, &len, &data);
        if (bson_init_static(&doc, data, len))
            o = fetcher_entry_optime(&doc);
    }
    return o;
}

static void on_newest_reply(void *arg, const bson_t *reply, const struct err *e)
{
    struct fetch_req *req = arg;
    struct fetcher *f = req->f;
    char msg[256];

    if (fetcher_req_is_stale(req))
        return;
    free(req);
    if (!reply_is_ok(reply, e, msg, sizeof msg)) {
        source_failed(f, "cannot read the source's newest oplog entry");
        return;
    }
    if (f->phase != FETCH_FINDING)
        return;
    struct optime newest = first_batch_optime(reply);
    /* The source holds nothing at or after our newest timestamp, yet its
     * newest entry is in a later term: our newest entries (of an older term,
     * stamped by a clock that ran ahead) are on another branch. */
    if (!optime_is_null(newest) && optime_compare(newest, f->last) > 0) {
        char ours[80], theirs[80];
        log_optime(ours, sizeof ours, f->last);
        log_optime(theirs, sizeof theirs, newest);
        log_warn(LOGC_REPL, "our last optime %s is not in the oplog of %s, whose newest entry %s is in a later term "
                 "with an earlier timestamp", ours, f->source, theirs);
        check_stale_or_diverged(f);
        return;
    }
    source_failed(f, "sync source is behind us: its oplog has nothing from our last entry on");
}

/* An empty first batch: the source is behind us, or ahead of us in term
 * with smaller timestamps than our newest (a deposed primary whose clock ran
 * ahead). Its newest entry tells which. */
static void check_behind_or_diverged(struct fetcher *f)
{
    find_oplog_edge(f, -1, on_newest_reply);
}

static void on_find_reply(void *arg, const bson_t *reply, const struct err *e)
{
    struct fetch_req *req = arg;
    struct fetcher *f = req->f;
    char msg[256], ours[80], theirs[80];
    struct optime first = OPTIME_NULL;
    struct source_meta meta;
    uint64_t generation;
    bson_iter_t it;
    bson_t batch;

    if (fetcher_req_is_stale(req))
        return;
    free(req);
    if (!reply_is_ok(reply, e, msg, sizeof msg)) {
        source_failed(f, msg);
        return;
    }
    if (f->phase != FETCH_FINDING)
        return;
    if (!parse_cursor(reply, "firstBatch", &f->cursor_id, &batch)) {
        source_failed(f, "malformed find reply");
        return;
    }
    if (bson_iter_init(&it, &batch) && bson_iter_next(&it) && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        const uint8_t *data;
        uint32_t len;
        bson_t doc;
        bson_iter_document(&it, &len, &data);
        if (bson_init_static(&doc, data, len))
            first = fetcher_entry_optime(&doc);
    }
    if (optime_is_null(first)) {
        f->cursor_id = 0;
        check_behind_or_diverged(f);
        return;
    }
    if (optime_compare(first, f->last) != 0) {
        log_optime(ours, sizeof ours, f->last);
        log_optime(theirs, sizeof theirs, first);
        log_warn(LOGC_REPL, "our last optime %s is not in the oplog of %s (first entry there: %s)", ours, f->source,
                 theirs);
        f->cursor_id = 0;
        check_stale_or_diverged(f);
        return;
    }
    /* Consistent: from here on the source's metadata describes our branch. */
    parse_meta(reply, &meta);
    if (source_is_stale(f, &meta, bson_count_keys(&batch) <= 1, msg, sizeof msg)) {
        source_failed(f, msg);
        return;
    }
    generation = f->generation;
    feed_meta(f, &meta);
    if (f->is_destroyed || f->generation != generation || f->phase != FETCH_FINDING)
        return;
    f->cursor_term = repl_node_state(f->node)->term;
    apply_batch(f, &batch, 1);
}

static void read_last(struct fetcher *f)
{
    struct store_txn *t = NULL;
    bson_t entry;
    bson_iter_t it;
    struct err e;

    err_init(&e);
    f->last = OPTIME_NULL;
    f->last_wall_ms = 0;
    if (store_txn_begin_read(f->srv->store, &t, &e) < 0)
        return;
    if (oplog_last(t, &f->last, &entry, &e) == 1 && bson_iter_init_find(&it, &entry, "wall") &&
        BSON_ITER_HOLDS_DATE_TIME(&it))
        f->last_wall_ms = bson_iter_date_time(&it);
    store_txn_end(t);
}

/* --- initial sync (initial_sync.h) --- */

static void on_initial_sync_done(void *arg, int rc, const struct err *e)
{
    struct fetcher *f = arg;

    f->isync = NULL;
    if (rc == 0)
        return; /* the server shuts down and restarts with the copy */
    f->isync_stats.n_failed++;
    snprintf(f->isync_stats.last_error, sizeof f->isync_stats.last_error, "%.199s", e ? e->msg : "failed");
    f->phase = FETCH_IDLE;
    source_failed(f, e ? e->msg : "initial sync failed");
}

/* The member holds no usable data: copy the source's snapshot. */
static void start_initial_sync(struct fetcher *f)
{
    const struct repl_state *st = repl_node_state(f->node);
    uint64_t generation = f->generation;
    struct repl_event ev;
    struct err e;

    if (st->member_state != REPL_STARTUP2) {
        /* Resync of a member with (stale) data: it stops counting as consistent. */
        memset(&ev, 0, sizeof ev);
        ev.type = REPL_EV_SET_STATE;
        ev.peer = -1;
        ev.new_state = REPL_STARTUP2;
        repl_node_feed(f->node, &ev);
        /* The state change may have changed or stopped the source. */
        if (f->is_destroyed || f->generation != generation || !f->peer)
            return;
    }
    err_init(&e);
    f->phase = FETCH_INITIAL_SYNC;
    f->cursor_id = 0;
    if (f->isync_stats.first_start_ms == 0)
        f->isync_stats.first_start_ms = wallclock_now_ms();
    if (initial_sync_start(f->srv, f->source, on_initial_sync_done, f, &f->isync, &e) < 0) {
        f->isync = NULL;
        f->isync_stats.n_failed++;
        snprintf(f->isync_stats.last_error, sizeof f->isync_stats.last_error, "%.199s", e.msg);
        f->phase = FETCH_IDLE;
        source_failed(f, e.msg);
    }
    err_clear(&e);
}

int fetcher_resync(struct fetcher *f, struct err *e)
{
    int rc;

    if (f->phase == FETCH_APPLYING || f->phase == FETCH_ROLLING_BACK)
        return err_set(e, ERR_OPERATION_FAILED, "a batch or a rollback is in progress: retry resync in a moment");
    if (f->phase == FETCH_INITIAL_SYNC)
        return 0;
    if ((rc = initial_sync_mark_pending(f->srv->cfg.dbpath, e)) < 0)
        return rc;
    log_info(LOGC_REPL, "resync requested: this member copies a snapshot of %s",
             f->source[0] ? f->source : "its next sync source");
    if (!f->peer)
        return 0; /* the next source starts it (start_find sees the marker) */
    f->generation++; /* drop replies of the current cursor */
    f->cursor_id = 0;
    if (!f->is_timer_closed)
        uv_timer_stop(&f->timer);
    start_find(f);
    return 0;
}

void fetcher_append_initial_sync_status(const struct fetcher *f, bson_t *reply)
{
    if (f == NULL || repl_node_state(f->node)->member_state != REPL_STARTUP2)
        return;
    initial_sync_append_status(f->isync, &f->isync_stats, reply);
}

static void start_find(struct fetcher *f)
{
    struct err e;
    bson_t cmd, filter, cond, rp;

    if (!f->peer) {
        f->phase = FETCH_IDLE;
        return;
    }
    if (failpoint_enter(FP_STOP_REPL_PRODUCER, NULL)) {
        fetcher_schedule_retry(f, "the stopReplProducer fail point is on");
        return;
    }
    read_last(f);
    if (optime_is_null(f->last) || initial_sync_is_pending(f->srv->cfg.dbpath)) {
        start_initial_sync(f);
        return;
    }
    bson_init(&cmd);
    BSON_APPEND_UTF8(&cmd, "find", "oplog.rs");
    bson_append_document_begin(&cmd, "filter", -1, &filter);
    bson_append_document_begin(&filter, "ts", -1, &cond);
    bson_append_timestamp(&cond, "$gte", -1, optime_secs(f->last), optime_inc(f->last));
    bson_append_document_end(&filter, &cond);
    bson_append_document_end(&cmd, &filter);
    BSON_APPEND_BOOL(&cmd, "tailable", true);
    BSON_APPEND_BOOL(&cmd, "awaitData", true);
    BSON_APPEND_INT32(&cmd, "batchSize", FETCH_BATCH_SIZE);
    BSON_APPEND_UTF8(&cmd, "$db", "local");
    bson_append_document_begin(&cmd, "$readPreference", -1, &rp);
    BSON_APPEND_UTF8(&rp, "mode", "secondaryPreferred");
    bson_append_document_end(&cmd, &rp);
    err_init(&e);
    f->phase = FETCH_FINDING;
    f->cursor_id = 0;
    if (peer_send(f->peer, &cmd, FIND_TIMEOUT_MS, on_find_reply, fetcher_req_new(f), &e) < 0)
        source_failed(f, e.msg);
    bson_destroy(&cmd);
}

void fetcher_on_rollback_done(struct fetcher *f, int rc)
{
    if (f->is_destroyed) {
        f->phase = FETCH_IDLE;
        fetcher_maybe_free(f);
        return;
    }
    f->phase = rc < 0 ? FETCH_STALE : FETCH_IDLE;
    if (take_wanted_source(f))
        return;
    if (rc == 0 && f->peer) {
        f->n_failures = 0;
        start_find(f);
    }
}

/* --- position reports --- */

static void on_report_reply(void *arg, const bson_t *reply, const struct err *e)
{
    struct fetch_req *req = arg;
    char msg[256];

    if (fetcher_req_is_stale(req))
        return;
    if (!reply_is_ok(reply, e, msg, sizeof msg))
        log_debug(LOGC_REPL, "replSetUpdatePosition to %s failed: %s", req->f->source, msg);
    free(req);
}

void fetcher_report_position(struct fetcher *f)
{
    struct repl_position_entry entries[REPL_MAX_MEMBERS];
    struct err e;
    bson_t cmd;
    int n;

    if (f->is_destroyed || !f->report_peer)
        return;
    /* Reports only carry the newest positions: one waiting is enough. */
    if (peer_n_pending(f->report_peer) > 1)
        return;
    n = repl_core_position_entries(repl_node_state(f->node), entries, REPL_MAX_MEMBERS);
    if (n <= 0)
        return;
    bson_init(&cmd);
    repl_update_position_to_bson(entries, n, &cmd);
    /* The sender's term: a primary that hears of a newer one steps down
     * before counting these positions (digest 3.4, 3.5). MongoDB sends it in
     * the request's $replData; Tally's field is the top-level "term". */
    BSON_APPEND_INT64(&cmd, "term", repl_node_state(f->node)->term);
    BSON_APPEND_UTF8(&cmd, "$db", "admin");
    err_init(&e);
    struct fetch_req *req = fetcher_req_new(f);
    if (peer_send(f->report_peer, &cmd, REPORT_TIMEOUT_MS, on_report_reply, req, &e) < 0)
        free(req);
    bson_destroy(&cmd);
}

/* --- life --- */

int fetcher_create(struct repl_node *node, struct fetcher **out, struct err *e)
{
    struct fetcher *f = xcalloc(1, sizeof *f);

    (void)e;
    f->node = node;
    f->srv = repl_node_server(node);
    f->phase = FETCH_IDLE;
    f->last = OPTIME_NULL;
    uv_timer_init(f->srv->loop, &f->timer);
    f->timer.data = f;
    *out = f;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct fetcher *f = h->data;

    f->is_timer_closed = true;
    fetcher_maybe_free(f);
}

void fetcher_maybe_free(struct fetcher *f)
{
    if (f->is_destroyed && f->is_timer_closed && f->n_jobs == 0 && f->phase != FETCH_ROLLING_BACK)
        free(f);
}

void fetcher_destroy(struct fetcher *f)
{
    if (!f)
        return;
    f->has_wanted_source = false;
    if (f->isync) {
        initial_sync_cancel(f->isync);
        f->isync = NULL;
    }
    if (f->phase != FETCH_ROLLING_BACK && f->phase != FETCH_APPLYING)
        stop_source(f);
    else {
        f->generation++;
        if (f->peer)
            peer_destroy(f->peer);
        if (f->report_peer)
            peer_destroy(f->report_peer);
        f->peer = f->report_peer = NULL;
    }
    f->is_destroyed = true;
    uv_timer_stop(&f->timer);
    uv_close((uv_handle_t *)&f->timer, on_timer_closed);
}

/* `tally backup full|diff|incr`: one backup of a running replica set.
 *
 * Source: by default a healthy secondary, preferring a hidden one, then a
 * delayed one, then the least lagged; --from-primary or --host override.
 * Reads never block the set's writes: a full backup streams the server's
 * consistent snapshot (tallySnapshot: one LMDB read transaction on the
 * member), a slice reads local.oplog.rs with a find.
 *
 * Full: the snapshot's bytes go compressed into data.mdb.zst and, raw, into
 * a scratch data.mdb on which a temporary standalone tallyd computes the
 * per-collection counts and hashes the manifest records; the scratch file
 * is deleted. The optime is the snapshot's (its newest oplog entry).
 * Incremental: the oplog after the newest backup of any kind in DEST;
 * differential: after the newest full. A slice starts by reading its start
 * entry back ({ts: {$gte: start}}); when the source no longer has it, the
 * oplog was trimmed (or the history diverged) and the slice fails, saying a
 * full backup is needed. A slice ends at the source's commit point, so it
 * never holds entries a failover could roll back.
 *
 * Everything is written into DEST/.partial-<id>/, fsync'd, the manifest
 * last, and only then renamed to DEST/<id>: a crash, a full disk or a dead
 * source leaves a hidden partial folder (removed on failure when possible)
 * that no restore will ever read. Every attempt is reported to the catalog. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "backup_int.h"
#include "catalog.h"
#include "tally.h"

#define DEFAULT_CHUNK_BYTES (4 << 20)
#define SLICE_BATCH 2000

struct run {
    const struct backup_options *o;
    struct bk_manifest m;
    char dest[PATH_MAX];
    char partial[PATH_MAX + 128];
    char source[128];
    mongoc_client_t *src;
    int timeout_ms;
    int64_t started_ms;
    bool is_progress;
};

static int fail(struct backup_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct backup_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static bool get_doc(const bson_t *doc, const char *key, bson_t *out)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) || !(BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)))
        return false;
    uint32_t len;
    const uint8_t *data;
    if (BSON_ITER_HOLDS_DOCUMENT(&it))
        bson_iter_document(&it, &len, &data);
    else
        bson_iter_array(&it, &len, &data);
    return bson_init_static(out, data, len);
}

static bool get_optime_doc(const bson_t *doc, const char *key, struct bk_optime *o)
{
    bson_t sub;
    bson_iter_t it;
    if (!get_doc(doc, key, &sub) || !bson_iter_init_find(&it, &sub, "ts") || !BSON_ITER_HOLDS_TIMESTAMP(&it))
        return false;
    uint32_t secs, inc;
    bson_iter_timestamp(&it, &secs, &inc);
    o->ts = (uint64_t)secs << 32 | inc;
    if (!bson_iter_init_find(&it, &sub, "t") || !BSON_ITER_HOLDS_NUMBER(&it))
        return false;
    o->term = bson_iter_as_int64(&it);
    return true;
}

static int admin_cmd(mongoc_client_t *c, const char *host, const bson_t *cmd, bson_t *reply, const char *what,
                     struct backup_error *err)
{
    char ebuf[768];
    int rc = client_run_admin(c, cmd, reply, ebuf, sizeof ebuf);
    if (rc == 0)
        return 0;
    if (rc < 0)
        return fail(err,
                    "lost the connection to %s during %s: %s; nothing was kept as a backup: run it again (it "
                    "picks another healthy member)",
                    host, what, ebuf);
    return fail(err, "%s on %s failed: %s", what, host, ebuf);
}

/* --- choosing the source --- */

struct candidate {
    char host[128];
    int state;
    bool is_healthy, is_hidden, is_delayed, is_self;
    int64_t lag_secs;
};

static int choose_source(struct run *r, struct backup_error *err)
{
    const struct backup_options *o = r->o;
    if (o->host != NULL) {
        snprintf(r->source, sizeof r->source, "%s", o->host);
        return 0;
    }
    bson_error_t berr;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(o->uri, &berr);
    if (uri == NULL)
        return fail(err, "bad --uri %s: %s", o->uri, berr.message);
    bson_t status = BSON_INITIALIZER, config = BSON_INITIALIZER;
    bool found = false;
    char last_err[768] = "no member answered";
    for (const mongoc_host_list_t *h = mongoc_uri_get_hosts(uri); h != NULL && !found; h = h->next) {
        char ebuf[768];
        mongoc_client_t *c = client_open_direct(h->host_and_port, r->timeout_ms, ebuf, sizeof ebuf);
        if (c == NULL)
            continue;
        bson_t cmd = BSON_INITIALIZER, cmd2 = BSON_INITIALIZER;
        BSON_APPEND_INT32(&cmd, "replSetGetStatus", 1);
        BSON_APPEND_INT32(&cmd2, "replSetGetConfig", 1);
        bson_reinit(&status);
        bson_reinit(&config);
        if (client_run_admin(c, &cmd, &status, ebuf, sizeof ebuf) == 0 &&
            client_run_admin(c, &cmd2, &config, ebuf, sizeof ebuf) == 0)
            found = true;
        else
            snprintf(last_err, sizeof last_err, "%s: %s", h->host_and_port, ebuf);
        bson_destroy(&cmd);
        bson_destroy(&cmd2);
        mongoc_client_destroy(c);
    }
    mongoc_uri_destroy(uri);
    if (!found) {
        bson_destroy(&status);
        bson_destroy(&config);
        return fail(err, "cannot reach the replica set of %s (%s); check --uri and that the set is running", o->uri,
                    last_err);
    }
    struct candidate cands[16];
    int n = 0;
    bson_t members, cfg, cfg_members;
    bson_iter_t it;
    if (get_doc(&status, "members", &members) && bson_iter_init(&it, &members)) {
        while (bson_iter_next(&it) && n < 16) {
            bson_t mdoc;
            if (!BSON_ITER_HOLDS_DOCUMENT(&it))
                continue;
            uint32_t len;
            const uint8_t *data;
            bson_iter_document(&it, &len, &data);
            bson_init_static(&mdoc, data, len);
            struct candidate *c = &cands[n];
            memset(c, 0, sizeof *c);
            bson_iter_t f;
            if (!bson_iter_init_find(&f, &mdoc, "name") || !BSON_ITER_HOLDS_UTF8(&f))
                continue;
            snprintf(c->host, sizeof c->host, "%s", bson_iter_utf8(&f, NULL));
            c->state = bson_iter_init_find(&f, &mdoc, "state") && BSON_ITER_HOLDS_NUMBER(&f)
                           ? (int)bson_iter_as_int64(&f)
                           : -1;
            c->is_healthy = !bson_iter_init_find(&f, &mdoc, "health") || bson_iter_as_int64(&f) == 1;
            n++;
        }
    }
    bson_t cfgdoc;
    if (get_doc(&config, "config", &cfgdoc) && get_doc(&cfgdoc, "members", &cfg_members) &&
        bson_iter_init(&it, &cfg_members)) {
        while (bson_iter_next(&it)) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&it))
                continue;
            uint32_t len;
            const uint8_t *data;
            bson_iter_document(&it, &len, &data);
            bson_init_static(&cfg, data, len);
            bson_iter_t f;
            if (!bson_iter_init_find(&f, &cfg, "host") || !BSON_ITER_HOLDS_UTF8(&f))
                continue;
            const char *host = bson_iter_utf8(&f, NULL);
            for (int i = 0; i < n; i++) {
                if (strcmp(cands[i].host, host) != 0)
                    continue;
                cands[i].is_hidden = bson_iter_init_find(&f, &cfg, "hidden") && bson_iter_as_bool(&f);
                cands[i].is_delayed = bson_iter_init_find(&f, &cfg, "secondaryDelaySecs") &&
                                      BSON_ITER_HOLDS_NUMBER(&f) && bson_iter_as_int64(&f) > 0;
            }
        }
    }
    bson_destroy(&status);
    bson_destroy(&config);
    /* Score: primary only when asked (or nothing else); hidden, then delayed,
     * then any secondary. */
    int scores[16];
    for (int i = 0; i < n; i++) {
        struct candidate *c = &cands[i];
        if (!c->is_healthy || (c->state != 1 && c->state != 2))
            scores[i] = -1;
        else if (o->from_primary)
            scores[i] = c->state == 1 ? 10 : -1;
        else
            scores[i] = c->state == 1 ? 1 : c->is_hidden ? 5 : c->is_delayed ? 4 : 3;
    }
    /* Best first; a member the set still reports healthy may have just died
     * (health lags by a heartbeat), so each is pinged before it is chosen. */
    int best = -1;
    for (;;) {
        int pick = -1;
        for (int i = 0; i < n; i++)
            if (scores[i] >= 0 && (pick < 0 || scores[i] > scores[pick]))
                pick = i;
        if (pick < 0)
            break;
        scores[pick] = -1;
        char ebuf[512];
        mongoc_client_t *c = client_open_direct(cands[pick].host, r->timeout_ms < 5000 ? r->timeout_ms : 5000, ebuf,
                                                sizeof ebuf);
        bson_t ping = BSON_INITIALIZER, reply;
        BSON_APPEND_INT32(&ping, "ping", 1);
        bool is_alive = c != NULL && client_run_admin(c, &ping, &reply, ebuf, sizeof ebuf) == 0;
        if (c != NULL) {
            bson_destroy(&reply);
            mongoc_client_destroy(c);
        }
        bson_destroy(&ping);
        if (is_alive) {
            best = pick;
            break;
        }
    }
    if (best < 0)
        return fail(err, "no healthy %s to back up from in the set of %s; wait until the set is healthy",
                    o->from_primary ? "primary" : "member", o->uri);
    snprintf(r->source, sizeof r->source, "%s", cands[best].host);
    return 0;
}

/* --- full --- */

static int64_t bson_i64(const bson_t *d, const char *key, int64_t dflt)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, d, key) && BSON_ITER_HOLDS_NUMBER(&it) ? bson_iter_as_int64(&it) : dflt;
}

static void progress(struct run *r, const char *what, int64_t bytes)
{
    if (!r->is_progress)
        return;
    double secs = (double)(backup_now_ms() - r->started_ms) / 1000.0;
    fprintf(stderr, "\r%s: %.1f MB in %.1f s   ", what, (double)bytes / 1e6, secs);
}

struct snap_state {
    struct bfile_writer out;
    FILE *raw;
    char raw_path[PATH_MAX + 160];
    int64_t expect_seq;
    bool is_end;
    int64_t end_bytes;
    char end_sha[65];
};

/* One batch of the snapshot cursor: chunks, then maybe the end marker. */
static int take_batch(struct run *r, struct snap_state *s, const bson_t *batch, struct backup_error *err)
{
    bson_iter_t it;
    bson_iter_init(&it, batch);
    while (bson_iter_next(&it)) {
        bson_t doc;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            return fail(err, "the snapshot stream from %s holds a non-document", r->source);
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&it, &len, &data);
        bson_init_static(&doc, data, len);
        bson_iter_t f;
        if (bson_iter_init_find(&f, &doc, "end") && bson_iter_as_bool(&f)) {
            s->is_end = true;
            s->end_bytes = bson_i64(&doc, "bytes", -1);
            if (bson_iter_init_find(&f, &doc, "sha256") && BSON_ITER_HOLDS_UTF8(&f))
                snprintf(s->end_sha, sizeof s->end_sha, "%s", bson_iter_utf8(&f, NULL));
            continue;
        }
        int64_t seq = bson_i64(&doc, "seq", -1);
        if (!bson_iter_init_find(&f, &doc, "data") || !BSON_ITER_HOLDS_BINARY(&f) || seq != s->expect_seq)
            return fail(err, "the snapshot stream from %s is out of order (chunk %lld, expected %lld)", r->source,
                        (long long)seq, (long long)s->expect_seq);
        bson_subtype_t st;
        uint32_t blen;
        const uint8_t *bytes;
        bson_iter_binary(&f, &st, &blen, &bytes);
        if (bfile_write(&s->out, bytes, blen, err) < 0)
            return -1;
        if (fwrite(bytes, 1, blen, s->raw) != blen)
            return backup_io_error(err, "write", s->raw_path, errno);
        s->expect_seq++;
        progress(r, "full backup", s->out.raw_bytes);
    }
    return 0;
}

static int hash_snapshot(struct run *r, const char *raw_dir, struct backup_error *err)
{
    char tallyd[PATH_MAX + 128];
    if (tmp_server_find_binary(NULL, tallyd, sizeof tallyd, err) < 0)
        return -1;
    char logpath[PATH_MAX + 200];
    snprintf(logpath, sizeof logpath, "%s/tallyd.log", raw_dir);
    struct tmp_server s;
    if (tmp_server_start(tallyd, raw_dir, logpath, &s, err) < 0)
        return -1;
    int rc = backup_hash_collections(s.client, r->m.collections, err);
    struct backup_error e2;
    tmp_server_stop(&s, &e2);
    return rc;
}

static int run_full(struct run *r, struct backup_error *err)
{
    bson_t cmd = BSON_INITIALIZER, reply;
    BSON_APPEND_INT32(&cmd, "tallySnapshot", 1);
    BSON_APPEND_INT32(&cmd, "chunkBytes", r->o->chunk_bytes > 0 ? r->o->chunk_bytes : DEFAULT_CHUNK_BYTES);
    int rc = admin_cmd(r->src, r->source, &cmd, &reply, "the snapshot command", err);
    bson_destroy(&cmd);
    if (rc < 0) {
        bson_destroy(&reply);
        return -1;
    }
    bson_t cursor, batch, meta_wrap, meta;
    bson_iter_t it;
    if (!get_doc(&reply, "cursor", &cursor) || !get_doc(&cursor, "firstBatch", &batch) ||
        !bson_iter_init_find(&it, &batch, "0") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
        bson_destroy(&reply);
        return fail(err, "the snapshot reply of %s lacks cursor.firstBatch[0].meta", r->source);
    }
    uint32_t len;
    const uint8_t *data;
    bson_iter_document(&it, &len, &data);
    bson_init_static(&meta_wrap, data, len);
    if (!get_doc(&meta_wrap, "meta", &meta) || !get_optime_doc(&meta, "optime", &r->m.end)) {
        bson_destroy(&reply);
        return fail(err, "the snapshot meta of %s lacks optime {ts, t}", r->source);
    }
    r->m.start = r->m.end;
    if (bson_iter_init_find(&it, &meta, "wall") && BSON_ITER_HOLDS_DATE_TIME(&it))
        r->m.end_wall_ms = bson_iter_date_time(&it);
    if (bson_iter_init_find(&it, &meta, "setName") && BSON_ITER_HOLDS_UTF8(&it))
        snprintf(r->m.set_name, sizeof r->m.set_name, "%s", bson_iter_utf8(&it, NULL));
    r->m.start_wall_ms = r->m.end_wall_ms;
    int64_t cursor_id = bson_i64(&cursor, "id", 0);

    struct snap_state s = {0};
    char scratch[PATH_MAX + 140];
    snprintf(scratch, sizeof scratch, "%s/scratch", r->partial);
    snprintf(s.raw_path, sizeof s.raw_path, "%s/data.mdb", scratch);
    char zpath[PATH_MAX + 160];
    snprintf(zpath, sizeof zpath, "%s/data.mdb.zst", r->partial);
    if (mkdir(scratch, 0755) != 0) {
        bson_destroy(&reply);
        return backup_io_error(err, "create", scratch, errno);
    }
    s.raw = fopen(s.raw_path, "we");
    if (s.raw == NULL) {
        bson_destroy(&reply);
        return backup_io_error(err, "create", s.raw_path, errno);
    }
    if (bfile_open(&s.out, zpath, err) < 0) {
        fclose(s.raw);
        bson_destroy(&reply);
        return -1;
    }
    bson_destroy(&reply);
    rc = 0;
    while (rc == 0 && !s.is_end && cursor_id != 0) {
        bson_t gm = BSON_INITIALIZER, more;
        BSON_APPEND_INT64(&gm, "getMore", cursor_id);
        BSON_APPEND_UTF8(&gm, "collection", "$snapshot");
        rc = admin_cmd(r->src, r->source, &gm, &more, "the snapshot stream", err);
        bson_destroy(&gm);
        if (rc == 0) {
            if (!get_doc(&more, "cursor", &cursor) || !get_doc(&cursor, "nextBatch", &batch))
                rc = fail(err, "a snapshot getMore reply of %s lacks cursor.nextBatch", r->source);
            else {
                cursor_id = bson_i64(&cursor, "id", 0);
                rc = take_batch(r, &s, &batch, err);
            }
        }
        bson_destroy(&more);
    }
    if (rc == 0 && !s.is_end)
        rc = fail(err, "the snapshot stream from %s ended without its end marker; run the backup again", r->source);
    if (rc == 0 && fflush(s.raw) != 0)
        rc = backup_io_error(err, "write", s.raw_path, errno);
    fclose(s.raw);
    if (rc < 0) {
        bfile_abort(&s.out);
        return -1;
    }
    if (bfile_close(&s.out, err) < 0)
        return -1;
    if (r->is_progress)
        fputc('\n', stderr);
    if (s.end_bytes != s.out.raw_bytes || strcmp(s.end_sha, s.out.sha256_raw) != 0)
        return fail(err,
                    "the snapshot received from %s does not match what it sent (%lld bytes, sha256 %s; server says "
                    "%lld bytes, sha256 %s); run the backup again",
                    r->source, (long long)s.out.raw_bytes, s.out.sha256_raw, (long long)s.end_bytes, s.end_sha);
    struct bk_file *f = &r->m.files[r->m.n_files++];
    snprintf(f->name, sizeof f->name, "data.mdb.zst");
    f->bytes_raw = s.out.raw_bytes;
    f->bytes_stored = s.out.stored_bytes;
    memcpy(f->sha256, s.out.sha256_stored, 65);
    memcpy(f->sha256_raw, s.out.sha256_raw, 65);
    rc = hash_snapshot(r, scratch, err);
    if (backup_rm_rf(scratch) != 0 && rc == 0)
        rc = fail(err, "cannot remove the scratch copy %s", scratch);
    return rc;
}

/* --- slices --- */

static int pick_parent(struct run *r, struct bk_manifest *parent, struct backup_error *err)
{
    struct bk_manifest *list;
    int n;
    if (manifest_scan(r->dest, &list, &n, err) < 0)
        return -1;
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (r->o->type == BACKUP_DIFF && list[i].type != BACKUP_FULL)
            continue;
        if (best < 0 || list[i].end.ts > list[best].end.ts ||
            (list[i].end.ts == list[best].end.ts && strcmp(list[i].id, list[best].id) > 0))
            best = i;
    }
    if (best < 0) {
        manifest_scan_free(list, n);
        return fail(err, "%s holds no full backup to continue from: take a full backup first (tally backup full)",
                    r->dest);
    }
    *parent = list[best];
    parent->collections = bson_copy(list[best].collections);
    manifest_scan_free(list, n);
    return 0;
}

static int run_slice(struct run *r, struct backup_error *err)
{
    struct bk_manifest parent;
    if (pick_parent(r, &parent, err) < 0)
        return -1;
    snprintf(r->m.parent, sizeof r->m.parent, "%s", parent.id);
    snprintf(r->m.base_full, sizeof r->m.base_full, "%s", parent.base_full);
    r->m.start = parent.end;
    r->m.start_wall_ms = parent.end_wall_ms;
    if (r->m.set_name[0] == '\0')
        snprintf(r->m.set_name, sizeof r->m.set_name, "%s", parent.set_name);
    manifest_destroy(&parent);

    /* End: the source's commit point, so the slice holds no entry a failover could roll back. */
    bson_t cmd = BSON_INITIALIZER, status, optimes;
    BSON_APPEND_INT32(&cmd, "replSetGetStatus", 1);
    int rc = admin_cmd(r->src, r->source, &cmd, &status, "replSetGetStatus", err);
    bson_destroy(&cmd);
    struct bk_optime commit = {0, -1};
    if (rc == 0 && (!get_doc(&status, "optimes", &optimes) ||
                    !get_optime_doc(&optimes, "lastCommittedOpTime", &commit)))
        rc = fail(err, "replSetGetStatus of %s lacks optimes.lastCommittedOpTime", r->source);
    if (rc == 0) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, &status, "set") && BSON_ITER_HOLDS_UTF8(&it))
            snprintf(r->m.set_name, sizeof r->m.set_name, "%s", bson_iter_utf8(&it, NULL));
    }
    bson_destroy(&status);
    if (rc < 0)
        return -1;

    char zpath[PATH_MAX + 160];
    snprintf(zpath, sizeof zpath, "%s/oplog.bson.zst", r->partial);
    struct bfile_writer out;
    if (bfile_open(&out, zpath, err) < 0)
        return -1;
    mongoc_collection_t *coll = mongoc_client_get_collection(r->src, "local", "oplog.rs");
    bson_t filter = BSON_INITIALIZER, range, opts = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "ts", &range);
    BSON_APPEND_TIMESTAMP(&range, "$gte", (uint32_t)(r->m.start.ts >> 32), (uint32_t)r->m.start.ts);
    bson_append_document_end(&filter, &range);
    BSON_APPEND_INT32(&opts, "batchSize", SLICE_BATCH);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
    const bson_t *doc;
    bool is_first = true;
    struct bk_optime last = r->m.start;
    int64_t last_wall = r->m.start_wall_ms;
    while (rc == 0 && mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        if (!bson_iter_init_find(&it, doc, "ts") || !BSON_ITER_HOLDS_TIMESTAMP(&it)) {
            rc = fail(err, "an oplog entry on %s has no timestamp", r->source);
            break;
        }
        uint32_t secs, inc;
        bson_iter_timestamp(&it, &secs, &inc);
        uint64_t ts = (uint64_t)secs << 32 | inc;
        int64_t term = bson_i64(doc, "t", -1);
        if (is_first) {
            is_first = false;
            if (ts != r->m.start.ts || term != r->m.start.term) {
                rc = fail(err,
                          "the oplog of %s no longer holds this backup's start (Timestamp(%u, %u), term %lld: the "
                          "entry the previous backup ended with); it was trimmed or the history diverged. An "
                          "incremental or differential backup is impossible now: take a full backup "
                          "(tally backup full)",
                          r->source, (unsigned)(r->m.start.ts >> 32), (unsigned)r->m.start.ts,
                          (long long)r->m.start.term);
                break;
            }
            continue;
        }
        if (ts > commit.ts)
            break;
        if (bfile_write(&out, bson_get_data(doc), doc->len, err) < 0) {
            rc = -1;
            break;
        }
        last.ts = ts;
        last.term = term;
        if (bson_iter_init_find(&it, doc, "wall") && BSON_ITER_HOLDS_DATE_TIME(&it))
            last_wall = bson_iter_date_time(&it);
        r->m.entries++;
        if (r->m.entries % 10000 == 0)
            progress(r, "oplog slice", out.raw_bytes);
    }
    bson_error_t berr;
    if (rc == 0 && mongoc_cursor_error(cur, &berr))
        rc = fail(err,
                  "lost the connection to %s while reading its oplog: %s; nothing was kept as a backup: run it "
                  "again (it picks another healthy member)",
                  r->source, berr.message);
    if (rc == 0 && is_first)
        rc = fail(err,
                  "the oplog of %s no longer holds this backup's start (Timestamp(%u, %u)); it was trimmed. An "
                  "incremental or differential backup is impossible now: take a full backup (tally backup full)",
                  r->source, (unsigned)(r->m.start.ts >> 32), (unsigned)r->m.start.ts);
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    bson_destroy(&opts);
    mongoc_collection_destroy(coll);
    if (rc < 0) {
        bfile_abort(&out);
        return -1;
    }
    if (bfile_close(&out, err) < 0)
        return -1;
    if (r->is_progress && r->m.entries >= 10000)
        fputc('\n', stderr);
    r->m.end = last;
    r->m.end_wall_ms = last_wall;
    struct bk_file *f = &r->m.files[r->m.n_files++];
    snprintf(f->name, sizeof f->name, "oplog.bson.zst");
    f->bytes_raw = out.raw_bytes;
    f->bytes_stored = out.stored_bytes;
    memcpy(f->sha256, out.sha256_stored, 65);
    memcpy(f->sha256_raw, out.sha256_raw, 65);
    return 0;
}

/* --- the whole run --- */

static void make_id(struct run *r)
{
    char when[32];
    backup_format_compact(r->started_ms, when, sizeof when);
    unsigned char rnd[3];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        unsigned v = (unsigned)getpid() ^ (unsigned)r->started_ms;
        rnd[0] = (unsigned char)v;
        rnd[1] = (unsigned char)(v >> 8);
        rnd[2] = (unsigned char)(v >> 16);
    }
    snprintf(r->m.id, sizeof r->m.id, "%s-%s-%02x%02x%02x", when, backup_type_name(r->o->type), rnd[0], rnd[1],
             rnd[2]);
}

static int finish(struct run *r, struct backup_error *err)
{
    for (int i = 0; i < r->m.n_files; i++) {
        r->m.bytes_raw += r->m.files[i].bytes_raw;
        r->m.bytes_stored += r->m.files[i].bytes_stored;
    }
    manifest_compute_checksum(&r->m);
    if (manifest_write(r->partial, &r->m, err) < 0)
        return -1;
    char final[PATH_MAX + 128];
    snprintf(final, sizeof final, "%s/%s", r->dest, r->m.id);
    if (rename(r->partial, final) != 0)
        return backup_io_error(err, "rename into place", final, errno);
    return backup_fsync_dir(r->dest, err);
}

static void record_event(const struct run *r, bool is_ok, const struct backup_error *err)
{
    bson_t ev = BSON_INITIALIZER;
    manifest_to_bson(&r->m, &ev);
    BSON_APPEND_UTF8(&ev, "outcome", is_ok ? "ok" : "failed");
    BSON_APPEND_UTF8(&ev, "error", is_ok ? "" : err->msg);
    BSON_APPEND_DATE_TIME(&ev, "event_time", backup_now_ms());
    catalog_record_event(&ev);
    bson_destroy(&ev);
}

int backup_run(const struct backup_options *o, struct backup_result *res, struct backup_error *err)
{
    struct run r;
    memset(&r, 0, sizeof r);
    memset(res, 0, sizeof *res);
    err->msg[0] = '\0';
    r.o = o;
    r.timeout_ms = (o->timeout_s > 0 ? o->timeout_s : 30) * 1000;
    r.started_ms = backup_now_ms();
    r.is_progress = backup_progress_enabled();
    manifest_init(&r.m);
    r.m.type = o->type;
    make_id(&r);
    snprintf(r.m.tool_version, sizeof r.m.tool_version, "%s", BACKUP_TOOL_VERSION);
    catalog_configure(o->uri, o->redis_url, NULL);
    int rc = 0;
    if (mkdir_p(o->dest) != 0 || realpath(o->dest, r.dest) == NULL)
        rc = backup_io_error(err, "create the backup folder", o->dest, errno);
    if (rc == 0) {
        snprintf(r.m.destination, sizeof r.m.destination, "%s", r.dest);
        snprintf(r.partial, sizeof r.partial, "%s/.partial-%s", r.dest, r.m.id);
        rc = choose_source(&r, err);
    }
    if (rc == 0) {
        snprintf(r.m.source, sizeof r.m.source, "%s", r.source);
        char ebuf[512];
        r.src = client_open_direct(r.source, r.timeout_ms, ebuf, sizeof ebuf);
        if (r.src == NULL)
            rc = fail(err, "cannot connect to %s: %s", r.source, ebuf);
    }
    if (rc == 0 && mkdir(r.partial, 0755) != 0)
        rc = backup_io_error(err, "create", r.partial, errno);
    if (rc == 0) {
        if (o->type == BACKUP_FULL) {
            snprintf(r.m.base_full, sizeof r.m.base_full, "%s", r.m.id);
            rc = run_full(&r, err);
        } else {
            rc = run_slice(&r, err);
        }
    }
    if (rc == 0)
        rc = finish(&r, err);
    if (rc < 0 && r.partial[0] != '\0')
        backup_rm_rf(r.partial);
    if (r.src != NULL)
        mongoc_client_destroy(r.src);
    record_event(&r, rc == 0, err);
    if (rc == 0) {
        snprintf(res->id, sizeof res->id, "%s", r.m.id);
        snprintf(res->dir, sizeof res->dir, "%s/%s", r.dest, r.m.id);
        res->bytes_raw = r.m.bytes_raw;
        res->bytes_stored = r.m.bytes_stored;
        res->entries = r.m.entries;
        snprintf(res->source, sizeof res->source, "%s", r.source);
    }
    manifest_destroy(&r.m);
    return rc;
}

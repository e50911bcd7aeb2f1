/* `tally restore`: rebuilds a data directory from a full backup and the
 * chain of oplog slices after it, up to a chosen point.
 *
 * Order, so that nothing is touched until everything is known good: pick
 * the chain (backup_manifest.c), refuse a target folder that holds anything,
 * check every file of the chain against its manifest (size, sha256), then
 * work in a sibling folder <dbpath>.restoring-<pid>: decompress the full's
 * data.mdb, start a temporary standalone tallyd on it, send each slice's
 * entries (only those up to the target) through applyOps, clear the
 * replication state (tallyResetReplicationState: the result is a standalone
 * or the seed of a new set), stop the server, and rename the folder to
 * --dbpath. A failure removes the sibling folder and leaves --dbpath as it
 * was. The set the backups came from is never contacted. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_int.h"

#define APPLY_BATCH_ENTRIES 1000
#define APPLY_BATCH_BYTES (8 << 20)
#define MAX_ENTRY_BYTES (16 << 20)

struct apply_state {
    struct tmp_server *srv;
    const struct bk_manifest *link;
    uint8_t *buf;
    size_t len, cap;
    bson_t batch;
    int n_batch;
    size_t batch_bytes;
    uint64_t stop_ts;
    bool is_wall;
    int64_t wall_ms;
    bool is_done;
    int64_t applied;
    int64_t in_link;
    struct bk_optime last;
    int64_t last_wall_ms;
};

static int send_batch(struct apply_state *a, struct backup_error *err)
{
    if (a->n_batch == 0)
        return 0;
    bson_t cmd = BSON_INITIALIZER, reply;
    BSON_APPEND_ARRAY(&cmd, "applyOps", &a->batch);
    int rc = tmp_server_command(a->srv, &cmd, &reply, "applyOps", err);
    if (rc == 0) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, &reply, "applied") && BSON_ITER_HOLDS_NUMBER(&it))
            a->applied += bson_iter_as_int64(&it);
    }
    bson_destroy(&reply);
    bson_destroy(&cmd);
    bson_reinit(&a->batch);
    a->n_batch = 0;
    a->batch_bytes = 0;
    return rc;
}

static int take_entry(struct apply_state *a, const bson_t *doc, struct backup_error *err)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "ts") || !BSON_ITER_HOLDS_TIMESTAMP(&it)) {
        snprintf(err->msg, sizeof err->msg, "backup %s holds an oplog entry without a timestamp", a->link->id);
        return -1;
    }
    uint32_t secs, inc;
    bson_iter_timestamp(&it, &secs, &inc);
    uint64_t ts = (uint64_t)secs << 32 | inc;
    int64_t wall = 0;
    if (bson_iter_init_find(&it, doc, "wall") && BSON_ITER_HOLDS_DATE_TIME(&it))
        wall = bson_iter_date_time(&it);
    a->in_link++;
    if (ts <= a->last.ts)
        return 0; /* already in the data: links may meet at an entry */
    if (ts > a->stop_ts || (a->is_wall && wall > a->wall_ms)) {
        a->is_done = true;
        return 0;
    }
    char key[16];
    snprintf(key, sizeof key, "%d", a->n_batch++);
    BSON_APPEND_DOCUMENT(&a->batch, key, doc);
    a->batch_bytes += doc->len;
    a->last.ts = ts;
    a->last.term = bson_iter_init_find(&it, doc, "t") && BSON_ITER_HOLDS_NUMBER(&it) ? bson_iter_as_int64(&it) : -1;
    a->last_wall_ms = wall;
    if (a->n_batch >= APPLY_BATCH_ENTRIES || a->batch_bytes >= APPLY_BATCH_BYTES)
        return send_batch(a, err);
    return 0;
}

/* The slice file is BSON documents back to back; chunks split them anywhere. */
static int slice_sink(const void *data, size_t len, void *arg, struct backup_error *err)
{
    struct apply_state *a = arg;
    if (a->len + len > a->cap) {
        while (a->len + len > a->cap)
            a->cap = a->cap ? a->cap * 2 : (1 << 20);
        a->buf = realloc(a->buf, a->cap);
    }
    memcpy(a->buf + a->len, data, len);
    a->len += len;
    size_t off = 0;
    while (a->len - off >= 5) {
        int32_t n;
        memcpy(&n, a->buf + off, 4);
        n = (int32_t)BSON_UINT32_FROM_LE((uint32_t)n);
        if (n < 5 || n > MAX_ENTRY_BYTES) {
            snprintf(err->msg, sizeof err->msg, "backup %s: its oplog file is corrupt (an entry of %d bytes)",
                     a->link->id, n);
            return -1;
        }
        if (a->len - off < (size_t)n)
            break;
        bson_t doc;
        if (!bson_init_static(&doc, a->buf + off, (size_t)n) || !bson_validate(&doc, BSON_VALIDATE_NONE, NULL)) {
            snprintf(err->msg, sizeof err->msg, "backup %s: its oplog file holds invalid BSON", a->link->id);
            return -1;
        }
        if (!a->is_done && take_entry(a, &doc, err) < 0)
            return -1;
        off += (size_t)n;
    }
    memmove(a->buf, a->buf + off, a->len - off);
    a->len -= off;
    return 0;
}

struct fd_sink {
    int fd;
    const char *path;
};

static int file_sink(const void *data, size_t len, void *arg, struct backup_error *err)
{
    struct fd_sink *s = arg;
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(s->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return backup_io_error(err, "write", s->path, errno);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* 1: missing, 0: an empty folder, -1: holds something (or is not a folder). */
static int target_state(const char *path, char *why, size_t why_len)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? 1 : (snprintf(why, why_len, "%s", strerror(errno)), -1);
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, why_len, "it is not a folder");
        return -1;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        snprintf(why, why_len, "%s", strerror(errno));
        return -1;
    }
    struct dirent *de;
    int n = 0;
    char first[256] = "";
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n++ == 0)
            snprintf(first, sizeof first, "%s", de->d_name);
    }
    closedir(d);
    if (n > 0) {
        snprintf(why, why_len, "it already holds %d entr%s (such as %s)", n, n == 1 ? "y" : "ies", first);
        return -1;
    }
    return 0;
}

static int apply_chain(const struct bk_manifest *list, const int *idx, int n_idx, uint64_t stop_ts,
                       const struct restore_target *t, const char *from, struct tmp_server *srv,
                       struct restore_result *res, struct backup_error *err)
{
    struct apply_state a;
    memset(&a, 0, sizeof a);
    a.srv = srv;
    a.stop_ts = stop_ts;
    a.is_wall = t->is_wall;
    a.wall_ms = t->wall_ms;
    a.last = list[idx[0]].end;
    bson_init(&a.batch);
    int rc = 0;
    for (int k = 1; k < n_idx && rc == 0 && !a.is_done; k++) {
        const struct bk_manifest *m = &list[idx[k]];
        const struct bk_manifest *prev = &list[idx[k - 1]];
        if (m->start.ts != prev->end.ts) {
            snprintf(err->msg, sizeof err->msg,
                     "backup %s does not continue %s (it starts at another optime); the chain is broken: take a "
                     "new full backup",
                     m->id, prev->id);
            rc = -1;
            break;
        }
        a.link = m;
        a.in_link = 0;
        a.len = 0;
        char path[PATH_MAX + 200];
        snprintf(path, sizeof path, "%s/%s/%s", from, m->id, m->files[0].name);
        rc = bfile_read(path, slice_sink, &a, err);
        if (rc == 0 && a.len != 0) {
            snprintf(err->msg, sizeof err->msg, "backup %s: its oplog file ends inside an entry (truncated)", m->id);
            rc = -1;
        }
        if (rc == 0 && !a.is_done && a.in_link != m->entries) {
            snprintf(err->msg, sizeof err->msg, "backup %s: its oplog file holds %lld entries, the manifest says %lld",
                     m->id, (long long)a.in_link, (long long)m->entries);
            rc = -1;
        }
    }
    if (rc == 0)
        rc = send_batch(&a, err);
    free(a.buf);
    bson_destroy(&a.batch);
    res->end_ts = a.last.ts;
    res->end_term = a.last.term;
    res->entries_applied = a.applied;
    return rc;
}

int restore_run(const struct restore_options *o, struct restore_result *res, struct backup_error *err)
{
    memset(res, 0, sizeof *res);
    err->msg[0] = '\0';
    char from[PATH_MAX];
    if (realpath(o->from, from) == NULL) {
        snprintf(err->msg, sizeof err->msg, "cannot open the backup folder %s: %s", o->from, strerror(errno));
        return -1;
    }
    struct restore_target t;
    memset(&t, 0, sizeof t);
    if (o->until != NULL && restore_parse_until(o->until, &t, err) < 0)
        return -1;
    t.backup_id = o->backup_id;
    t.is_end = o->until == NULL && o->backup_id == NULL;
    char tallyd[PATH_MAX + 128];
    if (tmp_server_find_binary(o->tallyd, tallyd, sizeof tallyd, err) < 0)
        return -1;

    char dbpath[PATH_MAX];
    snprintf(dbpath, sizeof dbpath, "%s", o->dbpath);
    size_t dl = strlen(dbpath);
    while (dl > 1 && dbpath[dl - 1] == '/')
        dbpath[--dl] = '\0';
    char why[512];
    int ts = target_state(dbpath, why, sizeof why);
    if (ts < 0) {
        snprintf(err->msg, sizeof err->msg,
                 "refusing to restore into %s: %s; restore only into a missing or empty folder (move it away or "
                 "pick another --dbpath)",
                 dbpath, why);
        return -1;
    }

    struct bk_manifest *list;
    int n;
    if (manifest_scan(from, &list, &n, err) < 0)
        return -1;
    int idx[1024], n_idx = 0;
    uint64_t stop_ts;
    int rc = chain_select(list, n, &t, idx, &n_idx, &stop_ts, err);
    for (int k = 0; k < n_idx && rc == 0; k++) {
        const struct bk_manifest *m = &list[idx[k]];
        if (m->n_files != 1) {
            snprintf(err->msg, sizeof err->msg, "backup %s lists %d files; this tool reads backups of one file",
                     m->id, m->n_files);
            rc = -1;
            break;
        }
        char path[PATH_MAX + 200];
        snprintf(path, sizeof path, "%s/%s/%s", from, m->id, m->files[0].name);
        rc = bfile_check(path, m->files[0].sha256, m->files[0].bytes_stored, err);
    }
    if (rc < 0) {
        manifest_scan_free(list, n);
        return -1;
    }
    const struct bk_manifest *full = &list[idx[0]];
    snprintf(res->full_id, sizeof res->full_id, "%s", full->id);
    res->n_chain = n_idx;
    if (!o->is_quiet) {
        fprintf(stderr, "restoring %s from %s", dbpath, full->id);
        for (int k = 1; k < n_idx; k++)
            fprintf(stderr, " + %s", list[idx[k]].id);
        fputc('\n', stderr);
    }

    char staging[PATH_MAX + 64];
    snprintf(staging, sizeof staging, "%s.restoring-%d", dbpath, (int)getpid());
    backup_rm_rf(staging);
    if (mkdir(staging, 0755) != 0) {
        manifest_scan_free(list, n);
        return backup_io_error(err, "create", staging, errno);
    }
    char path[PATH_MAX + 200], mdb[PATH_MAX + 100];
    snprintf(path, sizeof path, "%s/%s/%s", from, full->id, full->files[0].name);
    snprintf(mdb, sizeof mdb, "%s/data.mdb", staging);
    struct fd_sink fs = {open(mdb, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), mdb};
    if (fs.fd < 0)
        rc = backup_io_error(err, "create", mdb, errno);
    if (rc == 0)
        rc = bfile_read(path, file_sink, &fs, err);
    if (rc == 0 && fsync(fs.fd) != 0)
        rc = backup_io_error(err, "fsync", mdb, errno);
    if (fs.fd >= 0)
        close(fs.fd);

    struct tmp_server srv = {0};
    char logpath[PATH_MAX + 100];
    snprintf(logpath, sizeof logpath, "%s/restore-tallyd.log", staging);
    if (rc == 0)
        rc = tmp_server_start(tallyd, staging, logpath, &srv, err);
    res->end_ts = full->end.ts;
    res->end_term = full->end.term;
    if (rc == 0)
        rc = apply_chain(list, idx, n_idx, stop_ts, &t, from, &srv, res, err);
    if (rc == 0) {
        bson_t cmd = BSON_INITIALIZER, reply;
        BSON_APPEND_INT32(&cmd, "tallyResetReplicationState", 1);
        rc = tmp_server_command(&srv, &cmd, &reply, "resetting the replication state", err);
        bson_destroy(&cmd);
        bson_destroy(&reply);
    }
    struct backup_error e2;
    if (srv.pid > 0 && tmp_server_stop(&srv, &e2) < 0 && rc == 0) {
        snprintf(err->msg, sizeof err->msg, "the temporary tallyd did not shut down cleanly; see %s", logpath);
        rc = -1;
    }
    if (rc == 0) {
        unlink(logpath);
        if (ts == 0 && rmdir(dbpath) != 0)
            rc = backup_io_error(err, "replace the empty folder", dbpath, errno);
        if (rc == 0 && rename(staging, dbpath) != 0)
            rc = backup_io_error(err, "rename the restored folder to", dbpath, errno);
        if (ts == 0 && rc < 0)
            mkdir(dbpath, 0755);
    }
    if (rc < 0)
        backup_rm_rf(staging);
    manifest_scan_free(list, n);
    return rc;
}

/* Manifests (DEST/<id>/manifest.json) and restore chains.
 *
 * The manifest is the source of truth about a backup: written last, after
 * every file is fsync'd, so a folder with a manifest is a complete backup.
 * Loading validates each field's type and the checksum over the files'
 * sha256s, so a hand-edited or damaged manifest is named, not trusted.
 *
 * Chains: a full rests on nothing; a differential's parent is the full it
 * continues; an incremental's parent is the backup (of any kind) before it.
 * Each link covers the oplog after its parent's end_optime up to its own.
 * chain_select walks from the newest full at or before the target through
 * the links with the largest end not past the target (so a differential
 * replaces the incrementals it spans), finishing with one link that may be
 * applied only in part (point-in-time). See docs/backups.md. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup_int.h"

const char *backup_type_name(enum backup_type t)
{
    return t == BACKUP_FULL ? "full" : t == BACKUP_DIFF ? "diff" : "incr";
}

void manifest_init(struct bk_manifest *m)
{
    memset(m, 0, sizeof *m);
    m->collections = bson_new();
}

void manifest_destroy(struct bk_manifest *m)
{
    bson_destroy(m->collections);
    m->collections = NULL;
}

static void append_optime(bson_t *doc, const char *key, struct bk_optime o)
{
    bson_t sub, ts;
    BSON_APPEND_DOCUMENT_BEGIN(doc, key, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&sub, "ts", &ts);
    BSON_APPEND_INT64(&ts, "t", (int64_t)(o.ts >> 32));
    BSON_APPEND_INT64(&ts, "i", (int64_t)(uint32_t)o.ts);
    bson_append_document_end(&sub, &ts);
    BSON_APPEND_INT64(&sub, "t", o.term);
    bson_append_document_end(doc, &sub);
}

static void append_id_or_null(bson_t *doc, const char *key, const char *id)
{
    if (id[0] == '\0')
        BSON_APPEND_NULL(doc, key);
    else
        BSON_APPEND_UTF8(doc, key, id);
}

void manifest_to_bson(const struct bk_manifest *m, bson_t *out)
{
    char buf[64];
    BSON_APPEND_UTF8(out, "format", BACKUP_FORMAT);
    BSON_APPEND_UTF8(out, "id", m->id);
    BSON_APPEND_UTF8(out, "type", backup_type_name(m->type));
    append_id_or_null(out, "parent", m->parent);
    BSON_APPEND_UTF8(out, "base_full", m->base_full);
    append_optime(out, "start_optime", m->start);
    append_optime(out, "end_optime", m->end);
    backup_format_iso(m->start_wall_ms, buf, sizeof buf);
    BSON_APPEND_UTF8(out, "start_wall", buf);
    backup_format_iso(m->end_wall_ms, buf, sizeof buf);
    BSON_APPEND_UTF8(out, "end_wall", buf);
    BSON_APPEND_INT64(out, "bytes_raw", m->bytes_raw);
    BSON_APPEND_INT64(out, "bytes_stored", m->bytes_stored);
    bson_t files;
    BSON_APPEND_ARRAY_BEGIN(out, "files", &files);
    for (int i = 0; i < m->n_files; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        bson_t f;
        BSON_APPEND_DOCUMENT_BEGIN(&files, key, &f);
        BSON_APPEND_UTF8(&f, "name", m->files[i].name);
        BSON_APPEND_INT64(&f, "bytes_raw", m->files[i].bytes_raw);
        BSON_APPEND_INT64(&f, "bytes_stored", m->files[i].bytes_stored);
        BSON_APPEND_UTF8(&f, "sha256", m->files[i].sha256);
        BSON_APPEND_UTF8(&f, "sha256_raw", m->files[i].sha256_raw);
        bson_append_document_end(&files, &f);
    }
    bson_append_array_end(out, &files);
    BSON_APPEND_UTF8(out, "checksum", m->checksum);
    BSON_APPEND_UTF8(out, "source", m->source);
    BSON_APPEND_UTF8(out, "set_name", m->set_name);
    BSON_APPEND_UTF8(out, "destination", m->destination);
    BSON_APPEND_INT64(out, "entries", m->entries);
    BSON_APPEND_ARRAY(out, "collections", m->collections);
    BSON_APPEND_UTF8(out, "tool_version", m->tool_version);
}

void manifest_compute_checksum(struct bk_manifest *m)
{
    char cat[BACKUP_MAX_FILES * 64 + 1];
    size_t len = 0;
    for (int i = 0; i < m->n_files; i++) {
        memcpy(cat + len, m->files[i].sha256, 64);
        len += 64;
    }
    backup_sha256_hex(cat, len, m->checksum);
}

int manifest_write(const char *dir, const struct bk_manifest *m, struct backup_error *err)
{
    bson_t doc = BSON_INITIALIZER;
    manifest_to_bson(m, &doc);
    size_t len;
    char *json = bson_as_relaxed_extended_json(&doc, &len);
    bson_destroy(&doc);
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    snprintf(tmp, sizeof tmp, "%s/.manifest.json.tmp", dir);
    size_t n = strlen(json);
    char *text = malloc(n + 2);
    memcpy(text, json, n);
    text[n] = '\n';
    text[n + 1] = '\0';
    bson_free(json);
    int rc = backup_write_text(tmp, text, err);
    free(text);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = backup_io_error(err, "rename into place", path, errno);
    if (rc == 0)
        rc = backup_fsync_dir(dir, err);
    return rc;
}

/* --- loading --- */

static int bad(struct backup_error *err, const char *path, const char *what)
{
    snprintf(err->msg, sizeof err->msg, "%s is not a valid backup manifest: %s", path, what);
    return -1;
}

static bool get_str(const bson_t *doc, const char *key, char *out, size_t len, bool allow_null)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key))
        return false;
    if (allow_null && BSON_ITER_HOLDS_NULL(&it)) {
        out[0] = '\0';
        return true;
    }
    if (!BSON_ITER_HOLDS_UTF8(&it))
        return false;
    uint32_t n;
    const char *s = bson_iter_utf8(&it, &n);
    if (n >= len)
        return false;
    memcpy(out, s, n + 1);
    return true;
}

static bool get_i64(const bson_t *doc, const char *key, int64_t *out)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) || !(BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it)))
        return false;
    *out = bson_iter_as_int64(&it);
    return true;
}

static bool get_optime(const bson_t *doc, const char *key, struct bk_optime *o)
{
    bson_iter_t it, sub;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_DOCUMENT(&it))
        return false;
    uint32_t len;
    const uint8_t *data;
    bson_iter_document(&it, &len, &data);
    bson_t d, ts;
    if (!bson_init_static(&d, data, len) || !bson_iter_init_find(&sub, &d, "ts") || !BSON_ITER_HOLDS_DOCUMENT(&sub))
        return false;
    bson_iter_document(&sub, &len, &data);
    int64_t secs, inc;
    if (!bson_init_static(&ts, data, len) || !get_i64(&ts, "t", &secs) || !get_i64(&ts, "i", &inc) ||
        !get_i64(&d, "t", &o->term) || secs < 0 || secs > UINT32_MAX || inc < 0 || inc > UINT32_MAX)
        return false;
    o->ts = (uint64_t)secs << 32 | (uint64_t)inc;
    return true;
}

static bool parse_iso(const char *s, int64_t *ms);

static int load_files(const bson_t *doc, struct bk_manifest *m, const char *path, struct backup_error *err)
{
    bson_iter_t it, arr;
    if (!bson_iter_init_find(&it, doc, "files") || !BSON_ITER_HOLDS_ARRAY(&it))
        return bad(err, path, "'files' must be an array");
    bson_iter_recurse(&it, &arr);
    while (bson_iter_next(&arr)) {
        if (m->n_files >= BACKUP_MAX_FILES || !BSON_ITER_HOLDS_DOCUMENT(&arr))
            return bad(err, path, "'files' has too many or malformed entries");
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&arr, &len, &data);
        bson_t f;
        struct bk_file *bf = &m->files[m->n_files];
        if (!bson_init_static(&f, data, len) || !get_str(&f, "name", bf->name, sizeof bf->name, false) ||
            !get_i64(&f, "bytes_raw", &bf->bytes_raw) || !get_i64(&f, "bytes_stored", &bf->bytes_stored) ||
            !get_str(&f, "sha256", bf->sha256, sizeof bf->sha256, false) || strlen(bf->sha256) != 64)
            return bad(err, path, "a 'files' entry lacks name, bytes_raw, bytes_stored or sha256");
        /* A file name must stay inside the backup's folder. */
        if (strchr(bf->name, '/') != NULL || bf->name[0] == '.')
            return bad(err, path, "a file name leaves the backup folder");
        if (!get_str(&f, "sha256_raw", bf->sha256_raw, sizeof bf->sha256_raw, false))
            bf->sha256_raw[0] = '\0';
        m->n_files++;
    }
    return 0;
}

int manifest_load(const char *dir, struct bk_manifest *m, struct backup_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    char *text = backup_read_text(path, MANIFEST_MAX_BYTES, err);
    if (text == NULL)
        return -1;
    bson_error_t berr;
    bson_t *doc = bson_new_from_json((const uint8_t *)text, -1, &berr);
    free(text);
    if (doc == NULL)
        return bad(err, path, berr.message);
    manifest_init(m);
    char fmt[64], type[16], wall[64];
    int rc = 0;
    if (!get_str(doc, "format", fmt, sizeof fmt, false) || strcmp(fmt, BACKUP_FORMAT) != 0)
        rc = bad(err, path, "'format' is not \"" BACKUP_FORMAT "\"");
    else if (!get_str(doc, "id", m->id, sizeof m->id, false) || m->id[0] == '\0')
        rc = bad(err, path, "'id' is missing");
    else if (!get_str(doc, "type", type, sizeof type, false) ||
             (strcmp(type, "full") != 0 && strcmp(type, "diff") != 0 && strcmp(type, "incr") != 0))
        rc = bad(err, path, "'type' must be full, diff or incr");
    else if (!get_str(doc, "parent", m->parent, sizeof m->parent, true) ||
             !get_str(doc, "base_full", m->base_full, sizeof m->base_full, false))
        rc = bad(err, path, "'parent' or 'base_full' is missing");
    else if (!get_optime(doc, "start_optime", &m->start) || !get_optime(doc, "end_optime", &m->end))
        rc = bad(err, path, "'start_optime' or 'end_optime' is not {ts: {t, i}, t}");
    else if (!get_str(doc, "start_wall", wall, sizeof wall, false) || !parse_iso(wall, &m->start_wall_ms) ||
             !get_str(doc, "end_wall", wall, sizeof wall, false) || !parse_iso(wall, &m->end_wall_ms))
        rc = bad(err, path, "'start_wall' or 'end_wall' is not an ISO-8601 UTC time");
    else if (!get_i64(doc, "bytes_raw", &m->bytes_raw) || !get_i64(doc, "bytes_stored", &m->bytes_stored) ||
             !get_i64(doc, "entries", &m->entries))
        rc = bad(err, path, "'bytes_raw', 'bytes_stored' or 'entries' is missing");
    else if (!get_str(doc, "checksum", m->checksum, sizeof m->checksum, false))
        rc = bad(err, path, "'checksum' is missing");
    else
        rc = load_files(doc, m, path, err);
    if (rc == 0) {
        m->type = type[0] == 'f' ? BACKUP_FULL : type[0] == 'd' ? BACKUP_DIFF : BACKUP_INCR;
        get_str(doc, "source", m->source, sizeof m->source, false);
        get_str(doc, "set_name", m->set_name, sizeof m->set_name, false);
        get_str(doc, "destination", m->destination, sizeof m->destination, false);
        get_str(doc, "tool_version", m->tool_version, sizeof m->tool_version, false);
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, "collections") && BSON_ITER_HOLDS_ARRAY(&it)) {
            uint32_t len;
            const uint8_t *data;
            bson_iter_array(&it, &len, &data);
            bson_t view;
            if (bson_init_static(&view, data, len)) {
                bson_destroy(m->collections);
                m->collections = bson_copy(&view);
            }
        }
        char want[65];
        memcpy(want, m->checksum, sizeof want);
        manifest_compute_checksum(m);
        if (strcmp(want, m->checksum) != 0)
            rc = bad(err, path, "'checksum' does not match the files' sha256s (the manifest was altered)");
        if (rc == 0 && m->type == BACKUP_FULL && strcmp(m->base_full, m->id) != 0)
            rc = bad(err, path, "a full backup's base_full must be its own id");
        if (rc == 0 && m->type != BACKUP_FULL && m->parent[0] == '\0')
            rc = bad(err, path, "a diff or incr backup needs a parent");
    }
    bson_destroy(doc);
    if (rc < 0)
        manifest_destroy(m);
    return rc;
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(((const struct bk_manifest *)a)->id, ((const struct bk_manifest *)b)->id);
}

int manifest_scan(const char *dest, struct bk_manifest **out, int *n_out, struct backup_error *err)
{
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dest);
    if (d == NULL) {
        snprintf(err->msg, sizeof err->msg, "cannot open the backup folder %s: %s", dest, strerror(errno));
        return -1;
    }
    struct bk_manifest *list = NULL;
    int n = 0, cap = 0, rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char dir[4200], mpath[4300];
        snprintf(dir, sizeof dir, "%s/%s", dest, de->d_name);
        snprintf(mpath, sizeof mpath, "%s/manifest.json", dir);
        FILE *probe = fopen(mpath, "re");
        if (probe == NULL)
            continue; /* not a backup folder */
        fclose(probe);
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            list = realloc(list, (size_t)cap * sizeof *list);
        }
        if (manifest_load(dir, &list[n], err) < 0) {
            rc = -1;
            break;
        }
        if (strcmp(list[n].id, de->d_name) != 0) {
            snprintf(err->msg, sizeof err->msg, "%s names backup %s but lies in folder %s", mpath, list[n].id,
                     de->d_name);
            manifest_destroy(&list[n]);
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc < 0) {
        manifest_scan_free(list, n);
        return -1;
    }
    if (n > 1)
        qsort(list, (size_t)n, sizeof *list, compare_ids);
    *out = list;
    *n_out = n;
    return 0;
}

void manifest_scan_free(struct bk_manifest *list, int n)
{
    for (int i = 0; i < n; i++)
        manifest_destroy(&list[i]);
    free(list);
}

const struct bk_manifest *manifest_find(const struct bk_manifest *list, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i].id, id) == 0)
            return &list[i];
    return NULL;
}

/* --- targets --- */

static bool parse_iso(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return false;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (digits == 0)
            return false;
        for (; digits < 3; digits++)
            frac *= 10;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
        return false;
    *ms = (int64_t)timegm(&tm) * 1000 + frac;
    return true;
}

int restore_parse_until(const char *s, struct restore_target *t, struct backup_error *err)
{
    memset(t, 0, sizeof *t);
    unsigned long long secs, inc;
    char tail;
    if (sscanf(s, "%llu:%llu%c", &secs, &inc, &tail) == 2 ||
        sscanf(s, "Timestamp(%llu, %llu)%c", &secs, &inc, &tail) == 2 ||
        sscanf(s, "Timestamp(%llu,%llu)%c", &secs, &inc, &tail) == 2) {
        if (secs > UINT32_MAX || inc > UINT32_MAX) {
            snprintf(err->msg, sizeof err->msg, "--until optime %s is out of range", s);
            return -1;
        }
        t->optime.ts = (uint64_t)secs << 32 | inc;
        return 0;
    }
    if (parse_iso(s, &t->wall_ms)) {
        t->is_wall = true;
        return 0;
    }
    snprintf(err->msg, sizeof err->msg,
             "--until wants an ISO-8601 UTC time such as 2024-05-01T12:00:00Z or an optime SECS:INC, not '%s'", s);
    return -1;
}

/* True when manifest m ends at or before the target. */
static bool ends_by(const struct bk_manifest *m, const struct restore_target *t)
{
    if (t->is_end)
        return true;
    if (t->is_wall)
        return m->end_wall_ms <= t->wall_ms;
    return m->end.ts <= t->optime.ts;
}

static int chain_to_id(const struct bk_manifest *list, int n, const char *id, int *idx, int *n_idx,
                       struct backup_error *err)
{
    int rev[1024], k = 0;
    const struct bk_manifest *m = manifest_find(list, n, id);
    if (m == NULL) {
        snprintf(err->msg, sizeof err->msg, "no backup with id %s in this folder", id);
        return -1;
    }
    for (;;) {
        if (k == (int)(sizeof rev / sizeof rev[0])) {
            snprintf(err->msg, sizeof err->msg, "the chain of %s is too long (or loops)", id);
            return -1;
        }
        rev[k++] = (int)(m - list);
        if (m->type == BACKUP_FULL)
            break;
        const struct bk_manifest *p = manifest_find(list, n, m->parent);
        if (p == NULL) {
            snprintf(err->msg, sizeof err->msg,
                     "a link of the chain is missing: backup %s needs %s, which is not in the backup folder; "
                     "restore to an earlier point, or take a new full backup",
                     m->id, m->parent);
            return -1;
        }
        m = p;
    }
    for (int i = 0; i < k; i++)
        idx[i] = rev[k - 1 - i];
    *n_idx = k;
    return 0;
}

int chain_select(const struct bk_manifest *list, int n, const struct restore_target *t, int *idx, int *n_idx,
                 uint64_t *stop_ts, struct backup_error *err)
{
    *stop_ts = UINT64_MAX;
    if (t->backup_id != NULL)
        return chain_to_id(list, n, t->backup_id, idx, n_idx, err);
    int full = -1;
    for (int i = 0; i < n; i++)
        if (list[i].type == BACKUP_FULL && ends_by(&list[i], t) &&
            (full < 0 || list[i].end.ts >= list[full].end.ts))
            full = i;
    if (full < 0) {
        snprintf(err->msg, sizeof err->msg, "%s",
                 n == 0 ? "the backup folder holds no backups"
                        : "no full backup was taken at or before the requested point; pick a later --until");
        return -1;
    }
    int k = 0;
    idx[k++] = full;
    int cur = full;
    bool is_partial = false;
    for (;;) {
        int best = -1, over = -1;
        for (int i = 0; i < n; i++) {
            if (list[i].type == BACKUP_FULL || strcmp(list[i].parent, list[cur].id) != 0)
                continue;
            if (ends_by(&list[i], t)) {
                if (best < 0 || list[i].end.ts > list[best].end.ts)
                    best = i;
            } else if (over < 0 || list[i].end.ts < list[over].end.ts) {
                over = i;
            }
        }
        if (best < 0 && over >= 0 && !t->is_end) {
            best = over; /* the target lies inside this link */
            is_partial = true;
        }
        if (best < 0 || k == 1024)
            break;
        idx[k++] = best;
        cur = best;
        if (is_partial)
            break;
    }
    *n_idx = k;
    if (!t->is_end) {
        if (!t->is_wall)
            *stop_ts = t->optime.ts;
        if (!is_partial && ends_by(&list[cur], t)) {
            /* Nothing after cur reaches the target: a later backup must not
             * exist unreachable (a missing link), or we would silently stop short. */
            for (int i = 0; i < n; i++) {
                if (list[i].type != BACKUP_FULL && list[i].end.ts > list[cur].end.ts &&
                    manifest_find(list, n, list[i].parent) == NULL) {
                    snprintf(err->msg, sizeof err->msg,
                             "a link of the chain is missing: backup %s needs %s, which is not in the backup "
                             "folder; restore to an earlier point, or take a new full backup",
                             list[i].id, list[i].parent);
                    return -1;
                }
            }
        }
        return 0;
    }
    /* To the end: the chain must reach the newest backup resting on this full's line. */
    for (int i = 0; i < n; i++) {
        if (list[i].end.ts > list[cur].end.ts && list[i].type != BACKUP_FULL) {
            int tmp[1024], nt;
            struct backup_error e2;
            if (chain_to_id(list, n, list[i].id, tmp, &nt, &e2) < 0) {
                *err = e2;
                return -1;
            }
        }
    }
    return 0;
}

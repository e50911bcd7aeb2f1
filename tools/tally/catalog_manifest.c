/* The manifests in a backup destination, as the catalog reads them.
 *
 * A backup exists when DEST/<id>/manifest.json exists: the backup writes it
 * last and renames its folder into place (docs/backups.md), so the manifests
 * are the source of truth the catalog is reconciled against and retention
 * decides from. Folders starting with '.' (partial backups, the spool,
 * deletions in progress) are never backups. Only the fields the catalog needs
 * are checked here; the backup tool checks the rest when it restores. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_impl.h"

static int compare_ids(const void *a, const void *b)
{
    const struct catalog_manifest *x = a, *y = b;
    return strcmp(x->id, y->id);
}

static bool copy_field(const bson_t *doc, const char *name, char *out, size_t out_len, bool is_required)
{
    const char *s = catalog_str(doc, name);
    if (s == NULL) {
        out[0] = '\0';
        return !is_required;
    }
    if (strlen(s) >= out_len) {
        return false;
    }
    snprintf(out, out_len, "%s", s);
    return true;
}

static bool load_one(const char *dest, const char *name, struct catalog_manifest *m)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s/manifest.json", dest, name) >= (int)sizeof path) {
        return false;
    }
    bson_error_t error;
    bson_json_reader_t *reader = bson_json_reader_new_from_file(path, &error);
    if (reader == NULL) {
        /* A folder without a manifest is not a backup (or not ours). */
        return false;
    }
    bson_t *doc = bson_new();
    int rc = bson_json_reader_read(reader, doc, &error);
    bson_json_reader_destroy(reader);
    if (rc != 1) {
        fprintf(stderr, "tally: warning: %s is not valid JSON (%s); skipped\n", path,
                rc < 0 ? error.message : "empty file");
        bson_destroy(doc);
        return false;
    }
    memset(m, 0, sizeof *m);
    m->doc = doc;
    if (!copy_field(doc, "id", m->id, sizeof m->id, true) || strcmp(m->id, name) != 0 ||
        !copy_field(doc, "type", m->type, sizeof m->type, true) ||
        !copy_field(doc, "parent", m->parent, sizeof m->parent, false) ||
        !copy_field(doc, "base_full", m->base_full, sizeof m->base_full, false) ||
        (strcmp(m->type, "full") != 0 && strcmp(m->type, "diff") != 0 && strcmp(m->type, "incr") != 0)) {
        fprintf(stderr, "tally: warning: %s lacks a valid id (matching its folder) or type; skipped\n", path);
        bson_destroy(doc);
        m->doc = NULL;
        return false;
    }
    if (strcmp(m->type, "full") == 0 && m->base_full[0] == '\0') {
        snprintf(m->base_full, sizeof m->base_full, "%s", m->id);
    }
    return true;
}

int catalog_manifests_load(const char *dest, struct catalog_manifest **out, char *errbuf, size_t errlen)
{
    DIR *d = opendir(dest);
    if (d == NULL) {
        snprintf(errbuf, errlen, "cannot list the backup folder %s: %s", dest, strerror(errno));
        return -1;
    }
    int cap = 16, n = 0;
    struct catalog_manifest *m = bson_malloc0((size_t)cap * sizeof *m);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= CATALOG_ID_MAX) {
            continue;
        }
        if (n == cap) {
            cap *= 2;
            m = bson_realloc(m, (size_t)cap * sizeof *m);
        }
        if (load_one(dest, e->d_name, &m[n])) {
            n++;
        }
    }
    closedir(d);
    qsort(m, (size_t)n, sizeof *m, compare_ids);
    *out = m;
    return n;
}

void catalog_manifests_free(struct catalog_manifest *m, int n)
{
    for (int i = 0; i < n; i++) {
        bson_destroy(m[i].doc);
    }
    bson_free(m);
}

void catalog_manifest_event(const struct catalog_manifest *m, bson_t *event)
{
    bson_iter_t it;
    bson_iter_init(&it, m->doc);
    while (bson_iter_next(&it)) {
        const char *name = bson_iter_key(&it);
        /* The manifest says what the backup is; these say what happened. */
        if (strcmp(name, "outcome") != 0 && strcmp(name, "error") != 0 && strcmp(name, "event_time") != 0 &&
            strcmp(name, "kind") != 0) {
            bson_append_iter(event, name, -1, &it);
        }
    }
    BSON_APPEND_UTF8(event, "outcome", "ok");
    BSON_APPEND_UTF8(event, "error", "");
    const char *end = catalog_str(m->doc, "end_wall");
    char now[40];
    catalog_now_iso(now, sizeof now);
    BSON_APPEND_UTF8(event, "event_time", end ? end : now);
    BSON_APPEND_UTF8(event, "recorded_by", "reconcile");
}

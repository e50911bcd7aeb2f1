/* Retention: which backups in a destination may be deleted, and deleting
 * them so that no half-deleted backup ever looks valid.
 *
 * Rule: keep the newest keep_full full backups, every backup newer than the
 * oldest of them, and (transitively) every backup that a kept one names as
 * parent or base_full. Everything else goes. So a chain is deleted only as a
 * whole and only when no kept backup still needs any part of it. A deletion
 * first renames DEST/<id> to DEST/.deleting-<id> (hidden: restore, reconcile
 * and retention ignore it) and syncs DEST, then removes the files; children
 * are deleted before their parents, so a crash midway leaves valid chains
 * only. Each deletion is logged on stderr and recorded as a catalog event
 * of kind "deleted"; the catalog document stays, with deleted: true. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "catalog_impl.h"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

static int remove_tree(const char *path)
{
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Leftovers of a deletion a crash interrupted: finish them. */
static void finish_interrupted(const char *dest)
{
    DIR *d = opendir(dest);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".deleting-", 10) == 0) {
            char path[PATH_MAX + 300];
            snprintf(path, sizeof path, "%s/%s", dest, e->d_name);
            if (remove_tree(path) == 0) {
                fprintf(stderr, "tally: retention: finished an interrupted deletion (%s)\n", e->d_name);
            }
        }
    }
    closedir(d);
}

static int index_of(const struct catalog_manifest *m, int n, const char *id)
{
    for (int i = 0; id[0] != '\0' && i < n; i++) {
        if (strcmp(m[i].id, id) == 0) {
            return i;
        }
    }
    return -1;
}

/* Marks what the kept backups need, following parent and base_full links
 * until nothing changes (chains are short; n is small). */
static void mark_needed(const struct catalog_manifest *m, int n, bool *keep)
{
    bool is_changed = true;
    while (is_changed) {
        is_changed = false;
        for (int i = 0; i < n; i++) {
            if (!keep[i]) {
                continue;
            }
            int links[2] = {index_of(m, n, m[i].parent), index_of(m, n, m[i].base_full)};
            for (int k = 0; k < 2; k++) {
                if (links[k] >= 0 && !keep[links[k]]) {
                    keep[links[k]] = true;
                    is_changed = true;
                }
            }
        }
    }
}

static int delete_one(const char *dest, const struct catalog_manifest *m, int keep_full, char *errbuf,
                      size_t errlen)
{
    char from[PATH_MAX + 256], to[PATH_MAX + 256];
    snprintf(from, sizeof from, "%s/%s", dest, m->id);
    snprintf(to, sizeof to, "%s/.deleting-%s", dest, m->id);
    if (rename(from, to) != 0) {
        snprintf(errbuf, errlen, "cannot delete backup %s (rename %s): %s", m->id, from, strerror(errno));
        return -1;
    }
    int fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    if (remove_tree(to) != 0) {
        fprintf(stderr, "tally: retention: backup %s is gone but %s could not be removed fully: %s\n", m->id, to,
                strerror(errno));
    }
    char reason[96];
    snprintf(reason, sizeof reason, "retention: keep-full %d", keep_full);
    fprintf(stderr, "tally: retention: deleted %s backup %s (chain of %s; keep-full %d)\n", m->type, m->id,
            m->base_full[0] ? m->base_full : "-", keep_full);
    bson_t event = BSON_INITIALIZER;
    char now[40];
    catalog_now_iso(now, sizeof now);
    BSON_APPEND_UTF8(&event, "id", m->id);
    BSON_APPEND_UTF8(&event, "kind", "deleted");
    BSON_APPEND_UTF8(&event, "type", m->type);
    BSON_APPEND_UTF8(&event, "destination", dest);
    const char *source = catalog_str(m->doc, "source");
    const char *set = catalog_str(m->doc, "set_name");
    BSON_APPEND_UTF8(&event, "source", source ? source : "");
    BSON_APPEND_UTF8(&event, "set_name", set ? set : "");
    BSON_APPEND_UTF8(&event, "reason", reason);
    BSON_APPEND_UTF8(&event, "event_time", now);
    catalog_record_event(&event);
    bson_destroy(&event);
    return 0;
}

int catalog_retention_apply(const char *dest_in, int keep_full, char *errbuf, size_t errlen)
{
    if (keep_full < 1) {
        snprintf(errbuf, errlen, "keep-full must be at least 1");
        return -1;
    }
    char dest[PATH_MAX];
    if (realpath(dest_in, dest) == NULL) {
        snprintf(errbuf, errlen, "backup folder %s: %s", dest_in, strerror(errno));
        return -1;
    }
    finish_interrupted(dest);
    struct catalog_manifest *m;
    int n = catalog_manifests_load(dest, &m, errbuf, errlen);
    if (n < 0) {
        return -1;
    }
    bool *keep = bson_malloc0((size_t)(n > 0 ? n : 1) * sizeof *keep);
    /* Ids sort by start time: walk from the newest to find the kept fulls. */
    int n_full = 0, oldest_kept = n;
    for (int i = n - 1; i >= 0 && n_full < keep_full; i--) {
        if (strcmp(m[i].type, "full") == 0) {
            n_full++;
            oldest_kept = i;
        }
    }
    if (n_full < keep_full) {
        oldest_kept = 0;
    }
    for (int i = oldest_kept; i < n; i++) {
        keep[i] = true;
    }
    mark_needed(m, n, keep);
    int n_deleted = 0, rc = 0;
    for (int i = n - 1; i >= 0 && rc == 0; i--) {
        if (!keep[i]) {
            rc = delete_one(dest, &m[i], keep_full, errbuf, errlen);
            n_deleted += rc == 0 ? 1 : 0;
        }
    }
    bson_free(keep);
    catalog_manifests_free(m, n);
    return rc == 0 ? n_deleted : -1;
}

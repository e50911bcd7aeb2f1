/* `tally backup verify`: proves a backup restores.
 *
 * Restores the chosen backup (default: the newest) into a scratch folder
 * ($TMPDIR or /tmp, removed afterwards) exactly as `tally restore --backup ID`
 * would, which already checks every file's size and sha256 and every slice's
 * entry count. Then, for a full backup, a temporary tallyd on the result
 * recomputes each collection's document count and content hash and compares
 * them with what the manifest recorded from the snapshot at backup time; for
 * a slice, the restored data must reach exactly the slice's end optime. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup_int.h"

static int compare_collections(const bson_t *want, const bson_t *got, struct backup_error *err)
{
    bson_iter_t wi, gi;
    int n_want = 0, n_bad = 0;
    char first_bad[512] = "";
    bson_iter_init(&wi, want);
    while (bson_iter_next(&wi)) {
        n_want++;
        bson_t w;
        uint32_t len;
        const uint8_t *data;
        if (!BSON_ITER_HOLDS_DOCUMENT(&wi))
            continue;
        bson_iter_document(&wi, &len, &data);
        bson_init_static(&w, data, len);
        bson_iter_t f;
        const char *ns = bson_iter_init_find(&f, &w, "ns") && BSON_ITER_HOLDS_UTF8(&f) ? bson_iter_utf8(&f, NULL) : "";
        int64_t count = bson_iter_init_find(&f, &w, "count") ? bson_iter_as_int64(&f) : -1;
        const char *hash =
            bson_iter_init_find(&f, &w, "hash") && BSON_ITER_HOLDS_UTF8(&f) ? bson_iter_utf8(&f, NULL) : "";
        bool ok = false;
        int64_t got_count = -1;
        bson_iter_init(&gi, got);
        while (bson_iter_next(&gi)) {
            bson_t g;
            bson_iter_document(&gi, &len, &data);
            bson_init_static(&g, data, len);
            bson_iter_t h;
            if (!bson_iter_init_find(&h, &g, "ns") || strcmp(bson_iter_utf8(&h, NULL), ns) != 0)
                continue;
            got_count = bson_iter_init_find(&h, &g, "count") ? bson_iter_as_int64(&h) : -1;
            ok = got_count == count && bson_iter_init_find(&h, &g, "hash") &&
                 strcmp(bson_iter_utf8(&h, NULL), hash) == 0;
        }
        printf("  %-40s %10lld documents  %s\n", ns, (long long)count, ok ? "ok" : "MISMATCH");
        if (!ok && n_bad++ == 0)
            snprintf(first_bad, sizeof first_bad, "%s (recorded %lld documents, restored %lld)", ns,
                     (long long)count, (long long)got_count);
    }
    int n_got = 0;
    bson_iter_init(&gi, got);
    while (bson_iter_next(&gi))
        n_got++;
    if (n_bad > 0) {
        snprintf(err->msg, sizeof err->msg, "verify failed: %d collection(s) differ from the manifest, first %s",
                 n_bad, first_bad);
        return -1;
    }
    if (n_got != n_want) {
        snprintf(err->msg, sizeof err->msg, "verify failed: the restore holds %d collections, the manifest %d", n_got,
                 n_want);
        return -1;
    }
    return 0;
}

int backup_verify(const char *from, const char *backup_id, const char *tallyd_given, struct backup_error *err)
{
    struct bk_manifest *list;
    int n;
    if (manifest_scan(from, &list, &n, err) < 0)
        return -1;
    const struct bk_manifest *m = NULL;
    if (backup_id != NULL) {
        m = manifest_find(list, n, backup_id);
        if (m == NULL) {
            snprintf(err->msg, sizeof err->msg, "no backup with id %s in %s", backup_id, from);
            manifest_scan_free(list, n);
            return -1;
        }
    } else {
        for (int i = 0; i < n; i++)
            if (m == NULL || list[i].end.ts > m->end.ts || (list[i].end.ts == m->end.ts && strcmp(list[i].id, m->id) > 0))
                m = &list[i];
        if (m == NULL) {
            snprintf(err->msg, sizeof err->msg, "%s holds no backups to verify", from);
            manifest_scan_free(list, n);
            return -1;
        }
    }
    char tmpl[PATH_MAX];
    const char *tmpdir = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/tally-verify-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (mkdtemp(tmpl) == NULL) {
        manifest_scan_free(list, n);
        return backup_io_error(err, "create a scratch folder", tmpl, errno);
    }
    char dbpath[PATH_MAX + 16];
    snprintf(dbpath, sizeof dbpath, "%s/db", tmpl);
    struct restore_options ro = {.from = from, .dbpath = dbpath, .backup_id = m->id, .tallyd = tallyd_given,
                                 .is_quiet = true};
    struct restore_result rr;
    int rc = restore_run(&ro, &rr, err);
    printf("verify %s (%s, chain of %d)\n", m->id, backup_type_name(m->type), rc == 0 ? rr.n_chain : 0);
    if (rc == 0 && m->type == BACKUP_FULL) {
        char tallyd[PATH_MAX + 128], logpath[PATH_MAX + 64];
        snprintf(logpath, sizeof logpath, "%s/verify-tallyd.log", tmpl);
        struct tmp_server s;
        rc = tmp_server_find_binary(tallyd_given, tallyd, sizeof tallyd, err);
        if (rc == 0)
            rc = tmp_server_start(tallyd, dbpath, logpath, &s, err);
        if (rc == 0) {
            bson_t got = BSON_INITIALIZER;
            rc = backup_hash_collections(s.client, &got, err);
            struct backup_error e2;
            tmp_server_stop(&s, &e2);
            if (rc == 0)
                rc = compare_collections(m->collections, &got, err);
            bson_destroy(&got);
        }
    } else if (rc == 0 && rr.end_ts != m->end.ts) {
        snprintf(err->msg, sizeof err->msg,
                 "verify failed: the restore of %s reaches Timestamp(%u, %u), the manifest says Timestamp(%u, %u)",
                 m->id, (unsigned)(rr.end_ts >> 32), (unsigned)rr.end_ts, (unsigned)(m->end.ts >> 32),
                 (unsigned)m->end.ts);
        rc = -1;
    } else if (rc == 0) {
        printf("  %lld oplog entries applied, end Timestamp(%u, %u): ok\n", (long long)rr.entries_applied,
               (unsigned)(rr.end_ts >> 32), (unsigned)rr.end_ts);
    }
    backup_rm_rf(tmpl);
    manifest_scan_free(list, n);
    return rc;
}

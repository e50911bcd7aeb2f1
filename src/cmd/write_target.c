/* write_target.c - the storage side of the write commands' shared helpers.
 *
 * Finds (and on first write creates) the collection a write goes to, and
 * collects the documents a statement targets into owned copies before the
 * statement changes anything: the scan is closed before the first store
 * write, so an update never meets a document it already changed (e.g. an
 * index scan on a field the update increments). Declared in write_common.h. */
#include "cmd/exec.h"
#include "cmd/write_common.h"

#include "core/mem.h"

bool write_is_fatal(int rc)
{
    return rc == -ERR_OUT_OF_DISK_SPACE || rc == -ERR_INTERNAL_ERROR;
}

int write_coll_get(struct store_txn *t, const char *db, const char *coll, bool is_create, struct coll_info **out,
                   bool *is_created, struct err *e)
{
    struct coll_info *c = NULL;
    int rc = store_coll_find(t, db, coll, &c, e);

    if (is_created)
        *is_created = false;
    if (rc < 0)
        return rc;
    if (c == NULL && is_create) {
        rc = store_coll_create(t, db, coll, NULL, &c, e);
        if (rc < 0)
            return rc;
        if (is_created)
            *is_created = true;
    }
    *out = c;
    return 0;
}

int write_targets_collect(struct store_txn *t, const struct coll_info *c, const struct matcher *m, int64_t limit,
                          struct write_target **out, int *n_out, struct err *e)
{
    struct exec_scan *scan = NULL;
    struct write_target *targets = NULL;
    int n = 0, cap = 0, rc;

    rc = exec_scan_open(t, c, m, false, NULL, &scan, e);
    if (rc < 0)
        return rc;
    while (limit == 0 || n < limit) {
        bson_t doc;
        int pos = -1;

        rc = exec_scan_next(scan, &doc, &pos, e);
        if (rc < 0)
            goto fail_scan;
        if (rc == 0)
            break;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            targets = xrealloc(targets, (size_t)cap * sizeof *targets);
        }
        targets[n].doc = bson_copy(&doc);
        targets[n].positional_index = pos;
        n++;
    }
    exec_scan_close(scan);
    *out = targets;
    *n_out = n;
    return 0;

fail_scan:
    exec_scan_close(scan);
    write_targets_free(targets, n);
    return rc;
}

void write_targets_free(struct write_target *targets, int n)
{
    for (int i = 0; i < n; i++)
        bson_destroy(targets[i].doc);
    free(targets);
}

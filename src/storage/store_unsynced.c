/* store_unsynced.c - writerSkipFsync: unsynced commits and the snapshot of
 * the last synced state (see store_unsynced.h).
 *
 * Only the writer thread calls in, so the one piece of state (which store is
 * unsynced) needs no lock. The snapshot is written to a temporary directory
 * and renamed into place, so a crash during the copy never leaves a partial
 * snapshot that a test would mistake for the synced state. */
#include "storage/store_unsynced.h"

#include "core/failpoint.h"
#include "core/log.h"
#include "storage/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAPSHOT_DIR "unsynced-snapshot"

static struct store *unsynced_store; /* writer thread only */
static bool was_nosync;              /* the store's own setting, restored afterwards */

static void remove_dir(const char *dir)
{
    char path[4096 + 32];

    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

static int take_snapshot(struct store *s)
{
    char tmp[4096], final[4096];
    int rc;

    snprintf(tmp, sizeof tmp, "%s/%s.tmp", s->dbpath, SNAPSHOT_DIR);
    snprintf(final, sizeof final, "%s/%s", s->dbpath, SNAPSHOT_DIR);
    remove_dir(tmp);
    remove_dir(final);
    if (mkdir(tmp, 0700) != 0) {
        log_error(LOGC_STORAGE, "writerSkipFsync: cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    /* Everything committed so far was fsync'd: this copy is the synced state.
     * The compacting copy reads through a read transaction; the plain one
     * would take the writer lock this thread already holds. */
    if ((rc = mdb_env_copy2(s->env, tmp, MDB_CP_COMPACT)) != 0) {
        log_error(LOGC_STORAGE, "writerSkipFsync: cannot copy the data file: %s", mdb_strerror(rc));
        remove_dir(tmp);
        return -1;
    }
    if (rename(tmp, final) != 0) {
        log_error(LOGC_STORAGE, "writerSkipFsync: cannot rename %s: %s", tmp, strerror(errno));
        remove_dir(tmp);
        return -1;
    }
    return 0;
}

void store_unsynced_before_commit(struct store *s)
{
    bool is_on = failpoint_is_armed(FP_WRITER_SKIP_FSYNC) && failpoint_enter(FP_WRITER_SKIP_FSYNC, NULL);

    if (is_on && unsynced_store == NULL) {
        if (take_snapshot(s) < 0)
            return;
        unsigned flags = 0;
        mdb_env_get_flags(s->env, &flags);
        was_nosync = (flags & MDB_NOSYNC) != 0;
        mdb_env_set_flags(s->env, MDB_NOSYNC, 1);
        unsynced_store = s;
        log_warn(LOGC_STORAGE, "writerSkipFsync: commits are no longer fsync'd; the last synced state is in %s/%s",
                 s->dbpath, SNAPSHOT_DIR);
    } else if (!is_on && unsynced_store == s) {
        char final[4096];
        /* This commit fsyncs again; the data file's flush covers the pages of
         * every unsynced commit before it, so the snapshot is obsolete once
         * the sync below returned. */
        if (!was_nosync)
            mdb_env_set_flags(s->env, MDB_NOSYNC, 0);
        mdb_env_sync(s->env, 1);
        snprintf(final, sizeof final, "%s/%s", s->dbpath, SNAPSHOT_DIR);
        remove_dir(final);
        unsynced_store = NULL;
        log_warn(LOGC_STORAGE, "writerSkipFsync: commits are fsync'd again");
    }
}

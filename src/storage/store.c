/* store.c - the LMDB environment: open/close, transactions, meta records.
 *
 * One environment per data directory (data.mdb + lock.mdb), guarded by an
 * exclusive flock on dbpath/tallyd.lock because LMDB itself lets several
 * processes share an environment. Commits fsync (LMDB's default): after a
 * crash every committed transaction is present. The meta sub-database holds
 * the format version, the id counters and per-collection statistics; see
 * docs/storage.md. It also holds the change-hook registry: the other storage
 * files report each change through store_hook_report. */
#include "storage/store_int.h"

#include "core/log.h"
#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_DEFAULT_MAP_BYTES (64ull << 30)
#define STORE_MAX_READERS 1024
#define STORE_MAX_DBS 16

static const char META_FORMAT_VERSION[] = "format_version";

void store_put_u64_be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

uint64_t store_get_u64_be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

int store_mdb_err(int rc, const char *what, struct err *e)
{
    if (rc == MDB_MAP_FULL)
        return err_set(e, ERR_OUT_OF_DISK_SPACE, "%s: the data file is full: raise storage map size (storage.mapSizeMB)",
                       what);
    if (rc == ENOSPC)
        return err_set(e, ERR_OUT_OF_DISK_SPACE, "%s: no space left on device", what);
    if (rc == MDB_TXN_FULL)
        return err_set(e, ERR_INTERNAL_ERROR, "%s: transaction too large (too many changed pages in one write)", what);
    return err_set(e, ERR_INTERNAL_ERROR, "%s: %s", what, mdb_strerror(rc));
}

static int store_lock_dbpath(const char *dbpath, int *fd_out, struct err *e)
{
    struct stat st;
    if (stat(dbpath, &st) != 0) {
        if (errno == ENOENT)
            return err_set(e, ERR_NON_EXISTENT_PATH,
                           "Data directory %s not found. Create the missing directory or specify another path "
                           "using --dbpath or storage.dbPath",
                           dbpath);
        return err_set(e, ERR_OPERATION_FAILED, "cannot access data directory %s: %s", dbpath, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return err_set(e, ERR_OPERATION_FAILED, "data directory %s is not a directory", dbpath);
    if (access(dbpath, R_OK | W_OK | X_OK) != 0)
        return err_set(e, ERR_OPERATION_FAILED,
                       "data directory %s is not writable by this user: fix its permissions or choose another "
                       "--dbpath",
                       dbpath);

    size_t n = strlen(dbpath) + sizeof "/tallyd.lock";
    char *path = xmalloc(n);
    snprintf(path, n, "%s/tallyd.lock", dbpath);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int rc = err_set(e, ERR_OPERATION_FAILED, "cannot open lock file %s: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int rc = err_set(e, ERR_OPERATION_FAILED,
                         "another tallyd process is already using data directory %s (lock file %s is held): stop "
                         "it or choose another --dbpath",
                         dbpath, path);
        close(fd);
        free(path);
        return rc;
    }
    free(path);
    *fd_out = fd;
    return 0;
}

/* Opens the sub-databases and checks (or, for a new environment, writes) the format version. */
static int store_init_dbs(struct store *s, struct err *e)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return store_mdb_err(rc, "begin startup transaction", e);
    if ((rc = mdb_dbi_open(txn, "catalog", MDB_CREATE, &s->dbi_catalog)) != 0 ||
        (rc = mdb_dbi_open(txn, "records", MDB_CREATE, &s->dbi_records)) != 0 ||
        (rc = mdb_dbi_open(txn, "indexes", MDB_CREATE, &s->dbi_indexes)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->dbi_meta)) != 0 ||
        (rc = mdb_dbi_open(txn, "oplog", MDB_CREATE, &s->dbi_oplog)) != 0 ||
        (rc = mdb_dbi_open(txn, "repl", MDB_CREATE, &s->dbi_repl)) != 0 ||
        (rc = mdb_dbi_open(txn, "undo", MDB_CREATE, &s->dbi_undo)) != 0) {
        mdb_txn_abort(txn);
        return store_mdb_err(rc, "open sub-databases", e);
    }
    MDB_val k = {sizeof META_FORMAT_VERSION - 1, (void *)META_FORMAT_VERSION}, v;
    rc = mdb_get(txn, s->dbi_meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        uint8_t buf[8];
        store_put_u64_be(buf, STORE_FORMAT_VERSION);
        v.mv_size = sizeof buf;
        v.mv_data = buf;
        rc = mdb_put(txn, s->dbi_meta, &k, &v, 0);
    } else if (rc == 0) {
        uint64_t version = v.mv_size == 8 ? store_get_u64_be(v.mv_data) : UINT64_MAX;
        if (version != STORE_FORMAT_VERSION) {
            mdb_txn_abort(txn);
            return err_set(e, ERR_UNSUPPORTED_FORMAT,
                           "data directory %s holds storage format version %llu; this tallyd reads only version %u: "
                           "use a matching tallyd or restore into an empty directory",
                           s->dbpath, (unsigned long long)version, STORE_FORMAT_VERSION);
        }
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return store_mdb_err(rc, "read format version", e);
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0)
        return store_mdb_err(rc, "commit startup transaction", e);
    return 0;
}

int store_open(const char *dbpath, const struct store_options *opt, struct store **out, struct err *e)
{
    int lock_fd = -1;
    int rc = store_lock_dbpath(dbpath, &lock_fd, e);
    if (rc < 0)
        return rc;

    struct store *s = xcalloc(1, sizeof *s);
    s->lock_fd = lock_fd;
    s->dbpath = xstrdup(dbpath);
    int mrc = mdb_env_create(&s->env);
    if (mrc != 0) {
        rc = store_mdb_err(mrc, "create LMDB environment", e);
        s->env = NULL;
        goto fail;
    }
    uint64_t map_bytes = opt && opt->map_size_bytes ? opt->map_size_bytes : STORE_DEFAULT_MAP_BYTES;
    unsigned flags = MDB_NOTLS | (opt && opt->is_nosync ? MDB_NOSYNC : 0);
    if ((mrc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS)) != 0 ||
        (mrc = mdb_env_set_maxreaders(s->env, STORE_MAX_READERS)) != 0 ||
        (mrc = mdb_env_set_mapsize(s->env, (size_t)map_bytes)) != 0) {
        rc = store_mdb_err(mrc, "configure LMDB environment", e);
        goto fail;
    }
    mrc = mdb_env_open(s->env, dbpath, flags, 0600);
    if (mrc != 0) {
        rc = err_set(e, mrc == MDB_INVALID || mrc == MDB_VERSION_MISMATCH ? ERR_UNSUPPORTED_FORMAT : ERR_OPERATION_FAILED,
                     "cannot open data files in %s: %s", dbpath, mdb_strerror(mrc));
        goto fail;
    }
    int n_stale = 0;
    mdb_reader_check(s->env, &n_stale);
    if (n_stale > 0)
        log_info(LOGC_STORAGE, "cleared %d stale LMDB reader slots left by a crashed process", n_stale);
    s->max_key_bytes = (size_t)mdb_env_get_maxkeysize(s->env);
    rc = store_init_dbs(s, e);
    if (rc < 0)
        goto fail;
    *out = s;
    return 0;

fail:
    if (s->env)
        mdb_env_close(s->env);
    close(s->lock_fd);
    free(s->dbpath);
    free(s);
    return rc;
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    mdb_env_close(s->env);
    close(s->lock_fd); /* releases the flock */
    free(s->dbpath);
    free(s);
}

int64_t store_file_bytes(struct store *s)
{
    size_t n = strlen(s->dbpath) + sizeof "/data.mdb";
    char *path = xmalloc(n);
    snprintf(path, n, "%s/data.mdb", s->dbpath);
    struct stat st;
    int64_t size = stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
    free(path);
    return size;
}

static int store_txn_begin(struct store *s, bool is_write, struct store_txn **out, struct err *e)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, is_write ? 0 : MDB_RDONLY, &txn);
    if (rc != 0)
        return store_mdb_err(rc, is_write ? "begin write transaction" : "begin read transaction", e);
    struct store_txn *t = xmalloc(sizeof *t);
    t->s = s;
    t->txn = txn;
    t->is_write = is_write;
    t->is_hook_enabled = true;
    *out = t;
    return 0;
}

int store_txn_begin_read(struct store *s, struct store_txn **out, struct err *e)
{
    return store_txn_begin(s, false, out, e);
}

int store_txn_begin_write(struct store *s, struct store_txn **out, struct err *e)
{
    return store_txn_begin(s, true, out, e);
}

void store_txn_end(struct store_txn *t)
{
    if (t == NULL)
        return;
    mdb_txn_abort(t->txn);
    free(t);
}

int store_txn_commit(struct store_txn *t, struct err *e)
{
    int rc = mdb_txn_commit(t->txn);
    free(t);
    if (rc != 0)
        return store_mdb_err(rc, "commit", e);
    return 0;
}

int store_meta_next_id(struct store_txn *t, const char *name, uint64_t *out, struct err *e)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    uint64_t next = 1;
    int rc = mdb_get(t->txn, t->s->dbi_meta, &k, &v);
    if (rc == 0 && v.mv_size == 8)
        next = store_get_u64_be(v.mv_data);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(rc, "read id counter", e);
    uint8_t buf[8];
    store_put_u64_be(buf, next + 1);
    v.mv_size = sizeof buf;
    v.mv_data = buf;
    rc = mdb_put(t->txn, t->s->dbi_meta, &k, &v, 0);
    if (rc != 0)
        return store_mdb_err(rc, "write id counter", e);
    *out = next;
    return 0;
}

static void counters_key(uint8_t *key, uint64_t coll_id)
{
    key[0] = 's';
    store_put_u64_be(key + 1, coll_id);
}

int store_counters_get(struct store_txn *t, uint64_t coll_id, struct coll_counters *out, struct err *e)
{
    uint8_t key[9];
    counters_key(key, coll_id);
    MDB_val k = {sizeof key, key}, v;
    memset(out, 0, sizeof *out);
    int rc = mdb_get(t->txn, t->s->dbi_meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return store_mdb_err(rc, "read collection statistics", e);
    if (v.mv_size != 24)
        return err_set(e, ERR_INTERNAL_ERROR, "corrupt statistics record for collection id %llu",
                       (unsigned long long)coll_id);
    const uint8_t *p = v.mv_data;
    out->n_docs = (int64_t)store_get_u64_be(p);
    out->data_bytes = (int64_t)store_get_u64_be(p + 8);
    out->next_seq = store_get_u64_be(p + 16);
    return 0;
}

int store_counters_put(struct store_txn *t, uint64_t coll_id, const struct coll_counters *in, struct err *e)
{
    uint8_t key[9], buf[24];
    counters_key(key, coll_id);
    store_put_u64_be(buf, (uint64_t)in->n_docs);
    store_put_u64_be(buf + 8, (uint64_t)in->data_bytes);
    store_put_u64_be(buf + 16, in->next_seq);
    MDB_val k = {sizeof key, key}, v = {sizeof buf, buf};
    int rc = mdb_put(t->txn, t->s->dbi_meta, &k, &v, 0);
    if (rc != 0)
        return store_mdb_err(rc, "write collection statistics", e);
    return 0;
}

int store_counters_delete(struct store_txn *t, uint64_t coll_id, struct err *e)
{
    uint8_t key[9];
    counters_key(key, coll_id);
    MDB_val k = {sizeof key, key};
    int rc = mdb_del(t->txn, t->s->dbi_meta, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(rc, "delete collection statistics", e);
    return 0;
}

int store_delete_prefix(struct store_txn *t, MDB_dbi dbi, uint64_t id, struct err *e)
{
    uint8_t prefix[STORE_ID_LEN];
    store_put_u64_be(prefix, id);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, dbi, &cur);
    if (rc != 0)
        return store_mdb_err(rc, "open cursor", e);
    MDB_val k = {sizeof prefix, prefix}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= STORE_ID_LEN && memcmp(k.mv_data, prefix, STORE_ID_LEN) == 0) {
        rc = mdb_cursor_del(cur, 0);
        if (rc != 0)
            break;
        /* Re-seek rather than trust the cursor's state after a delete at the end of a page. */
        k.mv_size = sizeof prefix;
        k.mv_data = prefix;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(rc, "delete entries", e);
    return 0;
}

void store_set_change_hook(struct store *s, store_change_cb cb, void *arg)
{
    s->change_cb = cb;
    s->change_arg = arg;
}

void store_txn_set_hook_enabled(struct store_txn *t, bool is_enabled)
{
    t->is_hook_enabled = is_enabled;
}

struct store *store_txn_store(struct store_txn *t)
{
    return t->s;
}

int store_hook_report(struct store_txn *t, const struct store_change *c, struct err *e)
{
    if (!store_hook_is_active(t))
        return 0;
    return t->s->change_cb(t, c, t->s->change_arg, e);
}

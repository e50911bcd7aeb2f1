/* snapshot.c - a consistent hot copy of the LMDB environment as a stream
 * (see snapshot.h).
 *
 * Exactness of the optime: LMDB 0.9 cannot copy from a caller's transaction,
 * so the copy must begin its own while nothing can commit. The writer thread
 * is the only one that writes; writer_pause returns when it sits between
 * transactions. During the pause we read the newest oplog entry, start the
 * copy thread and wait for its first bytes on the pipe: the compacting copy
 * begins its read transaction before it produces anything, so from then on
 * it sees exactly the paused state, and the writer resumes. Writes wait only
 * for that start (the copy's first 1 MiB buffer: milliseconds).
 *
 * Failure and abort: the copy thread blocks SIGPIPE, so closing the read end
 * makes its writes fail with EPIPE and mdb_env_copyfd2 return; the thread
 * then ends and its read transaction with it. End of stream is reported only
 * after the thread has been joined and the copy returned success. */
#include "storage/snapshot.h"

#include "storage/oplog.h"
#include "storage/store_int.h"

#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#define PIPE_BYTES (1 << 20)
#define START_TIMEOUT_MS 60000

struct snapshot_hash {
    EVP_MD_CTX *ctx;
};

struct snapshot {
    struct store *s;
    int fd_r;             /* read end; -1 once closed */
    int fd_w;             /* write end, owned by the copy thread once it runs */
    pthread_t thread;
    bool is_thread_running; /* not yet joined */
    int copy_rc;          /* mdb_env_copyfd2's result (valid after join) */
    uint8_t *pending;     /* bytes read during the start, returned first */
    size_t n_pending, i_pending;
    bool is_eof;
    uint64_t n_bytes;
    struct snapshot_hash *hash;
};

struct snapshot_hash *snapshot_hash_new(void)
{
    struct snapshot_hash *h = xcalloc(1, sizeof *h);
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
        abort(); /* out of memory inside OpenSSL: the same policy as xmalloc */
    return h;
}

void snapshot_hash_update(struct snapshot_hash *h, const void *data, size_t n)
{
    EVP_DigestUpdate(h->ctx, data, n);
}

void snapshot_hash_final(struct snapshot_hash *h, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";

    EVP_DigestFinal_ex(h->ctx, md, &n);
    for (unsigned int i = 0; i < n && i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * (n < 32 ? n : 32)] = '\0';
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

static void *copy_main(void *arg)
{
    struct snapshot *sn = arg;
    sigset_t set;

    /* A closed reader must surface as EPIPE here, not kill the process;
     * LMDB's own writer thread inherits this mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    sn->copy_rc = mdb_env_copyfd2(sn->s->env, sn->fd_w, MDB_CP_COMPACT);
    close(sn->fd_w);
    sn->fd_w = -1;
    return NULL;
}

static void join_copy(struct snapshot *sn)
{
    if (sn->is_thread_running) {
        pthread_join(sn->thread, NULL);
        sn->is_thread_running = false;
    }
}

/* Waits up to timeout_ms for the read end: 1 readable (data or EOF), 0 timeout, -1 error. */
static int wait_readable(int fd, int64_t timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        int rc = poll(&p, 1, timeout_ms > INT32_MAX ? INT32_MAX : (int)timeout_ms);
        if (rc < 0 && errno == EINTR)
            continue;
        return rc < 0 ? -1 : rc > 0 ? 1 : 0;
    }
}

static int read_meta(struct store *s, struct snapshot_meta *meta, struct err *e)
{
    struct store_txn *t;
    bson_t entry;
    bson_iter_t it;
    MDB_envinfo info;
    MDB_stat st;
    int rc = store_txn_begin_read(s, &t, e);

    if (rc < 0)
        return rc;
    meta->optime = OPTIME_NULL;
    meta->wall_ms = 0;
    rc = oplog_last(t, &meta->optime, &entry, e);
    if (rc == 1 && bson_iter_init_find(&it, &entry, "wall") && BSON_ITER_HOLDS_DATE_TIME(&it))
        meta->wall_ms = bson_iter_date_time(&it);
    store_txn_end(t);
    if (rc < 0)
        return rc;
    if (rc == 0)
        meta->optime = OPTIME_NULL;
    meta->data_bytes = 0;
    if (mdb_env_info(s->env, &info) == 0 && mdb_env_stat(s->env, &st) == 0)
        meta->data_bytes = (int64_t)(info.me_last_pgno + 1) * (int64_t)st.ms_psize;
    return 0;
}

/* With the writer paused: the optime, the copy thread, its first bytes. */
static int start_paused(struct snapshot *sn, struct snapshot_meta *meta, struct err *e)
{
    int fds[2];
    int rc = read_meta(sn->s, meta, e);

    if (rc < 0)
        return rc;
    if (pipe2(fds, O_CLOEXEC) != 0)
        return err_set(e, ERR_INTERNAL_ERROR, "snapshot: cannot create a pipe: %s", strerror(errno));
    sn->fd_r = fds[0];
    sn->fd_w = fds[1];
    /* Fewer wake-ups per MiB; the default size works too. */
    (void)fcntl(sn->fd_w, F_SETPIPE_SZ, PIPE_BYTES);
    rc = pthread_create(&sn->thread, NULL, copy_main, sn);
    if (rc != 0) {
        close(sn->fd_w);
        sn->fd_w = -1;
        return err_set(e, ERR_INTERNAL_ERROR, "snapshot: cannot start the copy thread: %s", strerror(rc));
    }
    sn->is_thread_running = true;
    if (wait_readable(sn->fd_r, START_TIMEOUT_MS) <= 0)
        return err_set(e, ERR_INTERNAL_ERROR, "snapshot: the copy did not start within %d s", START_TIMEOUT_MS / 1000);
    sn->pending = xmalloc(PIPE_BYTES);
    ssize_t n;
    do {
        n = read(sn->fd_r, sn->pending, PIPE_BYTES);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return err_set(e, ERR_INTERNAL_ERROR, "snapshot: reading the copy failed: %s", strerror(errno));
    sn->n_pending = (size_t)n;
    sn->is_eof = n == 0;
    return 0;
}

int snapshot_start(struct store *s, struct writer *w, struct snapshot **out, struct snapshot_meta *meta,
                   struct err *e)
{
    struct snapshot *sn = xcalloc(1, sizeof *sn);
    int rc;

    sn->s = s;
    sn->fd_r = sn->fd_w = -1;
    if (w)
        writer_pause(w);
    rc = start_paused(sn, meta, e);
    if (w)
        writer_resume(w);
    if (rc < 0) {
        snapshot_destroy(sn);
        return rc;
    }
    sn->hash = snapshot_hash_new();
    *out = sn;
    return 0;
}

/* EOF on the pipe: the stream is good only if the copy said so. */
static int finish_stream(struct snapshot *sn, struct err *e)
{
    join_copy(sn);
    if (sn->copy_rc != 0)
        return store_mdb_err(sn->copy_rc, "snapshot copy", e);
    return 0;
}

int64_t snapshot_read(struct snapshot *sn, uint8_t *buf, size_t cap, int64_t timeout_ms, struct err *e)
{
    size_t n = 0;

    if (sn->fd_r < 0)
        return err_set(e, ERR_INTERNAL_ERROR, "snapshot: the stream was closed");
    while (n < cap && sn->i_pending < sn->n_pending) {
        size_t k = sn->n_pending - sn->i_pending;
        if (k > cap - n)
            k = cap - n;
        memcpy(buf + n, sn->pending + sn->i_pending, k);
        sn->i_pending += k;
        n += k;
    }
    while (n < cap && !sn->is_eof) {
        int w = wait_readable(sn->fd_r, timeout_ms);
        if (w <= 0)
            return err_set(e, ERR_INTERNAL_ERROR, "snapshot: the copy produced nothing for %lld ms",
                           (long long)timeout_ms);
        ssize_t k = read(sn->fd_r, buf + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return err_set(e, ERR_INTERNAL_ERROR, "snapshot: reading the copy failed: %s", strerror(errno));
        if (k == 0)
            sn->is_eof = true;
        n += (size_t)k;
    }
    if (sn->is_eof && sn->i_pending >= sn->n_pending) {
        int rc = finish_stream(sn, e);
        if (rc < 0)
            return rc;
    }
    snapshot_hash_update(sn->hash, buf, n);
    sn->n_bytes += n;
    return (int64_t)n;
}

uint64_t snapshot_n_bytes(const struct snapshot *sn)
{
    return sn->n_bytes;
}

void snapshot_sha256_hex(struct snapshot *sn, char *out)
{
    struct snapshot_hash *h = sn->hash;

    sn->hash = NULL;
    if (h == NULL) {
        out[0] = '\0';
        return;
    }
    snapshot_hash_final(h, out);
    sn->hash = snapshot_hash_new(); /* the caller asks once, at the end */
}

void snapshot_destroy(struct snapshot *sn)
{
    if (sn == NULL)
        return;
    /* Closing the read end makes a running copy fail with EPIPE and end. */
    if (sn->fd_r >= 0)
        close(sn->fd_r);
    sn->fd_r = -1;
    if (sn->is_thread_running)
        join_copy(sn);
    else if (sn->fd_w >= 0)
        close(sn->fd_w);
    if (sn->hash) {
        char tmp[65];
        snapshot_hash_final(sn->hash, tmp);
    }
    free(sn->pending);
    free(sn);
}

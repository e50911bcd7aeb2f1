/* Backup files: zstd-compressed, sha256-checksummed, fsync'd.
 *
 * A writer compresses a stream into one file and hashes both sides: the
 * stored (compressed) bytes, whose sha256 the manifest records and a restore
 * checks before it trusts anything, and the raw bytes, so a snapshot can be
 * compared with the checksum the server sent. A reader checks the stored
 * sha256 first (a flipped byte or a truncated file is reported as such, not
 * as a decompression error) and then streams the raw bytes to a callback.
 * Write errors name the file and, for a full disk, say what to do. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "backup_int.h"

#define IO_CHUNK (1 << 20)

static void hex_of(const unsigned char *md, unsigned n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * n] = '\0';
}

void backup_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    hex_of(md, n, out);
}

int backup_io_error(struct backup_error *err, const char *what, const char *path, int errnum)
{
    if (errnum == ENOSPC || errnum == EDQUOT) {
        snprintf(err->msg, sizeof err->msg,
                 "the backup destination is full: %s %s: %s; free some space or choose another --to "
                 "(nothing was recorded as a valid backup)",
                 what, path, strerror(errnum));
    } else {
        snprintf(err->msg, sizeof err->msg, "cannot %s %s: %s", what, path, strerror(errnum));
    }
    return -1;
}

/* Writes all of data to fd, naming path in an error. */
static int write_fd(int fd, const char *path, const void *data, size_t len, struct backup_error *err)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return backup_io_error(err, "write", path, errno);
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_all(struct bfile_writer *w, const void *data, size_t len, struct backup_error *err)
{
    if (write_fd(w->fd, w->path, data, len, err) < 0)
        return -1;
    w->stored_bytes += (int64_t)len;
    return 0;
}

int bfile_open(struct bfile_writer *w, const char *path, struct backup_error *err)
{
    memset(w, 0, sizeof *w);
    snprintf(w->path, sizeof w->path, "%s", path);
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0)
        return backup_io_error(err, "create", path, errno);
    w->cctx = ZSTD_createCCtx();
    w->md_stored = EVP_MD_CTX_new();
    w->md_raw = EVP_MD_CTX_new();
    w->out = malloc(ZSTD_CStreamOutSize());
    if (w->cctx == NULL || w->md_stored == NULL || w->md_raw == NULL || w->out == NULL) {
        bfile_abort(w);
        snprintf(err->msg, sizeof err->msg, "out of memory setting up compression for %s", path);
        return -1;
    }
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, 3);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
    EVP_DigestInit_ex(w->md_stored, EVP_sha256(), NULL);
    EVP_DigestInit_ex(w->md_raw, EVP_sha256(), NULL);
    return 0;
}

static int compress_step(struct bfile_writer *w, ZSTD_inBuffer *in, ZSTD_EndDirective mode, struct backup_error *err)
{
    size_t out_cap = ZSTD_CStreamOutSize();
    for (;;) {
        ZSTD_outBuffer out = {w->out, out_cap, 0};
        size_t left = ZSTD_compressStream2(w->cctx, &out, in, mode);
        if (ZSTD_isError(left)) {
            snprintf(err->msg, sizeof err->msg, "compressing %s failed: %s", w->path, ZSTD_getErrorName(left));
            return -1;
        }
        if (out.pos > 0) {
            EVP_DigestUpdate(w->md_stored, w->out, out.pos);
            if (write_all(w, w->out, out.pos, err) < 0)
                return -1;
        }
        bool done = mode == ZSTD_e_end ? left == 0 : in->pos == in->size;
        if (done)
            return 0;
    }
}

int bfile_write(struct bfile_writer *w, const void *data, size_t len, struct backup_error *err)
{
    EVP_DigestUpdate(w->md_raw, data, len);
    w->raw_bytes += (int64_t)len;
    ZSTD_inBuffer in = {data, len, 0};
    return compress_step(w, &in, ZSTD_e_continue, err);
}

static void writer_free(struct bfile_writer *w)
{
    ZSTD_freeCCtx(w->cctx);
    EVP_MD_CTX_free(w->md_stored);
    EVP_MD_CTX_free(w->md_raw);
    free(w->out);
    w->cctx = NULL;
    w->md_stored = w->md_raw = NULL;
    w->out = NULL;
}

int bfile_close(struct bfile_writer *w, struct backup_error *err)
{
    ZSTD_inBuffer in = {NULL, 0, 0};
    int rc = compress_step(w, &in, ZSTD_e_end, err);
    if (rc == 0 && fsync(w->fd) != 0)
        rc = backup_io_error(err, "fsync", w->path, errno);
    if (close(w->fd) != 0 && rc == 0)
        rc = backup_io_error(err, "close", w->path, errno);
    w->fd = -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(w->md_stored, md, &n);
    hex_of(md, n, w->sha256_stored);
    EVP_DigestFinal_ex(w->md_raw, md, &n);
    hex_of(md, n, w->sha256_raw);
    writer_free(w);
    return rc;
}

void bfile_abort(struct bfile_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    writer_free(w);
}

/* Reads the file at path in pieces of up to cap bytes and hands each to
 * chunk, stopping at the first error (the callback's or a read's). */
static int read_chunks(const char *path, size_t cap, bfile_sink_cb chunk, void *arg, struct backup_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err->msg, sizeof err->msg, "backup file %s is missing or unreadable: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(cap);
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = backup_io_error(err, "read", path, errno);
            break;
        }
        if (n == 0)
            break;
        if ((rc = chunk(buf, (size_t)n, arg, err)) < 0)
            break;
    }
    close(fd);
    free(buf);
    return rc;
}

struct check_state {
    EVP_MD_CTX *md;
    int64_t total;
};

static int check_chunk(const void *buf, size_t len, void *arg, struct backup_error *err)
{
    struct check_state *st = arg;
    (void)err;
    EVP_DigestUpdate(st->md, buf, len);
    st->total += (int64_t)len;
    return 0;
}

int bfile_check(const char *path, const char *sha256_stored, int64_t bytes_stored, struct backup_error *err)
{
    struct check_state st = {EVP_MD_CTX_new(), 0};
    EVP_DigestInit_ex(st.md, EVP_sha256(), NULL);
    int rc = read_chunks(path, IO_CHUNK, check_chunk, &st, err);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dn = 0;
    EVP_DigestFinal_ex(st.md, d, &dn);
    EVP_MD_CTX_free(st.md);
    if (rc < 0)
        return rc;
    char hex[65];
    hex_of(d, dn, hex);
    if (bytes_stored >= 0 && st.total != bytes_stored) {
        snprintf(err->msg, sizeof err->msg,
                 "backup file %s is truncated or damaged: %lld bytes, the manifest says %lld; this backup cannot "
                 "be used (restore from another backup or take a new full backup)",
                 path, (long long)st.total, (long long)bytes_stored);
        return -1;
    }
    if (strcmp(hex, sha256_stored) != 0) {
        snprintf(err->msg, sizeof err->msg,
                 "backup file %s is corrupt: its sha256 is %s, the manifest says %s; this backup cannot be used "
                 "(restore from another backup or take a new full backup)",
                 path, hex, sha256_stored);
        return -1;
    }
    return 0;
}

struct read_state {
    const char *path;
    ZSTD_DCtx *dctx;
    char *outbuf;
    size_t out_cap;
    size_t last; /* the decoder's last return: 0 once a frame is complete */
    bfile_sink_cb sink;
    void *arg;
};

static int read_chunk(const void *buf, size_t len, void *arg, struct backup_error *err)
{
    struct read_state *st = arg;
    ZSTD_inBuffer in = {buf, len, 0};
    int rc = 0;
    while (in.pos < in.size && rc == 0) {
        ZSTD_outBuffer out = {st->outbuf, st->out_cap, 0};
        st->last = ZSTD_decompressStream(st->dctx, &out, &in);
        if (ZSTD_isError(st->last)) {
            snprintf(err->msg, sizeof err->msg, "backup file %s is corrupt: %s", st->path, ZSTD_getErrorName(st->last));
            rc = -1;
        } else if (out.pos > 0) {
            rc = st->sink(st->outbuf, out.pos, st->arg, err);
        }
    }
    return rc;
}

int bfile_read(const char *path, bfile_sink_cb sink, void *arg, struct backup_error *err)
{
    struct read_state st = {path, ZSTD_createDCtx(), NULL, ZSTD_DStreamOutSize(), 0, sink, arg};
    st.outbuf = malloc(st.out_cap);
    int rc = read_chunks(path, ZSTD_DStreamInSize(), read_chunk, &st, err);
    if (rc == 0) {
        /* Drain what the decoder still holds (a return of 0 means the frame
         * is complete; calling again would start waiting for a new one). */
        while (st.last != 0) {
            ZSTD_inBuffer in = {NULL, 0, 0};
            ZSTD_outBuffer out = {st.outbuf, st.out_cap, 0};
            st.last = ZSTD_decompressStream(st.dctx, &out, &in);
            if (ZSTD_isError(st.last) || out.pos == 0)
                break;
            if ((rc = sink(st.outbuf, out.pos, arg, err)) < 0)
                break;
        }
    }
    if (rc == 0 && st.last != 0) {
        snprintf(err->msg, sizeof err->msg, "backup file %s is truncated (the compressed stream ends early)", path);
        rc = -1;
    }
    ZSTD_freeDCtx(st.dctx);
    free(st.outbuf);
    return rc;
}

int backup_fsync_dir(const char *dir, struct backup_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return backup_io_error(err, "open", dir, errno);
    int rc = 0;
    if (fsync(fd) != 0)
        rc = backup_io_error(err, "fsync", dir, errno);
    close(fd);
    return rc;
}

int backup_write_text(const char *path, const char *text, struct backup_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return backup_io_error(err, "create", path, errno);
    if (write_fd(fd, path, text, strlen(text), err) < 0) {
        close(fd);
        return -1;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return backup_io_error(err, "fsync", path, e);
    }
    if (close(fd) != 0)
        return backup_io_error(err, "close", path, errno);
    return 0;
}

char *backup_read_text(const char *path, size_t max_len, struct backup_error *err)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err->msg, sizeof err->msg, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max_len + 1);
    size_t n = fread(buf, 1, max_len + 1, f);
    fclose(f);
    if (n > max_len) {
        free(buf);
        snprintf(err->msg, sizeof err->msg, "%s is too large to be a manifest", path);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

int backup_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char child[4200];
        snprintf(child, sizeof child, "%s/%s", path, de->d_name);
        if (backup_rm_rf(child) != 0)
            rc = -1;
    }
    closedir(d);
    if (rmdir(path) != 0)
        rc = -1;
    return rc;
}

/* What the backup and restore files share inside the tool (not the agent's
 * business: that is backup.h). Manifests in memory, chain selection, the
 * compressed file writer/reader, and the temporary standalone server a
 * restore or a hash check runs. See docs/backups.md. */
#ifndef TALLY_BACKUP_INT_H
#define TALLY_BACKUP_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <mongoc/mongoc.h>
#include <openssl/evp.h>
#include <zstd.h>

#include "backup.h"

/* Messages and paths are built in fixed buffers on purpose (a message cut
 * short is still a message; paths are bounded by PATH_MAX before use). */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define BACKUP_MAX_FILES 4
#define MANIFEST_MAX_BYTES (16 << 20)

struct bk_optime {
    uint64_t ts; /* secs << 32 | inc */
    int64_t term;
};

struct bk_file {
    char name[64];
    int64_t bytes_raw;
    int64_t bytes_stored;
    char sha256[65];     /* of the stored (compressed) file */
    char sha256_raw[65]; /* of the uncompressed content */
};

struct bk_manifest {
    char id[BACKUP_ID_MAX];
    enum backup_type type;
    char parent[BACKUP_ID_MAX];    /* "" = null */
    char base_full[BACKUP_ID_MAX];
    struct bk_optime start, end;
    int64_t start_wall_ms, end_wall_ms;
    int64_t bytes_raw, bytes_stored;
    struct bk_file files[BACKUP_MAX_FILES];
    int n_files;
    char checksum[65];
    char source[128];
    char set_name[128];
    char destination[4096];
    int64_t entries;
    bson_t *collections;           /* array [{ns, count, hash}] (full); owned, a pointer
                                    * because manifests are moved (qsort, realloc) */
    char tool_version[64];
};

/* backup_manifest.c */
const char *backup_type_name(enum backup_type t);
void manifest_init(struct bk_manifest *m);
void manifest_destroy(struct bk_manifest *m);
/* The manifest as a BSON document in the documented field order. */
void manifest_to_bson(const struct bk_manifest *m, bson_t *out);
/* sha256 over the files' sha256s concatenated. */
void manifest_compute_checksum(struct bk_manifest *m);
int manifest_write(const char *dir, const struct bk_manifest *m, struct backup_error *err);
/* Reads and validates DIR/manifest.json (every field's type, the checksum). */
int manifest_load(const char *dir, struct bk_manifest *m, struct backup_error *err);
/* Every DEST/<id>/manifest.json, sorted by id; hidden folders (.partial-*)
 * are skipped. A manifest that does not parse is an error naming it. */
int manifest_scan(const char *dest, struct bk_manifest **out, int *n_out, struct backup_error *err);
void manifest_scan_free(struct bk_manifest *list, int n);
/* The manifest with this id, or NULL. */
const struct bk_manifest *manifest_find(const struct bk_manifest *list, int n, const char *id);

/* What to restore up to. */
struct restore_target {
    bool is_end;            /* the newest point the backups reach */
    bool is_wall;           /* until a wall-clock time (wall_ms) */
    int64_t wall_ms;
    struct bk_optime optime; /* until an optime (ts only is compared) */
    const char *backup_id;   /* the end of exactly this backup */
};

/* Parses --until: ISO-8601 UTC ("2024-05-01T12:00:00Z", fraction allowed),
 * or an optime "SECS:INC" / "Timestamp(SECS, INC)". */
int restore_parse_until(const char *s, struct restore_target *t, struct backup_error *err);

/* Picks the chain for target: idx[0] the full, then the links in order.
 * *stop_ts is the last timestamp to apply (UINT64_MAX: everything). */
int chain_select(const struct bk_manifest *list, int n, const struct restore_target *t, int *idx, int *n_idx,
                 uint64_t *stop_ts, struct backup_error *err);

/* backup_file.c */
struct bfile_writer {
    int fd;
    char path[4200];
    ZSTD_CCtx *cctx;
    EVP_MD_CTX *md_stored;
    EVP_MD_CTX *md_raw;
    void *out;
    int64_t raw_bytes;
    int64_t stored_bytes;
    char sha256_stored[65];
    char sha256_raw[65];
};

int bfile_open(struct bfile_writer *w, const char *path, struct backup_error *err);
int bfile_write(struct bfile_writer *w, const void *data, size_t len, struct backup_error *err);
/* Finishes the stream, fsyncs, closes; fills the sha256s. */
int bfile_close(struct bfile_writer *w, struct backup_error *err);
void bfile_abort(struct bfile_writer *w);
/* Checks size (when bytes_stored >= 0) and sha256 of a stored file. */
int bfile_check(const char *path, const char *sha256_stored, int64_t bytes_stored, struct backup_error *err);
typedef int (*bfile_sink_cb)(const void *data, size_t len, void *arg, struct backup_error *err);
/* Decompresses path into sink. */
int bfile_read(const char *path, bfile_sink_cb sink, void *arg, struct backup_error *err);
void backup_sha256_hex(const void *data, size_t len, char out[65]);
int backup_io_error(struct backup_error *err, const char *what, const char *path, int errnum);
int backup_fsync_dir(const char *dir, struct backup_error *err);
int backup_write_text(const char *path, const char *text, struct backup_error *err);
char *backup_read_text(const char *path, size_t max_len, struct backup_error *err);
int backup_rm_rf(const char *path);

/* backup_server.c: a temporary standalone tallyd on a dbpath */
struct tmp_server {
    pid_t pid;
    int port;
    char host[64];
    char logpath[4200];
    mongoc_client_t *client;
};

/* --tallyd, else $TALLYD, else next to this binary, else PATH. */
int tmp_server_find_binary(const char *given, char *out, size_t out_len, struct backup_error *err);
/* Starts tallyd --dbpath dbpath on a free loopback port, waits until it
 * answers and opens a client. */
int tmp_server_start(const char *tallyd, const char *dbpath, const char *logpath, struct tmp_server *s,
                     struct backup_error *err);
/* Asks it to shut down, waits, kills it after a deadline. */
int tmp_server_stop(struct tmp_server *s, struct backup_error *err);
/* Runs cmd on admin; on error a message naming what. */
int tmp_server_command(struct tmp_server *s, const bson_t *cmd, bson_t *reply, const char *what,
                       struct backup_error *err);

/* backup_hash.c: per-collection counts and content hashes of every
 * database but local, in _id (natural) order: [{ns, count, hash}]. */
int backup_hash_collections(mongoc_client_t *client, bson_t *out_array, struct backup_error *err);

/* backup_util.c */
int64_t backup_now_ms(void);
void backup_format_iso(int64_t ms, char *out, size_t len);
/* "yyyymmddThhmmssZ" of ms. */
void backup_format_compact(int64_t ms, char *out, size_t len);
bool backup_progress_enabled(void);

#endif

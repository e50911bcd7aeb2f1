/* snapshot.h - a consistent hot copy of the whole LMDB environment, as a
 * byte stream, with the exact oplog position it reflects.
 *
 * snapshot_start holds the writer between two transactions (writer_pause),
 * reads the newest oplog entry, starts a thread running LMDB's compacting
 * copy (mdb_env_copyfd2 with MDB_CP_COMPACT) into a pipe, and resumes the
 * writer as soon as the first bytes arrive: by then the copy's read
 * transaction exists, and it was begun while no write could commit, so it
 * sees exactly the state whose newest oplog entry was read (docs/storage.md,
 * "Snapshots"). The bytes, written to a file named data.mdb in an empty
 * directory, open as a data directory.
 *
 * One struct snapshot is used by one thread at a time (the caller
 * serialises; snapshot_read blocks). Loop-free: any thread but the writer's. */
#ifndef TALLY_SNAPSHOT_H
#define TALLY_SNAPSHOT_H

#include "core/err.h"
#include "core/optime.h"
#include "storage/store.h"
#include "storage/writer.h"

#include <stddef.h>
#include <stdint.h>

struct snapshot;

struct snapshot_meta {
    struct optime optime; /* newest oplog entry in the copy (OPTIME_NULL: empty oplog) */
    int64_t wall_ms;      /* that entry's wall time (0 when none) */
    int64_t data_bytes;   /* estimate of the copy's size: the pages in use */
};

/* Starts a copy of s. w (nullable: tests without a writer thread) is paused
 * for the start only. *out owned (snapshot_destroy). */
int snapshot_start(struct store *s, struct writer *w, struct snapshot **out, struct snapshot_meta *meta,
                   struct err *e);
/* Fills buf with up to cap bytes of the stream, blocking until cap bytes are
 * there or the stream ends. Returns the count (0: the stream is complete and
 * verified to have ended well), or a negative error (the copy failed or
 * produced nothing for timeout_ms). */
int64_t snapshot_read(struct snapshot *sn, uint8_t *buf, size_t cap, int64_t timeout_ms, struct err *e);
/* Bytes returned so far. */
uint64_t snapshot_n_bytes(const struct snapshot *sn);
/* The lowercase hex SHA-256 of every byte returned so far (out: 65 bytes). */
void snapshot_sha256_hex(struct snapshot *sn, char *out);
/* Stops the copy if it still runs (its thread ends, its read transaction
 * with it) and frees everything. NULL is a no-op. */
void snapshot_destroy(struct snapshot *sn);

/* Incremental SHA-256 for the receiving side (initial sync, tests). */
struct snapshot_hash;
struct snapshot_hash *snapshot_hash_new(void);
void snapshot_hash_update(struct snapshot_hash *h, const void *data, size_t n);
/* Writes the hex digest (65 bytes with the NUL) and frees h. */
void snapshot_hash_final(struct snapshot_hash *h, char *out);

#endif

/* oplog.h - the oplog, undo records and persistent replication state.
 *
 * Three sub-databases of the store's LMDB environment (docs/storage.md,
 * "Replication data"):
 *   "oplog": key = the entry's timestamp (8 bytes big-endian, seconds << 32 |
 *            increment), value = the BSON entry in MongoDB's shape
 *            {ts, t, v: 2, op, ns, ui?, o, o2?, wall, lsid?, txnNumber?, stmtId?}.
 *   "undo":  key = timestamp of an oplog entry above the commit point, value =
 *            the BSON undo record that reverts its effect on one document
 *            (see repl/oplog_entry.h for the record's shape).
 *   "repl":  small named records: term, last vote, config, commit point,
 *            rollback id, minValid, oplogTruncateAfterPoint, and the oplog's
 *            byte counter.
 *
 * Conventions follow store.h: reads work in any transaction; writes need the
 * write transaction (the writer thread's, or a unit test's) and return
 * ERR_INTERNAL_ERROR when given a read one. Entry views (bson_t out
 * parameters) are bson_init_static'ed over the stored bytes and stay valid
 * until the transaction ends or changes the oplog. Lookups return 1 (found),
 * 0 (absent) or a negative error. */
#ifndef TALLY_OPLOG_H
#define TALLY_OPLOG_H

#include "core/err.h"
#include "core/optime.h"
#include "storage/store.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

struct oplog_iter;

struct oplog_stats {
    int64_t n_entries;
    int64_t n_bytes;     /* sum of the entries' BSON sizes */
    struct optime first; /* OPTIME_NULL when empty */
    struct optime last;  /* OPTIME_NULL when empty */
};

/* --- the oplog --- */

/* Appends entry (borrowed; copied into the store). It must carry ts
 * (Timestamp, not 0) and t (a number); other fields are not checked here
 * (oplog_entry_parse does that). Invariant: ts is strictly greater than the
 * last entry's: otherwise ERR_INTERNAL_ERROR naming both timestamps, and
 * nothing is written. Missing ts or t: ERR_BAD_VALUE. */
int oplog_append(struct store_txn *t, const bson_t *entry, struct err *e);
/* Newest / oldest entry. optime and entry are nullable. */
int oplog_last(struct store_txn *t, struct optime *optime, bson_t *entry, struct err *e);
int oplog_first(struct store_txn *t, struct optime *optime, bson_t *entry, struct err *e);
/* The entry with exactly timestamp ts. entry nullable (existence check). */
int oplog_find(struct store_txn *t, uint64_t ts, bson_t *entry, struct err *e);

/* Iterator over entries in timestamp order. Forward: entries with ts >= from
 * (is_inclusive) or > from. Reverse (newest first, for finding a rollback's
 * common point): entries with ts <= from or < from; from = UINT64_MAX starts
 * at the newest. *out owned (oplog_iter_close, before the transaction ends). */
int oplog_iter_open(struct store_txn *t, uint64_t from, bool is_inclusive, bool is_reverse, struct oplog_iter **out,
                    struct err *e);
/* 1 with *optime (nullable) and *entry (nullable; static view, valid until the
 * next call) set, 0 at the end, or a negative error. */
int oplog_iter_next(struct oplog_iter *it, struct optime *optime, bson_t *entry, struct err *e);
void oplog_iter_close(struct oplog_iter *it);

/* Rollback: removes every entry with ts > after, and their undo records.
 * *n_removed (nullable) receives the number of entries removed. */
int oplog_truncate_after(struct store_txn *t, uint64_t after, int64_t *n_removed, struct err *e);
/* Capped by size: removes the oldest entries while the oplog holds more than
 * max_bytes, but never an entry with ts > keep_after (the commit point: the
 * oplog may grow past its size rather than lose it) and never the newest
 * entry (a fetcher must always find the entry it last copied). Removes the
 * undo records of removed entries too. *n_removed nullable. */
int oplog_trim(struct store_txn *t, int64_t max_bytes, uint64_t keep_after, int64_t *n_removed, struct err *e);
int oplog_stats(struct store_txn *t, struct oplog_stats *out, struct err *e);

/* --- undo records (for rollback) --- */

/* Stores record (borrowed) under ts, replacing any earlier one. */
int oplog_undo_put(struct store_txn *t, uint64_t ts, const bson_t *record, struct err *e);
/* record nullable; static view like entries. */
int oplog_undo_get(struct store_txn *t, uint64_t ts, bson_t *record, struct err *e);
/* Deletes the records with ts <= upto (they became majority committed and
 * can never be rolled back). *n_removed nullable. */
int oplog_undo_delete_upto(struct store_txn *t, uint64_t upto, int64_t *n_removed, struct err *e);

/* --- persistent replication state ("repl") --- */

struct oplog_last_vote {
    int64_t term;            /* -1 when never voted */
    int32_t candidate_index; /* member index in the config; -1 when never voted */
};

/* The current term; -1 (uninitialised) when never set. Terms never decrease:
 * putting a smaller one than stored is ERR_INTERNAL_ERROR. */
int oplog_get_term(struct store_txn *t, int64_t *term, struct err *e);
int oplog_put_term(struct store_txn *t, int64_t term, struct err *e);
/* LastVote, written before a vote is returned. Absent: {-1, -1}. */
int oplog_get_last_vote(struct store_txn *t, struct oplog_last_vote *out, struct err *e);
int oplog_put_last_vote(struct store_txn *t, const struct oplog_last_vote *v, struct err *e);
/* The replica-set config document. get returns 1 with *config set to an
 * owned copy (bson_destroy it), or 0 when none is stored. */
int oplog_get_config(struct store_txn *t, bson_t *config, struct err *e);
int oplog_put_config(struct store_txn *t, const bson_t *config, struct err *e);
/* Commit point (lastCommittedOpTime); OPTIME_NULL when absent. It never
 * moves backwards: putting an older one is ignored (returns 0). */
int oplog_get_commit_point(struct store_txn *t, struct optime *out, struct err *e);
int oplog_put_commit_point(struct store_txn *t, struct optime o, struct err *e);
/* Rollback id: 0 when absent; oplog_bump_rbid adds 1 and returns the new
 * value in *out (nullable). */
int oplog_get_rbid(struct store_txn *t, int32_t *out, struct err *e);
int oplog_bump_rbid(struct store_txn *t, int32_t *out, struct err *e);
/* minValid and oplogTruncateAfterPoint: OPTIME_NULL / 0 when absent; putting
 * the null value clears them. */
int oplog_get_min_valid(struct store_txn *t, struct optime *out, struct err *e);
int oplog_put_min_valid(struct store_txn *t, struct optime o, struct err *e);
int oplog_get_truncate_after_point(struct store_txn *t, uint64_t *ts, struct err *e);
int oplog_put_truncate_after_point(struct store_txn *t, uint64_t ts, struct err *e);

/* Forgets the member's replica-set identity: deletes the term, last vote,
 * config, commit point, minValid and oplogTruncateAfterPoint records (the
 * rollback id stays). Used when a restored data directory becomes a
 * standalone or the seed of a new set (docs/backups.md). */
int oplog_clear_repl_state(struct store_txn *t, struct err *e);

/* --- catalog support for replicated collections --- */

/* Gives collection c (as read in this transaction) the UUID uuid, so a
 * secondary's collections carry the primary's UUIDs and entries can be
 * applied by UUID. c->uuid is updated too. */
int oplog_coll_set_uuid(struct store_txn *t, struct coll_info *c, const uint8_t uuid[16], struct err *e);

#endif

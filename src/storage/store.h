/* store.h - the storage engine interface: catalog, documents, indexes.
 *
 * One LMDB environment per data directory, with a handful of named
 * sub-databases (see docs/storage.md): "catalog" (collections and their
 * indexes), "records" (key: collection id, 8 bytes big-endian, then the record
 * key; value: BSON document), "indexes" (key: index id, 8 bytes big-endian, then
 * the encoded index fields, then the record key; value: the record key),
 * "meta" (counters, collection statistics, format version). A record key is
 * keyenc(_id) for ordinary collections and an 8-byte big-endian insertion
 * sequence for capped ones (which then keep a real unique _id index).
 *
 * Threads: any thread may open read transactions (MVCC snapshots that never
 * block the writer). Only the writer thread (writer.h) opens the write
 * transaction; every function that changes data requires it. Each data change
 * goes through store_doc_insert/update/delete, so the replication layer can add
 * an oplog entry to the same transaction at that one place.
 *
 * Logical errors (duplicate key, namespace exists, ...) are detected before
 * anything is modified, so a failing call leaves the transaction as it was.
 * An LMDB failure (disk full, map full, I/O) poisons the transaction: the
 * call returns ERR_OUT_OF_DISK_SPACE or ERR_INTERNAL_ERROR and the writer
 * aborts the whole batch. */
#ifndef TALLY_STORE_H
#define TALLY_STORE_H

#include "core/err.h"
#include "query/keyenc.h"
#include "query/plan.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

struct store;
struct store_txn;
struct store_iter;

struct store_options {
    uint64_t map_size_bytes; /* LMDB map size (maximum data size); 0 = default (64 GiB) */
    bool is_nosync;          /* tests only: skip fsync on commit (never in production) */
};

struct index_info {
    uint64_t id;      /* key prefix in "indexes"; 0 for the implicit _id_ of ordinary collections */
    char *name;       /* owned */
    bson_t key;       /* key pattern, owned */
    bson_t spec;      /* {v: 2, key, name, unique?, sparse?, ...} as listIndexes shows it, owned */
    bool is_unique;
    bool is_sparse;
    bool is_multikey; /* some document has an array on an indexed path */
};

struct coll_info {
    uint64_t id;
    char *db;   /* owned */
    char *name; /* owned */
    bool is_capped;
    int64_t capped_size_bytes; /* capped only */
    int64_t capped_max_docs;   /* capped only; 0 = no count limit */
    uint8_t uuid[16];
    bson_t options; /* create options as given, owned */
    int n_indexes;  /* including _id_ at position 0 */
    struct index_info *indexes;
};

struct coll_stats {
    int64_t n_docs;
    int64_t data_bytes;    /* sum of BSON sizes */
    int64_t storage_bytes; /* LMDB pages used by this collection's records (estimate) */
    int64_t index_bytes;   /* all indexes (estimate) */
};

/* Opens (creating when absent) the environment in dbpath. Fails clearly when
 * dbpath is missing, not writable, locked by another process, or holds an
 * unknown format version. *out owned (store_close). */
int store_open(const char *dbpath, const struct store_options *opt, struct store **out, struct err *e);
void store_close(struct store *s);
/* Size of the data file in bytes (for dbStats/listDatabases). */
int64_t store_file_bytes(struct store *s);

/* A read transaction, usable from any thread (one thread at a time). */
int store_txn_begin_read(struct store *s, struct store_txn **out, struct err *e);
/* Ends a read transaction (or aborts a write one that was not committed). */
void store_txn_end(struct store_txn *t);
/* The write transaction: only the writer thread (and unit tests) begin one;
 * at most one exists at a time. store_txn_commit makes it durable (fsync)
 * and frees it whatever the outcome. */
int store_txn_begin_write(struct store *s, struct store_txn **out, struct err *e);
int store_txn_commit(struct store_txn *t, struct err *e);

/* --- catalog (any transaction) --- */

/* *out is NULL (and 0 returned) when the collection does not exist. *out owned. */
int store_coll_find(struct store_txn *t, const char *db, const char *name, struct coll_info **out, struct err *e);
void coll_info_destroy(struct coll_info *c);
/* All collections of db (or of every database when db is NULL), sorted by
 * db then name. *out is an owned array of owned pointers (coll_info_list_free). */
int store_coll_list(struct store_txn *t, const char *db, struct coll_info ***out, int *n_out, struct err *e);
void coll_info_list_free(struct coll_info **list, int n);
int store_coll_stats(struct store_txn *t, const struct coll_info *c, struct coll_stats *out, struct err *e);

/* --- reads (any transaction) --- */

/* Point lookup by _id. *found false when absent. out is bson_init_static'ed
 * over the stored bytes, valid until the transaction ends or changes data. */
int store_doc_get(struct store_txn *t, const struct coll_info *c, const bson_value_t *id, bson_t *out, bool *found,
                  struct err *e);

/* Iterators. A collection scan walks records in record-key order (_id order,
 * or insertion order for capped collections), forward or reverse. An index
 * scan walks the given ranges (plan.h) of index `idx` in ascending key order;
 * for the _id_ index of an ordinary collection the ranges apply to record
 * keys. resume_after (nullable) is a position previously returned by
 * store_iter_position: the iterator starts just after it, so a cursor can
 * end its transaction between batches and re-seek in a fresh one. */
int store_iter_open_coll(struct store_txn *t, const struct coll_info *c, bool is_reverse,
                         const struct keybuf *resume_after, struct store_iter **out, struct err *e);
int store_iter_open_index(struct store_txn *t, const struct coll_info *c, int idx, const struct key_range *ranges,
                          int n_ranges, const struct keybuf *resume_after, struct store_iter **out, struct err *e);
/* Returns 1 with *doc set (static view, valid until the next call), 0 at the
 * end, or a negative error. An index scan over a multikey index may return a
 * document more than once; callers dedupe by _id when is_multikey. */
int store_iter_next(struct store_iter *it, bson_t *doc, struct err *e);
/* Position of the last document returned (copy it to resume later). */
const struct keybuf *store_iter_position(const struct store_iter *it);
void store_iter_close(struct store_iter *it);

/* --- writes (writer thread, write transaction only) --- */

/* doc must be valid BSON with _id as its first field. Duplicate _id or a
 * unique-index violation: ERR_DUPLICATE_KEY with err info {keyPattern,
 * keyValue} and mongod's message "E11000 duplicate key error collection:
 * db.c index: a_1 dup key: { a: 1 }". Capped collections evict their oldest
 * documents past their limits. */
int store_doc_insert(struct store_txn *t, const struct coll_info *c, const bson_t *doc, struct err *e);
/* Replaces old_doc (as read in this transaction) by new_doc with the same _id. */
int store_doc_update(struct store_txn *t, const struct coll_info *c, const bson_t *old_doc, const bson_t *new_doc,
                     struct err *e);
int store_doc_delete(struct store_txn *t, const struct coll_info *c, const bson_t *old_doc, struct err *e);

/* Creates db.name (options borrowed, nullable: capped, size, max, ...).
 * ERR_NAMESPACE_EXISTS when present; ERR_INVALID_NAMESPACE for bad names.
 * *out (nullable) receives the new collection's info, owned. */
int store_coll_create(struct store_txn *t, const char *db, const char *name, const bson_t *options,
                      struct coll_info **out, struct err *e);
int store_coll_drop(struct store_txn *t, const struct coll_info *c, struct err *e);
/* Drops every collection of db. */
int store_db_drop(struct store_txn *t, const char *db, struct err *e);
/* Renames c to to_db.to_name; with is_drop_target an existing target is
 * dropped first, otherwise ERR_NAMESPACE_EXISTS. */
int store_coll_rename(struct store_txn *t, const struct coll_info *c, const char *to_db, const char *to_name,
                      bool is_drop_target, struct err *e);
/* Builds the index described by spec ({key, name, unique?, sparse?}) over the
 * existing documents. *is_created is false when an identical index exists.
 * Same name with another key: ERR_INDEX_KEY_SPECS_CONFLICT; same key with other
 * options: ERR_INDEX_OPTIONS_CONFLICT; duplicates under unique: ERR_DUPLICATE_KEY. */
int store_index_create(struct store_txn *t, const struct coll_info *c, const bson_t *spec, bool *is_created,
                       struct err *e);
/* Drops the index named name (not _id_: ERR_INVALID_OPTIONS). ERR_INDEX_NOT_FOUND when absent. */
int store_index_drop(struct store_txn *t, const struct coll_info *c, const char *name, struct err *e);

/* --- the change hook (replication's oplog writer) --- */

/* Every successful change made by the functions above is reported to the
 * hook, inside the same write transaction and right after the change, so an
 * oplog entry (and an undo record) can be written atomically with it. The hook
 * is how storage stays below replication: storage knows nothing of oplogs. */
enum store_change_kind {
    STORE_CHANGE_INSERT,  /* doc: the inserted document */
    STORE_CHANGE_UPDATE,  /* doc: the new document; old_doc: the pre-image */
    STORE_CHANGE_DELETE,  /* old_doc: the deleted document */
    STORE_CHANGE_COMMAND, /* command: {create: name, ...options} | {drop: name} | {dropDatabase: 1} |
                           * {renameCollection: "db.a", to: "db.b", dropTarget} | {createIndexes: name, ...spec}
                           * | {dropIndexes: name, index: iname}; db: the database it runs in */
};

struct store_change {
    enum store_change_kind kind;
    const struct coll_info *coll; /* the collection (NULL for dropDatabase); for create: the new one */
    const char *db;
    const bson_t *doc;
    const bson_t *old_doc;
    const bson_t *command;
};

/* Returns 0, or a negative error that poisons the transaction (the writer
 * aborts the batch): the hook fails only when it cannot write its entry. A
 * capped collection's evictions are reported as deletes. */
typedef int (*store_change_cb)(struct store_txn *t, const struct store_change *c, void *arg, struct err *e);
/* Installs the hook (before the writer starts; NULL removes it). */
void store_set_change_hook(struct store *s, store_change_cb cb, void *arg);
/* The oplog applier replays changes that already have entries: it turns the
 * hook off for its own transaction work, and back on after. */
void store_txn_set_hook_enabled(struct store_txn *t, bool is_enabled);
/* The store the transaction belongs to. */
struct store *store_txn_store(struct store_txn *t);

#endif

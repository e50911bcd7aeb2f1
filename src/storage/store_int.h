/* store_int.h - what the storage engine's files share and nobody else sees.
 *
 * The LMDB handles, the transaction wrapper, the meta-record helpers
 * (counters, per-collection statistics), the catalog writers and the index
 * key generator. Layouts are described in docs/storage.md. */
#ifndef TALLY_STORE_INT_H
#define TALLY_STORE_INT_H

#include "storage/store.h"

#include <lmdb.h>

/* On-disk format version written in meta; store_open refuses any other. */
#define STORE_FORMAT_VERSION 1u
/* Length of the big-endian collection or index id that prefixes keys. */
#define STORE_ID_LEN 8
/* Limit of secondary + _id indexes per collection (mongod's). */
#define STORE_MAX_INDEXES 64

struct store {
    MDB_env *env;
    MDB_dbi dbi_catalog;
    MDB_dbi dbi_records;
    MDB_dbi dbi_indexes;
    MDB_dbi dbi_meta;
    MDB_dbi dbi_oplog; /* oplog.c: replicated history, key = timestamp */
    MDB_dbi dbi_repl;  /* oplog.c: persistent replication state */
    MDB_dbi dbi_undo;  /* oplog.c: pre-images of entries above the commit point */
    int lock_fd;
    char *dbpath;
    size_t max_key_bytes;
    store_change_cb change_cb; /* NULL: no hook (standalone) */
    void *change_arg;
};

struct store_txn {
    struct store *s;
    MDB_txn *txn;
    bool is_write;
    bool is_hook_enabled; /* store_txn_set_hook_enabled; true when begun */
};

/* Per-collection counters kept in meta under "s" + collection id. */
struct coll_counters {
    int64_t n_docs;
    int64_t data_bytes;
    uint64_t next_seq; /* capped collections: next insertion sequence */
};

/* --- store.c --- */
/* Maps an LMDB return code to ERR_OUT_OF_DISK_SPACE or ERR_INTERNAL_ERROR. */
int store_mdb_err(int rc, const char *what, struct err *e);
void store_put_u64_be(uint8_t *p, uint64_t v);
uint64_t store_get_u64_be(const uint8_t *p);
/* Next value of the counter `name` in meta ("next_coll_id", "next_index_id"), starting at 1. */
int store_meta_next_id(struct store_txn *t, const char *name, uint64_t *out, struct err *e);
int store_counters_get(struct store_txn *t, uint64_t coll_id, struct coll_counters *out, struct err *e);
int store_counters_put(struct store_txn *t, uint64_t coll_id, const struct coll_counters *in, struct err *e);
int store_counters_delete(struct store_txn *t, uint64_t coll_id, struct err *e);
/* Deletes every key of dbi that starts with the 8-byte id. */
int store_delete_prefix(struct store_txn *t, MDB_dbi dbi, uint64_t id, struct err *e);
/* Whether changes made in t must be reported (a hook is installed and enabled). */
static inline bool store_hook_is_active(const struct store_txn *t)
{
    return t->s->change_cb != NULL && t->is_hook_enabled;
}
/* Reports one change to the hook when active; returns the hook's error as is. */
int store_hook_report(struct store_txn *t, const struct store_change *c, struct err *e);

/* --- catalog.c --- */
/* Rewrites the catalog entry of c (keyed by c->db, c->name). */
int catalog_put(struct store_txn *t, const struct coll_info *c, struct err *e);
/* Marks index `index_id` of the collection multikey in the catalog (re-read, so other changes in this txn stay). */
int catalog_set_multikey(struct store_txn *t, const struct coll_info *c, uint64_t index_id, struct err *e);
/* Replaces c's index array by deep copies of ixs[0..n) (ixs may point into
 * c->indexes). bson_t values point into themselves once allocated, so index
 * arrays are never realloc'ed or memmove'd: they are rebuilt. */
void coll_info_set_indexes(struct coll_info *c, const struct index_info *ixs, int n);
/* Deep copy. */
struct coll_info *coll_info_copy(const struct coll_info *c);

/* --- index_keys.c --- */
struct ikey {
    struct keybuf kb;   /* encoded components (ascending or complemented) */
    bson_value_t *vals; /* one per key-pattern field, borrowed from the document (owned array) */
};

struct ikeyset {
    int n;
    int cap;
    struct ikey *keys; /* sorted by kb bytes, without duplicates */
    bool has_array;    /* some indexed path went through an array */
};

void ikeyset_init(struct ikeyset *ks);
void ikeyset_destroy(struct ikeyset *ks);
/* Computes the keys of doc for the key pattern (sparse: no keys when every
 * indexed field is missing). Parallel arrays: ERR_BAD_VALUE. */
int ikeyset_compute(const bson_t *key_pattern, bool is_sparse, const bson_t *doc, struct ikeyset *out, struct err *e);
/* Whether ks contains a key with exactly these bytes. */
bool ikeyset_contains(const struct ikeyset *ks, const struct keybuf *kb);
/* Fills the duplicate-key error: message, keyPattern, keyValue. */
int ikey_dup_error(const struct coll_info *c, const struct index_info *ix, const bson_value_t *vals, struct err *e);

/* --- records.c --- */
/* Index-entry maintenance for one record: inserts (is_insert) or deletes the
 * keys, used by index builds and drops. */
int records_index_put(struct store_txn *t, uint64_t index_id, const struct ikeyset *ks, const struct keybuf *rk,
                      struct err *e);
/* Checks that none of ks's keys exists in a unique index under another record key. */
int records_check_unique(struct store_txn *t, const struct coll_info *c, const struct index_info *ix,
                         const struct ikeyset *ks, const struct keybuf *rk, const struct ikeyset *skip,
                         struct err *e);

#endif

/* write_common.h - helpers shared by the write commands (insert, update,
 * delete, findAndModify, DDL, indexes).
 *
 * Two files implement this header:
 *   write_common.c - pure helpers (no storage): document validation before a
 *                    store, _id placement, batch and namespace checks,
 *                    statement field checks, the writeErrors accumulator and
 *                    a mongod-style document formatter for messages;
 *   write_target.c - helpers over storage: looking up (and auto-creating) the
 *                    target collection, collecting the documents a statement
 *                    targets, telling storage failures from statement errors.
 *
 * Statement semantics (mongod 6.0): a statement error (bad filter, duplicate
 * key, invalid document) becomes a writeErrors entry and the command still
 * answers ok: 1; a storage failure (write_is_fatal) is returned by the handler
 * so the writer aborts the whole batch. */
#ifndef TALLY_WRITE_COMMON_H
#define TALLY_WRITE_COMMON_H

#include "cmd/cmd.h"
#include "core/err.h"
#include "query/match.h"
#include "storage/store.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WRITE_MAX_BSON_BYTES 16777216 /* maxBsonObjectSize */
#define WRITE_MAX_BATCH 100000        /* maxWriteBatchSize */
/* Nesting limit for stored documents, the root counting as level 1 (mongod's
 * BSONDepth::getMaxDepthForUserStorage). Deeper documents fail with Overflow
 * (15): "cannot insert document because it exceeds 100 levels of nesting". */
#define WRITE_MAX_DEPTH 100

/* --- document validation (write_common.c) --- */

/* Validates doc (borrowed) as an insert and, on success, initialises *out
 * (owned, bson_destroy) with the stored form: _id first (an ObjectId is
 * generated when _id is missing; an _id found later in the document is moved
 * to the front). Errors, checked in this order: malformed BSON (InvalidBSON
 * 22), nesting deeper than WRITE_MAX_DEPTH (Overflow 15), a top-level field
 * starting with '$' (DollarPrefixedFieldName 52), _id of type array, regex or
 * undefined (InvalidIdField 53), an _id document with a '$'-prefixed field
 * (DollarPrefixedFieldName 52), stored size above 16 MiB (BSONObjectTooLarge
 * 10334). *out is untouched on failure. */
int write_doc_prepare_insert(const bson_t *doc, bson_t *out, struct err *e);

/* Checks a document produced by an update (operators, replacement or upsert)
 * before it is stored: _id type, nesting depth and size ("Resulting document
 * after update is larger than 16777216", BSONObjectTooLarge 10334). */
int write_doc_check_updated(const bson_t *doc, struct err *e);

/* --- command-level checks (write_common.c) --- */

/* 1..100000 statements, else InvalidLength (16): "Write batch sizes must be
 * between 1 and 100000. Got N operations." */
int write_check_batch_size(int64_t n, struct err *e);
/* Writes to db.system.* are refused: InvalidNamespace (73) "cannot write to
 * 'db.system.x'". */
int write_check_ns_writable(const char *db, const char *coll, struct err *e);
/* Checks that the array field `field` of the command holds only documents
 * and counts them. *arr is borrowed from the body. Missing field:
 * (ERR_MISSING_FIELD) "BSON field 'insert.documents' is missing but a required field"; an element
 * that is not a document: TypeMismatch "BSON field 'insert.documents.1' is the
 * wrong type 'int', expected type 'object'". */
int write_get_statements(struct cmd_ctx *ctx, const char *field, bson_t *arr, int64_t *n_out);
/* The preamble every batched write command (insert, update, delete) shares:
 * the collection name, no unknown fields (allowed[] as for args_check_known),
 * `ordered` (default true), the statements array `field` with 1..100000
 * documents, and a writable namespace. Outputs are borrowed from the body. */
struct write_batch {
    const char *coll;
    bool is_ordered;
    bson_t stmts;
    int64_t n_stmts;
};
int write_parse_batch(struct cmd_ctx *ctx, const char *const *allowed, const char *field, struct write_batch *out);
/* One statement of a batched write. With r == NULL only parse it (errors go
 * to ctx->err and fail the whole command); otherwise parse and run it, with a
 * statement error in e (it becomes a writeErrors entry) or a storage failure
 * (write_is_fatal) that aborts the command. */
struct write_result;
typedef int (*write_stmt_cb)(struct cmd_ctx *ctx, const char *coll, const bson_t *stmt, int index,
                             struct write_result *r, struct err *e);
/* Runs the statements of b: every one is parsed first, so a malformed one fails
 * the command before any runs; then each runs in order (an ordered batch stops
 * at the first error). Appends {n, (nModified, upserted,) writeErrors} to
 * ctx->reply. what names the statement kind in messages ("update"). */
int write_run_statements(struct cmd_ctx *ctx, const struct write_batch *b, const char *what, bool is_update,
                         write_stmt_cb cb);
/* Rejects fields of one statement (stmt borrowed) that are not in allowed[]
 * (NULL-terminated): "BSON field 'update.updates.foo' is an unknown field."
 * (40415). array_field names the statements' array ("updates"). */
int write_check_stmt_fields(struct cmd_ctx *ctx, const char *array_field, const bson_t *stmt,
                            const char *const *allowed);
/* A collation option is accepted only when absent or {locale: "simple"}
 * (there is no collation support): otherwise NotImplemented (238). v borrowed,
 * nullable. */
int write_check_collation(const bson_value_t *v, struct err *e);

/* --- results (write_common.c) --- */

/* The reply of insert/update/delete under construction. */
struct write_result {
    int64_t n;          /* inserted / matched (+ upserted) / deleted */
    int64_t n_modified; /* update only: documents actually changed */
    int n_errors;
    int n_upserted;
    bson_t errors;   /* array of {index, code, <err info>, errmsg} */
    bson_t upserted; /* array of {index, _id} */
};

void write_result_init(struct write_result *r);
void write_result_destroy(struct write_result *r);
/* Records statement `index` failing with e (borrowed); info fields of e such
 * as keyPattern/keyValue are copied into the entry. */
void write_result_add_error(struct write_result *r, int index, const struct err *e);
void write_result_add_upserted(struct write_result *r, int index, const bson_value_t *id);
/* Appends n, then (is_update) nModified and upserted when non-empty, then
 * writeErrors when non-empty. Counts are int32 like mongod's. */
void write_result_append_reply(const struct write_result *r, bson_t *reply, bool is_update);

/* --- formatting (write_common.c) --- */

/* Writes doc (borrowed) the way mongod prints documents in messages,
 * "{ key: { a: 1 }, name: \"x\" }", truncated with "..." to fit cap bytes
 * (cap >= 8). Returns buf. */
char *write_format_doc(const bson_t *doc, char *buf, size_t cap);

/* --- storage helpers (write_target.c) --- */

/* True for storage failures that must abort the writer's batch (disk full,
 * LMDB errors), as opposed to statement errors. rc is a handler return. */
bool write_is_fatal(int rc);

/* Looks up db.coll; when missing and is_create, creates it with default
 * options. *out is NULL (return 0) when missing and !is_create; owned
 * otherwise (coll_info_destroy). *is_created (nullable) says whether this
 * call created it. */
int write_coll_get(struct store_txn *t, const char *db, const char *coll, bool is_create, struct coll_info **out,
                   bool *is_created, struct err *e);

/* A document a statement targets, copied out of the scan so the statement
 * can change the collection after the scan is closed (never modify while
 * iterating: an update could move a document ahead of the scan and see it
 * twice). */
struct write_target {
    bson_t *doc;          /* owned copy (heap: a bson_t may not be moved once it grew) */
    int positional_index; /* matcher's array index for "$", -1 when none */
};

/* Collects up to limit (0 = all) documents of c matching m into *out (owned
 * array, write_targets_free); *n_out is the count. */
int write_targets_collect(struct store_txn *t, const struct coll_info *c, const struct matcher *m, int64_t limit,
                          struct write_target **out, int *n_out, struct err *e);
void write_targets_free(struct write_target *targets, int n);

#endif

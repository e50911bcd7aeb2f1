/* oplog_entry.h - building, parsing, applying and undoing oplog entries.
 *
 * Entries have MongoDB's shape (replication.md 2.1), in this field order:
 *   {ts: Timestamp, t: Int64, v: Int32(2), op: "i"|"u"|"d"|"c"|"n", ns: String,
 *    ui?: BinData(4), o: Object, o2?: Object, wall: Date,
 *    lsid?: Object, txnNumber?: Int64, stmtId?: Int32}
 *
 * Updates are recorded as full replacements: o = the whole post-image, o2 =
 * {_id}. Applying "make the document with this _id equal o" is idempotent by
 * construction (applying it twice, or on data that already reflects it or a
 * later state, ends in the same document); the $v: 2 delta can come later
 * for size.
 *
 * Application goes through store.h, in the caller's write transaction, and is
 * idempotent in every mode (replication.md 2.3): an insert of an existing _id
 * replaces it; an update of a missing document inserts the post-image (the
 * upsert choice, in both modes: the post-image is complete, so upserting is
 * always correct); a delete of a missing document does nothing; creating an
 * existing collection with the same options, dropping a missing collection
 * or index and creating an existing index are no-ops; an insert or update
 * into a missing collection creates it (with the entry's UUID). No-ops do
 * nothing.
 *
 * Entries carrying ui are applied by UUID: the collection holding that UUID is
 * the target whatever its name (renames are safe). When no collection holds
 * it and ns names a collection with another UUID, the entry belongs to a
 * collection that a later entry dropped: it is skipped. Collections created by
 * application take the entry's UUID, so a secondary's UUIDs equal the
 * primary's. */
#ifndef TALLY_OPLOG_ENTRY_H
#define TALLY_OPLOG_ENTRY_H

#include "core/err.h"
#include "core/optime.h"
#include "storage/store.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

/* Timestamp, term, wall clock and (for retryable writes) session of one entry. */
struct oplog_stamp {
    struct optime optime;
    int64_t wall_ms;    /* milliseconds since the epoch */
    const bson_t *lsid; /* nullable; when set, txnNumber and stmtId are written too */
    int64_t txn_number;
    int32_t stmt_id;
};

/* A parsed entry: views into the document given to oplog_entry_parse, valid
 * as long as that document. */
struct oplog_entry {
    struct optime optime;
    int64_t wall_ms;
    char op;        /* 'i', 'u', 'd', 'c' or 'n' */
    const char *ns; /* "db.coll", "db.$cmd" or "" */
    bool has_uuid;
    uint8_t uuid[16];
    bson_t o;
    bool has_o2;
    bson_t o2;
};

enum oplog_apply_mode {
    /* A secondary applying fresh entries from its sync source. */
    OPLOG_APPLY_STEADY,
    /* Initial sync, startup recovery, rollback: the data may already reflect
     * these entries or later ones, so duplicate-key and index conflicts are
     * tolerated (skipped) as mongod does (replication.md 2.3). */
    OPLOG_APPLY_RECOVERING,
};

/* --- builders: append one entry to out (caller-initialised, empty). uuid
 * (16 bytes) is nullable; documents are borrowed. --- */

/* o = doc (which must hold _id). */
void oplog_entry_insert(bson_t *out, const struct oplog_stamp *st, const char *ns, const uint8_t *uuid,
                        const bson_t *doc);
/* o = new_doc (the full post-image), o2 = {_id: id}. */
void oplog_entry_update(bson_t *out, const struct oplog_stamp *st, const char *ns, const uint8_t *uuid,
                        const bson_value_t *id, const bson_t *new_doc);
/* o = {_id: id}. */
void oplog_entry_delete(bson_t *out, const struct oplog_stamp *st, const char *ns, const uint8_t *uuid,
                        const bson_value_t *id);
/* ns = db + ".$cmd", o = cmd; uuid is the collection's (NULL for
 * dropDatabase). Supported commands, as applied:
 *   {create: "c", <options as stored: capped, size, max, ...>}
 *   {drop: "c"}
 *   {dropDatabase: 1}
 *   {renameCollection: "db.a", to: "db2.b", dropTarget?: bool}   (uuid = source's)
 *   {createIndexes: "c", v?, key, name, unique?, sparse?, ...}   (one index per entry)
 *   {dropIndexes: "c", index: "name" | key pattern | "*"} */
void oplog_entry_command(bson_t *out, const struct oplog_stamp *st, const char *db, const uint8_t *uuid,
                         const bson_t *cmd);
/* op "n", ns "", o = msg (e.g. {msg: "periodic noop"}). */
void oplog_entry_noop(bson_t *out, const struct oplog_stamp *st, const bson_t *msg);

/* --- parsing (entries received from a peer) --- */

/* Checks required fields and types: ts (Timestamp, not 0), t (integral
 * number), v (2), op, ns (db.coll for i/u/d, db.$cmd for c), ui (UUID binary
 * of 16 bytes) when present, o (object; with _id for i and d, non-empty for
 * c), o2 (object with _id, required for u), wall (Date). Unknown fields are
 * ignored. Errors: ERR_BAD_VALUE / ERR_TYPE_MISMATCH / ERR_MISSING_FIELD
 * ("oplog entry ...: ..."). *out valid as long as doc. */
int oplog_entry_parse(const bson_t *doc, struct oplog_entry *out, struct err *e);

/* --- application (write transaction) --- */

/* Parses and applies entry. Errors carry "apply op at Timestamp(s, i): ".
 * A logical error leaves the transaction as it was for CRUD entries; for
 * commands the caller aborts the batch on any error. */
int oplog_entry_apply(struct store_txn *t, const bson_t *entry, enum oplog_apply_mode mode, struct err *e);

/* --- undo (rollback) ---
 * An undo record reverts one entry's effect on one document:
 *   {ns: "db.c", ui?: UUID, o2: {_id: ...}, pre: <document> | null}
 * pre null means the document did not exist before the entry. */

/* Builds, before entry is applied, the record that reverts it, from the
 * current state of the target document. *has_undo is false (and out left
 * empty) for entries that change no single document (commands, no-ops);
 * rolling those back needs a resync. out caller-initialised, empty. */
int oplog_entry_undo_capture(struct store_txn *t, const bson_t *entry, bson_t *out, bool *has_undo, struct err *e);
/* Restores the record's document: deletes it when pre is null, otherwise
 * inserts or replaces it (creating the collection, with ui, when missing). */
int oplog_entry_undo(struct store_txn *t, const bson_t *record, struct err *e);

#endif

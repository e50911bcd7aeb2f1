/* retryable.h - retryable writes: one record per logical session (private to cmd/).
 *
 * A retryable write is insert, update, delete or findAndModify carrying
 * lsid and txnNumber (and no autocommit). The dispatcher runs all of a
 * command's statements in one writer job, inside one LMDB transaction, so a
 * command is recorded whole or not at all. Its record lives in the replicated
 * collection config.transactions:
 *   {_id: lsid.id (UUID, binary subtype 4), txnNum: Int64,
 *    lastWriteOpTime: {ts, t}, lastWriteDate: Date, result: <reply fields>}
 * written by store_doc_insert/update in the same transaction as the data, so
 * the oplog carries it to the secondaries like any other write and a new
 * primary after failover answers a retry with the first result.
 *
 * Sequence, per command (wire-compat.md 4.2):
 *   loop thread:   retryable_check_request (validation, which commands may
 *                  carry txnNumber);
 *   writer thread: retryable_lookup -> replay the stored result, refuse an
 *                  older txnNumber, or run the handler; after a successful
 *                  run, retryable_record. */
#ifndef TALLY_RETRYABLE_H
#define TALLY_RETRYABLE_H

#include "cmd/cmd.h"
#include "core/err.h"
#include "core/optime.h"
#include "storage/store.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#define RETRYABLE_DB "config"
#define RETRYABLE_COLL "transactions"
#define RETRYABLE_SESSION_ID_BYTES 16

/* mongod's NotARetryableWriteCommand (no name in the err table: Location50768). */

struct retryable_write {
    bool is_active;                                  /* the command is a retryable write */
    uint8_t session_id[RETRYABLE_SESSION_ID_BYTES];  /* lsid.id */
    int64_t txn_number;
};

/* Validates the session fields of any command and fills *out (is_active
 * false when the command carries no txnNumber, or carries one only as part
 * of a transaction, which the dispatcher refuses elsewhere). is_repl: the
 * server runs as a replica-set member. Errors, as mongod 6.0:
 *   txnNumber not an Int64: TypeMismatch (14); negative: BadValue (2);
 *   without lsid: InvalidOptions (72); lsid not {id: UUID}: TypeMismatch (14)
 *   or BadValue (2);
 *   standalone: IllegalOperation (20) "Transaction numbers are only allowed
 *   on a replica set member or mongos" (drivers rewrite it as "does not
 *   support retryable writes");
 *   autocommit: true: InvalidOptions (72);
 *   a command other than insert/update/delete/findAndModify: 50768;
 *   update with multi: true / delete with limit: 0: InvalidOptions (72). */
int retryable_check_request(const struct cmd_request *req, bool is_repl, struct retryable_write *out,
                            struct err *e);

/* Writer thread, inside the write transaction, before the handler runs.
 * Returns 0 with *is_replayed false when the handler must run; 0 with
 * *is_replayed true when this txnNumber already ran on the session: the
 * stored result is appended to reply (plus retriedStmtIds / retriedStmtId,
 * computed from req) and nothing must execute; TransactionTooOld (225) when
 * the session already ran a newer txnNumber; a storage error otherwise. */
int retryable_lookup(struct store_txn *t, const struct retryable_write *rw, const struct cmd_request *req,
                     bson_t *reply, bool *is_replayed, struct err *e);

/* Writer thread, after the handler succeeded: upserts the session's record
 * with the handler's reply fields (result, borrowed), the optime of the
 * command's last oplog entry (last_write; OPTIME_NULL when unknown) and
 * now_ms. Creates config.transactions on first use. A failure is a storage
 * failure (it poisons the transaction). */
int retryable_record(struct store_txn *t, const struct retryable_write *rw, const bson_t *result,
                     struct optime last_write, int64_t now_ms, struct err *e);

/* Writer thread, inside the write transaction of a writable primary: deletes
 * the records of config.transactions whose lastWriteDate is before cutoff_ms
 * (a record without a usable lastWriteDate counts as expired), at most
 * max_n of them (max_n > 0). The deletes go through store_doc_delete, so the
 * oplog carries them and every member drops the same records. *n_removed
 * receives the count; *has_more is true when expired records remain beyond
 * max_n. A missing collection is not an error (nothing to do). Deletes done
 * before a failure stay in the transaction (each is logged with its entry);
 * -ERR_OUT_OF_DISK_SPACE / -ERR_INTERNAL_ERROR mean the transaction is
 * poisoned, any other error left it consistent. */
int retryable_reap(struct store_txn *t, int64_t cutoff_ms, int max_n, int64_t *n_removed, bool *has_more,
                   struct err *e);

#endif

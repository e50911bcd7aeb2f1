/* oplog_writer.h - the primary's side of the oplog: the storage change hook.
 *
 * Installed with store_set_change_hook when the server runs with --replSet.
 * On the writer thread, inside the write transaction, it turns every change
 * into an oplog entry (oplog_entry.h) with the next timestamp and the current
 * term, appends it, and records the undo record that rollback needs (the
 * pre-image) -- all in the same transaction as the change. Changes to the
 * "local" database are never logged (they are not replicated).
 *
 * Timestamps: strictly increasing, (wall seconds << 32 | counter), never below
 * the last entry in the oplog (restored at start).
 *
 * Threads: oplog_writer_set_term / _writable are called on the loop thread;
 * everything else runs on the writer thread. The writable term is an atomic. */
#ifndef TALLY_OPLOG_WRITER_H
#define TALLY_OPLOG_WRITER_H

#include "core/err.h"
#include "core/optime.h"
#include "storage/store.h"

#include <stdbool.h>
#include <stdint.h>

struct oplog_writer;

/* Reads the last oplog entry to continue its timestamps. *out owned. */
int oplog_writer_create(struct store *s, struct oplog_writer **out, struct err *e);
void oplog_writer_destroy(struct oplog_writer *w);
/* The store_change_cb to install, with the writer as its arg. */
int oplog_writer_hook(struct store_txn *t, const struct store_change *c, void *arg, struct err *e);

/* Loop thread: the term in which this member is a writable primary, or -1
 * when it is not (then client writes are refused before they run). */
void oplog_writer_set_writable_term(struct oplog_writer *w, int64_t term);
int64_t oplog_writer_writable_term(const struct oplog_writer *w);
/* Loop thread: this member won the election of term and its new-primary
 * no-op is on its way (not yet writable). Setting the writable term (to -1
 * on a step-down, or to a term) replaces it. */
void oplog_writer_set_leader_term(struct oplog_writer *w, int64_t term);
/* Any thread: true while this member is the primary of term (writable, or
 * about to write its new-primary no-op). A replication no-op checks it on
 * the writer thread right before it appends: a member that lost the term
 * meanwhile must not put an entry of that term into its oplog. */
bool oplog_writer_leads_term(const struct oplog_writer *w, int64_t term);

/* Writer thread: the optime of the newest entry this writer appended (for the
 * write concern of the job that just ran), and a no-op entry ({op: "n", ns: "",
 * o: msg}) in the given term, e.g. {msg: "new primary"} or {msg: "periodic noop"}. */
struct optime oplog_writer_last_optime(const struct oplog_writer *w);
int64_t oplog_writer_last_wall_ms(const struct oplog_writer *w);
int oplog_writer_append_noop(struct oplog_writer *w, struct store_txn *t, int64_t term, const bson_t *msg,
                             struct optime *out, struct err *e);
/* Writer thread: after a secondary applied fetched entries, the next entries it
 * writes as primary must follow them. */
void oplog_writer_observe(struct oplog_writer *w, struct optime last, int64_t wall_ms);

#endif

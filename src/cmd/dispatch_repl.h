/* dispatch_repl.h - the replica-set rules of the dispatcher (private to cmd/).
 *
 * dispatch.c calls these only when the server runs with --replSet
 * (server.repl != NULL): the role check before a command runs, the write
 * concern of a write, and the error labels of the final reply. All of them
 * run on the loop thread. */
#ifndef TALLY_DISPATCH_REPL_H
#define TALLY_DISPATCH_REPL_H

#include "cmd/cmd.h"
#include "repl/write_concern.h"

struct server;

/* May this member run req now (wire-compat.md 6)? 0, or NotWritablePrimary
 * (10107), NotPrimaryNoSecondaryOk (13435) or NotPrimaryOrSecondary (13436). */
int dispatch_repl_check_role(struct server *srv, const struct cmd_request *req, const struct cmd_def *def,
                             struct err *e);

/* True for commands that change user data: CMD_FLAG_WRITE rows, and aggregate
 * with a $out or $merge stage. The "local" database never counts. */
bool dispatch_repl_is_user_write(const struct cmd_request *req, const struct cmd_def *def);

/* The write concern of a write: the client's (parsed), else the member's
 * default. A malformed writeConcern fails the command (FailedToParse,
 * TypeMismatch). A write concern this config can never satisfy does not: it
 * is left in *unsat (code 79 or 100) for a writeConcernError after the write,
 * as mongod reports it. */
int dispatch_repl_write_concern(struct server *srv, const struct cmd_request *req, struct write_concern *wc,
                                struct err *unsat, struct err *e);

/* Does this write concern make the reply wait for other members? */
bool dispatch_repl_wc_needs_wait(const struct write_concern *wc);

/* Appends fields (borrowed; may be NULL) to reply, skipping "ok", and adds
 * errorLabels ["RetryableWriteError"] inside a retryable writeConcernError when
 * is_retryable. */
void dispatch_repl_merge_fields(const bson_t *fields, bool is_retryable, bson_t *reply);
/* Appends writeConcernError {code, codeName, errmsg[, errInfo]} built from e. */
void dispatch_repl_append_wc_error(const struct err *e, bool is_retryable, bson_t *reply);

/* A retryable write (txnNumber without autocommit) or commitTransaction /
 * abortTransaction: the commands whose errors may carry RetryableWriteError. */
bool dispatch_repl_is_retryable_write(const struct cmd_request *req);
/* True for codes of mongod's RetriableError category (wire-compat.md 4.3). */
bool dispatch_repl_is_retryable_code(int code);
/* Adds top-level errorLabels ["RetryableWriteError"] to a finished reply
 * (without its ok field yet) when rc < 0 with a retryable code, or when its
 * writeConcernError has one. */
void dispatch_repl_add_labels(const struct cmd_request *req, int rc, const struct err *e, bson_t *reply);

#endif

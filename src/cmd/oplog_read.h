/* oplog_read.h - client reads of local.oplog.rs and local.system.replset.
 *
 * Neither namespace is a collection of the catalog: the oplog and the
 * replica-set config live in the replication sub-databases (storage/oplog.h).
 * The read commands (find, getMore, count, aggregate, listCollections,
 * collStats) route these namespaces here with a few lines each, and get the
 * shapes mongod gives: the oplog reads like a capped collection in ts order
 * (tailable + awaitData supported, a {ts: {$gte: X}} filter seeks straight to
 * X), system.replset holds one document, the config. All functions run in
 * the command's read transaction (ctx->txn). */
#ifndef TALLY_OPLOG_READ_H
#define TALLY_OPLOG_READ_H

#include "cmd/cmd.h"
#include "cmd/cursor.h"
#include "query/agg.h"
#include "query/match.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

/* True for local.oplog.rs and local.system.replset. */
bool oplog_read_is_ns(const char *db, const char *coll);
/* True when req is a find or getMore on local.oplog.rs: its reply should carry
 * $replData (repl_node_append_repl_data), which the dispatcher appends on the
 * loop thread (node functions are loop-thread only; these handlers are not). */
bool oplog_read_is_oplog_request(const struct cmd_request *req);

/* find on one of the two namespaces (coll is "oplog.rs" or "system.replset"). */
int oplog_read_find(struct cmd_ctx *ctx, const char *coll);
/* getMore on a checked-out cursor with c->is_oplog set: fills the next batch,
 * parks (CMD_PARK) an await-data cursor with nothing new, checks the cursor
 * back in or releases it, and appends the reply. */
int oplog_read_get_more(struct cmd_ctx *ctx, struct cursor *c, int64_t batch_size, int64_t max_time_ms);
/* Number of documents matching query (nullable: all), before skip/limit. */
int oplog_read_count(struct cmd_ctx *ctx, const char *coll, const bson_t *query, int64_t *n);
/* Runs pipeline p over the namespace's documents, emitting into c's buffer. */
int oplog_read_run_pipeline(struct cmd_ctx *ctx, struct pipeline *p, const char *coll, struct cursor *c);
/* collStats fields for the namespace (ns "local.<coll>"). */
int oplog_read_coll_stats(struct cmd_ctx *ctx, const char *coll, int64_t scale);
/* listCollections on "local": pushes the entries of oplog.rs (when this
 * member is part of a replica set or has an oplog) and system.replset (when a
 * config is stored) that match m into c. */
int oplog_read_list_collections(struct cmd_ctx *ctx, const struct matcher *m, bool is_name_only, struct cursor *c);

#endif

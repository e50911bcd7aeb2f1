/* handlers.h - every command handler, one declaration each; the table in
 * table.c says where each runs. Grouped by the file that implements it. */
#ifndef TALLY_HANDLERS_H
#define TALLY_HANDLERS_H

#include "cmd/cmd.h"

/* cmd_apply_ops.c: restore support, standalone only */
int cmd_apply_ops(struct cmd_ctx *ctx);
int cmd_reset_replication_state(struct cmd_ctx *ctx);
/* cmd_snapshot.c: consistent hot copies (cmd_snapshot.h) */
int cmd_tally_snapshot(struct cmd_ctx *ctx);
/* cmd_resync.c: {resync: 1}, snapshot initial sync of a stale member */
int cmd_resync(struct cmd_ctx *ctx);
/* cmd_hello.c */
int cmd_hello(struct cmd_ctx *ctx);
/* cmd_diag.c: server and diagnostic commands */
int cmd_build_info(struct cmd_ctx *ctx);
int cmd_connection_status(struct cmd_ctx *ctx);
int cmd_end_sessions(struct cmd_ctx *ctx);
int cmd_get_cmd_line_opts(struct cmd_ctx *ctx);
int cmd_get_log(struct cmd_ctx *ctx);
int cmd_get_parameter(struct cmd_ctx *ctx);
int cmd_host_info(struct cmd_ctx *ctx);
int cmd_list_commands(struct cmd_ctx *ctx);
int cmd_ping(struct cmd_ctx *ctx);
int cmd_server_status(struct cmd_ctx *ctx);
int cmd_shutdown(struct cmd_ctx *ctx);
int cmd_whatsmyuri(struct cmd_ctx *ctx);
int cmd_not_implemented(struct cmd_ctx *ctx); /* transactions, auth, change-stream helpers: clear error */
/* cmd_failpoint.c: test commands (CommandNotFound without enableTestCommands=1) */
int cmd_configure_fail_point(struct cmd_ctx *ctx);
int cmd_wait_for_fail_point(struct cmd_ctx *ctx);

/* cmd_repl.c, cmd_repl_internal.c: replica-set commands (NoReplicationEnabled without --replSet) */
int cmd_repl_set_initiate(struct cmd_ctx *ctx);
int cmd_repl_set_get_config(struct cmd_ctx *ctx);
int cmd_repl_set_get_status(struct cmd_ctx *ctx);
int cmd_repl_set_reconfig(struct cmd_ctx *ctx);
int cmd_repl_set_step_down(struct cmd_ctx *ctx);
int cmd_repl_set_step_up(struct cmd_ctx *ctx);
int cmd_repl_set_freeze(struct cmd_ctx *ctx);
int cmd_repl_set_sync_from(struct cmd_ctx *ctx);
int cmd_repl_set_abort_primary_catch_up(struct cmd_ctx *ctx);
int cmd_repl_set_heartbeat(struct cmd_ctx *ctx);
int cmd_repl_set_request_votes(struct cmd_ctx *ctx);
int cmd_repl_set_update_position(struct cmd_ctx *ctx);

/* cmd_find.c, cmd_cursor.c, cmd_count.c, cmd_aggregate.c, cmd_list.c, cmd_stats.c: reads */
int cmd_find(struct cmd_ctx *ctx);
int cmd_get_more(struct cmd_ctx *ctx);
int cmd_kill_cursors(struct cmd_ctx *ctx);
int cmd_count(struct cmd_ctx *ctx);
int cmd_distinct(struct cmd_ctx *ctx);
int cmd_aggregate(struct cmd_ctx *ctx);
int cmd_list_collections(struct cmd_ctx *ctx);
int cmd_list_indexes(struct cmd_ctx *ctx);
int cmd_list_databases(struct cmd_ctx *ctx);
int cmd_coll_stats(struct cmd_ctx *ctx);
int cmd_db_stats(struct cmd_ctx *ctx);

/* cmd_insert.c, cmd_update.c, cmd_delete.c, cmd_find_and_modify.c, cmd_ddl.c, cmd_indexes.c: writes */
int cmd_insert(struct cmd_ctx *ctx);
int cmd_update(struct cmd_ctx *ctx);
int cmd_delete(struct cmd_ctx *ctx);
int cmd_find_and_modify(struct cmd_ctx *ctx);
int cmd_create(struct cmd_ctx *ctx);
int cmd_drop(struct cmd_ctx *ctx);
int cmd_drop_database(struct cmd_ctx *ctx);
int cmd_rename_collection(struct cmd_ctx *ctx);
int cmd_create_indexes(struct cmd_ctx *ctx);
int cmd_drop_indexes(struct cmd_ctx *ctx);

#endif

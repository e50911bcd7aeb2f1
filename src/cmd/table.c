/* table.c - the one command table, sorted by name (binary-searched).
 *
 * Each row: the wire name, its handler, the thread it runs on, and flags.
 * Names not in this table fail with CommandNotFound (59). */
#include "cmd/handlers.h"

#include <string.h>

#define LOOP CMD_EXEC_LOOP
#define READ CMD_EXEC_READ
#define WRITE CMD_EXEC_WRITE
#define W CMD_FLAG_WRITE
#define R CMD_FLAG_READ
#define ADMIN CMD_FLAG_ADMIN_ONLY

/* Sorted by strcmp order (upper case before lower case). */
static const struct cmd_def commands[] = {
    {"abortTransaction", cmd_not_implemented, LOOP, 0},
    {"aggregate", cmd_aggregate, READ, R},
    {"applyOps", cmd_apply_ops, WRITE, W | ADMIN},
    {"buildInfo", cmd_build_info, LOOP, 0},
    {"buildinfo", cmd_build_info, LOOP, 0},
    {"collStats", cmd_coll_stats, READ, R},
    {"commitTransaction", cmd_not_implemented, LOOP, 0},
    {"configureFailPoint", cmd_configure_fail_point, LOOP, 0},
    {"connectionStatus", cmd_connection_status, LOOP, 0},
    {"count", cmd_count, READ, R},
    {"create", cmd_create, WRITE, W},
    {"createIndexes", cmd_create_indexes, WRITE, W},
    {"dbStats", cmd_db_stats, READ, R},
    {"delete", cmd_delete, WRITE, W},
    {"deleteIndexes", cmd_drop_indexes, WRITE, W},
    {"distinct", cmd_distinct, READ, R},
    {"drop", cmd_drop, WRITE, W},
    {"dropDatabase", cmd_drop_database, WRITE, W},
    {"dropIndexes", cmd_drop_indexes, WRITE, W},
    {"endSessions", cmd_end_sessions, LOOP, 0},
    {"find", cmd_find, READ, R},
    {"findAndModify", cmd_find_and_modify, WRITE, W},
    {"findandmodify", cmd_find_and_modify, WRITE, W},
    {"getCmdLineOpts", cmd_get_cmd_line_opts, LOOP, ADMIN},
    {"getLog", cmd_get_log, LOOP, ADMIN},
    {"getMore", cmd_get_more, READ, 0},
    {"getParameter", cmd_get_parameter, LOOP, ADMIN},
    {"hello", cmd_hello, LOOP, 0},
    {"hostInfo", cmd_host_info, LOOP, 0},
    {"insert", cmd_insert, WRITE, W},
    {"isMaster", cmd_hello, LOOP, 0},
    {"ismaster", cmd_hello, LOOP, 0},
    {"killAllSessions", cmd_end_sessions, LOOP, 0},
    {"killCursors", cmd_kill_cursors, READ, 0},
    {"listCollections", cmd_list_collections, READ, R},
    {"listCommands", cmd_list_commands, LOOP, 0},
    {"listDatabases", cmd_list_databases, READ, R | ADMIN},
    {"listIndexes", cmd_list_indexes, READ, R},
    {"logout", cmd_not_implemented, LOOP, 0},
    {"ping", cmd_ping, LOOP, 0},
    {"refreshSessions", cmd_end_sessions, LOOP, 0},
    {"renameCollection", cmd_rename_collection, WRITE, W | ADMIN},
    {"replSetAbortPrimaryCatchUp", cmd_repl_set_abort_primary_catch_up, LOOP, ADMIN},
    {"replSetFreeze", cmd_repl_set_freeze, LOOP, ADMIN},
    {"replSetGetConfig", cmd_repl_set_get_config, LOOP, ADMIN},
    {"replSetGetStatus", cmd_repl_set_get_status, LOOP, ADMIN},
    {"replSetHeartbeat", cmd_repl_set_heartbeat, LOOP, 0},
    {"replSetInitiate", cmd_repl_set_initiate, LOOP, ADMIN},
    {"replSetReconfig", cmd_repl_set_reconfig, LOOP, ADMIN},
    {"replSetRequestVotes", cmd_repl_set_request_votes, LOOP, 0},
    {"replSetStepDown", cmd_repl_set_step_down, LOOP, ADMIN},
    {"replSetStepUp", cmd_repl_set_step_up, LOOP, ADMIN},
    {"replSetSyncFrom", cmd_repl_set_sync_from, LOOP, ADMIN},
    {"replSetUpdatePosition", cmd_repl_set_update_position, LOOP, 0},
    {"resync", cmd_resync, LOOP, ADMIN},
    {"saslContinue", cmd_not_implemented, LOOP, 0},
    {"saslStart", cmd_not_implemented, LOOP, 0},
    {"serverStatus", cmd_server_status, LOOP, 0},
    {"shutdown", cmd_shutdown, LOOP, ADMIN},
    {"startSession", cmd_not_implemented, LOOP, 0},
    {"tallyResetReplicationState", cmd_reset_replication_state, WRITE, W | ADMIN},
    {"tallySnapshot", cmd_tally_snapshot, LOOP, ADMIN},
    {"update", cmd_update, WRITE, W},
    {"waitForFailPoint", cmd_wait_for_fail_point, LOOP, 0},
    {"whatsmyuri", cmd_whatsmyuri, LOOP, 0},
};

static int compare_name(const void *key, const void *row)
{
    return strcmp(key, ((const struct cmd_def *)row)->name);
}

const struct cmd_def *cmd_lookup(const char *name)
{
    const struct cmd_def *row =
        bsearch(name, commands, sizeof commands / sizeof commands[0], sizeof commands[0], compare_name);

    return row;
}

const struct cmd_def *cmd_table(int *n_out)
{
    *n_out = (int)(sizeof commands / sizeof commands[0]);
    return commands;
}

/* config.h - server options from the command line and a mongod.conf-style
 * YAML file (flags override the file).
 *
 * Flag names follow mongod: --dbpath --port --bind_ip --config --logpath
 * --replSet --quiet -v. YAML keys: storage.dbPath, net.port, net.bindIp,
 * systemLog.path, replication.replSetName, replication.oplogSizeMB (--oplogSize),
 * storage.mapSizeMB,
 * setParameter.enableTestCommands, and the session parameters below.
 * Unknown flags and keys are errors naming the flag or key. */
#ifndef TALLY_CONFIG_H
#define TALLY_CONFIG_H

#include "core/err.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

struct config {
    char *dbpath;          /* owned; default "./data/db" */
    char *bind_ip;         /* owned; default "127.0.0.1"; comma-separated list */
    int port;              /* default 27017 */
    char *log_path;        /* owned; NULL = stderr */
    char *config_path;     /* owned; NULL when no --config */
    char *repl_set;        /* owned; NULL = standalone */
    uint64_t map_size_mb;  /* LMDB map size; default 65536 */
    uint64_t oplog_size_mb; /* --oplogSize / replication.oplogSizeMB; 0 = automatic (repl/oplog_cap.c) */
    int max_conns;         /* default 10000 */
    bool is_verbose;
    bool is_quiet;
    bool enable_test_commands;
    /* Sessions, as mongod's setParameters: localLogicalSessionTimeoutMinutes
     * (what hello advertises; default 30), TransactionRecordMinimumLifetimeMinutes
     * (default 30) and logicalSessionRefreshMillis (how often the primary
     * reaps expired session records; default 300000). A record of
     * config.transactions expires once idle for the larger of the two
     * lifetimes, or for sessionRecordLifetimeMillisForTest when set (> 0;
     * needs enableTestCommands). */
    int session_timeout_minutes;
    int txn_record_min_lifetime_minutes;
    int64_t session_refresh_ms;
    int64_t session_record_lifetime_ms_for_test;
    bson_t parsed;         /* what getCmdLineOpts reports as "parsed", owned */
    bson_t argv;           /* argv as an array, owned */
};

/* Parses argv (and the --config file when given). Returns 0, 1 when --help or
 * --version was printed (exit 0), or a negative error with e describing the
 * bad flag, value, file or key. cfg is owned by the caller (config_destroy). */
int config_parse(struct config *cfg, int argc, char **argv, struct err *e);
/* How long a retryable-write record of config.transactions outlives its
 * last write, in ms (from the session parameters above). */
int64_t config_session_record_lifetime_ms(const struct config *cfg);
void config_destroy(struct config *cfg);

#endif

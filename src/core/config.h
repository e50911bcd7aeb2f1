/* config.h - server options from the command line and a mongod.conf-style
 * YAML file (flags override the file).
 *
 * Flag names follow mongod: --dbpath --port --bind_ip --config --logpath
 * --replSet --quiet -v. YAML keys: storage.dbPath, net.port, net.bindIp,
 * systemLog.path, replication.replSetName, replication.oplogSizeMB (--oplogSize),
 * storage.mapSizeMB,
 * setParameter.enableTestCommands. Unknown flags and keys are errors naming
 * the flag or key. */
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
    bson_t parsed;         /* what getCmdLineOpts reports as "parsed", owned */
    bson_t argv;           /* argv as an array, owned */
};

/* Parses argv (and the --config file when given). Returns 0, 1 when --help or
 * --version was printed (exit 0), or a negative error with e describing the
 * bad flag, value, file or key. cfg is owned by the caller (config_destroy). */
int config_parse(struct config *cfg, int argc, char **argv, struct err *e);
void config_destroy(struct config *cfg);

#endif

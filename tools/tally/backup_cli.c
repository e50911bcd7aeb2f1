/* Command lines of `tally backup ...` and `tally restore ...`.
 *
 * `backup full|diff|incr` and `backup verify` run here; `backup list|agent|
 * consolidate|report|record` belong to the catalog (catalog_cli). Options
 * are parsed strictly, as in main.c: an unknown or misplaced option, or a
 * missing value, stops with a message and exit code 2 before anything runs.
 * Exit codes: 0 done, 1 failed (the message says what to do), 2 bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "catalog.h"
#include "tally.h"

/* Splits "--name=value"; *val gets the value (or the next argument). */
static int take_value(int argc, char **argv, int *i, char *name, size_t name_len, const char **val,
                      bool takes_value)
{
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    if (n >= name_len)
        n = name_len - 1;
    memcpy(name, arg, n);
    name[n] = '\0';
    *val = eq ? eq + 1 : NULL;
    if (!takes_value) {
        return *val == NULL ? 0 : tally_usage_error("option %s takes no value", name);
    }
    if (*val == NULL) {
        if (*i + 1 >= argc)
            return tally_usage_error("option %s needs a value", name);
        *val = argv[++*i];
    }
    if (**val == '\0')
        return tally_usage_error("option %s needs a non-empty value", name);
    return 0;
}

static bool parse_pos_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

/* An option that takes a value, and where the value goes. */
struct value_opt {
    const char *name;
    const char **val;
};

/* Parses argv as options that all take a value, each one of opts; an unknown
 * one is bad usage of `cmd`. */
static int parse_value_opts(int argc, char **argv, const struct value_opt *opts, size_t n_opts, const char *cmd)
{
    for (int i = 0; i < argc; i++) {
        char name[64];
        const char *val;
        int rc = take_value(argc, argv, &i, name, sizeof name, &val, true);
        if (rc != 0)
            return rc;
        size_t k = 0;
        while (k < n_opts && strcmp(name, opts[k].name) != 0)
            k++;
        if (k == n_opts)
            return tally_usage_error("unknown option %s for `%s`", argv[i], cmd);
        *opts[k].val = val;
    }
    return 0;
}

static int run_backup(enum backup_type type, int argc, char **argv)
{
    struct backup_options o = {.type = type, .redis_url = getenv("TALLY_REDIS_URL")};
    for (int i = 0; i < argc; i++) {
        char name[64];
        const char *val;
        bool is_flag = strcmp(argv[i], "--from-primary") == 0;
        int rc = take_value(argc, argv, &i, name, sizeof name, &val, !is_flag);
        if (rc != 0)
            return rc;
        if (is_flag) {
            o.from_primary = true;
        } else if (strcmp(name, "--uri") == 0) {
            o.uri = val;
        } else if (strcmp(name, "--to") == 0) {
            o.dest = val;
        } else if (strcmp(name, "--redis") == 0) {
            o.redis_url = val;
        } else if (strcmp(name, "--host") == 0) {
            o.host = val;
        } else if (strcmp(name, "--chunk-bytes") == 0) {
            if (!parse_pos_int(val, 65536, 16 << 20, &o.chunk_bytes))
                return tally_usage_error("--chunk-bytes must be 65536..16777216, not '%s'", val);
        } else if (strcmp(name, "--timeout") == 0) {
            if (!parse_pos_int(val, 1, 3600, &o.timeout_s))
                return tally_usage_error("--timeout must be 1..3600 seconds, not '%s'", val);
        } else {
            return tally_usage_error("unknown option %s for `backup %s`", argv[i],
                                     type == BACKUP_FULL   ? "full"
                                     : type == BACKUP_DIFF ? "diff"
                                                           : "incr");
        }
    }
    if (o.uri == NULL && o.host != NULL) {
        static char uri[256];
        snprintf(uri, sizeof uri, "mongodb://%s/", o.host);
        o.uri = uri;
    }
    if (o.uri == NULL || o.dest == NULL)
        return tally_usage_error("%s", "backup needs --uri URI and --to DEST");
    if (o.host != NULL && o.from_primary)
        return tally_usage_error("%s", "--host and --from-primary exclude each other");
    struct backup_result res;
    struct backup_error err;
    int64_t t0 = 0;
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    if (backup_run(&o, &res, &err) < 0) {
        fprintf(stderr, "tally: backup failed: %s\n", err.msg);
        return 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double secs = (double)((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - t0) / 1000.0;
    printf("backup %s from %s: %.1f MB raw, %.1f MB stored, %lld oplog entries, %.1f s -> %s\n", res.id, res.source,
           (double)res.bytes_raw / 1e6, (double)res.bytes_stored / 1e6, (long long)res.entries, secs, res.dir);
    return 0;
}

static int run_verify(int argc, char **argv)
{
    const char *from = NULL, *id = NULL, *tallyd = NULL;
    const struct value_opt opts[] = {{"--from", &from}, {"--backup", &id}, {"--tallyd", &tallyd}};
    int rc = parse_value_opts(argc, argv, opts, sizeof opts / sizeof opts[0], "backup verify");
    if (rc != 0)
        return rc;
    if (from == NULL)
        return tally_usage_error("%s", "backup verify needs --from DEST");
    struct backup_error err;
    if (backup_verify(from, id, tallyd, &err) < 0) {
        fprintf(stderr, "tally: %s\n", err.msg);
        printf("verify: FAILED\n");
        return 1;
    }
    printf("verify: ok\n");
    return 0;
}

int backup_cli(int argc, char **argv)
{
    if (argc < 1)
        return tally_usage_error("%s", "`backup` needs full, diff, incr, verify, list, agent, consolidate or report");
    const char *verb = argv[0];
    int rc;
    if (strcmp(verb, "full") == 0 || strcmp(verb, "diff") == 0 || strcmp(verb, "incr") == 0) {
        mongoc_init();
        client_quiet_logs();
        rc = run_backup(verb[0] == 'f' ? BACKUP_FULL : verb[0] == 'd' ? BACKUP_DIFF : BACKUP_INCR, argc - 1,
                        argv + 1);
        mongoc_cleanup();
        return rc;
    }
    if (strcmp(verb, "verify") == 0) {
        mongoc_init();
        client_quiet_logs();
        rc = run_verify(argc - 1, argv + 1);
        mongoc_cleanup();
        return rc;
    }
    return catalog_cli(argc, argv);
}

int restore_cli(int argc, char **argv)
{
    struct restore_options o = {0};
    const struct value_opt opts[] = {{"--from", &o.from},
                                     {"--dbpath", &o.dbpath},
                                     {"--until", &o.until},
                                     {"--backup", &o.backup_id},
                                     {"--tallyd", &o.tallyd}};
    int rc = parse_value_opts(argc, argv, opts, sizeof opts / sizeof opts[0], "restore");
    if (rc != 0)
        return rc;
    if (o.from == NULL || o.dbpath == NULL)
        return tally_usage_error("%s", "restore needs --from DEST and --dbpath DIR");
    if (o.until != NULL && o.backup_id != NULL)
        return tally_usage_error("%s", "--until and --backup exclude each other");
    mongoc_init();
    client_quiet_logs();
    struct restore_result res;
    struct backup_error err;
    rc = restore_run(&o, &res, &err);
    mongoc_cleanup();
    if (rc < 0) {
        fprintf(stderr, "tally: restore failed: %s\n", err.msg);
        return 1;
    }
    printf("restored %s from %s + %d link(s), %lld oplog entries applied, up to Timestamp(%u, %u); start it with "
           "`tallyd --dbpath %s`, or with --replSet NAME and run replSetInitiate to seed a new set\n",
           o.dbpath, res.full_id, res.n_chain - 1, (long long)res.entries_applied, (unsigned)(res.end_ts >> 32),
           (unsigned)res.end_ts, o.dbpath);
    return 0;
}

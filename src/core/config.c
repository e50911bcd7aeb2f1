/* config.c - command-line flags and the mongod.conf-style YAML file.
 *
 * Order: defaults, then the --config file (libyaml), then every other flag,
 * so flags override the file. Every unknown flag or key and every bad value
 * is an error naming it (main exits 2). The result also records argv and a
 * "parsed" document shaped like mongod's for getCmdLineOpts. */
#include "core/config.h"

#include "core/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define TALLY_VERSION "6.0.0"

/* The options as settings, so the file and the flags share one setter. */
enum opt_id {
    OPT_DBPATH,
    OPT_PORT,
    OPT_BIND_IP,
    OPT_LOGPATH,
    OPT_LOG_DESTINATION,
    OPT_REPLSET,
    OPT_QUIET,
    OPT_VERBOSE,
    OPT_MAP_SIZE_MB,
    OPT_MAX_CONNS,
    OPT_LOG_APPEND,
    OPT_OPLOG_SIZE_MB,
};

struct yaml_key {
    const char *path; /* "storage.dbPath" */
    enum opt_id id;
};

static const struct yaml_key yaml_keys[] = {
    {"storage.dbPath", OPT_DBPATH},
    {"storage.mapSizeMB", OPT_MAP_SIZE_MB},
    {"net.port", OPT_PORT},
    {"net.bindIp", OPT_BIND_IP},
    {"net.maxIncomingConnections", OPT_MAX_CONNS},
    {"systemLog.path", OPT_LOGPATH},
    {"systemLog.destination", OPT_LOG_DESTINATION},
    {"systemLog.quiet", OPT_QUIET},
    {"systemLog.verbosity", OPT_VERBOSE},
    {"systemLog.logAppend", OPT_LOG_APPEND},
    {"replication.replSetName", OPT_REPLSET},
    {"replication.oplogSizeMB", OPT_OPLOG_SIZE_MB},
};

static int parse_int(const char *what, const char *v, long long lo, long long hi, long long *out, struct err *e)
{
    char *end;
    long long n;

    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno || end == v || *end != '\0' || n < lo || n > hi)
        return err_set(e, ERR_BAD_VALUE, "Error parsing option \"%s\": bad value '%s' (expected an integer from %lld "
                       "to %lld)", what, v, lo, hi);
    *out = n;
    return 0;
}

static int parse_bool(const char *what, const char *v, bool *out, struct err *e)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *out = false;
        return 0;
    }
    return err_set(e, ERR_BAD_VALUE, "Error parsing option \"%s\": bad value '%s' (expected true or false)", what, v);
}

static void set_str(char **field, const char *v)
{
    free(*field);
    *field = xstrdup(v);
}

/* Applies one option; what names it for messages (flag or YAML key). */
static int apply(struct config *cfg, enum opt_id id, const char *what, const char *v, struct err *e)
{
    long long n;
    bool b;
    int rc;

    switch (id) {
    case OPT_DBPATH:
        if (*v == '\0')
            return err_set(e, ERR_BAD_VALUE, "Error parsing option \"%s\": the path is empty", what);
        set_str(&cfg->dbpath, v);
        return 0;
    case OPT_PORT:
        if ((rc = parse_int(what, v, 0, 65535, &n, e)) < 0)
            return rc;
        cfg->port = (int)n;
        return 0;
    case OPT_BIND_IP:
        if (*v == '\0')
            return err_set(e, ERR_BAD_VALUE, "Error parsing option \"%s\": no address given", what);
        set_str(&cfg->bind_ip, v);
        return 0;
    case OPT_LOGPATH:
        if (*v == '\0')
            return err_set(e, ERR_BAD_VALUE, "Error parsing option \"%s\": the path is empty", what);
        set_str(&cfg->log_path, v);
        return 0;
    case OPT_LOG_DESTINATION:
        if (strcmp(v, "file") != 0)
            return err_set(e, ERR_BAD_VALUE, "Error parsing option \"%s\": bad value '%s' (only 'file' is supported)",
                           what, v);
        return 0;
    case OPT_REPLSET:
        if (*v == '\0')
            return err_set(e, ERR_BAD_VALUE, "Error parsing option \"%s\": the replica set name is empty", what);
        set_str(&cfg->repl_set, v);
        return 0;
    case OPT_QUIET:
        if ((rc = parse_bool(what, v, &b, e)) < 0)
            return rc;
        cfg->is_quiet = b;
        return 0;
    case OPT_VERBOSE:
        if ((rc = parse_int(what, v, 0, 5, &n, e)) < 0)
            return rc;
        cfg->is_verbose = n > 0;
        return 0;
    case OPT_MAP_SIZE_MB:
        if ((rc = parse_int(what, v, 1, 1LL << 30, &n, e)) < 0)
            return rc;
        cfg->map_size_mb = (uint64_t)n;
        return 0;
    case OPT_MAX_CONNS:
        if ((rc = parse_int(what, v, 1, 1000000, &n, e)) < 0)
            return rc;
        cfg->max_conns = (int)n;
        return 0;
    case OPT_LOG_APPEND: return parse_bool(what, v, &b, e);
    case OPT_OPLOG_SIZE_MB:
        if ((rc = parse_int(what, v, 1, 1LL << 30, &n, e)) < 0)
            return rc;
        cfg->oplog_size_mb = (uint64_t)n;
        return 0;
    }
    return err_set(e, ERR_INTERNAL_ERROR, "unhandled option %s", what);
}

#define DEFAULT_SESSION_TIMEOUT_MINUTES 30
#define DEFAULT_SESSION_REFRESH_MS 300000

/* setParameter name=value (flag) or name: value (YAML). */
static int apply_parameter(struct config *cfg, const char *name, const char *v, struct err *e)
{
    char what[160];
    long long n;
    int rc;

    snprintf(what, sizeof what, "setParameter.%s", name);
    if (strcmp(name, "enableTestCommands") == 0)
        return parse_bool(what, v, &cfg->enable_test_commands, e);
    /* mongod's bounds: at least one minute / one millisecond. */
    if (strcmp(name, "localLogicalSessionTimeoutMinutes") == 0) {
        if ((rc = parse_int(what, v, 1, 1000000, &n, e)) < 0)
            return rc;
        cfg->session_timeout_minutes = (int)n;
        return 0;
    }
    if (strcmp(name, "TransactionRecordMinimumLifetimeMinutes") == 0) {
        if ((rc = parse_int(what, v, 1, 1000000, &n, e)) < 0)
            return rc;
        cfg->txn_record_min_lifetime_minutes = (int)n;
        return 0;
    }
    if (strcmp(name, "logicalSessionRefreshMillis") == 0) {
        if ((rc = parse_int(what, v, 1, 1LL << 40, &n, e)) < 0)
            return rc;
        cfg->session_refresh_ms = n;
        return 0;
    }
    if (strcmp(name, "sessionRecordLifetimeMillisForTest") == 0) {
        if ((rc = parse_int(what, v, 1, 1LL << 40, &n, e)) < 0)
            return rc;
        cfg->session_record_lifetime_ms_for_test = n;
        return 0;
    }
    return err_set(e, ERR_BAD_VALUE, "Unknown --setParameter '%s'", name);
}

int64_t config_session_record_lifetime_ms(const struct config *cfg)
{
    if (cfg->session_record_lifetime_ms_for_test > 0)
        return cfg->session_record_lifetime_ms_for_test;
    int minutes = cfg->session_timeout_minutes > cfg->txn_record_min_lifetime_minutes
                      ? cfg->session_timeout_minutes
                      : cfg->txn_record_min_lifetime_minutes;
    return (int64_t)minutes * 60000;
}

/* --- YAML --------------------------------------------------------------- */

static int yaml_walk(struct config *cfg, yaml_document_t *doc, yaml_node_t *node, const char *prefix,
                     struct err *e);

static int yaml_leaf(struct config *cfg, const char *path, const char *value, struct err *e)
{
    if (strncmp(path, "setParameter.", 13) == 0)
        return apply_parameter(cfg, path + 13, value, e);
    for (size_t i = 0; i < sizeof yaml_keys / sizeof yaml_keys[0]; i++)
        if (strcmp(yaml_keys[i].path, path) == 0)
            return apply(cfg, yaml_keys[i].id, path, value, e);
    return err_set(e, ERR_BAD_VALUE, "Unrecognized option: %s", path);
}

static int yaml_walk(struct config *cfg, yaml_document_t *doc, yaml_node_t *node, const char *prefix,
                     struct err *e)
{
    char path[512];
    int rc;

    if (node->type == YAML_SCALAR_NODE)
        return yaml_leaf(cfg, prefix, (const char *)node->data.scalar.value, e);
    if (node->type == YAML_SEQUENCE_NODE) {
        /* net.bindIp may be written as a list: join it with commas. */
        char joined[1024] = "";
        for (yaml_node_item_t *item = node->data.sequence.items.start; item < node->data.sequence.items.top; item++) {
            yaml_node_t *v = yaml_document_get_node(doc, *item);
            if (v == NULL || v->type != YAML_SCALAR_NODE)
                return err_set(e, ERR_BAD_VALUE, "Error parsing option \"%s\": expected a list of strings", prefix);
            if (strlen(joined) + strlen((const char *)v->data.scalar.value) + 2 > sizeof joined)
                return err_set(e, ERR_BAD_VALUE, "Error parsing option \"%s\": list too long", prefix);
            if (joined[0])
                strcat(joined, ",");
            strcat(joined, (const char *)v->data.scalar.value);
        }
        return yaml_leaf(cfg, prefix, joined, e);
    }
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE)
            return err_set(e, ERR_BAD_VALUE, "Error parsing YAML config file: keys must be strings");
        if ((size_t)snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", k->data.scalar.value) >=
            sizeof path)
            return err_set(e, ERR_BAD_VALUE, "Error parsing YAML config file: key too long");
        if ((rc = yaml_walk(cfg, doc, v, path, e)) < 0)
            return rc;
    }
    return 0;
}

static int load_yaml(struct config *cfg, const char *path, struct err *e)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root;
    FILE *f = fopen(path, "rb");
    int rc = 0;

    if (f == NULL)
        return err_set(e, ERR_BAD_VALUE, "Error reading config file: %s: %s", path, strerror(errno));
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = err_set(e, ERR_BAD_VALUE, "Error parsing YAML config file %s: %s at line %zu", path,
                     parser.problem ? parser.problem : "syntax error", parser.problem_mark.line + 1);
        goto close_parser;
    }
    root = yaml_document_get_root_node(&doc);
    if (root != NULL) {
        if (root->type != YAML_MAPPING_NODE)
            rc = err_set(e, ERR_BAD_VALUE, "Error parsing YAML config file %s: the top level must be a mapping", path);
        else
            rc = yaml_walk(cfg, &doc, root, "", e);
    }
    yaml_document_delete(&doc);
close_parser:
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

/* --- flags -------------------------------------------------------------- */

struct flag {
    const char *name; /* without the leading dashes */
    int id;           /* enum opt_id, or one of the FLAG_* below */
    bool has_value;
};

enum { FLAG_CONFIG = 100, FLAG_SET_PARAMETER, FLAG_HELP, FLAG_VERSION };

static const struct flag flags[] = {
    {"dbpath", OPT_DBPATH, true},        {"port", OPT_PORT, true},
    {"bind_ip", OPT_BIND_IP, true},      {"logpath", OPT_LOGPATH, true},
    {"replSet", OPT_REPLSET, true},      {"quiet", OPT_QUIET, false},
    {"mapSizeMB", OPT_MAP_SIZE_MB, true}, {"maxConns", OPT_MAX_CONNS, true},
    {"logappend", OPT_LOG_APPEND, false}, {"config", FLAG_CONFIG, true},
    {"f", FLAG_CONFIG, true},            {"setParameter", FLAG_SET_PARAMETER, true},
    {"help", FLAG_HELP, false},          {"h", FLAG_HELP, false},
    {"version", FLAG_VERSION, false},    {"oplogSize", OPT_OPLOG_SIZE_MB, true},
};

static const char usage[] =
    "Usage: tallyd [options]\n"
    "  --dbpath DIR              data directory (default ./data/db; must exist)\n"
    "  --port N                  TCP port (default 27017)\n"
    "  --bind_ip ADDR[,ADDR]     addresses to listen on (default 127.0.0.1)\n"
    "  --config, -f FILE         mongod.conf-style YAML file (flags override it)\n"
    "  --logpath FILE            log to FILE instead of stderr\n"
    "  --replSet NAME            run as a member of replica set NAME\n"
    "  --oplogSize MB            oplog size in megabytes (default: 5% of the data disk,\n"
    "                            990 MB to 50 GB); the oplog grows past it rather than\n"
    "                            drop entries newer than the commit point\n"
    "  --quiet                   fewer log lines\n"
    "  -v, -vv, ...              verbose logging\n"
    "  --setParameter NAME=VAL   enableTestCommands=1, localLogicalSessionTimeoutMinutes=30,\n"
    "                            TransactionRecordMinimumLifetimeMinutes=30,\n"
    "                            logicalSessionRefreshMillis=300000\n"
    "  --mapSizeMB N             LMDB map size in MiB (default 65536)\n"
    "  --maxConns N              maximum connections (default 10000)\n"
    "  --help, --version\n";

/* Splits argv[*i] into a known flag and its value (from "=value" or the next
 * argument). *f NULL for -v forms. */
static int read_flag(int argc, char **argv, int *i, const struct flag **f, const char **value, struct err *e)
{
    const char *arg = argv[*i], *name, *eq;
    size_t name_len;

    *f = NULL;
    *value = NULL;
    if (arg[0] != '-' || arg[1] == '\0')
        return err_set(e, ERR_BAD_VALUE, "Error parsing command line: unexpected argument '%s'", arg);
    if (arg[1] != '-' && strspn(arg + 1, "v") == strlen(arg + 1))
        return 0;
    name = arg + (arg[1] == '-' ? 2 : 1);
    eq = strchr(name, '=');
    name_len = eq ? (size_t)(eq - name) : strlen(name);
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
        if (strlen(flags[k].name) != name_len || strncmp(flags[k].name, name, name_len) != 0)
            continue;
        *f = &flags[k];
        if (!flags[k].has_value) {
            if (eq)
                return err_set(e, ERR_BAD_VALUE, "Error parsing command line: option '--%s' takes no value",
                               flags[k].name);
            return 0;
        }
        if (eq) {
            *value = eq + 1;
        } else {
            if (*i + 1 >= argc)
                return err_set(e, ERR_BAD_VALUE, "Error parsing command line: option '--%s' requires a value",
                               flags[k].name);
            *value = argv[++*i];
        }
        return 0;
    }
    return err_set(e, ERR_BAD_VALUE, "Error parsing command line: unrecognised option '%s'", arg);
}

static void build_parsed(struct config *cfg)
{
    bson_t sub;

    bson_init(&cfg->parsed);
    if (cfg->config_path)
        BSON_APPEND_UTF8(&cfg->parsed, "config", cfg->config_path);
    BSON_APPEND_DOCUMENT_BEGIN(&cfg->parsed, "net", &sub);
    BSON_APPEND_UTF8(&sub, "bindIp", cfg->bind_ip);
    BSON_APPEND_INT32(&sub, "port", cfg->port);
    BSON_APPEND_INT32(&sub, "maxIncomingConnections", cfg->max_conns);
    bson_append_document_end(&cfg->parsed, &sub);
    if (cfg->repl_set) {
        BSON_APPEND_DOCUMENT_BEGIN(&cfg->parsed, "replication", &sub);
        BSON_APPEND_UTF8(&sub, "replSetName", cfg->repl_set);
        if (cfg->oplog_size_mb)
            BSON_APPEND_INT64(&sub, "oplogSizeMB", (int64_t)cfg->oplog_size_mb);
        bson_append_document_end(&cfg->parsed, &sub);
    }
    if (cfg->enable_test_commands || cfg->session_timeout_minutes != DEFAULT_SESSION_TIMEOUT_MINUTES ||
        cfg->txn_record_min_lifetime_minutes != DEFAULT_SESSION_TIMEOUT_MINUTES ||
        cfg->session_refresh_ms != DEFAULT_SESSION_REFRESH_MS || cfg->session_record_lifetime_ms_for_test > 0) {
        char num[32];
        BSON_APPEND_DOCUMENT_BEGIN(&cfg->parsed, "setParameter", &sub);
        if (cfg->enable_test_commands)
            BSON_APPEND_UTF8(&sub, "enableTestCommands", "1");
        /* mongod reports setParameter values as the strings given. */
        if (cfg->session_timeout_minutes != DEFAULT_SESSION_TIMEOUT_MINUTES) {
            snprintf(num, sizeof num, "%d", cfg->session_timeout_minutes);
            BSON_APPEND_UTF8(&sub, "localLogicalSessionTimeoutMinutes", num);
        }
        if (cfg->txn_record_min_lifetime_minutes != DEFAULT_SESSION_TIMEOUT_MINUTES) {
            snprintf(num, sizeof num, "%d", cfg->txn_record_min_lifetime_minutes);
            BSON_APPEND_UTF8(&sub, "TransactionRecordMinimumLifetimeMinutes", num);
        }
        if (cfg->session_refresh_ms != DEFAULT_SESSION_REFRESH_MS) {
            snprintf(num, sizeof num, "%lld", (long long)cfg->session_refresh_ms);
            BSON_APPEND_UTF8(&sub, "logicalSessionRefreshMillis", num);
        }
        if (cfg->session_record_lifetime_ms_for_test > 0) {
            snprintf(num, sizeof num, "%lld", (long long)cfg->session_record_lifetime_ms_for_test);
            BSON_APPEND_UTF8(&sub, "sessionRecordLifetimeMillisForTest", num);
        }
        bson_append_document_end(&cfg->parsed, &sub);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&cfg->parsed, "storage", &sub);
    BSON_APPEND_UTF8(&sub, "dbPath", cfg->dbpath);
    BSON_APPEND_INT64(&sub, "mapSizeMB", (int64_t)cfg->map_size_mb);
    bson_append_document_end(&cfg->parsed, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&cfg->parsed, "systemLog", &sub);
    if (cfg->log_path) {
        BSON_APPEND_UTF8(&sub, "destination", "file");
        BSON_APPEND_UTF8(&sub, "path", cfg->log_path);
    }
    if (cfg->is_quiet)
        BSON_APPEND_BOOL(&sub, "quiet", true);
    if (cfg->is_verbose)
        BSON_APPEND_INT32(&sub, "verbosity", 1);
    bson_append_document_end(&cfg->parsed, &sub);
}

static void set_defaults(struct config *cfg, int argc, char **argv)
{
    char key[16];
    const char *k;

    memset(cfg, 0, sizeof *cfg);
    cfg->dbpath = xstrdup("./data/db");
    cfg->bind_ip = xstrdup("127.0.0.1");
    cfg->port = 27017;
    cfg->map_size_mb = 65536;
    cfg->max_conns = 10000;
    cfg->session_timeout_minutes = DEFAULT_SESSION_TIMEOUT_MINUTES;
    cfg->txn_record_min_lifetime_minutes = DEFAULT_SESSION_TIMEOUT_MINUTES;
    cfg->session_refresh_ms = DEFAULT_SESSION_REFRESH_MS;
    bson_init(&cfg->argv);
    bson_init(&cfg->parsed);
    for (int i = 0; i < argc; i++) {
        bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
        bson_append_utf8(&cfg->argv, k, -1, argv[i], -1);
    }
}

int config_parse(struct config *cfg, int argc, char **argv, struct err *e)
{
    const struct flag *f;
    const char *value;
    int rc;

    set_defaults(cfg, argc, argv);
    /* Pass 1: --help, --version and --config, so the file loads before flags. */
    for (int i = 1; i < argc; i++) {
        if ((rc = read_flag(argc, argv, &i, &f, &value, e)) < 0)
            return rc;
        if (f && f->id == FLAG_HELP) {
            fputs(usage, stdout);
            return 1;
        }
        if (f && f->id == FLAG_VERSION) {
            printf("tallyd version v%s (MongoDB wire protocol 0..17)\n", TALLY_VERSION);
            return 1;
        }
        if (f && f->id == FLAG_CONFIG)
            set_str(&cfg->config_path, value);
    }
    if (cfg->config_path && (rc = load_yaml(cfg, cfg->config_path, e)) < 0)
        return rc;
    /* Pass 2: every other flag overrides the file. */
    for (int i = 1; i < argc; i++) {
        if ((rc = read_flag(argc, argv, &i, &f, &value, e)) < 0)
            return rc;
        if (f == NULL) {
            cfg->is_verbose = true;
        } else if (f->id == FLAG_SET_PARAMETER) {
            const char *eq = strchr(value, '=');
            char name[128];
            if (eq == NULL || eq == value || (size_t)(eq - value) >= sizeof name)
                return err_set(e, ERR_BAD_VALUE, "Illegal option assignment: \"%s\" (expected name=value)", value);
            memcpy(name, value, (size_t)(eq - value));
            name[eq - value] = '\0';
            if ((rc = apply_parameter(cfg, name, eq + 1, e)) < 0)
                return rc;
        } else if (f->id < FLAG_CONFIG) {
            char what[64];
            snprintf(what, sizeof what, "--%s", f->name);
            if ((rc = apply(cfg, (enum opt_id)f->id, what, f->has_value ? value : "true", e)) < 0)
                return rc;
        }
    }
    /* Like mongod's test-only parameters: refused unless test commands are on. */
    if (cfg->session_record_lifetime_ms_for_test > 0 && !cfg->enable_test_commands)
        return err_set(e, ERR_BAD_VALUE,
                       "setParameter sessionRecordLifetimeMillisForTest is test-only: it needs enableTestCommands=1");
    bson_destroy(&cfg->parsed);
    build_parsed(cfg);
    return 0;
}

void config_destroy(struct config *cfg)
{
    free(cfg->dbpath);
    free(cfg->bind_ip);
    free(cfg->log_path);
    free(cfg->config_path);
    free(cfg->repl_set);
    bson_destroy(&cfg->parsed);
    bson_destroy(&cfg->argv);
    memset(cfg, 0, sizeof *cfg);
}

/* cmd_diag.c - server and diagnostic commands: buildInfo, getParameter,
 * getLog, getCmdLineOpts, hostInfo, connectionStatus, serverStatus, ping,
 * whatsmyuri, the session no-ops, listCommands, shutdown, and the clear
 * NotImplemented answer for features not built yet.
 *
 * All run on the loop thread and read only process-wide state (struct
 * server, the log ring, /proc). Field names and types follow mongod 6.0,
 * since mongosh and drivers read several of them (wire-compat.md 7.3). */
#include "cmd/handlers.h"

#include "core/log.h"
#include "net/server.h"
#include "wire/wire.h"

#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#define TALLY_VERSION "6.0.0"
#define FCV_VERSION "6.0"

#if defined(__x86_64__)
#define TARGET_ARCH "x86_64"
#elif defined(__aarch64__)
#define TARGET_ARCH "aarch64"
#else
#define TARGET_ARCH "unknown"
#endif

int cmd_build_info(struct cmd_ctx *ctx)
{
    bson_t *r = &ctx->reply, sub;

    BSON_APPEND_UTF8(r, "version", TALLY_VERSION);
    BSON_APPEND_UTF8(r, "gitVersion", "tally");
    BSON_APPEND_ARRAY_BEGIN(r, "versionArray", &sub);
    BSON_APPEND_INT32(&sub, "0", 6);
    BSON_APPEND_INT32(&sub, "1", 0);
    BSON_APPEND_INT32(&sub, "2", 0);
    BSON_APPEND_INT32(&sub, "3", 0);
    bson_append_array_end(r, &sub);
    BSON_APPEND_UTF8(r, "sysInfo", "deprecated");
    BSON_APPEND_UTF8(r, "allocator", "system");
    BSON_APPEND_UTF8(r, "javascriptEngine", "none");
    BSON_APPEND_INT32(r, "bits", 64);
    BSON_APPEND_BOOL(r, "debug", false);
    BSON_APPEND_INT32(r, "maxBsonObjectSize", WIRE_MAX_BSON_BYTES);
    BSON_APPEND_ARRAY_BEGIN(r, "storageEngines", &sub);
    BSON_APPEND_UTF8(&sub, "0", "lmdb");
    bson_append_array_end(r, &sub);
    BSON_APPEND_ARRAY_BEGIN(r, "modules", &sub);
    bson_append_array_end(r, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(r, "openssl", &sub);
    BSON_APPEND_UTF8(&sub, "running", OpenSSL_version(OPENSSL_VERSION));
    BSON_APPEND_UTF8(&sub, "compiled", OPENSSL_VERSION_TEXT);
    bson_append_document_end(r, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(r, "buildEnvironment", &sub);
    BSON_APPEND_UTF8(&sub, "target_os", "linux");
    BSON_APPEND_UTF8(&sub, "target_arch", TARGET_ARCH);
    BSON_APPEND_UTF8(&sub, "distarch", TARGET_ARCH);
    bson_append_document_end(r, &sub);
    return 0;
}

int cmd_connection_status(struct cmd_ctx *ctx)
{
    bson_t info, arr;
    bson_iter_t it;

    BSON_APPEND_DOCUMENT_BEGIN(&ctx->reply, "authInfo", &info);
    BSON_APPEND_ARRAY_BEGIN(&info, "authenticatedUsers", &arr);
    bson_append_array_end(&info, &arr);
    BSON_APPEND_ARRAY_BEGIN(&info, "authenticatedUserRoles", &arr);
    bson_append_array_end(&info, &arr);
    if (bson_iter_init_find(&it, &ctx->req->body, "showPrivileges") && bson_iter_as_bool(&it)) {
        BSON_APPEND_ARRAY_BEGIN(&info, "authenticatedUserPrivileges", &arr);
        bson_append_array_end(&info, &arr);
    }
    bson_append_document_end(&ctx->reply, &info);
    return 0;
}

/* endSessions, killAllSessions, refreshSessions: sessions keep no server
 * state yet, so there is nothing to end. */
int cmd_end_sessions(struct cmd_ctx *ctx)
{
    (void)ctx;
    return 0;
}

int cmd_get_cmd_line_opts(struct cmd_ctx *ctx)
{
    BSON_APPEND_ARRAY(&ctx->reply, "argv", &ctx->srv->cfg.argv);
    BSON_APPEND_DOCUMENT(&ctx->reply, "parsed", &ctx->srv->cfg.parsed);
    return 0;
}

int cmd_get_log(struct cmd_ctx *ctx)
{
    bson_iter_t it;
    const char *which;
    bson_t arr;
    int n;

    if (!bson_iter_init_find(&it, &ctx->req->body, "getLog") || !BSON_ITER_HOLDS_UTF8(&it))
        return err_set(&ctx->err, ERR_TYPE_MISMATCH, "Argument to getLog must be of type String");
    which = bson_iter_utf8(&it, NULL);
    if (strcmp(which, "*") == 0) {
        BSON_APPEND_ARRAY_BEGIN(&ctx->reply, "names", &arr);
        BSON_APPEND_UTF8(&arr, "0", "global");
        BSON_APPEND_UTF8(&arr, "1", "startupWarnings");
        bson_append_array_end(&ctx->reply, &arr);
        return 0;
    }
    if (strcmp(which, "global") != 0 && strcmp(which, "startupWarnings") != 0)
        return err_set(&ctx->err, ERR_OPERATION_FAILED, "No log named '%s'", which);
    /* totalLinesWritten comes first in mongod's reply; fill the array aside. */
    bson_init(&arr);
    n = log_append_recent(&arr, strcmp(which, "startupWarnings") == 0);
    BSON_APPEND_INT32(&ctx->reply, "totalLinesWritten", n);
    BSON_APPEND_ARRAY(&ctx->reply, "log", &arr);
    bson_destroy(&arr);
    return 0;
}

/* --- getParameter --------------------------------------------------------- */

static const char *const parameter_names[] = {"enableTestCommands", "featureCompatibilityVersion", "logLevel",
                                              "quiet"};

static void append_parameter(struct cmd_ctx *ctx, const char *name)
{
    bson_t sub;

    if (strcmp(name, "featureCompatibilityVersion") == 0) {
        BSON_APPEND_DOCUMENT_BEGIN(&ctx->reply, name, &sub);
        BSON_APPEND_UTF8(&sub, "version", FCV_VERSION);
        bson_append_document_end(&ctx->reply, &sub);
    } else if (strcmp(name, "enableTestCommands") == 0) {
        BSON_APPEND_BOOL(&ctx->reply, name, ctx->srv->cfg.enable_test_commands);
    } else if (strcmp(name, "logLevel") == 0) {
        BSON_APPEND_INT32(&ctx->reply, name, ctx->srv->cfg.is_verbose ? 1 : 0);
    } else if (strcmp(name, "quiet") == 0) {
        BSON_APPEND_BOOL(&ctx->reply, name, ctx->srv->cfg.is_quiet);
    }
}

static bool is_known_parameter(const char *name)
{
    for (size_t i = 0; i < sizeof parameter_names / sizeof parameter_names[0]; i++)
        if (strcmp(parameter_names[i], name) == 0)
            return true;
    return false;
}

/* Fields every command may carry; they never name a parameter. */
static bool is_generic_field(const char *k)
{
    static const char *const generic[] = {"$db", "lsid", "$clusterTime", "$readPreference", "comment", "maxTimeMS",
                                          "apiVersion", "apiStrict", "apiDeprecationErrors", "readConcern",
                                          "writeConcern", "txnNumber", "$client"};
    for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++)
        if (strcmp(generic[i], k) == 0)
            return true;
    return false;
}

int cmd_get_parameter(struct cmd_ctx *ctx)
{
    bson_iter_t it;
    int n_found = 0;

    if (bson_iter_init_find(&it, &ctx->req->body, "getParameter") && BSON_ITER_HOLDS_UTF8(&it) &&
        strcmp(bson_iter_utf8(&it, NULL), "*") == 0) {
        for (size_t i = 0; i < sizeof parameter_names / sizeof parameter_names[0]; i++)
            append_parameter(ctx, parameter_names[i]);
        return 0;
    }
    bson_iter_init(&it, &ctx->req->body);
    bson_iter_next(&it); /* the command name itself */
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (is_generic_field(k))
            continue;
        if (!is_known_parameter(k))
            return err_set(&ctx->err, ERR_INVALID_OPTIONS, "no option found to get");
        append_parameter(ctx, k);
        n_found++;
    }
    if (n_found == 0)
        return err_set(&ctx->err, ERR_INVALID_OPTIONS, "no option found to get");
    return 0;
}

/* --- hostInfo, serverStatus ------------------------------------------------ */

/* PRETTY_NAME from /etc/os-release, or "Linux". */
static void os_name(char *buf, size_t cap)
{
    char line[256];
    FILE *f = fopen("/etc/os-release", "r");

    snprintf(buf, cap, "Linux");
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "PRETTY_NAME=", 12) == 0) {
            char *v = line + 12, *end;
            if (*v == '"')
                v++;
            end = v + strcspn(v, "\"\n");
            *end = '\0';
            snprintf(buf, cap, "%s", v);
            break;
        }
    }
    fclose(f);
}

int cmd_host_info(struct cmd_ctx *ctx)
{
    struct utsname u;
    char host[256] = "localhost", name[256];
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    int64_t mem_mb = pages > 0 && page_size > 0 ? (int64_t)pages * page_size / (1024 * 1024) : 0;
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    bson_t sub;

    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    os_name(name, sizeof name);
    BSON_APPEND_DOCUMENT_BEGIN(&ctx->reply, "system", &sub);
    BSON_APPEND_DATE_TIME(&sub, "currentTime", ctx->now_ms);
    BSON_APPEND_UTF8(&sub, "hostname", host);
    BSON_APPEND_INT32(&sub, "cpuAddrSize", 64);
    BSON_APPEND_INT64(&sub, "memSizeMB", mem_mb);
    BSON_APPEND_INT64(&sub, "memLimitMB", mem_mb);
    BSON_APPEND_INT32(&sub, "numCores", cores > 0 ? cores : 1);
    BSON_APPEND_UTF8(&sub, "cpuArch", TARGET_ARCH);
    BSON_APPEND_BOOL(&sub, "numaEnabled", false);
    bson_append_document_end(&ctx->reply, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&ctx->reply, "os", &sub);
    BSON_APPEND_UTF8(&sub, "type", "Linux");
    BSON_APPEND_UTF8(&sub, "name", name);
    BSON_APPEND_UTF8(&sub, "version", u.release);
    bson_append_document_end(&ctx->reply, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&ctx->reply, "extra", &sub);
    BSON_APPEND_UTF8(&sub, "versionString", u.version);
    BSON_APPEND_INT64(&sub, "pageSize", page_size);
    bson_append_document_end(&ctx->reply, &sub);
    return 0;
}

/* Resident and virtual size in MiB from /proc/self/statm. */
static void memory_mb(int64_t *resident, int64_t *virt)
{
    long pages_virt = 0, pages_res = 0, page_size = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");

    *resident = *virt = 0;
    if (f == NULL)
        return;
    if (fscanf(f, "%ld %ld", &pages_virt, &pages_res) == 2) {
        *virt = (int64_t)pages_virt * page_size / (1024 * 1024);
        *resident = (int64_t)pages_res * page_size / (1024 * 1024);
    }
    fclose(f);
}

int cmd_server_status(struct cmd_ctx *ctx)
{
    struct server *srv = ctx->srv;
    struct server_counters *c = &srv->counters;
    int64_t up_ms = ctx->now_ms - srv->start_time_ms, resident, virt;
    int64_t current = atomic_load(&c->n_connections_current);
    char host[256] = "localhost";
    bson_t sub;

    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    memory_mb(&resident, &virt);
    BSON_APPEND_UTF8(&ctx->reply, "host", host);
    BSON_APPEND_UTF8(&ctx->reply, "version", TALLY_VERSION);
    BSON_APPEND_UTF8(&ctx->reply, "process", "tallyd");
    BSON_APPEND_INT64(&ctx->reply, "pid", (int64_t)getpid());
    BSON_APPEND_DOUBLE(&ctx->reply, "uptime", (double)up_ms / 1000.0);
    BSON_APPEND_INT64(&ctx->reply, "uptimeMillis", up_ms);
    BSON_APPEND_INT64(&ctx->reply, "uptimeEstimate", up_ms / 1000);
    BSON_APPEND_DATE_TIME(&ctx->reply, "localTime", ctx->now_ms);
    BSON_APPEND_DOCUMENT_BEGIN(&ctx->reply, "connections", &sub);
    BSON_APPEND_INT32(&sub, "current", (int32_t)current);
    BSON_APPEND_INT32(&sub, "available", (int32_t)(srv->cfg.max_conns - current));
    BSON_APPEND_INT64(&sub, "totalCreated", atomic_load(&c->n_connections_total));
    bson_append_document_end(&ctx->reply, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&ctx->reply, "opcounters", &sub);
    BSON_APPEND_INT64(&sub, "insert", atomic_load(&c->n_insert));
    BSON_APPEND_INT64(&sub, "query", atomic_load(&c->n_query));
    BSON_APPEND_INT64(&sub, "update", atomic_load(&c->n_update));
    BSON_APPEND_INT64(&sub, "delete", atomic_load(&c->n_delete));
    BSON_APPEND_INT64(&sub, "getmore", atomic_load(&c->n_getmore));
    BSON_APPEND_INT64(&sub, "command", atomic_load(&c->n_command));
    bson_append_document_end(&ctx->reply, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&ctx->reply, "mem", &sub);
    BSON_APPEND_INT32(&sub, "bits", 64);
    BSON_APPEND_INT64(&sub, "resident", resident);
    BSON_APPEND_INT64(&sub, "virtual", virt);
    BSON_APPEND_BOOL(&sub, "supported", true);
    bson_append_document_end(&ctx->reply, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&ctx->reply, "network", &sub);
    BSON_APPEND_INT64(&sub, "bytesIn", atomic_load(&c->n_bytes_in));
    BSON_APPEND_INT64(&sub, "bytesOut", atomic_load(&c->n_bytes_out));
    BSON_APPEND_INT64(&sub, "numRequests", atomic_load(&c->n_requests));
    bson_append_document_end(&ctx->reply, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&ctx->reply, "storageEngine", &sub);
    BSON_APPEND_UTF8(&sub, "name", "lmdb");
    BSON_APPEND_BOOL(&sub, "supportsCommittedReads", true);
    BSON_APPEND_BOOL(&sub, "persistent", true);
    if (srv->writer)
        BSON_APPEND_INT64(&sub, "commits", (int64_t)writer_n_commits(srv->writer));
    bson_append_document_end(&ctx->reply, &sub);
    return 0;
}

/* --- small commands ---------------------------------------------------------- */

int cmd_ping(struct cmd_ctx *ctx)
{
    (void)ctx;
    return 0;
}

int cmd_whatsmyuri(struct cmd_ctx *ctx)
{
    BSON_APPEND_UTF8(&ctx->reply, "you", ctx->req->client_addr);
    return 0;
}

int cmd_list_commands(struct cmd_ctx *ctx)
{
    int n;
    const struct cmd_def *rows = cmd_table(&n);
    bson_t cmds, one;

    BSON_APPEND_DOCUMENT_BEGIN(&ctx->reply, "commands", &cmds);
    for (int i = 0; i < n; i++) {
        if (cmd_lookup(rows[i].name) == NULL)
            continue; /* not linked into this build */
        bson_append_document_begin(&cmds, rows[i].name, -1, &one);
        BSON_APPEND_UTF8(&one, "help", "");
        BSON_APPEND_BOOL(&one, "requiresAuth", false);
        BSON_APPEND_BOOL(&one, "secondaryOk", (rows[i].flags & CMD_FLAG_WRITE) == 0);
        BSON_APPEND_BOOL(&one, "adminOnly", (rows[i].flags & CMD_FLAG_ADMIN_ONLY) != 0);
        bson_append_document_end(&cmds, &one);
    }
    bson_append_document_end(&ctx->reply, &cmds);
    return 0;
}

/* shutdown: the same clean path as SIGTERM (main.c's signal handler), so
 * in-flight writes finish and the store closes. The reply may or may not
 * reach the client before its connection closes, as with mongod. */
int cmd_shutdown(struct cmd_ctx *ctx)
{
    bson_iter_t it;

    if (bson_iter_init_find(&it, &ctx->req->body, "force") && !BSON_ITER_HOLDS_BOOL(&it) &&
        !BSON_ITER_HOLDS_NUMBER(&it))
        return err_set(&ctx->err, ERR_TYPE_MISMATCH, "BSON field 'shutdown.force' is the wrong type, expected type "
                       "'bool'");
    log_info(LOGC_CONTROL, "Received shutdown command from conn%lld (%s)", (long long)ctx->req->connection_id,
             ctx->req->client_addr);
    if (uv_kill(getpid(), SIGTERM) < 0)
        return err_set(&ctx->err, ERR_INTERNAL_ERROR, "could not begin shutdown");
    return 0;
}

int cmd_not_implemented(struct cmd_ctx *ctx)
{
    const char *name = ctx->req->name;
    const char *feature = "this command is not supported by this server yet";

    if (strstr(name, "Transaction"))
        feature = "transactions are not supported by this server yet";
    else if (strncmp(name, "sasl", 4) == 0 || strcmp(name, "logout") == 0 || strcmp(name, "authenticate") == 0)
        feature = "authentication is not enabled on this server";
    else if (strcmp(name, "startSession") == 0)
        feature = "server-side sessions are not supported by this server yet";
    return err_set(&ctx->err, ERR_NOT_IMPLEMENTED, "%s failed: %s", name, feature);
}

/* The libmongoc calls the `tally` tool makes, in one place.
 *
 * Every connection is direct (directConnection=true) to one member: the tool
 * talks to members that are not initiated yet, or that have no primary, where
 * a replica-set connection would find nothing to select. Errors come back as
 * the server's code and message so callers can name the failed command. */
#include <stdio.h>
#include <string.h>

#include "tally.h"

static void quiet_log_handler(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
    (void)level;
    (void)domain;
    (void)message;
    (void)data;
}

void client_quiet_logs(void)
{
    mongoc_log_set_handler(quiet_log_handler, NULL);
}

mongoc_client_t *client_open_direct(const char *host_port, int timeout_ms, char *errbuf, size_t errlen)
{
    char uri_str[256];
    /* Slow commands (replSetInitiate writes the first oplog entry and syncs
     * it) must not hit the socket timeout; connecting fails fast instead. */
    int socket_ms = timeout_ms > 60000 ? timeout_ms : 60000;
    snprintf(uri_str, sizeof uri_str,
             "mongodb://%s/?directConnection=true&appname=tally&serverSelectionTryOnce=true"
             "&serverSelectionTimeoutMS=%d&connectTimeoutMS=%d&socketTimeoutMS=%d",
             host_port, timeout_ms, timeout_ms, socket_ms);
    bson_error_t error;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_str, &error);
    if (uri == NULL) {
        snprintf(errbuf, errlen, "bad address %s: %s", host_port, error.message);
        return NULL;
    }
    mongoc_client_t *client = mongoc_client_new_from_uri(uri);
    mongoc_uri_destroy(uri);
    if (client == NULL) {
        snprintf(errbuf, errlen, "cannot create a client for %s", host_port);
        return NULL;
    }
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    return client;
}

int client_run_admin(mongoc_client_t *client, const bson_t *cmd, bson_t *reply, char *errbuf, size_t errlen)
{
    bson_error_t error;
    if (mongoc_client_command_simple(client, "admin", cmd, NULL, reply, &error)) {
        return 0;
    }
    /* A reply document with a code means the server answered; anything else
     * (no server, closed socket) is reported as unreachable. */
    bson_iter_t it;
    if (!bson_empty(reply) && bson_iter_init_find(&it, reply, "code") && BSON_ITER_HOLDS_NUMBER(&it)) {
        int code = (int)bson_iter_as_int64(&it);
        const char *name = "";
        bson_iter_t nit;
        if (bson_iter_init_find(&nit, reply, "codeName") && BSON_ITER_HOLDS_UTF8(&nit)) {
            name = bson_iter_utf8(&nit, NULL);
        }
        snprintf(errbuf, errlen, "%s (code %d%s%s)", error.message, code, *name ? " " : "", name);
        return code > 0 ? code : -1;
    }
    if (error.domain == MONGOC_ERROR_SERVER && error.code > 0) {
        snprintf(errbuf, errlen, "%s (code %u)", error.message, error.code);
        return (int)error.code;
    }
    snprintf(errbuf, errlen, "%s", error.message);
    return -1;
}

bool client_is_writable_primary(const char *host_port, int timeout_ms)
{
    char errbuf[256];
    mongoc_client_t *client = client_open_direct(host_port, timeout_ms, errbuf, sizeof errbuf);
    if (client == NULL) {
        return false;
    }
    bson_t cmd = BSON_INITIALIZER;
    BSON_APPEND_INT32(&cmd, "hello", 1);
    bson_t reply;
    bool is_primary = false;
    if (client_run_admin(client, &cmd, &reply, errbuf, sizeof errbuf) == 0) {
        bson_iter_t it;
        is_primary = bson_iter_init_find(&it, &reply, "isWritablePrimary") && BSON_ITER_HOLDS_BOOL(&it) &&
                     bson_iter_bool(&it);
    }
    bson_destroy(&reply);
    bson_destroy(&cmd);
    mongoc_client_destroy(client);
    return is_primary;
}

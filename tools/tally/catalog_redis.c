/* The Redis side of the catalog: one stream of staged backup events.
 *
 * Protocol (at-least-once): a producer XADDs {key, event} to the stream
 * CATALOG_STREAM; a consolidator XRANGEs the oldest entries, applies each to
 * admin.backups with w:"majority", and XDELs an entry only after that write
 * is acknowledged. A crash anywhere leaves the entry in the stream, and the
 * next consolidator applies it again, which the idempotent upsert absorbs.
 * Several consolidators may run at once: they may both apply an entry (same
 * result) and both XDEL it (the second removes nothing). Everything here is
 * synchronous hiredis with a timeout on every command. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "catalog_impl.h"

struct catalog_redis {
    redisContext *ctx;
};

struct redis_url {
    char host[256];
    int port;
    int db;
    char password[256];
};

static int parse_url(const char *url, struct redis_url *u, char *errbuf, size_t errlen)
{
    memset(u, 0, sizeof *u);
    u->port = 6379;
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0) {
        snprintf(errbuf, errlen, "Redis URL '%.200s' must look like redis://host:port/db", url);
        return -1;
    }
    p += 8;
    const char *at = strchr(p, '@');
    if (at != NULL) {
        /* "user:password@" or ":password@": only the password is used. */
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        size_t n = (size_t)(at - pw);
        if (n >= sizeof u->password) {
            snprintf(errbuf, errlen, "Redis URL: password too long");
            return -1;
        }
        memcpy(u->password, pw, n);
        p = at + 1;
    }
    size_t host_len = strcspn(p, ":/");
    if (host_len == 0 || host_len >= sizeof u->host) {
        snprintf(errbuf, errlen, "Redis URL '%.200s' has no host", url);
        return -1;
    }
    memcpy(u->host, p, host_len);
    p += host_len;
    if (*p == ':') {
        char *end;
        errno = 0;
        long port = strtol(p + 1, &end, 10);
        if (errno != 0 || end == p + 1 || port < 1 || port > 65535 || (*end != '\0' && *end != '/')) {
            snprintf(errbuf, errlen, "Redis URL '%.200s': bad port", url);
            return -1;
        }
        u->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1] != '\0') {
        char *end;
        errno = 0;
        long db = strtol(p + 1, &end, 10);
        if (errno != 0 || end == p + 1 || *end != '\0' || db < 0 || db > 1000000) {
            snprintf(errbuf, errlen, "Redis URL '%.200s': the database must be a number", url);
            return -1;
        }
        u->db = (int)db;
    } else if (*p != '\0' && strcmp(p, "/") != 0) {
        snprintf(errbuf, errlen, "Redis URL '%.200s': unexpected '%.40s'", url, p);
        return -1;
    }
    return 0;
}

int catalog_redis_parse_check(const char *url, char *errbuf, size_t errlen)
{
    struct redis_url u;
    return parse_url(url, &u, errbuf, errlen);
}

/* Runs a command whose reply must not be an error; returns the reply owned
 * (freeReplyObject) or NULL with a message. */
static redisReply *command_ok(struct catalog_redis *r, char *errbuf, size_t errlen, const char *what,
                              int argc, const char **argv, const size_t *argv_len)
{
    redisReply *reply = redisCommandArgv(r->ctx, argc, argv, argv_len);
    if (reply == NULL) {
        snprintf(errbuf, errlen, "Redis %s: %s", what, r->ctx->errstr[0] ? r->ctx->errstr : "no reply");
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(errbuf, errlen, "Redis %s: %.300s", what, reply->str);
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

struct catalog_redis *catalog_redis_open(const char *url, int timeout_ms, char *errbuf, size_t errlen)
{
    struct redis_url u;
    if (parse_url(url, &u, errbuf, errlen) != 0) {
        return NULL;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    redisContext *ctx = redisConnectWithTimeout(u.host, u.port, tv);
    if (ctx == NULL || ctx->err) {
        snprintf(errbuf, errlen, "cannot reach Redis at %s:%d: %s", u.host, u.port,
                 ctx ? ctx->errstr : "out of memory");
        if (ctx != NULL) {
            redisFree(ctx);
        }
        return NULL;
    }
    redisSetTimeout(ctx, tv);
    struct catalog_redis *r = bson_malloc0(sizeof *r);
    r->ctx = ctx;
    if (u.password[0] != '\0') {
        const char *argv[] = {"AUTH", u.password};
        redisReply *reply = command_ok(r, errbuf, errlen, "AUTH", 2, argv, NULL);
        if (reply == NULL) {
            catalog_redis_close(r);
            return NULL;
        }
        freeReplyObject(reply);
    }
    if (u.db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", u.db);
        const char *argv[] = {"SELECT", db};
        redisReply *reply = command_ok(r, errbuf, errlen, "SELECT", 2, argv, NULL);
        if (reply == NULL) {
            catalog_redis_close(r);
            return NULL;
        }
        freeReplyObject(reply);
    }
    return r;
}

void catalog_redis_close(struct catalog_redis *r)
{
    if (r != NULL) {
        redisFree(r->ctx);
        bson_free(r);
    }
}

int catalog_redis_add(struct catalog_redis *r, const struct catalog_key *key, const char *json, size_t len,
                      char *errbuf, size_t errlen)
{
    char key_str[CATALOG_ID_MAX + 40];
    snprintf(key_str, sizeof key_str, "%s/%s", key->id, key->kind);
    const char *argv[] = {"XADD", CATALOG_STREAM, "*", "key", key_str, "event", json};
    size_t argv_len[] = {4, strlen(CATALOG_STREAM), 1, 3, strlen(key_str), 5, len};
    redisReply *reply = command_ok(r, errbuf, errlen, "XADD", 7, argv, argv_len);
    if (reply == NULL) {
        return -1;
    }
    int rc = reply->type == REDIS_REPLY_STRING ? 0 : -1;
    if (rc != 0) {
        snprintf(errbuf, errlen, "Redis XADD: unexpected reply type %d", reply->type);
    }
    freeReplyObject(reply);
    return rc;
}

/* One XRANGE entry: [id, [field, value, ...]]. */
static void parse_entry(const redisReply *e, struct catalog_staged *out)
{
    out->handle[0] = '\0';
    out->event = NULL;
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING) {
        return;
    }
    snprintf(out->handle, sizeof out->handle, "%s", e->element[0]->str);
    const redisReply *fields = e->element[1];
    if (fields->type != REDIS_REPLY_ARRAY) {
        return;
    }
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *name = fields->element[i];
        const redisReply *value = fields->element[i + 1];
        if (name->type == REDIS_REPLY_STRING && value->type == REDIS_REPLY_STRING &&
            strcmp(name->str, "event") == 0) {
            char errbuf[256];
            out->event = catalog_event_from_json(value->str, value->len, errbuf, sizeof errbuf);
            if (out->event == NULL) {
                fprintf(stderr, "tally: Redis stream entry %s is not a backup event (%s); left in place\n",
                        out->handle, errbuf);
            }
        }
    }
}

int catalog_redis_range(struct catalog_redis *r, const char *after, struct catalog_staged *out, int max_n,
                        char *errbuf, size_t errlen)
{
    char start[80], count[16];
    /* "(" makes the start exclusive (Redis 6.2+): the next page begins after
     * the last entry seen, even when that entry was kept. */
    snprintf(start, sizeof start, "%s%s", after[0] ? "(" : "", after[0] ? after : "-");
    snprintf(count, sizeof count, "%d", max_n);
    const char *argv[] = {"XRANGE", CATALOG_STREAM, start, "+", "COUNT", count};
    redisReply *reply = command_ok(r, errbuf, errlen, "XRANGE", 6, argv, NULL);
    if (reply == NULL) {
        return -1;
    }
    if (reply->type != REDIS_REPLY_ARRAY) {
        snprintf(errbuf, errlen, "Redis XRANGE: unexpected reply type %d", reply->type);
        freeReplyObject(reply);
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i < reply->elements && n < max_n; i++) {
        parse_entry(reply->element[i], &out[n]);
        if (out[n].handle[0] != '\0') {
            n++;
        }
    }
    freeReplyObject(reply);
    return n;
}

int catalog_redis_del(struct catalog_redis *r, const char *entry_id, char *errbuf, size_t errlen)
{
    const char *argv[] = {"XDEL", CATALOG_STREAM, entry_id};
    redisReply *reply = command_ok(r, errbuf, errlen, "XDEL", 3, argv, NULL);
    if (reply == NULL) {
        return -1;
    }
    freeReplyObject(reply);
    return 0;
}

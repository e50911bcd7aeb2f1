/* A backup event: its identity, its checks, its JSON form while staged, and
 * the update that applies it to its document in admin.backups.
 *
 * One catalog document per backup: _id is the backup id. An event of kind
 * "backup" (an attempt's outcome with the manifest's fields) $sets those
 * fields; "deleted" (retention) $sets deleted/deleted_time/deleted_reason;
 * any other kind is kept under events.<kind>. Each kind touches its own
 * fields with $set only, so applying an event twice, or two kinds in either
 * order, gives the same document: this is what makes redelivery harmless. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "catalog_impl.h"

static bool id_is_usable(const char *id, size_t len)
{
    if (len == 0 || len >= CATALOG_ID_MAX || id[0] == '.') {
        return false;
    }
    /* The id names a folder, a spool file and a catalog _id: keep it plain. */
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == len;
}

int catalog_event_key(const bson_t *event, struct catalog_key *key, char *errbuf, size_t errlen)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, event, "id") || !BSON_ITER_HOLDS_UTF8(&it)) {
        snprintf(errbuf, errlen, "backup event has no string field 'id'");
        return -1;
    }
    uint32_t len;
    const char *id = bson_iter_utf8(&it, &len);
    if (!id_is_usable(id, len)) {
        snprintf(errbuf, errlen, "backup event id '%.80s' is not 1..127 letters, digits or ._:-", id);
        return -1;
    }
    memcpy(key->id, id, len + 1);
    snprintf(key->kind, sizeof key->kind, "backup");
    if (bson_iter_init_find(&it, event, "kind")) {
        if (!BSON_ITER_HOLDS_UTF8(&it)) {
            snprintf(errbuf, errlen, "backup event %s: 'kind' must be a string", key->id);
            return -1;
        }
        const char *kind = bson_iter_utf8(&it, &len);
        if (len == 0 || len >= sizeof key->kind ||
            strspn(kind, "abcdefghijklmnopqrstuvwxyz_") != len) {
            snprintf(errbuf, errlen, "backup event %s: kind '%.40s' is not 1..31 lower-case letters", key->id,
                     kind);
            return -1;
        }
        memcpy(key->kind, kind, len + 1);
    }
    return 0;
}

char *catalog_event_to_json(const bson_t *event, size_t *len)
{
    return bson_as_canonical_extended_json(event, len);
}

bson_t *catalog_event_from_json(const char *json, size_t len, char *errbuf, size_t errlen)
{
    bson_error_t error;
    bson_t *doc = bson_new_from_json((const uint8_t *)json, (ssize_t)len, &error);
    if (doc == NULL) {
        snprintf(errbuf, errlen, "not a JSON document: %s", error.message);
        return NULL;
    }
    struct catalog_key key;
    if (catalog_event_key(doc, &key, errbuf, errlen) != 0) {
        bson_destroy(doc);
        return NULL;
    }
    return doc;
}

/* Field names that $set would read as paths or operators are not stored. */
static bool is_plain_field(const char *name)
{
    return name[0] != '\0' && name[0] != '$' && strchr(name, '.') == NULL;
}

void catalog_event_update(const bson_t *event, const struct catalog_key *key, bson_t *update)
{
    bson_t set;
    bson_iter_t it;
    BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set);
    if (strcmp(key->kind, "backup") == 0) {
        bson_iter_init(&it, event);
        while (bson_iter_next(&it)) {
            const char *name = bson_iter_key(&it);
            if (strcmp(name, "_id") == 0 || strcmp(name, "kind") == 0 || !is_plain_field(name)) {
                continue;
            }
            if (strcmp(name, "event_time") == 0) {
                char when[40];
                catalog_event_time(event, when, sizeof when);
                BSON_APPEND_UTF8(&set, name, when);
                continue;
            }
            bson_append_iter(&set, name, -1, &it);
        }
    } else if (strcmp(key->kind, "deleted") == 0) {
        BSON_APPEND_BOOL(&set, "deleted", true);
        char when[40];
        catalog_event_time(event, when, sizeof when);
        const char *why = catalog_str(event, "reason");
        BSON_APPEND_UTF8(&set, "deleted_time", when);
        BSON_APPEND_UTF8(&set, "deleted_reason", why ? why : "");
        /* Same values as the backup's own event: the document is findable
         * by destination even when that event never arrived. */
        const char *same[] = {"type", "destination"};
        for (int i = 0; i < 2; i++) {
            if (catalog_str(event, same[i]) != NULL) {
                BSON_APPEND_UTF8(&set, same[i], catalog_str(event, same[i]));
            }
        }
    } else {
        char path[64];
        snprintf(path, sizeof path, "events.%s", key->kind);
        bson_t sub;
        bson_append_document_begin(&set, path, -1, &sub);
        bson_iter_init(&it, event);
        while (bson_iter_next(&it)) {
            const char *name = bson_iter_key(&it);
            if (strcmp(name, "_id") != 0 && is_plain_field(name)) {
                bson_append_iter(&sub, name, -1, &it);
            }
        }
        bson_append_document_end(&set, &sub);
    }
    bson_append_document_end(update, &set);
}

void catalog_event_time(const bson_t *event, char *buf, size_t len)
{
    bson_iter_t it;
    buf[0] = '\0';
    if (!bson_iter_init_find(&it, event, "event_time")) {
        return;
    }
    if (BSON_ITER_HOLDS_UTF8(&it)) {
        snprintf(buf, len, "%s", bson_iter_utf8(&it, NULL));
    } else if (BSON_ITER_HOLDS_DATE_TIME(&it)) {
        int64_t ms = bson_iter_date_time(&it);
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char base[32];
        strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, len, "%s.%03dZ", base, (int)(ms % 1000));
    }
}

void catalog_now_iso(char *buf, size_t len)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    time_t secs = tv.tv_sec;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", base, (int)(tv.tv_usec / 1000));
}

void catalog_time_iso(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

time_t catalog_parse_iso(const char *s)
{
    if (s == NULL) {
        return -1;
    }
    struct tm tm = {0};
    int consumed = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &consumed) != 6) {
        return -1;
    }
    const char *rest = s + consumed;
    if (*rest == '.') {
        rest++;
        while (*rest >= '0' && *rest <= '9') {
            rest++;
        }
    }
    if (strcmp(rest, "Z") != 0 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
        return -1;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

const char *catalog_str(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (doc != NULL && bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it)) {
        return bson_iter_utf8(&it, NULL);
    }
    return NULL;
}

int64_t catalog_int(const bson_t *doc, const char *key, int64_t def)
{
    bson_iter_t it;
    if (doc != NULL && bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_NUMBER(&it)) {
        return bson_iter_as_int64(&it);
    }
    return def;
}

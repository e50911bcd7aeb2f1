/* The backup catalog's parts and what they share (public face: catalog.h).
 *
 * catalog_event.c   an event's identity (backup id + kind), its checks, its
 *                   JSON form and the upsert it becomes in admin.backups
 * catalog_redis.c   the Redis stream (hiredis): XADD, XRANGE, XDEL
 * catalog_spool.c   the spool folder: one atomically written file per event
 * catalog_manifest.c  the manifests in a destination folder
 * catalog_consolidate.c  staged events -> admin.backups, and reconciliation
 * catalog_cli.c     list, report, consolidate, record; catalog_record_event
 * catalog_agent.c   the scheduler process; catalog_schedule.c its timing
 * catalog_retention.c  which backups may go, and deleting them
 * Every function that can fail returns 0 or -1 with a message in errbuf. */
#ifndef TALLY_CATALOG_IMPL_H
#define TALLY_CATALOG_IMPL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#define CATALOG_DB "admin"
#define CATALOG_COLL "backups"
#define CATALOG_STREAM "tally:backup-events"
#define CATALOG_SPOOL_NAME ".tally-spool"
#define CATALOG_ID_MAX 128

/* catalog_event.c */

/* An event's key: the backup id and the event kind ("backup", "deleted"). */
struct catalog_key {
    char id[CATALOG_ID_MAX];
    char kind[32];
};

/* Checks event (borrowed) and fills key. Rejects an event without a usable
 * id (1..127 characters of [A-Za-z0-9._:-], not starting with '.'). */
int catalog_event_key(const bson_t *event, struct catalog_key *key, char *errbuf, size_t errlen);

/* Canonical extended JSON of event (types survive the round trip); returned
 * owned (bson_free). */
char *catalog_event_to_json(const bson_t *event, size_t *len);

/* Parses what catalog_event_to_json wrote; returned owned (bson_destroy), or
 * NULL with a message. */
bson_t *catalog_event_from_json(const char *json, size_t len, char *errbuf, size_t errlen);

/* The idempotent update that applies event to its catalog document: fills
 * update (initialised by the caller). */
void catalog_event_update(const bson_t *event, const struct catalog_key *key, bson_t *update);

/* The event's event_time (an ISO-8601 string or a BSON date) as ISO-8601
 * UTC with milliseconds; "" when absent. The catalog stores the string. */
void catalog_event_time(const bson_t *event, char *buf, size_t len);

/* Current UTC time as ISO-8601 "2024-01-02T03:04:05.678Z". */
void catalog_now_iso(char *buf, size_t len);

/* Formats t (seconds since the epoch) as ISO-8601 UTC without fraction. */
void catalog_time_iso(time_t t, char *buf, size_t len);

/* Parses ISO-8601 UTC ("...Z", optional fraction) into seconds; -1 if bad. */
time_t catalog_parse_iso(const char *s);

/* The string value of key in doc, or NULL (borrowed from doc). */
const char *catalog_str(const bson_t *doc, const char *key);

/* The integer value of key (any number type), or def. */
int64_t catalog_int(const bson_t *doc, const char *key, int64_t def);

/* catalog_redis.c */

struct catalog_redis;

/* Connects to url ("redis://[:password@]host[:port][/db]") with a timeout
 * of timeout_ms for connecting and for each command. Returned owned
 * (catalog_redis_close), or NULL with a message. */
struct catalog_redis *catalog_redis_open(const char *url, int timeout_ms, char *errbuf, size_t errlen);
void catalog_redis_close(struct catalog_redis *r);

/* Checks a URL's syntax without connecting. */
int catalog_redis_parse_check(const char *url, char *errbuf, size_t errlen);

/* XADD of one event under the stream; 0 only once Redis has answered. */
int catalog_redis_add(struct catalog_redis *r, const struct catalog_key *key, const char *json, size_t len,
                      char *errbuf, size_t errlen);

/* One staged event as read back from Redis or the spool. */
struct catalog_staged {
    char handle[PATH_MAX];   /* stream entry id, or spool file path */
    bson_t *event;           /* owned; NULL when the entry could not be parsed */
};

/* Up to max_n oldest entries of the stream (after the entry id `after`,
 * "" for the start) into out (caller frees each event). Returns the count,
 * or -1 with a message. */
int catalog_redis_range(struct catalog_redis *r, const char *after, struct catalog_staged *out, int max_n,
                        char *errbuf, size_t errlen);

/* XDEL of one entry id. */
int catalog_redis_del(struct catalog_redis *r, const char *entry_id, char *errbuf, size_t errlen);

/* catalog_spool.c */

/* Writes the event (JSON) as one new file in dir (created when missing):
 * temporary file, fsync, rename, fsync of the folder. */
int catalog_spool_write(const char *dir, const struct catalog_key *key, const char *json, size_t len,
                        char *errbuf, size_t errlen);

/* Up to max_n spooled events, oldest first (by file name). Returns the count,
 * 0 when dir does not exist, or -1 with a message. */
int catalog_spool_list(const char *dir, struct catalog_staged *out, int max_n, char *errbuf, size_t errlen);

/* Removes one spool file (a file already gone is fine) and syncs the folder. */
int catalog_spool_remove(const char *path, char *errbuf, size_t errlen);

/* catalog_manifest.c */

struct catalog_manifest {
    char id[CATALOG_ID_MAX];
    char type[8];             /* "full", "diff", "incr" */
    char parent[CATALOG_ID_MAX];    /* "" for none */
    char base_full[CATALOG_ID_MAX];
    bson_t *doc;              /* owned: the whole manifest */
};

/* Loads every DEST/<id>/manifest.json (hidden folders skipped), sorted by
 * id (= by time). *out is owned (catalog_manifests_free). A manifest that
 * cannot be read is skipped with a warning on stderr. Returns the count or
 * -1 when dest cannot be listed. */
int catalog_manifests_load(const char *dest, struct catalog_manifest **out, char *errbuf, size_t errlen);
void catalog_manifests_free(struct catalog_manifest *m, int n);

/* The event a manifest stands for (outcome ok), for reconciliation: fills
 * event (initialised by the caller). */
void catalog_manifest_event(const struct catalog_manifest *m, bson_t *event);

/* catalog_consolidate.c */

struct catalog_target {
    const char *uri;          /* mongodb:// URI of the set */
    const char *redis_url;    /* NULL or "": no Redis */
    const char *spool_dir;    /* NULL: none */
    const char *dest;         /* NULL: no reconciliation against manifests */
    int timeout_ms;           /* server selection and write-concern wait */
    bool is_quiet;            /* no summary line on stderr */
};

struct catalog_counts {
    int n_redis;              /* events moved from Redis */
    int n_spool;              /* events moved from the spool */
    int n_added;              /* manifests that had no catalog entry */
    int n_missing;            /* entries newly marked missing */
    int n_bad;                /* staged entries that could not be parsed (kept) */
};

/* One pass: Redis, then the spool, then the manifests. Returns 0 when every
 * step ran; -1 with a message when one could not (what is staged stays). */
int catalog_consolidate(const struct catalog_target *t, struct catalog_counts *counts, char *errbuf,
                        size_t errlen);

/* Opens a client on uri with retryable writes; returned owned, or NULL. */
mongoc_client_t *catalog_client_open(const char *uri, int timeout_ms, char *errbuf, size_t errlen);

/* Applies one event to admin.backups with w:"majority" (idempotent). */
int catalog_apply_event(mongoc_client_t *client, const bson_t *event, int timeout_ms, char *errbuf,
                        size_t errlen);

/* catalog_retention.c */

/* Deletes the backups in dest that the newest keep_full full backups (and
 * everything after them) do not need; each deletion is logged on stderr and
 * recorded with catalog_record_event (kind "deleted"). Returns the number
 * deleted, or -1 with a message. */
int catalog_retention_apply(const char *dest, int keep_full, char *errbuf, size_t errlen);

/* catalog_agent.c: `tally backup agent` (argv[0] is "agent"). */
int catalog_agent_main(int argc, char **argv);

/* catalog_report.c: `tally backup report` (argv[0] is "report"). */
int catalog_report_main(int argc, char **argv);

/* catalog_cli.c */

/* The configured staging for events (see catalog_configure); NULL when
 * not configured. */
void catalog_config_get(const char **uri, const char **redis_url, const char **spool_dir);

/* One command-line option: "--name VALUE" or "--name=VALUE" sets *value;
 * a flag (value NULL) sets *flag. */
struct catalog_opt {
    const char *name;
    const char **value;
    bool *flag;
};

/* Parses argv[first..] against opts; returns 0, or 2 after printing what is
 * wrong (unknown option, missing value, stray argument). */
int catalog_parse_opts(int argc, char **argv, int first, const struct catalog_opt *opts, int n_opts,
                       const char *verb);

/* Prints "tally: <verb>: <message>" and returns 2 (bad usage). */
int catalog_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The Redis URL to use: given, else $TALLY_REDIS_URL, else NULL. */
const char *catalog_redis_default(const char *given);

#endif

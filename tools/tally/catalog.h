/* The backup catalog: where backup events go and how they reach the set.
 *
 * Every backup attempt (and every deletion by retention) is an event: the
 * manifest's fields plus `outcome`, `error`, `event_time` and an optional
 * `kind` ("backup" when absent; "deleted" from retention). An event is staged
 * first in Redis (a stream) or, when Redis is not configured or unreachable,
 * in a spool folder (one fsync'd file per event), then the consolidator
 * upserts it into the replicated collection admin.backups with w:"majority"
 * and only then removes it from Redis or the spool. Upserts are keyed by the
 * backup id (one document per backup) and are idempotent, so redelivery is
 * harmless: at-least-once delivery, exactly-once in effect. The manifests on
 * disk are the source of truth: the consolidator adds a catalog entry for a
 * manifest that has none and marks an entry whose manifest is gone
 * `missing: true`. Protocol and formats: docs/backups.md "Catalog and agent". */
#ifndef TALLY_CATALOG_H
#define TALLY_CATALOG_H

#include <bson/bson.h>

/* Where catalog_record_event sends events. Each argument is borrowed and
 * copied; NULL keeps the current value. uri: the set's mongodb:// URI (when
 * never set, the event's `source` and `set_name` make one). redis_url:
 * "redis://host:port/db" ("" = no Redis, spool only; when never set,
 * $TALLY_REDIS_URL). spool_dir: when never set, <event destination>/.tally-spool. */
void catalog_configure(const char *uri, const char *redis_url, const char *spool_dir);

/* Records one backup event (borrowed): writes it to Redis, else to the spool,
 * then tries once, briefly, to consolidate. Returns 0 when the event is staged
 * or already in the catalog; -1 (with a message on stderr) only when it could
 * be neither written to Redis nor spooled. It never fails because the set or
 * Redis is unreachable: the event then waits in the spool. */
int catalog_record_event(const bson_t *event);

/* `tally backup list|agent|consolidate|report|record ...` (argv[0] is the
 * verb); returns the process exit code (0 ok, 1 failure, 2 bad usage). */
int catalog_cli(int argc, char **argv);

#endif

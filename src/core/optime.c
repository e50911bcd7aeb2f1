/* optime.c - BSON form of OpTimes: {ts: Timestamp, t: Int64} (digest 0).
 *
 * Sits under every replication message and oplog reader. Guarantees: the
 * reader accepts only a document with a Timestamp `ts` and a numeric `t`
 * (int32, int64 or an integral double), as mongod writes and reads them. */
#include "core/optime.h"

#include <math.h>
#include <string.h>

void optime_append(bson_t *doc, const char *key, struct optime o)
{
    bson_t sub;
    bson_append_document_begin(doc, key, -1, &sub);
    bson_append_timestamp(&sub, "ts", 2, optime_secs(o), optime_inc(o));
    bson_append_int64(&sub, "t", 1, o.term);
    bson_append_document_end(doc, &sub);
}

bool optime_from_iter(const bson_iter_t *it, struct optime *out)
{
    if (!BSON_ITER_HOLDS_DOCUMENT(it))
        return false;
    bson_iter_t sub;
    if (!bson_iter_recurse(it, &sub))
        return false;
    bool has_ts = false, has_t = false;
    struct optime o = OPTIME_NULL;
    while (bson_iter_next(&sub)) {
        const char *key = bson_iter_key(&sub);
        if (strcmp(key, "ts") == 0) {
            if (!BSON_ITER_HOLDS_TIMESTAMP(&sub))
                return false;
            uint32_t secs, inc;
            bson_iter_timestamp(&sub, &secs, &inc);
            o.ts = (uint64_t)secs << 32 | inc;
            has_ts = true;
        } else if (strcmp(key, "t") == 0) {
            if (BSON_ITER_HOLDS_INT32(&sub) || BSON_ITER_HOLDS_INT64(&sub)) {
                o.term = bson_iter_as_int64(&sub);
            } else if (BSON_ITER_HOLDS_DOUBLE(&sub)) {
                double d = bson_iter_double(&sub);
                if (!isfinite(d) || d != floor(d) || d < -9.2e18 || d > 9.2e18)
                    return false;
                o.term = (int64_t)d;
            } else {
                return false;
            }
            has_t = true;
        }
    }
    if (!has_ts || !has_t)
        return false;
    *out = o;
    return true;
}

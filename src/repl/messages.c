/* messages.c - BSON encode/decode of the replication messages in messages.h,
 * with MongoDB's field names (digest 1.1, 1.3, 3.4).
 *
 * Sits between the I/O layer (which sends and receives documents) and the pure
 * core (which sees only structs). Guarantees: decoders check every known
 * field's type and range, ignore unknown fields (as mongod does for forward
 * compatibility), report a missing required field with NoSuchKey, and never
 * write a partial struct on failure. */
#include "repl/messages.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- field readers ---- */

static int want_int(const bson_iter_t *it, int64_t lo, int64_t hi, int64_t *out, struct err *e)
{
    const char *key = bson_iter_key(it);
    int64_t v;
    if (BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it)) {
        v = bson_iter_as_int64(it);
    } else if (BSON_ITER_HOLDS_DOUBLE(it)) {
        double d = bson_iter_double(it);
        if (!isfinite(d) || d != floor(d) || d < -9.2e18 || d > 9.2e18)
            return err_set(e, ERR_BAD_VALUE, "field '%s' must be an integer", key);
        v = (int64_t)d;
    } else {
        return err_set(e, ERR_TYPE_MISMATCH, "field '%s' must be a number", key);
    }
    if (v < lo || v > hi)
        return err_set(e, ERR_BAD_VALUE, "field '%s' out of range: %lld", key, (long long)v);
    *out = v;
    return 0;
}

static int want_bool(const bson_iter_t *it, bool *out, struct err *e)
{
    if (BSON_ITER_HOLDS_BOOL(it)) {
        *out = bson_iter_bool(it);
        return 0;
    }
    if (BSON_ITER_HOLDS_NUMBER(it)) {
        *out = bson_iter_as_bool(it);
        return 0;
    }
    return err_set(e, ERR_TYPE_MISMATCH, "field '%s' must be a boolean", bson_iter_key(it));
}

static int want_str(const bson_iter_t *it, char *buf, size_t cap, struct err *e)
{
    if (!BSON_ITER_HOLDS_UTF8(it))
        return err_set(e, ERR_TYPE_MISMATCH, "field '%s' must be a string", bson_iter_key(it));
    uint32_t len;
    const char *s = bson_iter_utf8(it, &len);
    if (len >= cap)
        return err_set(e, ERR_BAD_VALUE, "field '%s' is too long (%u bytes)", bson_iter_key(it), len);
    memcpy(buf, s, len + 1);
    return 0;
}

static int want_optime(const bson_iter_t *it, struct optime *out, struct err *e)
{
    if (!optime_from_iter(it, out))
        return err_set(e, ERR_TYPE_MISMATCH, "field '%s' must be an OpTime {ts: Timestamp, t: long}",
                       bson_iter_key(it));
    return 0;
}

static int want_date(const bson_iter_t *it, int64_t *out, struct err *e)
{
    if (!BSON_ITER_HOLDS_DATE_TIME(it))
        return err_set(e, ERR_TYPE_MISMATCH, "field '%s' must be a date", bson_iter_key(it));
    *out = bson_iter_date_time(it);
    return 0;
}

#define IS(k) (strcmp(key, (k)) == 0)

/* ---- heartbeat request ---- */

void repl_hb_request_to_bson(const struct repl_hb_request *m, bson_t *out)
{
    BSON_APPEND_UTF8(out, "replSetHeartbeat", m->set_name);
    BSON_APPEND_INT32(out, "configVersion", m->config_version);
    BSON_APPEND_INT64(out, "configTerm", m->config_term);
    BSON_APPEND_INT32(out, "hbv", 1);
    BSON_APPEND_UTF8(out, "from", m->from);
    BSON_APPEND_INT32(out, "fromId", m->from_id);
    BSON_APPEND_INT64(out, "term", m->term);
    BSON_APPEND_INT32(out, "primaryId", m->primary_id);
}

int repl_hb_request_from_bson(const bson_t *doc, struct repl_hb_request *m, struct err *e)
{
    struct repl_hb_request r;
    memset(&r, 0, sizeof r);
    r.config_term = -1;
    r.primary_id = -1;
    r.from_id = -1;
    r.term = -1;
    bool has_name = false, has_version = false;
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return err_set(e, ERR_INVALID_BSON, "invalid replSetHeartbeat document");
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        int64_t v = 0;
        int rc = 0;
        if (IS("replSetHeartbeat")) {
            rc = want_str(&it, r.set_name, sizeof r.set_name, e);
            has_name = true;
        } else if (IS("configVersion")) {
            rc = want_int(&it, INT32_MIN, INT32_MAX, &v, e);
            r.config_version = (int)v;
            has_version = true;
        } else if (IS("configTerm")) {
            rc = want_int(&it, -1, INT64_MAX, &r.config_term, e);
        } else if (IS("from")) {
            rc = want_str(&it, r.from, sizeof r.from, e);
        } else if (IS("fromId")) {
            rc = want_int(&it, -1, INT32_MAX, &v, e);
            r.from_id = (int)v;
        } else if (IS("term")) {
            rc = want_int(&it, -1, INT64_MAX, &r.term, e);
        } else if (IS("primaryId")) {
            rc = want_int(&it, -1, INT32_MAX, &v, e);
            r.primary_id = (int)v;
        }
        if (rc < 0)
            return rc;
    }
    if (!has_name)
        return err_set(e, ERR_NO_SUCH_KEY, "replSetHeartbeat requires the set name");
    if (!has_version)
        return err_set(e, ERR_NO_SUCH_KEY, "Missing expected field \"configVersion\"");
    *m = r;
    return 0;
}

/* ---- heartbeat response ---- */

void repl_hb_response_to_bson(const struct repl_hb_response *m, const struct repl_config *config, bson_t *out)
{
    if (!m->ok) {
        BSON_APPEND_DOUBLE(out, "ok", 0.0);
        BSON_APPEND_UTF8(out, "errmsg", m->errmsg);
        BSON_APPEND_INT32(out, "code", m->code);
        return;
    }
    BSON_APPEND_DOUBLE(out, "ok", 1.0);
    BSON_APPEND_UTF8(out, "set", m->set_name);
    BSON_APPEND_INT32(out, "state", m->state);
    BSON_APPEND_INT64(out, "term", m->term);
    BSON_APPEND_INT32(out, "primaryId", m->primary_id);
    if (m->election_time)
        bson_append_timestamp(out, "electionTime", -1, (uint32_t)(m->election_time >> 32),
                              (uint32_t)m->election_time);
    optime_append(out, "opTime", m->applied);
    BSON_APPEND_DATE_TIME(out, "wallTime", m->applied_wall_ms);
    optime_append(out, "durableOpTime", m->durable);
    BSON_APPEND_DATE_TIME(out, "durableWallTime", m->durable_wall_ms);
    if (m->syncing_to[0]) {
        BSON_APPEND_UTF8(out, "syncingTo", m->syncing_to);
        BSON_APPEND_INT32(out, "syncSourceId", m->sync_source_id);
    }
    BSON_APPEND_BOOL(out, "electable", m->electable);
    BSON_APPEND_INT32(out, "v", m->config_version);
    BSON_APPEND_INT64(out, "configTerm", m->config_term);
    if (config) {
        bson_t sub;
        BSON_APPEND_DOCUMENT_BEGIN(out, "config", &sub);
        repl_config_to_bson(config, &sub);
        bson_append_document_end(out, &sub);
    }
    bson_t meta;
    BSON_APPEND_DOCUMENT_BEGIN(out, "$replData", &meta);
    BSON_APPEND_INT64(&meta, "term", m->term);
    optime_append(&meta, "lastOpCommitted", m->commit_point);
    bson_append_document_end(out, &meta);
}

static int hb_meta(bson_iter_t *it, struct repl_hb_response *r, struct err *e)
{
    if (!BSON_ITER_HOLDS_DOCUMENT(it))
        return err_set(e, ERR_TYPE_MISMATCH, "field '$replData' must be an object");
    bson_iter_t sub;
    bson_iter_recurse(it, &sub);
    while (bson_iter_next(&sub))
        if (strcmp(bson_iter_key(&sub), "lastOpCommitted") == 0 && want_optime(&sub, &r->commit_point, e) < 0)
            return -e->code;
    return 0;
}

int repl_hb_response_from_bson(const bson_t *doc, struct repl_hb_response *m, bson_t **config_doc, struct err *e)
{
    struct repl_hb_response r;
    memset(&r, 0, sizeof r);
    r.primary_id = -1;
    r.sync_source_id = -1;
    r.term = -1;
    r.config_term = -1;
    r.applied = r.durable = r.commit_point = OPTIME_NULL;
    *config_doc = NULL;
    const uint8_t *cfg_data = NULL;
    uint32_t cfg_len = 0;
    bool has_ok = false;
    int64_t code = 0;
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return err_set(e, ERR_INVALID_BSON, "invalid replSetHeartbeat response");
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        int64_t v = 0;
        int rc = 0;
        if (IS("ok")) {
            rc = want_bool(&it, &r.ok, e);
            has_ok = true;
        } else if (IS("code")) {
            rc = want_int(&it, 0, INT32_MAX, &code, e);
        } else if (IS("errmsg")) {
            rc = want_str(&it, r.errmsg, sizeof r.errmsg, e);
        } else if (IS("set")) {
            rc = want_str(&it, r.set_name, sizeof r.set_name, e);
        } else if (IS("state")) {
            rc = want_int(&it, 0, 10, &v, e);
            r.state = (int)v;
        } else if (IS("term")) {
            rc = want_int(&it, -1, INT64_MAX, &r.term, e);
        } else if (IS("primaryId")) {
            rc = want_int(&it, -1, INT32_MAX, &v, e);
            r.primary_id = (int)v;
        } else if (IS("electionTime")) {
            if (!BSON_ITER_HOLDS_TIMESTAMP(&it))
                return err_set(e, ERR_TYPE_MISMATCH, "field 'electionTime' must be a Timestamp");
            uint32_t s, i;
            bson_iter_timestamp(&it, &s, &i);
            r.election_time = (uint64_t)s << 32 | i;
        } else if (IS("opTime")) {
            rc = want_optime(&it, &r.applied, e);
        } else if (IS("wallTime")) {
            rc = want_date(&it, &r.applied_wall_ms, e);
        } else if (IS("durableOpTime")) {
            rc = want_optime(&it, &r.durable, e);
        } else if (IS("durableWallTime")) {
            rc = want_date(&it, &r.durable_wall_ms, e);
        } else if (IS("syncingTo")) {
            rc = want_str(&it, r.syncing_to, sizeof r.syncing_to, e);
        } else if (IS("syncSourceId")) {
            rc = want_int(&it, -1, INT32_MAX, &v, e);
            r.sync_source_id = (int)v;
        } else if (IS("electable")) {
            rc = want_bool(&it, &r.electable, e);
        } else if (IS("v")) {
            rc = want_int(&it, INT32_MIN, INT32_MAX, &v, e);
            r.config_version = (int)v;
        } else if (IS("configTerm")) {
            rc = want_int(&it, -1, INT64_MAX, &r.config_term, e);
        } else if (IS("config")) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&it))
                return err_set(e, ERR_TYPE_MISMATCH, "field 'config' must be an object");
            bson_iter_document(&it, &cfg_len, &cfg_data);
            r.has_config = true;
        } else if (IS("$replData")) {
            rc = hb_meta(&it, &r, e);
        }
        if (rc < 0)
            return rc;
    }
    if (!has_ok)
        return err_set(e, ERR_NO_SUCH_KEY, "heartbeat response has no 'ok' field");
    r.code = (int)code;
    if (r.ok && !r.set_name[0])
        return err_set(e, ERR_NO_SUCH_KEY, "heartbeat response has no 'set' field");
    if (cfg_data)
        *config_doc = bson_new_from_data(cfg_data, cfg_len);
    *m = r;
    return 0;
}

/* ---- vote request / response ---- */

void repl_vote_request_to_bson(const struct repl_vote_request *m, bson_t *out)
{
    BSON_APPEND_INT32(out, "replSetRequestVotes", 1);
    BSON_APPEND_UTF8(out, "setName", m->set_name);
    BSON_APPEND_BOOL(out, "dryRun", m->dry_run);
    BSON_APPEND_INT64(out, "term", m->term);
    BSON_APPEND_INT32(out, "candidateIndex", m->candidate_index);
    BSON_APPEND_INT32(out, "configVersion", m->config_version);
    BSON_APPEND_INT64(out, "configTerm", m->config_term);
    optime_append(out, "lastAppliedOpTime", m->last_applied);
}

int repl_vote_request_from_bson(const bson_t *doc, struct repl_vote_request *m, struct err *e)
{
    struct repl_vote_request r;
    memset(&r, 0, sizeof r);
    r.config_term = -1;
    r.last_applied = OPTIME_NULL;
    unsigned seen = 0;
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return err_set(e, ERR_INVALID_BSON, "invalid replSetRequestVotes document");
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        int64_t v = 0;
        int rc = 0;
        if (IS("setName")) {
            rc = want_str(&it, r.set_name, sizeof r.set_name, e);
            seen |= 1;
        } else if (IS("dryRun")) {
            rc = want_bool(&it, &r.dry_run, e);
            seen |= 2;
        } else if (IS("term")) {
            rc = want_int(&it, -1, INT64_MAX, &r.term, e);
            seen |= 4;
        } else if (IS("candidateIndex")) {
            rc = want_int(&it, 0, REPL_MAX_MEMBERS - 1, &v, e);
            r.candidate_index = (int)v;
            seen |= 8;
        } else if (IS("configVersion")) {
            rc = want_int(&it, INT32_MIN, INT32_MAX, &v, e);
            r.config_version = (int)v;
            seen |= 16;
        } else if (IS("configTerm")) {
            rc = want_int(&it, -1, INT64_MAX, &r.config_term, e);
        } else if (IS("lastAppliedOpTime") || IS("lastWrittenOpTime") || IS("lastCommittedOp")) {
            rc = want_optime(&it, &r.last_applied, e);
            seen |= 32;
        }
        if (rc < 0)
            return rc;
    }
    static const char *names[] = {"setName", "dryRun", "term", "candidateIndex", "configVersion",
                                  "lastAppliedOpTime"};
    for (int i = 0; i < 6; i++)
        if (!(seen & (1u << i)))
            return err_set(e, ERR_NO_SUCH_KEY, "Missing expected field \"%s\"", names[i]);
    *m = r;
    return 0;
}

void repl_vote_response_to_bson(const struct repl_vote_response *m, bson_t *out)
{
    BSON_APPEND_INT64(out, "term", m->term);
    BSON_APPEND_BOOL(out, "voteGranted", m->vote_granted);
    BSON_APPEND_UTF8(out, "reason", m->reason);
    BSON_APPEND_DOUBLE(out, "ok", 1.0);
}

int repl_vote_response_from_bson(const bson_t *doc, struct repl_vote_response *m, struct err *e)
{
    struct repl_vote_response r;
    memset(&r, 0, sizeof r);
    unsigned seen = 0;
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return err_set(e, ERR_INVALID_BSON, "invalid replSetRequestVotes response");
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        int rc = 0;
        if (IS("term")) {
            rc = want_int(&it, -1, INT64_MAX, &r.term, e);
            seen |= 1;
        } else if (IS("voteGranted")) {
            rc = want_bool(&it, &r.vote_granted, e);
            seen |= 2;
        } else if (IS("reason")) {
            rc = want_str(&it, r.reason, sizeof r.reason, e);
        }
        if (rc < 0)
            return rc;
    }
    if (seen != 3)
        return err_set(e, ERR_NO_SUCH_KEY, "Missing expected field \"%s\"", (seen & 1) ? "voteGranted" : "term");
    *m = r;
    return 0;
}

/* ---- replSetUpdatePosition ---- */

void repl_update_position_to_bson(const struct repl_position_entry *v, int n, bson_t *out)
{
    BSON_APPEND_INT32(out, "replSetUpdatePosition", 1);
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(out, "optimes", &arr);
    for (int i = 0; i < n; i++) {
        char idx[16];
        const char *k;
        bson_uint32_to_string((uint32_t)i, &k, idx, sizeof idx);
        bson_t d;
        bson_append_document_begin(&arr, k, -1, &d);
        optime_append(&d, "appliedOpTime", v[i].applied);
        BSON_APPEND_DATE_TIME(&d, "appliedWallTime", v[i].applied_wall_ms);
        optime_append(&d, "durableOpTime", v[i].durable);
        BSON_APPEND_DATE_TIME(&d, "durableWallTime", v[i].durable_wall_ms);
        BSON_APPEND_INT32(&d, "memberId", v[i].member_id);
        BSON_APPEND_INT32(&d, "cfgver", v[i].cfgver);
        bson_append_document_end(&arr, &d);
    }
    bson_append_array_end(out, &arr);
}

static int position_entry(bson_iter_t *it, struct repl_position_entry *p, struct err *e)
{
    if (!BSON_ITER_HOLDS_DOCUMENT(it))
        return err_set(e, ERR_TYPE_MISMATCH, "replSetUpdatePosition optimes entries must be objects");
    memset(p, 0, sizeof *p);
    p->applied = p->durable = OPTIME_NULL;
    bool has_id = false;
    bson_iter_t sub;
    bson_iter_recurse(it, &sub);
    while (bson_iter_next(&sub)) {
        const char *key = bson_iter_key(&sub);
        int64_t v = 0;
        int rc = 0;
        if (IS("appliedOpTime")) {
            rc = want_optime(&sub, &p->applied, e);
        } else if (IS("durableOpTime")) {
            rc = want_optime(&sub, &p->durable, e);
        } else if (IS("appliedWallTime")) {
            rc = want_date(&sub, &p->applied_wall_ms, e);
        } else if (IS("durableWallTime")) {
            rc = want_date(&sub, &p->durable_wall_ms, e);
        } else if (IS("memberId")) {
            rc = want_int(&sub, 0, INT32_MAX, &v, e);
            p->member_id = (int)v;
            has_id = true;
        } else if (IS("cfgver")) {
            rc = want_int(&sub, INT32_MIN, INT32_MAX, &v, e);
            p->cfgver = (int)v;
        }
        if (rc < 0)
            return rc;
    }
    if (!has_id)
        return err_set(e, ERR_NO_SUCH_KEY, "Missing expected field \"memberId\"");
    return 0;
}

int repl_update_position_from_bson(const bson_t *doc, struct repl_position_entry *v, int cap, int *n, struct err *e)
{
    bson_iter_t it, arr;
    if (!bson_iter_init_find(&it, doc, "optimes"))
        return err_set(e, ERR_NO_SUCH_KEY, "Missing expected field \"optimes\"");
    if (!BSON_ITER_HOLDS_ARRAY(&it))
        return err_set(e, ERR_TYPE_MISMATCH, "field 'optimes' must be an array");
    bson_iter_recurse(&it, &arr);
    int count = 0;
    while (bson_iter_next(&arr)) {
        if (count >= cap)
            return err_set(e, ERR_BAD_VALUE, "replSetUpdatePosition has more than %d entries", cap);
        int rc = position_entry(&arr, &v[count], e);
        if (rc < 0)
            return rc;
        count++;
    }
    *n = count;
    return 0;
}

/* write_concern.c - parsing, defaults and the "is this write acknowledged
 * yet?" decision.
 *
 * Sits between the write commands (which parse the client's writeConcern) and
 * the primary's waiter queue (which re-evaluates waiters as members report
 * progress). Guarantees: evaluation is a pure function of the config, the
 * recorded optimes and the commit point; an optime counts only when it has the
 * target's term (digest 3.4, SERVER-16570), so a member that rolled back is
 * never counted for a write it no longer holds. */
#include "repl/write_concern.h"
#include "core/bsonutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const provenance_names[] = {
    [WRITE_CONCERN_PROVENANCE_NONE] = "",
    [WRITE_CONCERN_PROVENANCE_CLIENT_SUPPLIED] = "clientSupplied",
    [WRITE_CONCERN_PROVENANCE_IMPLICIT_DEFAULT] = "implicitDefault",
    [WRITE_CONCERN_PROVENANCE_CUSTOM_DEFAULT] = "customDefault",
    [WRITE_CONCERN_PROVENANCE_GET_LAST_ERROR_DEFAULTS] = "getLastErrorDefaults",
};

void write_concern_init(struct write_concern *wc)
{
    memset(wc, 0, sizeof *wc);
    wc->w_kind = WRITE_CONCERN_W_NUMBER;
    wc->w = 1;
}

static int parse_flag(const bson_iter_t *it, const char *name, bool *out, struct err *e)
{
    double d;
    if (bson_iter_type(it) == BSON_TYPE_BOOL) {
        *out = bson_iter_bool(it);
        return 0;
    }
    if (bsonutil_number(it, &d)) {
        *out = d != 0;
        return 0;
    }
    return err_set(e, ERR_FAILED_TO_PARSE, "%s must be numeric or a boolean value", name);
}

static int parse_w(const bson_iter_t *it, struct write_concern *wc, struct err *e)
{
    double d;
    if (bson_iter_type(it) == BSON_TYPE_UTF8) {
        uint32_t len;
        const char *s = bson_iter_utf8(it, &len);
        if (strcmp(s, "majority") == 0) {
            wc->w_kind = WRITE_CONCERN_W_MAJORITY;
        } else {
            if (len >= WRITE_CONCERN_MODE_MAX)
                return err_set(e, ERR_FAILED_TO_PARSE, "w: write concern mode name is longer than %d bytes",
                               WRITE_CONCERN_MODE_MAX - 1);
            wc->w_kind = WRITE_CONCERN_W_MODE;
            snprintf(wc->mode, sizeof wc->mode, "%s", s);
        }
        wc->has_w = true;
        return 0;
    }
    if (!bsonutil_number(it, &d))
        return err_set(e, ERR_FAILED_TO_PARSE, "w has to be a number or a string");
    if (isnan(d) || d < 0 || d > WRITE_CONCERN_MAX_W || d != floor(d))
        return err_set(e, ERR_FAILED_TO_PARSE, "w has to be a non-negative number and not greater than %d; found: %g",
                       WRITE_CONCERN_MAX_W, d);
    wc->w_kind = WRITE_CONCERN_W_NUMBER;
    wc->w = (int)d;
    wc->has_w = true;
    return 0;
}

int write_concern_parse(const bson_t *doc, struct write_concern *wc, struct err *e)
{
    bson_iter_t it;
    double d;
    int rc = 0;

    write_concern_init(wc);
    wc->provenance = WRITE_CONCERN_PROVENANCE_CLIENT_SUPPLIED;
    if (!bson_iter_init(&it, doc))
        return err_set(e, ERR_FAILED_TO_PARSE, "writeConcern is not a valid BSON document");
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (strcmp(key, "w") == 0) {
            rc = parse_w(&it, wc, e);
        } else if (strcmp(key, "j") == 0) {
            rc = parse_flag(&it, "j", &wc->j, e);
            wc->has_j = true;
        } else if (strcmp(key, "fsync") == 0) {
            rc = parse_flag(&it, "fsync", &wc->fsync, e);
        } else if (strcmp(key, "wtimeout") == 0 || strcmp(key, "wtimeoutMS") == 0) {
            if (!bsonutil_number(&it, &d))
                return err_set(e, ERR_FAILED_TO_PARSE, "%s must be a number", key);
            if (isnan(d) || d < 0 || d > (double)INT32_MAX)
                return err_set(e, ERR_FAILED_TO_PARSE, "%s must be a non-negative number of milliseconds, got %g", key,
                               d);
            wc->wtimeout_ms = (int64_t)d;
            wc->has_wtimeout = true;
        } else if (strcmp(key, "provenance") == 0) {
            const char *s = bson_iter_type(&it) == BSON_TYPE_UTF8 ? bson_iter_utf8(&it, NULL) : NULL;
            int found = -1;
            for (int i = 1; s != NULL && i < (int)(sizeof provenance_names / sizeof provenance_names[0]); i++) {
                if (strcmp(s, provenance_names[i]) == 0)
                    found = i;
            }
            if (found < 0)
                return err_set(e, ERR_FAILED_TO_PARSE, "writeConcern.provenance must be one of clientSupplied, "
                                                       "implicitDefault, customDefault, getLastErrorDefaults");
            wc->provenance = (enum write_concern_provenance)found;
        }
        if (rc < 0)
            return rc;
    }
    if (wc->j && wc->fsync)
        return err_set(e, ERR_FAILED_TO_PARSE, "fsync and j options cannot be used together");
    return 0;
}

void write_concern_to_bson(const struct write_concern *wc, bson_t *out)
{
    if (wc->w_kind == WRITE_CONCERN_W_MAJORITY)
        BSON_APPEND_UTF8(out, "w", "majority");
    else if (wc->w_kind == WRITE_CONCERN_W_MODE)
        BSON_APPEND_UTF8(out, "w", wc->mode);
    else
        BSON_APPEND_INT32(out, "w", wc->w);
    if (wc->has_j)
        BSON_APPEND_BOOL(out, "j", wc->j);
    if (wc->fsync)
        BSON_APPEND_BOOL(out, "fsync", true);
    BSON_APPEND_INT32(out, "wtimeout", (int32_t)wc->wtimeout_ms);
    if (wc->provenance != WRITE_CONCERN_PROVENANCE_NONE)
        BSON_APPEND_UTF8(out, "provenance", provenance_names[wc->provenance]);
}

bool write_concern_implicit_default_is_majority(const struct repl_config *cfg)
{
    int n_arbiters = 0, n_data_voters = 0;
    for (int i = 0; i < cfg->n_members; i++) {
        const struct repl_member *m = &cfg->members[i];
        n_arbiters += m->is_arbiter;
        n_data_voters += m->votes == 1 && !m->is_arbiter;
    }
    /* isImplicitDefaultWriteConcernMajority: PSA-like sets default to w:1
     * because "majority" would stall whenever the one secondary is down. */
    return !(n_arbiters > 0 && n_data_voters <= repl_config_majority_vote_count(cfg));
}

void write_concern_apply_default(struct write_concern *wc, const struct repl_config *cfg)
{
    if (wc->has_w)
        return;
    if (write_concern_implicit_default_is_majority(cfg)) {
        wc->w_kind = WRITE_CONCERN_W_MAJORITY;
    } else {
        wc->w_kind = WRITE_CONCERN_W_NUMBER;
        wc->w = 1;
    }
    wc->has_w = true;
    wc->provenance = WRITE_CONCERN_PROVENANCE_IMPLICIT_DEFAULT;
}

static bool find_mode(const struct repl_config *cfg, const char *mode, bson_t *spec)
{
    bson_iter_t it;
    const uint8_t *data;
    uint32_t len;
    if (cfg->settings.get_last_error_modes == NULL ||
        !bson_iter_init_find(&it, cfg->settings.get_last_error_modes, mode) ||
        bson_iter_type(&it) != BSON_TYPE_DOCUMENT)
        return false;
    bson_iter_document(&it, &len, &data);
    return bson_init_static(spec, data, len);
}

static int64_t tag_count(const bson_iter_t *it)
{
    double d;
    return bsonutil_number(it, &d) ? (int64_t)d : 0;
}

/* The value of tag on member m, or NULL. */
static const char *member_tag(const struct repl_member *m, const char *tag)
{
    bson_iter_t it;
    if (m->tags == NULL || !bson_iter_init_find(&it, m->tags, tag) || bson_iter_type(&it) != BSON_TYPE_UTF8)
        return NULL;
    return bson_iter_utf8(&it, NULL);
}

/* Distinct values of tag among the members whose flag in include is set
 * (every data-bearing member when include is NULL). */
static int count_tag_values(const struct repl_config *cfg, const char *tag, const bool *include)
{
    const char *seen[REPL_MAX_MEMBERS];
    int n_seen = 0;
    for (int i = 0; i < cfg->n_members; i++) {
        const char *v;
        if (cfg->members[i].is_arbiter || (include != NULL && !include[i]))
            continue;
        if ((v = member_tag(&cfg->members[i], tag)) == NULL)
            continue;
        bool is_new = true;
        for (int k = 0; k < n_seen && is_new; k++)
            is_new = strcmp(seen[k], v) != 0;
        if (is_new)
            seen[n_seen++] = v;
    }
    return n_seen;
}

int write_concern_check_satisfiable(const struct write_concern *wc, const struct repl_config *cfg, struct err *e)
{
    bson_t spec;
    bson_iter_t it;
    int n_data = 0;

    switch (wc->w_kind) {
    case WRITE_CONCERN_W_MAJORITY: return 0;
    case WRITE_CONCERN_W_NUMBER:
        for (int i = 0; i < cfg->n_members; i++)
            n_data += !cfg->members[i].is_arbiter;
        if (wc->w > n_data)
            return err_set(e, ERR_UNSATISFIABLE_WRITE_CONCERN, "Not enough data-bearing nodes");
        return 0;
    case WRITE_CONCERN_W_MODE:
        if (!find_mode(cfg, wc->mode, &spec))
            return err_set(e, ERR_UNKNOWN_REPL_WRITE_CONCERN,
                           "No write concern mode named '%s' found in replica set configuration", wc->mode);
        bson_iter_init(&it, &spec);
        while (bson_iter_next(&it)) {
            if (count_tag_values(cfg, bson_iter_key(&it), NULL) < tag_count(&it))
                return err_set(e, ERR_UNSATISFIABLE_WRITE_CONCERN, "Not enough nodes match write concern mode \"%s\"",
                               wc->mode);
        }
        return 0;
    }
    return err_set(e, ERR_INTERNAL_ERROR, "write concern has an unknown kind %d", (int)wc->w_kind);
}

/* Digest 3.4/3.7: only an optime in the target's own term proves the member
 * holds the target (an older-term optime may sit on a rolled-back branch). */
static bool has_reached(struct optime o, struct optime target)
{
    return o.term == target.term && o.ts >= target.ts;
}

/* Marks, per config index, the data-bearing members that hold target. */
static void mark_reached(const struct write_concern_view *v, struct optime target, bool use_durable, bool *reached)
{
    const struct repl_config *cfg = v->cfg;
    for (int i = 0; i < cfg->n_members; i++) {
        reached[i] = false;
        if (cfg->members[i].is_arbiter)
            continue;
        if (i == v->self_index) {
            reached[i] = has_reached(use_durable ? v->self_durable : v->self_applied, target);
            continue;
        }
        for (int k = 0; k < v->n_members; k++) {
            if (v->members[k].member_id == cfg->members[i].id) {
                reached[i] = has_reached(use_durable ? v->members[k].durable : v->members[k].applied, target);
                break;
            }
        }
    }
}

int write_concern_evaluate(const struct write_concern *wc, const struct write_concern_view *view, struct optime target,
                           bool *is_satisfied, struct err *e)
{
    const struct repl_config *cfg = view->cfg;
    bool reached[REPL_MAX_MEMBERS];
    bool use_durable = wc->j || wc->fsync;
    int rc, n = 0;

    *is_satisfied = false;
    if ((rc = write_concern_check_satisfiable(wc, cfg, e)) < 0)
        return rc;
    if (wc->w_kind == WRITE_CONCERN_W_NUMBER && wc->w == 0) {
        *is_satisfied = true;
        return 0;
    }
    /* w:"majority" implies j:true unless the client said j:false or the set
     * turned writeConcernMajorityJournalDefault off. */
    if (wc->w_kind == WRITE_CONCERN_W_MAJORITY && !wc->has_j)
        use_durable = wc->fsync || cfg->is_write_concern_majority_journal_default;
    mark_reached(view, target, use_durable, reached);

    switch (wc->w_kind) {
    case WRITE_CONCERN_W_NUMBER:
        if (view->self_index < 0 || view->self_index >= cfg->n_members || !reached[view->self_index])
            return 0;
        for (int i = 0; i < cfg->n_members; i++)
            n += reached[i];
        *is_satisfied = n >= wc->w;
        return 0;
    case WRITE_CONCERN_W_MAJORITY:
        for (int i = 0; i < cfg->n_members; i++)
            n += reached[i] && cfg->members[i].votes == 1 && !cfg->members[i].is_newly_added;
        *is_satisfied = n >= repl_config_write_majority(cfg) && optime_compare(view->commit_point, target) >= 0;
        return 0;
    case WRITE_CONCERN_W_MODE: {
        bson_t spec;
        bson_iter_t it;
        find_mode(cfg, wc->mode, &spec);
        bson_iter_init(&it, &spec);
        while (bson_iter_next(&it)) {
            if (count_tag_values(cfg, bson_iter_key(&it), reached) < tag_count(&it))
                return 0;
        }
        *is_satisfied = true;
        return 0;
    }
    }
    return 0;
}

void write_concern_append_timeout_error(const struct write_concern *wc, bson_t *reply)
{
    bson_t wce, info, doc;
    BSON_APPEND_DOCUMENT_BEGIN(reply, "writeConcernError", &wce);
    BSON_APPEND_INT32(&wce, "code", ERR_WRITE_CONCERN_FAILED);
    BSON_APPEND_UTF8(&wce, "codeName", "WriteConcernFailed");
    BSON_APPEND_UTF8(&wce, "errmsg", "waiting for replication timed out");
    BSON_APPEND_DOCUMENT_BEGIN(&wce, "errInfo", &info);
    BSON_APPEND_BOOL(&info, "wtimeout", true);
    BSON_APPEND_DOCUMENT_BEGIN(&info, "writeConcern", &doc);
    write_concern_to_bson(wc, &doc);
    bson_append_document_end(&info, &doc);
    bson_append_document_end(&wce, &info);
    bson_append_document_end(reply, &wce);
}

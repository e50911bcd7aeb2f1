/* config.c - the replica-set configuration document: parse, validate, print.
 *
 * Sits under the replication core: replSetInitiate/replSetReconfig hand it the
 * user's document, local.system.replset and heartbeats hand it stored ones.
 * Guarantees: a config that parses satisfies every rule of replication digest
 * 6.1/6.2 (plus Tally's "fewer arbiters than data-bearing voters" rule from
 * digest 7), has every default filled in, and prints back (repl_config_to_bson)
 * in the shape rs.conf() shows, which parses again to the same config. A stored
 * member flagged newlyAdded (digest 5.2) reads votes 0 and priority 0, so every
 * count of voters and electable members leaves it out until the flag goes;
 * it prints as configured. Pure: no I/O, no clock, no randomness (the caller
 * generates replicaSetId). */
#include "repl/config.h"
#include "core/bsonutil.h"

#include "core/mem.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* 366 days: mongod's upper bound for secondaryDelaySecs. */
#define REPL_MAX_DELAY_SECS 31622400LL

/* Reads an integral number of any numeric type into [lo, hi]. */
static int get_int(const bson_iter_t *it, const char *field, int64_t lo, int64_t hi, int64_t *out, struct err *e)
{
    double d;
    if (bson_iter_type(it) == BSON_TYPE_INT64) {
        int64_t v = bson_iter_int64(it);
        if (v < lo || v > hi)
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "%s field value of %lld is out of range", field,
                           (long long)v);
        *out = v;
        return 0;
    }
    if (!bsonutil_number(it, &d))
        return err_set(e, ERR_TYPE_MISMATCH, "BSON field '%s' is the wrong type '%s', expected a number", field,
                       bsonutil_type_name(bson_iter_type(it)));
    if (isnan(d) || d != floor(d))
        return err_set(e, ERR_TYPE_MISMATCH, "%s must be an integer, got %g", field, d);
    if (d < (double)lo || d > (double)hi)
        return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "%s field value of %.0f is out of range", field, d);
    *out = (int64_t)d;
    return 0;
}

/* Booleans also accept numbers (non-zero = true), as mongod's safeBool does. */
static int get_bool(const bson_iter_t *it, const char *field, bool *out, struct err *e)
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
    return err_set(e, ERR_TYPE_MISMATCH, "BSON field '%s' is the wrong type '%s', expected a boolean", field,
                   bsonutil_type_name(bson_iter_type(it)));
}

static int get_doc(const bson_iter_t *it, const char *field, bson_t *out, struct err *e)
{
    const uint8_t *data;
    uint32_t len;
    if (bson_iter_type(it) != BSON_TYPE_DOCUMENT)
        return err_set(e, ERR_TYPE_MISMATCH, "BSON field '%s' is the wrong type '%s', expected an object", field,
                       bsonutil_type_name(bson_iter_type(it)));
    bson_iter_document(it, &len, &data);
    if (!bson_init_static(out, data, len))
        return err_set(e, ERR_INVALID_BSON, "%s is not a valid BSON document", field);
    return 0;
}

/* "host:port" or "[v6addr]:port"; the port is 1..65535 in decimal. Writes
 * the host part (lower-cased, without brackets) to name. */
static int check_host(const char *host, const char *field, char *name, size_t name_size, struct err *e)
{
    const char *colon = strrchr(host, ':');
    const char *start = host, *end = colon;
    size_t n;
    long port = 0;

    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (close == NULL || close[1] != ':')
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "%s must be of the form \"host:port\", got \"%s\"",
                           field, host);
        start = host + 1;
        end = close;
        colon = close + 1;
    }
    if (colon == NULL || end == start)
        return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "%s must be of the form \"host:port\", got \"%s\"", field,
                       host);
    if (colon[1] == '\0')
        return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "%s has an empty port number: \"%s\"", field, host);
    for (const char *p = colon + 1; *p; p++) {
        if (!isdigit((unsigned char)*p) || port > 65535)
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "%s has an invalid port number: \"%s\"", field, host);
        port = port * 10 + (*p - '0');
    }
    if (port < 1 || port > 65535)
        return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "%s port number must be between 1 and 65535: \"%s\"",
                       field, host);
    for (const char *p = start; p < end; p++) {
        if (isspace((unsigned char)*p) || (host[0] != '[' && *p == ':'))
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "%s must be of the form \"host:port\", got \"%s\"",
                           field, host);
    }
    n = (size_t)(end - start);
    if (n >= name_size)
        n = name_size - 1;
    for (size_t i = 0; i < n; i++)
        name[i] = (char)tolower((unsigned char)start[i]);
    name[n] = '\0';
    return 0;
}

static bool is_localhost_name(const char *name)
{
    return strcmp(name, "localhost") == 0 || strncmp(name, "127.", 4) == 0 || strcmp(name, "::1") == 0;
}

/* Parses one member document; member-level rules (digest 6.2 "per member")
 * are checked here so the message can name members[i]. */
/* While flagged a member counts as votes 0, priority 0 (digest 5.2); its
 * configured priority waits in newly_added_priority. */
static void member_set_newly_added(struct repl_member *m, bool is_newly_added)
{
    if (is_newly_added == m->is_newly_added)
        return;
    if (is_newly_added) {
        if (m->is_arbiter || m->votes != 1)
            return;
        m->newly_added_priority = m->priority;
        m->priority = 0;
        m->votes = 0;
    } else {
        m->priority = m->newly_added_priority;
        m->votes = 1;
        m->newly_added_priority = 0;
    }
    m->is_newly_added = is_newly_added;
}

static int parse_member(const bson_t *doc, int i, enum repl_config_purpose purpose, struct repl_member *m,
                        bool *is_localhost, struct err *e)
{
    bson_iter_t it;
    char field[96], name[REPL_HOST_MAX];
    bool has_id = false, has_host = false, has_priority = false, has_delay = false;
    int64_t v;
    double d;
    int rc;

    m->priority = 1.0;
    m->votes = 1;
    m->builds_indexes = true;
    m->tags = bson_new();
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        snprintf(field, sizeof field, "members[%d].%s", i, key);
        if (strcmp(key, "_id") == 0) {
            if ((rc = get_int(&it, field, 0, INT_MAX, &v, e)) < 0)
                return rc;
            m->id = (int)v;
            has_id = true;
        } else if (strcmp(key, "host") == 0) {
            if (bson_iter_type(&it) != BSON_TYPE_UTF8)
                return err_set(e, ERR_TYPE_MISMATCH, "BSON field '%s' is the wrong type '%s', expected a string",
                               field, bsonutil_type_name(bson_iter_type(&it)));
            const char *host = bson_iter_utf8(&it, NULL);
            if (strlen(host) >= REPL_HOST_MAX)
                return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "%s is longer than %d bytes", field,
                               REPL_HOST_MAX - 1);
            if ((rc = check_host(host, field, name, sizeof name, e)) < 0)
                return rc;
            snprintf(m->host, sizeof m->host, "%s", host);
            *is_localhost = is_localhost_name(name);
            has_host = true;
        } else if (strcmp(key, "arbiterOnly") == 0) {
            if ((rc = get_bool(&it, field, &m->is_arbiter, e)) < 0)
                return rc;
        } else if (strcmp(key, "buildIndexes") == 0) {
            if ((rc = get_bool(&it, field, &m->builds_indexes, e)) < 0)
                return rc;
        } else if (strcmp(key, "hidden") == 0) {
            if ((rc = get_bool(&it, field, &m->is_hidden, e)) < 0)
                return rc;
        } else if (strcmp(key, "priority") == 0) {
            if (!bsonutil_number(&it, &d))
                return err_set(e, ERR_TYPE_MISMATCH, "BSON field '%s' is the wrong type '%s', expected a number",
                               field, bsonutil_type_name(bson_iter_type(&it)));
            if (isnan(d) || d < 0 || d > 1000)
                return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "%s must be between 0 and 1000, got %g", field, d);
            m->priority = d;
            has_priority = true;
        } else if (strcmp(key, "votes") == 0) {
            if (!bsonutil_number(&it, &d))
                return err_set(e, ERR_TYPE_MISMATCH, "BSON field '%s' is the wrong type '%s', expected a number",
                               field, bsonutil_type_name(bson_iter_type(&it)));
            if (d != 0 && d != 1)
                return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "%s field value is %g. Must be 0 or 1", field, d);
            m->votes = (int)d;
        } else if (strcmp(key, "secondaryDelaySecs") == 0 || strcmp(key, "slaveDelay") == 0) {
            if (has_delay)
                return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                               "members[%d] cannot have both secondaryDelaySecs and slaveDelay", i);
            if ((rc = get_int(&it, field, 0, REPL_MAX_DELAY_SECS, &v, e)) < 0)
                return rc;
            m->secondary_delay_secs = v;
            has_delay = true;
        } else if (strcmp(key, "tags") == 0) {
            bson_t tags;
            bson_iter_t t;
            if ((rc = get_doc(&it, field, &tags, e)) < 0)
                return rc;
            bson_iter_init(&t, &tags);
            while (bson_iter_next(&t)) {
                if (bson_iter_type(&t) != BSON_TYPE_UTF8)
                    return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                                   "%s.%s field has non-string value of type %s", field, bson_iter_key(&t),
                                   bsonutil_type_name(bson_iter_type(&t)));
            }
            bson_destroy(m->tags);
            m->tags = bson_copy(&tags);
        } else if (strcmp(key, "newlyAdded") == 0) {
            bool b;
            if ((rc = get_bool(&it, field, &b, e)) < 0)
                return rc;
            if (purpose != REPL_CONFIG_STORED)
                return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                               "%s is set by the server and may not be supplied by the user", field);
            if (!b)
                return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "%s may only be true", field);
            m->is_newly_added = true;
        } else if (strcmp(key, "horizons") == 0) {
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "%s: split horizons are not supported", field);
        } else {
            return err_set(e, ERR_UNKNOWN_FIELD, "BSON field 'MemberConfig.%s' is an unknown field (in members[%d])",
                           key, i);
        }
    }
    if (!has_id)
        return err_set(e, ERR_MISSING_FIELD, "BSON field 'MemberConfig._id' is missing but a required field (in "
                                             "members[%d])", i);
    if (!has_host)
        return err_set(e, ERR_MISSING_FIELD, "BSON field 'MemberConfig.host' is missing but a required field (in "
                                             "members[%d])", i);

    /* Arbiters vote, hold no data, carry no tags and never stand: a default
     * priority of 1 silently becomes 0 (member_config.cpp). */
    if (m->is_arbiter) {
        if (m->votes != 1)
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "members[%d]: arbiter must vote (cannot have 0 votes)",
                           i);
        if (!bson_empty(m->tags))
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "members[%d]: cannot set tags on arbiters", i);
        if (m->is_newly_added)
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "members[%d]: arbiters cannot be newlyAdded", i);
        if (m->priority == 1.0)
            m->priority = 0;
        else if (m->priority != 0)
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                           "members[%d].priority must be 0 for arbiters (arbiters can never become primary), got %g",
                           i, m->priority);
    }

    /* Members that may never be primary: priority 0 is implied when omitted and
     * an explicit positive priority is an error. */
    const char *why = NULL;
    if (m->votes == 0)
        why = "non-voting (votes:0)";
    else if (m->is_hidden)
        why = "hidden=true";
    else if (m->secondary_delay_secs > 0)
        why = "secondaryDelaySecs is used";
    else if (!m->builds_indexes)
        why = "buildIndexes=false";
    if (why != NULL && m->priority > 0) {
        if (has_priority)
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "members[%d].priority must be 0 when %s, got %g", i,
                           why, m->priority);
        m->priority = 0;
    }
    if (m->is_newly_added) {
        if (m->votes != 1)
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "members[%d]: only voting members can be newlyAdded",
                           i);
        m->is_newly_added = false;
        member_set_newly_added(m, true);
    }
    return 0;
}

/* getLastErrorDefaults: only {w: 1, wtimeout: 0} (or a subset) since 5.0. */
static int check_gle_defaults(const bson_t *doc, struct err *e)
{
    bson_iter_t it;
    double d;
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        bool ok = false;
        if (strcmp(key, "w") == 0)
            ok = bsonutil_number(&it, &d) && d == 1;
        else if (strcmp(key, "wtimeout") == 0)
            ok = bsonutil_number(&it, &d) && d == 0;
        if (!ok)
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                           "settings.getLastErrorDefaults must be {w: 1, wtimeout: 0}: custom default write concerns "
                           "are no longer supported (use setDefaultRWConcern); found field '%s'", key);
    }
    return 0;
}

/* getLastErrorModes: {mode: {tag: positive integer}}. Tags are checked
 * against the members once they are all parsed. */
static int check_modes_shape(const bson_t *modes, struct err *e)
{
    bson_iter_t it, t;
    char field[192];
    int64_t v;
    int rc;
    bson_iter_init(&it, modes);
    while (bson_iter_next(&it)) {
        const char *mode = bson_iter_key(&it);
        bson_t spec;
        snprintf(field, sizeof field, "settings.getLastErrorModes.%s", mode);
        if (mode[0] == '$' || strcmp(mode, "majority") == 0)
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "%s: the mode name '%s' is reserved", field, mode);
        if ((rc = get_doc(&it, field, &spec, e)) < 0)
            return rc;
        bson_iter_init(&t, &spec);
        while (bson_iter_next(&t)) {
            char tfield[256];
            snprintf(tfield, sizeof tfield, "%s.%s", field, bson_iter_key(&t));
            if ((rc = get_int(&t, tfield, INT64_MIN, INT_MAX, &v, e)) < 0)
                return rc;
            if (v <= 0)
                return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                               "%s: the number of distinct tag values required must be positive, got %lld", tfield,
                               (long long)v);
        }
    }
    return 0;
}

static int parse_settings(const bson_t *doc, struct repl_settings *s, struct err *e)
{
    bson_iter_t it;
    char field[96];
    bson_t sub;
    int rc;

    bson_iter_init(&it, doc);
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        snprintf(field, sizeof field, "settings.%s", key);
        if (strcmp(key, "chainingAllowed") == 0)
            rc = get_bool(&it, field, &s->is_chaining_allowed, e);
        else if (strcmp(key, "heartbeatIntervalMillis") == 0)
            rc = get_int(&it, field, 1, INT_MAX, &s->heartbeat_interval_ms, e);
        else if (strcmp(key, "heartbeatTimeoutSecs") == 0)
            rc = get_int(&it, field, 1, INT_MAX, &s->heartbeat_timeout_secs, e);
        else if (strcmp(key, "electionTimeoutMillis") == 0)
            rc = get_int(&it, field, 1, INT_MAX, &s->election_timeout_ms, e);
        else if (strcmp(key, "catchUpTimeoutMillis") == 0)
            rc = get_int(&it, field, -1, INT_MAX, &s->catch_up_timeout_ms, e);
        else if (strcmp(key, "catchUpTakeoverDelayMillis") == 0)
            rc = get_int(&it, field, -1, INT_MAX, &s->catch_up_takeover_delay_ms, e);
        else if (strcmp(key, "getLastErrorModes") == 0) {
            if ((rc = get_doc(&it, field, &sub, e)) == 0 && (rc = check_modes_shape(&sub, e)) == 0) {
                bson_destroy(s->get_last_error_modes);
                s->get_last_error_modes = bson_copy(&sub);
            }
        } else if (strcmp(key, "getLastErrorDefaults") == 0) {
            if ((rc = get_doc(&it, field, &sub, e)) == 0)
                rc = check_gle_defaults(&sub, e);
        } else if (strcmp(key, "replicaSetId") == 0) {
            if (bson_iter_type(&it) != BSON_TYPE_OID)
                return err_set(e, ERR_TYPE_MISMATCH, "BSON field '%s' is the wrong type '%s', expected an objectId",
                               field, bsonutil_type_name(bson_iter_type(&it)));
            bson_oid_copy(bson_iter_oid(&it), &s->replica_set_id);
            s->has_replica_set_id = true;
            rc = 0;
        } else {
            return err_set(e, ERR_UNKNOWN_FIELD, "BSON field 'ReplSetConfig.settings.%s' is an unknown field", key);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

static bool member_has_tag(const struct repl_member *m, const char *tag)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, m->tags, tag);
}

/* Set-wide rules (digest 6.2, repl_set_config.cpp _validate). */
static int validate_set(struct repl_config *cfg, int n_localhost, struct err *e)
{
    int n_voters = 0, n_arbiters = 0, n_electable = 0;

    for (int i = 0; i < cfg->n_members; i++) {
        const struct repl_member *a = &cfg->members[i];
        for (int j = i + 1; j < cfg->n_members; j++) {
            const struct repl_member *b = &cfg->members[j];
            if (a->id == b->id)
                return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                               "Found two member configurations with same _id field, members.%d._id == "
                               "members.%d._id == %d", i, j, a->id);
            if (strcasecmp(a->host, b->host) == 0)
                return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                               "Found two member configurations with same host field, members.%d.host == "
                               "members.%d.host == %s", i, j, b->host);
        }
        /* A newlyAdded member is a voter as configured: it votes once the
         * flag goes, and the limits must hold then too. */
        n_voters += a->votes + a->is_newly_added;
        n_arbiters += a->is_arbiter;
        n_electable += repl_config_is_electable(cfg, i);
    }
    if (n_localhost != 0 && n_localhost != cfg->n_members)
        return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                       "Either all host names in a replica set configuration must be localhost references, or none "
                       "must be; found %d out of %d", n_localhost, cfg->n_members);
    if (n_voters < 1 || n_voters > REPL_MAX_VOTERS)
        return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                       "Replica set configuration contains %d voting members, but must be at least 1 and no more "
                       "than %d", n_voters, REPL_MAX_VOTERS);
    if (n_electable == 0)
        return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                       "Replica set configuration must contain at least one non-arbiter member with priority > 0");
    /* Tally's own rule (digest 7): with as many arbiters as data-bearing
     * voters, "majority" no longer means a majority of the data. */
    if (n_arbiters > 0 && n_arbiters >= n_voters - n_arbiters)
        return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                       "Replica set configuration contains %d arbiters and %d data-bearing voting members; Tally "
                       "requires fewer arbiters than data-bearing voting members, so that a write majority is a "
                       "majority of the data", n_arbiters, n_voters - n_arbiters);

    bson_iter_t it, t;
    bson_iter_init(&it, cfg->settings.get_last_error_modes);
    while (bson_iter_next(&it)) {
        bson_t spec;
        int rc = get_doc(&it, "settings.getLastErrorModes", &spec, e);
        if (rc < 0)
            return rc;
        bson_iter_init(&t, &spec);
        while (bson_iter_next(&t)) {
            bool is_found = false;
            for (int i = 0; i < cfg->n_members && !is_found; i++)
                is_found = member_has_tag(&cfg->members[i], bson_iter_key(&t));
            if (!is_found)
                return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                               "Custom write concern mode '%s' uses tag '%s', which no replica set member has",
                               bson_iter_key(&it), bson_iter_key(&t));
        }
    }
    return 0;
}

static void init_defaults(struct repl_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->term = -1;
    cfg->is_write_concern_majority_journal_default = true;
    cfg->settings.is_chaining_allowed = true;
    cfg->settings.heartbeat_interval_ms = 2000;
    cfg->settings.heartbeat_timeout_secs = 10;
    cfg->settings.election_timeout_ms = 10000;
    cfg->settings.catch_up_timeout_ms = -1;
    cfg->settings.catch_up_takeover_delay_ms = 30000;
    cfg->settings.get_last_error_modes = bson_new();
}

static int parse_members(const bson_iter_t *members_it, enum repl_config_purpose purpose, struct repl_config *cfg,
                         int *n_localhost, struct err *e)
{
    bson_iter_t it;
    int rc, n = 0;

    if (bson_iter_type(members_it) != BSON_TYPE_ARRAY)
        return err_set(e, ERR_TYPE_MISMATCH, "BSON field 'members' is the wrong type '%s', expected an array",
                       bsonutil_type_name(bson_iter_type(members_it)));
    bson_iter_recurse(members_it, &it);
    while (bson_iter_next(&it)) {
        bson_t doc;
        char field[32];
        bool is_localhost = false;
        if (n == REPL_MAX_MEMBERS) {
            while (bson_iter_next(&it))
                n++;
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                           "Replica set configuration contains %d members, but must have at least 1 and no more "
                           "than %d", n + 1, REPL_MAX_MEMBERS);
        }
        snprintf(field, sizeof field, "members[%d]", n);
        if ((rc = get_doc(&it, field, &doc, e)) < 0)
            return rc;
        cfg->n_members = n + 1; /* so destroy frees this member's tags even on failure */
        if ((rc = parse_member(&doc, n, purpose, &cfg->members[n], &is_localhost, e)) < 0)
            return rc;
        *n_localhost += is_localhost;
        n++;
    }
    if (n == 0)
        return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                       "Replica set configuration contains 0 members, but must have at least 1 and no more than %d",
                       REPL_MAX_MEMBERS);
    return 0;
}

int repl_config_parse(const bson_t *doc, enum repl_config_purpose purpose, struct repl_config *cfg, struct err *e)
{
    bson_iter_t it;
    bool has_id = false, has_version = false, has_members = false;
    int64_t v;
    double d;
    int rc, n_localhost = 0;
    bool b;

    init_defaults(cfg);
    if (!bson_iter_init(&it, doc))
        return err_set(e, ERR_INVALID_BSON, "replica set configuration is not a valid BSON document");
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        rc = 0;
        if (strcmp(key, "_id") == 0) {
            if (bson_iter_type(&it) != BSON_TYPE_UTF8)
                return err_set(e, ERR_TYPE_MISMATCH, "BSON field '_id' is the wrong type '%s', expected a string",
                               bsonutil_type_name(bson_iter_type(&it)));
            const char *name = bson_iter_utf8(&it, NULL);
            if (name[0] == '\0')
                return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                               "Replica set configuration must have non-empty _id field");
            if (strlen(name) >= REPL_SET_NAME_MAX)
                return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "_id (the set name) is longer than %d bytes",
                               REPL_SET_NAME_MAX - 1);
            snprintf(cfg->set_name, sizeof cfg->set_name, "%s", name);
            has_id = true;
        } else if (strcmp(key, "version") == 0) {
            if ((rc = get_int(&it, "version", 1, INT_MAX, &v, e)) == 0)
                cfg->version = (int)v;
            has_version = true;
        } else if (strcmp(key, "term") == 0) {
            rc = get_int(&it, "term", -1, INT64_MAX, &cfg->term, e);
        } else if (strcmp(key, "protocolVersion") == 0) {
            if (!bsonutil_number(&it, &d))
                return err_set(e, ERR_TYPE_MISMATCH,
                               "BSON field 'protocolVersion' is the wrong type '%s', expected a number",
                               bsonutil_type_name(bson_iter_type(&it)));
            if (d != 1)
                return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                               "protocolVersion field value of %g is not 1; only protocol version 1 is supported", d);
        } else if (strcmp(key, "writeConcernMajorityJournalDefault") == 0) {
            rc = get_bool(&it, key, &cfg->is_write_concern_majority_journal_default, e);
        } else if (strcmp(key, "configsvr") == 0) {
            if ((rc = get_bool(&it, key, &b, e)) == 0 && b)
                return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG, "configsvr: config server replica sets are not "
                                                                  "supported");
        } else if (strcmp(key, "members") == 0) {
            rc = parse_members(&it, purpose, cfg, &n_localhost, e);
            has_members = true;
        } else if (strcmp(key, "settings") == 0) {
            bson_t sub;
            if ((rc = get_doc(&it, "settings", &sub, e)) == 0)
                rc = parse_settings(&sub, &cfg->settings, e);
        } else {
            return err_set(e, ERR_UNKNOWN_FIELD, "BSON field 'ReplSetConfig.%s' is an unknown field", key);
        }
        if (rc < 0)
            return rc;
    }
    if (!has_id)
        return err_set(e, ERR_MISSING_FIELD, "BSON field 'ReplSetConfig._id' is missing but a required field");
    if (!has_version)
        return err_set(e, ERR_MISSING_FIELD, "BSON field 'ReplSetConfig.version' is missing but a required field");
    if (!has_members)
        return err_set(e, ERR_MISSING_FIELD, "BSON field 'ReplSetConfig.members' is missing but a required field");

    if (purpose == REPL_CONFIG_FOR_INITIATE) {
        if (cfg->version != 1)
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                           "version must be 1 for replSetInitiate, but found %d", cfg->version);
        if (cfg->settings.has_replica_set_id)
            return err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                           "replica set configuration cannot contain 'settings.replicaSetId' field when called from "
                           "replSetInitiate");
        /* OpTime::kInitialTerm: the first election moves it to 1. */
        cfg->term = 0;
    }
    return validate_set(cfg, n_localhost, e);
}

void repl_config_destroy(struct repl_config *cfg)
{
    for (int i = 0; i < cfg->n_members; i++) {
        if (cfg->members[i].tags != NULL)
            bson_destroy(cfg->members[i].tags);
        cfg->members[i].tags = NULL;
    }
    cfg->n_members = 0;
    if (cfg->settings.get_last_error_modes != NULL)
        bson_destroy(cfg->settings.get_last_error_modes);
    cfg->settings.get_last_error_modes = NULL;
}

void repl_config_copy(struct repl_config *dst, const struct repl_config *src)
{
    memcpy(dst, src, sizeof *dst);
    for (int i = 0; i < src->n_members; i++)
        dst->members[i].tags = src->members[i].tags ? bson_copy(src->members[i].tags) : bson_new();
    dst->settings.get_last_error_modes =
        src->settings.get_last_error_modes ? bson_copy(src->settings.get_last_error_modes) : bson_new();
}

/* Integers print as int32 when they fit, as mongod's replSetGetConfig does. */
static void append_int(bson_t *out, const char *key, int64_t v)
{
    if (v >= INT32_MIN && v <= INT32_MAX)
        BSON_APPEND_INT32(out, key, (int32_t)v);
    else
        BSON_APPEND_INT64(out, key, v);
}

/* A config built by hand may leave tags or modes NULL: print them as {}. */
static void append_doc_or_empty(bson_t *out, const char *key, const bson_t *doc)
{
    bson_t empty;
    if (doc != NULL) {
        BSON_APPEND_DOCUMENT(out, key, doc);
        return;
    }
    BSON_APPEND_DOCUMENT_BEGIN(out, key, &empty);
    bson_append_document_end(out, &empty);
}

void repl_config_set_newly_added(struct repl_config *cfg, int i, bool is_newly_added)
{
    if (i >= 0 && i < cfg->n_members)
        member_set_newly_added(&cfg->members[i], is_newly_added);
}

static void config_to_bson(const struct repl_config *cfg, bool is_internal, bson_t *out)
{
    bson_t members, member, settings, defaults;
    char idx[16];
    const char *key;

    BSON_APPEND_UTF8(out, "_id", cfg->set_name);
    BSON_APPEND_INT32(out, "version", cfg->version);
    if (cfg->term != -1)
        BSON_APPEND_INT64(out, "term", cfg->term);
    BSON_APPEND_INT64(out, "protocolVersion", 1);
    BSON_APPEND_BOOL(out, "writeConcernMajorityJournalDefault", cfg->is_write_concern_majority_journal_default);
    BSON_APPEND_ARRAY_BEGIN(out, "members", &members);
    for (int i = 0; i < cfg->n_members; i++) {
        const struct repl_member *m = &cfg->members[i];
        bson_uint32_to_string((uint32_t)i, &key, idx, sizeof idx);
        bson_append_document_begin(&members, key, -1, &member);
        BSON_APPEND_INT32(&member, "_id", m->id);
        BSON_APPEND_UTF8(&member, "host", m->host);
        BSON_APPEND_BOOL(&member, "arbiterOnly", m->is_arbiter);
        BSON_APPEND_BOOL(&member, "buildIndexes", m->builds_indexes);
        BSON_APPEND_BOOL(&member, "hidden", m->is_hidden);
        /* A flagged member prints as configured (votes 1, its priority). */
        BSON_APPEND_DOUBLE(&member, "priority", m->is_newly_added ? m->newly_added_priority : m->priority);
        append_doc_or_empty(&member, "tags", m->tags);
        BSON_APPEND_INT64(&member, "secondaryDelaySecs", m->secondary_delay_secs);
        BSON_APPEND_INT32(&member, "votes", m->is_newly_added ? 1 : m->votes);
        if (m->is_newly_added && is_internal)
            BSON_APPEND_BOOL(&member, "newlyAdded", true);
        bson_append_document_end(&members, &member);
    }
    bson_append_array_end(out, &members);

    BSON_APPEND_DOCUMENT_BEGIN(out, "settings", &settings);
    BSON_APPEND_BOOL(&settings, "chainingAllowed", cfg->settings.is_chaining_allowed);
    append_int(&settings, "heartbeatIntervalMillis", cfg->settings.heartbeat_interval_ms);
    append_int(&settings, "heartbeatTimeoutSecs", cfg->settings.heartbeat_timeout_secs);
    append_int(&settings, "electionTimeoutMillis", cfg->settings.election_timeout_ms);
    append_int(&settings, "catchUpTimeoutMillis", cfg->settings.catch_up_timeout_ms);
    append_int(&settings, "catchUpTakeoverDelayMillis", cfg->settings.catch_up_takeover_delay_ms);
    append_doc_or_empty(&settings, "getLastErrorModes", cfg->settings.get_last_error_modes);
    BSON_APPEND_DOCUMENT_BEGIN(&settings, "getLastErrorDefaults", &defaults);
    BSON_APPEND_INT32(&defaults, "w", 1);
    BSON_APPEND_INT32(&defaults, "wtimeout", 0);
    bson_append_document_end(&settings, &defaults);
    if (cfg->settings.has_replica_set_id)
        BSON_APPEND_OID(&settings, "replicaSetId", &cfg->settings.replica_set_id);
    bson_append_document_end(out, &settings);
}

void repl_config_to_bson(const struct repl_config *cfg, bson_t *out)
{
    config_to_bson(cfg, true, out);
}

void repl_config_to_user_bson(const struct repl_config *cfg, bson_t *out)
{
    config_to_bson(cfg, false, out);
}

int repl_config_find_host(const struct repl_config *cfg, const char *host)
{
    for (int i = 0; i < cfg->n_members; i++) {
        if (strcasecmp(cfg->members[i].host, host) == 0)
            return i;
    }
    return -1;
}

int repl_config_find_id(const struct repl_config *cfg, int id)
{
    for (int i = 0; i < cfg->n_members; i++) {
        if (cfg->members[i].id == id)
            return i;
    }
    return -1;
}

/* A newlyAdded member does not vote until the server clears the flag
 * (digest 5.2), so it counts for no majority. */
static bool member_votes(const struct repl_member *m)
{
    return m->votes == 1 && !m->is_newly_added;
}

int repl_config_n_voters(const struct repl_config *cfg)
{
    int n = 0;
    for (int i = 0; i < cfg->n_members; i++)
        n += member_votes(&cfg->members[i]);
    return n;
}

int repl_config_majority_vote_count(const struct repl_config *cfg)
{
    return repl_config_n_voters(cfg) / 2 + 1;
}

int repl_config_write_majority(const struct repl_config *cfg)
{
    int n_writable = 0;
    for (int i = 0; i < cfg->n_members; i++)
        n_writable += member_votes(&cfg->members[i]) && !cfg->members[i].is_arbiter;
    int majority = repl_config_majority_vote_count(cfg);
    return n_writable < majority ? n_writable : majority;
}

bool repl_config_is_electable(const struct repl_config *cfg, int i)
{
    const struct repl_member *m = &cfg->members[i];
    return m->priority > 0 && m->votes == 1 && !m->is_arbiter;
}

int repl_config_compare_version(int64_t term_a, int version_a, int64_t term_b, int version_b)
{
    /* Digest 6.3: term first; a -1 term (force reconfig) compares versions only. */
    if (term_a != -1 && term_b != -1 && term_a != term_b)
        return term_a < term_b ? -1 : 1;
    if (version_a != version_b)
        return version_a < version_b ? -1 : 1;
    return 0;
}

int repl_config_check_reconfig(const struct repl_config *old_cfg, const struct repl_config *new_cfg, bool is_force,
                               struct err *e)
{
    char old_id[25], new_id[25];
    int n_voter_changes = 0;

    if (strcmp(old_cfg->set_name, new_cfg->set_name) != 0)
        return err_set(e, ERR_NEW_REPLICA_SET_CONFIGURATION_INCOMPATIBLE,
                       "New and old configurations differ in replica set name; old was %s, and new is %s",
                       old_cfg->set_name, new_cfg->set_name);
    /* A new config without replicaSetId inherits the old one (the caller copies it). */
    if (old_cfg->settings.has_replica_set_id && new_cfg->settings.has_replica_set_id &&
        !bson_oid_equal(&old_cfg->settings.replica_set_id, &new_cfg->settings.replica_set_id)) {
        bson_oid_to_string(&old_cfg->settings.replica_set_id, old_id);
        bson_oid_to_string(&new_cfg->settings.replica_set_id, new_id);
        return err_set(e, ERR_NEW_REPLICA_SET_CONFIGURATION_INCOMPATIBLE,
                       "New and old configurations differ in replica set ID; old was %s, and new is %s", old_id,
                       new_id);
    }
    if (!is_force &&
        repl_config_compare_version(new_cfg->term, new_cfg->version, old_cfg->term, old_cfg->version) <= 0)
        return err_set(e, ERR_NEW_REPLICA_SET_CONFIGURATION_INCOMPATIBLE,
                       "New replica set configuration version must be greater than old, but {version: %d, term: "
                       "%lld} is not greater than {version: %d, term: %lld} for replica set %s",
                       new_cfg->version, (long long)new_cfg->term, old_cfg->version, (long long)old_cfg->term,
                       new_cfg->set_name);

    for (int i = 0; i < new_cfg->n_members; i++) {
        const struct repl_member *nm = &new_cfg->members[i];
        int j = repl_config_find_host(old_cfg, nm->host);
        if (j >= 0 && old_cfg->members[j].id != nm->id)
            return err_set(e, ERR_NEW_REPLICA_SET_CONFIGURATION_INCOMPATIBLE,
                           "New and old configurations both have members with host of %s but in the new "
                           "configuration the _id field is %d and in the old configuration it is %d for replica set %s",
                           nm->host, nm->id, old_cfg->members[j].id, new_cfg->set_name);
        j = repl_config_find_id(old_cfg, nm->id);
        if (j < 0) {
            n_voter_changes += member_votes(nm);
            continue;
        }
        const struct repl_member *om = &old_cfg->members[j];
        if (om->is_arbiter != nm->is_arbiter)
            return err_set(e, ERR_NEW_REPLICA_SET_CONFIGURATION_INCOMPATIBLE,
                           "New and old configurations differ in the setting of the arbiterOnly field for member %s; "
                           "to make this change, remove then re-add the member", nm->host);
        if (om->builds_indexes != nm->builds_indexes)
            return err_set(e, ERR_NEW_REPLICA_SET_CONFIGURATION_INCOMPATIBLE,
                           "New and old configurations differ in the setting of the buildIndexes field for member "
                           "%s; to make this change, remove then re-add the member", nm->host);
        n_voter_changes += member_votes(om) != member_votes(nm);
    }
    for (int j = 0; j < old_cfg->n_members; j++) {
        if (repl_config_find_id(new_cfg, old_cfg->members[j].id) < 0)
            n_voter_changes += member_votes(&old_cfg->members[j]);
    }
    /* Single-node change (digest 6.3): voter sets differ by at most one. */
    if (!is_force && n_voter_changes > 1)
        return err_set(e, ERR_NEW_REPLICA_SET_CONFIGURATION_INCOMPATIBLE,
                       "Non force replica set reconfig can only add or remove at most 1 voting member; this one "
                       "changes %d", n_voter_changes);
    return 0;
}

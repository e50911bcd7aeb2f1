/* `tally status`: one line per replica-set member, from replSetGetStatus
 * and replSetGetConfig asked of one member over a direct connection.
 *
 * The members asked are --host, else those recorded in the cluster folder,
 * else 127.0.0.1:--base-port; the first that answers replSetGetStatus wins.
 * Exit code 0 only when the set has a primary; a server that is not a
 * replica-set member (standalone: 59 CommandNotFound or 76
 * NoReplicationEnabled; not initiated: 94) is reported as such, exit 1.
 * --json prints the raw documents instead of the table. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tally.h"

struct member_row {
    int id;
    char name[128];
    double health;
    int state;
    char state_str[48];
    bool has_optime;
    uint32_t optime_secs, optime_inc;
    int64_t optime_term;
    char sync_source[128];
    bool is_self;
    char message[160];
    /* from the config (has_config false when it could not be read) */
    bool has_config;
    double priority;
    int votes;
    bool is_hidden, is_arbiter;
    int64_t delay_secs;
};

static const char *iter_str(const bson_iter_t *it)
{
    return BSON_ITER_HOLDS_UTF8(it) ? bson_iter_utf8(it, NULL) : "";
}

static double iter_num(const bson_iter_t *it, double dflt)
{
    return BSON_ITER_HOLDS_NUMBER(it) ? bson_iter_as_double(it) : dflt;
}

static void parse_status_member(const bson_t *doc, struct member_row *r)
{
    memset(r, 0, sizeof *r);
    r->id = -1;
    r->health = -1;
    r->state = -1;
    bson_iter_t it;
    if (!bson_iter_init(&it, doc)) {
        return;
    }
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "_id") == 0) {
            r->id = (int)iter_num(&it, -1);
        } else if (strcmp(k, "name") == 0) {
            snprintf(r->name, sizeof r->name, "%s", iter_str(&it));
        } else if (strcmp(k, "health") == 0) {
            r->health = iter_num(&it, -1);
        } else if (strcmp(k, "state") == 0) {
            r->state = (int)iter_num(&it, -1);
        } else if (strcmp(k, "stateStr") == 0) {
            snprintf(r->state_str, sizeof r->state_str, "%s", iter_str(&it));
        } else if (strcmp(k, "syncSourceHost") == 0) {
            snprintf(r->sync_source, sizeof r->sync_source, "%s", iter_str(&it));
        } else if (strcmp(k, "self") == 0) {
            r->is_self = BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
        } else if ((strcmp(k, "lastHeartbeatMessage") == 0 || strcmp(k, "infoMessage") == 0) && r->message[0] == 0) {
            snprintf(r->message, sizeof r->message, "%s", iter_str(&it));
        } else if (strcmp(k, "optime") == 0 && BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_iter_t sub;
            if (bson_iter_recurse(&it, &sub)) {
                while (bson_iter_next(&sub)) {
                    if (strcmp(bson_iter_key(&sub), "ts") == 0 && BSON_ITER_HOLDS_TIMESTAMP(&sub)) {
                        bson_iter_timestamp(&sub, &r->optime_secs, &r->optime_inc);
                        r->has_optime = true;
                    } else if (strcmp(bson_iter_key(&sub), "t") == 0) {
                        r->optime_term = (int64_t)iter_num(&sub, -1);
                    }
                }
            }
        }
    }
    /* Arbiters and never-synced members report the null optime {ts: 0, t: -1}. */
    if (r->has_optime && r->optime_secs == 0 && r->optime_inc == 0) {
        r->has_optime = false;
    }
}

static void apply_config_member(const bson_t *doc, struct member_row *rows, int n_rows)
{
    bson_iter_t it;
    int id = -1;
    if (bson_iter_init_find(&it, doc, "_id")) {
        id = (int)iter_num(&it, -1);
    }
    struct member_row *r = NULL;
    for (int i = 0; i < n_rows; i++) {
        if (rows[i].id == id) {
            r = &rows[i];
        }
    }
    if (r == NULL || !bson_iter_init(&it, doc)) {
        return;
    }
    r->has_config = true;
    r->priority = 1;
    r->votes = 1;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "priority") == 0) {
            r->priority = iter_num(&it, 1);
        } else if (strcmp(k, "votes") == 0) {
            r->votes = (int)iter_num(&it, 1);
        } else if (strcmp(k, "hidden") == 0) {
            r->is_hidden = BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
        } else if (strcmp(k, "arbiterOnly") == 0) {
            r->is_arbiter = BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
        } else if (strcmp(k, "secondaryDelaySecs") == 0 || strcmp(k, "slaveDelay") == 0) {
            r->delay_secs = (int64_t)iter_num(&it, 0);
        }
    }
}

/* Reads the members arrays of both replies into rows; returns the count. */
static int collect_rows(const bson_t *status, const bson_t *config_reply, struct member_row *rows, int max_rows)
{
    int n = 0;
    bson_iter_t it, arr;
    if (bson_iter_init_find(&it, status, "members") && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &arr)) {
        while (n < max_rows && bson_iter_next(&arr)) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&arr)) {
                continue;
            }
            uint32_t len;
            const uint8_t *data;
            bson_iter_document(&arr, &len, &data);
            bson_t doc;
            if (bson_init_static(&doc, data, len)) {
                parse_status_member(&doc, &rows[n++]);
            }
        }
    }
    if (config_reply != NULL && bson_iter_init_find(&it, config_reply, "config") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
        bson_iter_recurse(&it, &arr) && bson_iter_find(&arr, "members") && BSON_ITER_HOLDS_ARRAY(&arr)) {
        bson_iter_t mem;
        if (bson_iter_recurse(&arr, &mem)) {
            while (bson_iter_next(&mem)) {
                if (!BSON_ITER_HOLDS_DOCUMENT(&mem)) {
                    continue;
                }
                uint32_t len;
                const uint8_t *data;
                bson_iter_document(&mem, &len, &data);
                bson_t doc;
                if (bson_init_static(&doc, data, len)) {
                    apply_config_member(&doc, rows, n);
                }
            }
        }
    }
    return n;
}

static void print_table(const char *asked, const bson_t *status, const struct member_row *rows, int n)
{
    bson_iter_t it;
    const char *set = "?";
    if (bson_iter_init_find(&it, status, "set")) {
        set = iter_str(&it);
    }
    int64_t term = -1;
    if (bson_iter_init_find(&it, status, "term")) {
        term = (int64_t)iter_num(&it, -1);
    }
    /* Lag is measured against the primary's optime, else the newest one. */
    const struct member_row *primary = NULL;
    uint32_t ref_secs = 0;
    for (int i = 0; i < n; i++) {
        if (rows[i].state == 1 && primary == NULL) {
            primary = &rows[i];
        }
        if (rows[i].has_optime && rows[i].optime_secs > ref_secs) {
            ref_secs = rows[i].optime_secs;
        }
    }
    if (primary != NULL && primary->has_optime) {
        ref_secs = primary->optime_secs;
    }
    printf("set %s, term %" PRId64 ", asked %s: ", set, term, asked);
    if (primary != NULL) {
        printf("primary is %s\n", primary->name);
    } else {
        printf("NO PRIMARY\n");
    }
    printf("%-22s %-11s %-6s %-24s %6s  %-22s %4s %5s  %s\n", "MEMBER", "STATE", "HEALTH", "OPTIME", "LAG",
           "SYNC SOURCE", "PRI", "VOTES", "FLAGS");
    for (int i = 0; i < n; i++) {
        const struct member_row *r = &rows[i];
        char optime[48] = "-", lag[24] = "-", pri[16] = "?", votes[16] = "?", flags[256] = "";
        if (r->has_optime) {
            snprintf(optime, sizeof optime, "%" PRIu32 ":%" PRIu32 " t%" PRId64, r->optime_secs, r->optime_inc,
                     r->optime_term);
            long long d = (long long)ref_secs - (long long)r->optime_secs;
            snprintf(lag, sizeof lag, "%llds", d);
        }
        if (r->has_config) {
            snprintf(pri, sizeof pri, "%g", r->priority);
            snprintf(votes, sizeof votes, "%d", r->votes);
        }
        size_t f = 0;
#define ADD_FLAG(...) f += (size_t)snprintf(flags + f, f < sizeof flags ? sizeof flags - f : 0, __VA_ARGS__)
        if (r->state == 1) {
            ADD_FLAG("%sprimary", f ? "," : "");
        }
        if (r->is_arbiter || r->state == 7) {
            ADD_FLAG("%sarbiter", f ? "," : "");
        }
        if (r->is_hidden) {
            ADD_FLAG("%shidden", f ? "," : "");
        }
        if (r->delay_secs > 0) {
            ADD_FLAG("%sdelayed=%" PRId64 "s", f ? "," : "", r->delay_secs);
        }
        if (r->is_self) {
            ADD_FLAG("%sself", f ? "," : "");
        }
        if (r->message[0] != '\0') {
            ADD_FLAG("%s(%s)", f ? " " : "", r->message);
        }
#undef ADD_FLAG
        const char *health = r->health > 0 ? "up" : r->health == 0 ? "down" : "?";
        /* mongod's stateStr for an unhealthy member, "(not reachable/healthy)",
         * would break the columns; HEALTH says the rest. */
        const char *state = r->state_str[0] == '\0' ? "?" : r->state_str[0] == '(' ? "UNREACHABLE" : r->state_str;
        printf("%-22s %-11s %-6s %-24s %6s  %-22s %4s %5s  %s\n", r->name, state,
               health, optime, lag, r->sync_source[0] ? r->sync_source : "-", pri, votes, f ? flags : "-");
    }
}

static void print_json(const char *asked, const bson_t *status, const bson_t *config)
{
    char *s = bson_as_relaxed_extended_json(status, NULL);
    char *c = config ? bson_as_relaxed_extended_json(config, NULL) : NULL;
    printf("{\"host\": \"%s\", \"replSetGetStatus\": %s, \"replSetGetConfig\": %s}\n", asked, s ? s : "null",
           c ? c : "null");
    bson_free(s);
    bson_free(c);
}

static void explain_error(const char *host, int code, const char *errmsg)
{
    switch (code) {
    case 59:
        fprintf(stderr, "tally: %s is not a replica-set member: it is a standalone server without replica-set "
                        "commands (replSetGetStatus: %s)\n", host, errmsg);
        break;
    case 76:
        fprintf(stderr, "tally: %s is not a replica-set member: it runs without --replSet (replSetGetStatus: %s)\n",
                host, errmsg);
        break;
    case 94:
        fprintf(stderr, "tally: %s is not initiated yet, so it is not a replica-set member (replSetGetStatus: %s); "
                        "`tally cluster up` initiates a new set\n", host, errmsg);
        break;
    case 93:
        fprintf(stderr, "tally: %s is not in its replica set's config (REMOVED) (replSetGetStatus: %s)\n", host,
                errmsg);
        break;
    default:
        fprintf(stderr, "tally: replSetGetStatus on %s failed: %s\n", host, errmsg);
        break;
    }
}

/* Prints the status one member gave (and its config, asked of the same
 * member when it is still reachable); 0 when a primary exists. */
static int report(const struct tally_opts *o, mongoc_client_t *client, const char *host, const bson_t *status)
{
    char errbuf[512] = "unreachable";
    bson_t config;
    bson_t get_config = BSON_INITIALIZER;
    static struct member_row rows[64];
    bool has_config = false, has_primary = false;
    int n;

    BSON_APPEND_INT32(&get_config, "replSetGetConfig", 1);
    if (client != NULL)
        has_config = client_run_admin(client, &get_config, &config, errbuf, sizeof errbuf) == 0;
    bson_destroy(&get_config);
    n = collect_rows(status, has_config ? &config : NULL, rows, 64);
    for (int j = 0; j < n; j++)
        has_primary = has_primary || rows[j].state == 1;
    if (o->is_json) {
        print_json(host, status, has_config ? &config : NULL);
    } else {
        print_table(host, status, rows, n);
        if (!has_config)
            printf("(replSetGetConfig failed: %s; priority and votes unknown)\n", errbuf);
    }
    if (has_config)
        bson_destroy(&config);
    return has_primary ? 0 : 1;
}

int tally_status(const struct tally_opts *o)
{
    char hosts[TALLY_MAX_HOSTS][64];
    int n_hosts;
    if (o->host != NULL) {
        snprintf(hosts[0], sizeof hosts[0], "%s", o->host);
        n_hosts = 1;
    } else {
        n_hosts = tally_cluster_hosts(o->dir, hosts, TALLY_MAX_HOSTS);
        if (n_hosts == 0) {
            snprintf(hosts[0], sizeof hosts[0], "127.0.0.1:%d", o->base_port);
            n_hosts = 1;
        }
    }
    int first_code = 0;
    char first_host[64] = "", first_err[512] = "";
    bson_t first_reply = BSON_INITIALIZER;
    bson_t answer;
    bool has_answer = false;
    char answer_host[64] = "";
    for (int i = 0; i < n_hosts; i++) {
        char errbuf[512];
        mongoc_client_t *client = client_open_direct(hosts[i], 2000, errbuf, sizeof errbuf);
        if (client == NULL) {
            fprintf(stderr, "tally: %s\n", errbuf);
            continue;
        }
        bson_t cmd = BSON_INITIALIZER, status;
        BSON_APPEND_INT32(&cmd, "replSetGetStatus", 1);
        int rc = client_run_admin(client, &cmd, &status, errbuf, sizeof errbuf);
        bson_destroy(&cmd);
        if (rc != 0) {
            /* Remember the first answer; a later member may still do better. */
            if (first_code == 0 || (first_code < 0 && rc > 0)) {
                first_code = rc;
                snprintf(first_host, sizeof first_host, "%.63s", hosts[i]);
                snprintf(first_err, sizeof first_err, "%s", errbuf);
                bson_destroy(&first_reply);
                bson_copy_to(&status, &first_reply);
            }
            bson_destroy(&status);
            mongoc_client_destroy(client);
            continue;
        }
        /* The primary's own view is the freshest; otherwise keep the first
         * answer and look further (a secondary learns of a new primary only
         * at its next heartbeat). */
        bson_iter_t it;
        bool is_primary = bson_iter_init_find(&it, &status, "myState") && bson_iter_as_int64(&it) == 1;
        if (!is_primary && i + 1 < n_hosts) {
            if (!has_answer) {
                has_answer = true;
                snprintf(answer_host, sizeof answer_host, "%.63s", hosts[i]);
                bson_copy_to(&status, &answer);
            }
            bson_destroy(&status);
            mongoc_client_destroy(client);
            continue;
        }
        if (!is_primary && has_answer) {
            bson_destroy(&status);
            mongoc_client_destroy(client);
            break;
        }
        int code = report(o, client, hosts[i], &status);
        bson_destroy(&status);
        mongoc_client_destroy(client);
        bson_destroy(&first_reply);
        if (has_answer)
            bson_destroy(&answer);
        return code;
    }
    if (has_answer) {
        char errbuf[512];
        mongoc_client_t *client = client_open_direct(answer_host, 2000, errbuf, sizeof errbuf);
        int code = report(o, client, answer_host, &answer);
        if (client != NULL)
            mongoc_client_destroy(client);
        bson_destroy(&answer);
        bson_destroy(&first_reply);
        return code;
    }
    if (first_code > 0) {
        explain_error(first_host, first_code, first_err);
        if (o->is_json) {
            print_json(first_host, &first_reply, NULL);
        }
    } else {
        fprintf(stderr, "tally: cannot reach any member (%s", hosts[0]);
        for (int i = 1; i < n_hosts; i++) {
            fprintf(stderr, ", %s", hosts[i]);
        }
        fprintf(stderr, ")%s%s\n", first_err[0] ? ": " : "", first_err);
    }
    bson_destroy(&first_reply);
    return 1;
}

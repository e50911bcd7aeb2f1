/* node_status.c - what the member tells clients about the set: hello /
 * isMaster fields (wire-compat.md 2.2), replSetGetStatus (replication digest
 * 8.1), replSetGetConfig, and the $replData metadata of oplog reads.
 *
 * Pure readers of the node's state; BSON types follow mongod exactly where
 * drivers check them (setVersion int32, electionId ObjectId, lastWriteDate
 * Date, health double, pingMs Int64). */
#include "repl/node_internal.h"

#include "net/server.h"
#include "repl/fetcher.h"

#include <stdio.h>
#include <string.h>

#define READ_ONLY_MSG "not primary: no majority of the replica set is reachable; this member is read-only"

static void append_date(bson_t *doc, const char *key, int64_t wall_ms)
{
    BSON_APPEND_DATE_TIME(doc, key, wall_ms > 0 ? wall_ms : 0);
}

static void append_optime_date(bson_t *doc, const char *key, struct optime o)
{
    BSON_APPEND_DATE_TIME(doc, key, (int64_t)optime_secs(o) * 1000);
}

/* The core learns the commit point's wall time only sometimes; when the
 * commit point is our last entry its wall time is ours. */
static int64_t commit_wall(const struct repl_state *st)
{
    if (st->commit_wall_ms > 0)
        return st->commit_wall_ms;
    if (optime_compare(st->commit_point, st->applied) == 0)
        return st->applied_wall_ms;
    return (int64_t)optime_secs(st->commit_point) * 1000;
}

static void append_str_array(bson_t *doc, const char *key, const char **v, int n)
{
    bson_t arr;
    char idx[16];
    BSON_APPEND_ARRAY_BEGIN(doc, key, &arr);
    for (int i = 0; i < n; i++) {
        const char *k;
        bson_uint32_to_string((uint32_t)i, &k, idx, sizeof idx);
        bson_append_utf8(&arr, k, -1, v[i], -1);
    }
    bson_append_array_end(doc, &arr);
}

static void election_id(int64_t term, bson_oid_t *oid)
{
    /* mongod's OID::fromTerm: 7fffffff then the term big-endian, so the bytes sort by term. */
    oid->bytes[0] = 0x7f;
    oid->bytes[1] = 0xff;
    oid->bytes[2] = 0xff;
    oid->bytes[3] = 0xff;
    for (int i = 0; i < 8; i++)
        oid->bytes[4 + i] = (uint8_t)((uint64_t)term >> (56 - 8 * i));
}

void repl_node_append_hello(const struct repl_node *n, bool is_hello, bson_t *reply)
{
    const struct repl_state *st = &n->st;
    const char *primary_key = is_hello ? "isWritablePrimary" : "ismaster";
    if (!st->has_config || st->self < 0) {
        BSON_APPEND_BOOL(reply, primary_key, false);
        BSON_APPEND_BOOL(reply, "secondary", false);
        BSON_APPEND_UTF8(reply, "info", "Does not have a valid replica set config");
        BSON_APPEND_BOOL(reply, "isreplicaset", true);
        return;
    }
    const struct repl_config *cfg = &st->config;
    const struct repl_member *me = &cfg->members[st->self];
    bool is_writable = repl_is_writable_primary(st);
    BSON_APPEND_BOOL(reply, primary_key, is_writable);
    BSON_APPEND_BOOL(reply, "secondary", st->member_state == REPL_SECONDARY);
    BSON_APPEND_UTF8(reply, "setName", cfg->set_name);
    BSON_APPEND_INT32(reply, "setVersion", cfg->version);

    const char *hosts[REPL_MAX_MEMBERS], *passives[REPL_MAX_MEMBERS], *arbiters[REPL_MAX_MEMBERS];
    int n_hosts = 0, n_passives = 0, n_arbiters = 0;
    for (int i = 0; i < cfg->n_members; i++) {
        const struct repl_member *m = &cfg->members[i];
        if (m->is_arbiter)
            arbiters[n_arbiters++] = m->host;
        else if (m->is_hidden)
            continue;
        else if (m->priority > 0)
            hosts[n_hosts++] = m->host;
        else
            passives[n_passives++] = m->host;
    }
    append_str_array(reply, "hosts", hosts, n_hosts);
    if (n_passives)
        append_str_array(reply, "passives", passives, n_passives);
    if (n_arbiters)
        append_str_array(reply, "arbiters", arbiters, n_arbiters);
    int primary = st->member_state == REPL_PRIMARY ? st->self : st->primary_index;
    if (primary >= 0 && primary < cfg->n_members)
        BSON_APPEND_UTF8(reply, "primary", cfg->members[primary].host);
    if (me->is_arbiter)
        BSON_APPEND_BOOL(reply, "arbiterOnly", true);
    if (!me->is_arbiter && me->priority <= 0)
        BSON_APPEND_BOOL(reply, "passive", true);
    if (me->is_hidden)
        BSON_APPEND_BOOL(reply, "hidden", true);
    if (!me->builds_indexes)
        BSON_APPEND_BOOL(reply, "buildIndexes", false);
    if (me->secondary_delay_secs)
        BSON_APPEND_INT64(reply, "secondaryDelaySecs", me->secondary_delay_secs);
    if (me->tags && !bson_empty(me->tags))
        BSON_APPEND_DOCUMENT(reply, "tags", me->tags);
    BSON_APPEND_UTF8(reply, "me", me->host);
    if (is_writable) {
        bson_oid_t oid;
        election_id(st->term, &oid);
        BSON_APPEND_OID(reply, "electionId", &oid);
    }
    if (!me->is_arbiter) {
        bson_t lw;
        BSON_APPEND_DOCUMENT_BEGIN(reply, "lastWrite", &lw);
        optime_append(&lw, "opTime", st->applied);
        append_date(&lw, "lastWriteDate", st->applied_wall_ms);
        optime_append(&lw, "majorityOpTime", st->commit_point);
        append_date(&lw, "majorityWriteDate", commit_wall(st));
        bson_append_document_end(reply, &lw);
    }
}

int repl_node_append_config(const struct repl_node *n, bson_t *reply, struct err *e)
{
    if (!n->st.has_config)
        return err_set(e, ERR_NOT_YET_INITIALIZED, "no replset config has been received");
    bson_t c;
    BSON_APPEND_DOCUMENT_BEGIN(reply, "config", &c);
    /* mongod hides newlyAdded here: rs.conf() edited and sent back must not
     * carry it (local.system.replset and heartbeats keep it). */
    repl_config_to_user_bson(&n->st.config, &c);
    bson_append_document_end(reply, &c);
    return 0;
}

void repl_node_append_repl_data(const struct repl_node *n, bson_t *reply)
{
    const struct repl_state *st = &n->st;
    bson_t d;
    BSON_APPEND_DOCUMENT_BEGIN(reply, "$replData", &d);
    BSON_APPEND_INT64(&d, "term", st->term);
    optime_append(&d, "lastOpCommitted", st->commit_point);
    append_date(&d, "lastCommittedWall", commit_wall(st));
    BSON_APPEND_INT32(&d, "configVersion", st->has_config ? st->config.version : -2);
    BSON_APPEND_INT64(&d, "configTerm", st->has_config ? st->config.term : -1);
    int primary = st->member_state == REPL_PRIMARY ? st->self : st->primary_index;
    BSON_APPEND_INT32(&d, "primaryIndex", primary);
    BSON_APPEND_INT32(&d, "syncSourceIndex", st->sync_source);
    bson_append_document_end(reply, &d);
}

#define TOO_STALE_MSG "too stale to catch up: the sync source no longer holds this member's newest oplog entry; " \
                      "resync this member"

static const char *self_info_message(const struct repl_node *n)
{
    const struct repl_state *st = &n->st;
    if (st->member_state == REPL_RECOVERING && fetcher_is_too_stale(n->fetcher))
        return TOO_STALE_MSG;
    if (st->member_state != REPL_PRIMARY && st->member_state != REPL_ARBITER && !repl_node_sees_majority(n))
        return READ_ONLY_MSG;
    if (st->member_state == REPL_PRIMARY && !repl_is_writable_primary(st))
        return "primary is catching up or draining; not yet writable";
    return "";
}

static void append_member(const struct repl_node *n, int i, bson_t *arr, int k, int64_t now)
{
    const struct repl_state *st = &n->st;
    const struct repl_member *m = &st->config.members[i];
    bool is_self = i == st->self;
    const struct repl_peer *p = &st->peers[i];
    bson_t d;
    char idx[16];
    const char *key;
    bson_uint32_to_string((uint32_t)k, &key, idx, sizeof idx);
    bson_append_document_begin(arr, key, -1, &d);
    BSON_APPEND_INT32(&d, "_id", m->id);
    BSON_APPEND_UTF8(&d, "name", m->host);
    bool is_up = is_self || p->is_up;
    BSON_APPEND_DOUBLE(&d, "health", is_up ? 1.0 : 0.0);
    enum repl_member_state state = is_self ? st->member_state : p->state;
    BSON_APPEND_INT32(&d, "state", (int32_t)state);
    BSON_APPEND_UTF8(&d, "stateStr", is_up ? repl_member_state_str(state) : "(not reachable/healthy)");
    int64_t up_since = is_self ? n->start_mono_ms : n->peer_first_up_ms[i];
    BSON_APPEND_INT32(&d, "uptime", is_up && up_since >= 0 ? (int32_t)((now - up_since) / 1000) : 0);
    struct optime applied, durable;
    repl_member_optimes(st, i, &applied, &durable);
    int64_t applied_wall = is_self ? st->applied_wall_ms : p->applied_wall_ms;
    int64_t durable_wall = is_self ? st->durable_wall_ms : p->durable_wall_ms;
    optime_append(&d, "optime", applied);
    if (!is_self)
        optime_append(&d, "optimeDurable", durable);
    append_optime_date(&d, "optimeDate", applied);
    if (!is_self)
        append_optime_date(&d, "optimeDurableDate", durable);
    if (!m->is_arbiter) {
        append_date(&d, "lastAppliedWallTime", applied_wall);
        append_date(&d, "lastDurableWallTime", durable_wall);
    }
    if (!is_self) {
        append_date(&d, "lastHeartbeat", p->last_hb_sent_ms >= 0 ? node_wall_ms(n, p->last_hb_sent_ms) : 0);
        append_date(&d, "lastHeartbeatRecv", p->last_hb_recv_ms >= 0 ? node_wall_ms(n, p->last_hb_recv_ms) : 0);
        BSON_APPEND_INT64(&d, "pingMs", p->ping_ms >= 0 ? p->ping_ms : 0);
        BSON_APPEND_UTF8(&d, "lastHeartbeatMessage", p->last_hb_message);
    }
    int sync_id = is_self ? (st->sync_source >= 0 ? st->config.members[st->sync_source].id : -1) : p->sync_source_id;
    int sync_idx = sync_id >= 0 ? repl_config_find_id(&st->config, sync_id) : -1;
    BSON_APPEND_UTF8(&d, "syncSourceHost", sync_idx >= 0 ? st->config.members[sync_idx].host : "");
    BSON_APPEND_INT32(&d, "syncSourceId", sync_idx >= 0 ? sync_id : -1);
    BSON_APPEND_UTF8(&d, "infoMessage", is_self ? self_info_message(n) : "");
    if (state == REPL_PRIMARY && is_up) {
        uint64_t et = is_self ? st->election_time : p->election_time;
        bson_append_timestamp(&d, "electionTime", -1, (uint32_t)(et >> 32), (uint32_t)et);
        BSON_APPEND_DATE_TIME(&d, "electionDate", (int64_t)(et >> 32) * 1000);
    }
    BSON_APPEND_INT32(&d, "configVersion", is_self ? st->config.version : p->config_version);
    BSON_APPEND_INT64(&d, "configTerm", is_self ? st->config.term : p->config_term);
    if (is_self)
        BSON_APPEND_BOOL(&d, "self", true);
    bson_append_document_end(arr, &d);
}

static void append_counts(const struct repl_config *cfg, bson_t *reply)
{
    int voters = 0, writable_voters = 0;
    for (int i = 0; i < cfg->n_members; i++) {
        if (cfg->members[i].votes <= 0)
            continue;
        voters++;
        writable_voters += !cfg->members[i].is_arbiter;
    }
    BSON_APPEND_INT32(reply, "majorityVoteCount", repl_config_majority_vote_count(cfg));
    BSON_APPEND_INT32(reply, "writeMajorityCount", repl_config_write_majority(cfg));
    BSON_APPEND_INT32(reply, "votingMembersCount", voters);
    BSON_APPEND_INT32(reply, "writableVotingMembersCount", writable_voters);
}

static void append_election_metrics(const struct repl_node *n, bson_t *reply)
{
    const struct repl_state *st = &n->st;
    bson_t m;
    BSON_APPEND_DOCUMENT_BEGIN(reply, "electionCandidateMetrics", &m);
    BSON_APPEND_UTF8(&m, "lastElectionReason", repl_election_reason_str(st->last_election_reason));
    BSON_APPEND_DATE_TIME(&m, "lastElectionDate", st->election_date_ms > 0 ? st->election_date_ms
                                                                          : (int64_t)(st->election_time >> 32) * 1000);
    BSON_APPEND_INT64(&m, "electionTerm", st->term);
    BSON_APPEND_INT32(&m, "numVotesNeeded", repl_config_majority_vote_count(&st->config));
    BSON_APPEND_DOUBLE(&m, "priorityAtElection", st->config.members[st->self].priority);
    BSON_APPEND_INT64(&m, "electionTimeoutMillis", st->config.settings.election_timeout_ms);
    if (!optime_is_null(st->first_optime_of_term))
        append_optime_date(&m, "newTermStartDate", st->first_optime_of_term);
    if (st->wmajority_available_ms > 0)
        BSON_APPEND_DATE_TIME(&m, "wMajorityWriteAvailabilityDate", st->wmajority_available_ms);
    bson_append_document_end(reply, &m);
}

int repl_node_append_status(const struct repl_node *n, bson_t *reply, struct err *e)
{
    const struct repl_state *st = &n->st;
    if (!st->has_config)
        return err_set(e, ERR_NOT_YET_INITIALIZED, "no replset config has been received");
    if (st->self < 0) {
        int rc = err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                         "Our replica set config is invalid or we are not a member of it");
        bson_t *info = err_info(e);
        BSON_APPEND_INT32(info, "state", (int32_t)st->member_state);
        BSON_APPEND_UTF8(info, "stateStr", repl_member_state_str(st->member_state));
        optime_append(info, "optime", st->applied);
        return rc;
    }
    int64_t now = node_now_ms(n);
    const struct repl_config *cfg = &st->config;
    BSON_APPEND_UTF8(reply, "set", cfg->set_name);
    BSON_APPEND_DATE_TIME(reply, "date", node_wall_now_ms());
    BSON_APPEND_INT32(reply, "myState", (int32_t)st->member_state);
    BSON_APPEND_INT64(reply, "term", st->term);
    /* Digest 8.1: tooStale appears only when true. */
    if (st->member_state == REPL_RECOVERING && fetcher_is_too_stale(n->fetcher))
        BSON_APPEND_BOOL(reply, "tooStale", true);
    bool has_sync = st->sync_source >= 0 && st->sync_source < cfg->n_members;
    BSON_APPEND_UTF8(reply, "syncSourceHost", has_sync ? cfg->members[st->sync_source].host : "");
    BSON_APPEND_INT32(reply, "syncSourceId", has_sync ? cfg->members[st->sync_source].id : -1);
    BSON_APPEND_INT64(reply, "heartbeatIntervalMillis", cfg->settings.heartbeat_interval_ms);
    append_counts(cfg, reply);
    fetcher_append_initial_sync_status(n->fetcher, reply);
    const char *info = self_info_message(n);
    if (info[0])
        BSON_APPEND_UTF8(reply, "infoMessage", info);

    bson_t o;
    BSON_APPEND_DOCUMENT_BEGIN(reply, "optimes", &o);
    optime_append(&o, "lastCommittedOpTime", st->commit_point);
    append_date(&o, "lastCommittedWallTime", commit_wall(st));
    optime_append(&o, "readConcernMajorityOpTime", st->commit_point);
    append_date(&o, "readConcernMajorityWallTime", commit_wall(st));
    optime_append(&o, "appliedOpTime", st->applied);
    optime_append(&o, "durableOpTime", st->durable);
    append_date(&o, "lastAppliedWallTime", st->applied_wall_ms);
    append_date(&o, "lastDurableWallTime", st->durable_wall_ms);
    bson_append_document_end(reply, &o);
    if (st->member_state == REPL_PRIMARY)
        append_election_metrics(n, reply);

    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(reply, "members", &arr);
    for (int i = 0; i < cfg->n_members; i++)
        append_member(n, i, &arr, i, now);
    bson_append_array_end(reply, &arr);
    return 0;
}

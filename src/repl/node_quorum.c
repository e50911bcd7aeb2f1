/* node_quorum.c - replSetInitiate's quorum check, both sides.
 *
 * Initiator (digest 6.2, mongod's QuorumChecker for an initial config):
 * before a new set's config is installed, every other member of it gets a
 * heartbeat carrying checkEmpty: true, on a client of its own (net/peer.h),
 * with the config's heartbeat timeout. The config is installed only when
 * every member answered and none refused; otherwise replSetInitiate fails
 * with mongod's codes and a message naming each member and why:
 *   - a member that cannot be reached or answers with an error:
 *     NodeNotFound (74) "replSetInitiate quorum check failed because not all
 *     proposed set members responded affirmatively: <host> failed with <why>";
 *   - a member of a set with another name, or one that already has a config:
 *     NewReplicaSetConfigurationIncompatible (103);
 *   - a member holding data: CannotInitializeNodeWithData (110) "'<host>' has
 *     data already, cannot initiate set." (the initiator keeps its own data;
 *     the others initial-sync from it).
 * A refusal ends the check at once; the loop never blocks (the command
 * answers from the last reply's callback).
 *
 * Receiver: a member without a config answers a checkEmpty heartbeat here,
 * since the protocol core knows nothing but "no config": ok with v: -2 and
 * hasData (a collection outside "local" exists), or InconsistentReplicaSetNames
 * (185) when started with another --replSet name. A member with a config lets
 * the core answer as to any heartbeat (set and v tell the initiator). A probe
 * never starts the bootstrap of an uninitialised member (the initiator has no
 * config to give yet). Loop thread only. */
#include "repl/node_internal.h"

#include "core/log.h"
#include "core/mem.h"
#include "net/peer.h"
#include "net/server.h"
#include "storage/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_INCONSISTENT_SET_NAMES 185 /* InconsistentReplicaSetNames (not in the err table) */
#define BAD_LIST_MAX 2048

struct quorum_probe {
    struct node_quorum *q;
    int index; /* member index in q->cfg */
};

struct node_quorum {
    struct repl_node *n;
    struct repl_config *cfg; /* owned until installed */
    int self;
    uint64_t request_id;
    struct peer *peers[REPL_MAX_MEMBERS];
    struct quorum_probe probes[REPL_MAX_MEMBERS];
    int n_outstanding;
    bool is_done;
    int veto_code; /* 0, or the refusal that ends the check */
    char veto_msg[ERR_MSG_MAX];
    char bad[BAD_LIST_MAX]; /* "host failed with why, ..." */
    int n_bad;
};

bool node_quorum_is_probe(const bson_t *body)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, body, "checkEmpty") && bson_iter_as_bool(&it);
}

/* ---- receiver ---- */

/* A collection outside "local": this member was a standalone or in a set. */
static int holds_data(struct repl_node *n, bool *out, struct err *e)
{
    struct store_txn *t;
    struct coll_info **list = NULL;
    int n_colls = 0;
    int rc = store_txn_begin_read(n->srv->store, &t, e);
    if (rc < 0)
        return rc;
    rc = store_coll_list(t, NULL, &list, &n_colls, e);
    store_txn_end(t);
    if (rc < 0)
        return rc;
    *out = false;
    for (int i = 0; i < n_colls && !*out; i++)
        *out = strcmp(list[i]->db, "local") != 0;
    coll_info_list_free(list, n_colls);
    return 0;
}

int node_quorum_answer(struct repl_node *n, const bson_t *body, bson_t *reply, struct err *e, int *rc)
{
    if (!node_quorum_is_probe(body) || n->st.has_config)
        return 0;
    struct repl_hb_request req;
    if ((*rc = repl_hb_request_from_bson(body, &req, e)) < 0)
        return 1;
    if (strcmp(req.set_name, n->set_name) != 0) {
        *rc = err_set(e, ERR_INCONSISTENT_SET_NAMES,
                      "Our set name of %s does not match name %s reported by remote node", n->set_name,
                      req.set_name);
        return 1;
    }
    /* Two members initiating each other at once would make two sets. */
    if (n->quorum || n->is_config_persisting) {
        *rc = err_set(e, ERR_CONFIGURATION_IN_PROGRESS, "%s is itself installing a replica set config",
                      n->srv->host_port);
        return 1;
    }
    bool has_data = false;
    if ((*rc = holds_data(n, &has_data, e)) < 0) {
        err_prefix(e, "cannot tell whether %s holds data", n->srv->host_port);
        return 1;
    }
    BSON_APPEND_INT32(reply, "state", n->st.member_state);
    BSON_APPEND_INT64(reply, "term", n->st.term);
    BSON_APPEND_INT32(reply, "v", -2); /* mongod's "no config" */
    BSON_APPEND_BOOL(reply, "hasData", has_data);
    *rc = 0;
    return 1;
}

/* ---- initiator ---- */

static void quorum_free(struct node_quorum *q)
{
    q->is_done = true;
    /* Each destroy runs that peer's pending callback, which sees is_done. */
    for (int i = 0; i < REPL_MAX_MEMBERS; i++)
        if (q->peers[i]) {
            struct peer *p = q->peers[i];
            q->peers[i] = NULL;
            peer_destroy(p);
        }
    if (q->cfg) {
        repl_config_destroy(q->cfg);
        free(q->cfg);
    }
    if (q->n->quorum == q)
        q->n->quorum = NULL;
    free(q);
}

static void note_bad(struct node_quorum *q, const char *host, const char *why)
{
    size_t len = strlen(q->bad);
    snprintf(q->bad + len, sizeof q->bad - len, "%s%s failed with %s", q->n_bad ? ", " : "", host, why);
    q->n_bad++;
}

/* The first refusal wins; it ends the check. */
static void veto(struct node_quorum *q, int code, const char *msg)
{
    if (q->veto_code)
        return;
    q->veto_code = code;
    snprintf(q->veto_msg, sizeof q->veto_msg, "%s", msg);
}

/* Reads one member's answer into the tally. */
static void tabulate(struct node_quorum *q, int i, const bson_t *reply, const struct err *e)
{
    const char *host = q->cfg->members[i].host;
    char why[ERR_MSG_MAX];
    bson_iter_t it;
    if (e) {
        note_bad(q, host, e->msg);
        return;
    }
    bool ok = bson_iter_init_find(&it, reply, "ok") && bson_iter_as_bool(&it);
    if (!ok) {
        int code = bson_iter_init_find(&it, reply, "code") && BSON_ITER_HOLDS_NUMBER(&it)
                       ? (int)bson_iter_as_int64(&it)
                       : 0;
        const char *msg = bson_iter_init_find(&it, reply, "errmsg") && BSON_ITER_HOLDS_UTF8(&it)
                              ? bson_iter_utf8(&it, NULL)
                              : "an error without a message";
        if (code == ERR_INCONSISTENT_SET_NAMES) {
            snprintf(why, sizeof why, "Our set name did not match that of %s: %.512s", host, msg);
            veto(q, ERR_NEW_REPLICA_SET_CONFIGURATION_INCOMPATIBLE, why);
        } else {
            note_bad(q, host, msg);
        }
        return;
    }
    /* A member that reports a set already has a config of its own. */
    if (bson_iter_init_find(&it, reply, "set") && BSON_ITER_HOLDS_UTF8(&it) && bson_iter_utf8(&it, NULL)[0]) {
        int version = 0;
        bson_iter_t v;
        if (bson_iter_init_find(&v, reply, "v") && BSON_ITER_HOLDS_NUMBER(&v))
            version = (int)bson_iter_as_int64(&v);
        if (version >= q->cfg->version) {
            snprintf(why, sizeof why,
                     "Our config version of %d is no larger than the version on %s, which is %d: it is already a "
                     "member of replica set %.128s",
                     q->cfg->version, host, version, bson_iter_utf8(&it, NULL));
            veto(q, ERR_NEW_REPLICA_SET_CONFIGURATION_INCOMPATIBLE, why);
            return;
        }
    }
    if (bson_iter_init_find(&it, reply, "hasData") && bson_iter_as_bool(&it)) {
        snprintf(why, sizeof why, "'%s' has data already, cannot initiate set.", host);
        veto(q, ERR_CANNOT_INITIALIZE_NODE_WITH_DATA, why);
    }
}

static void finish(struct node_quorum *q)
{
    struct repl_node *n = q->n;
    uint64_t request_id = q->request_id;
    struct err e;
    err_init(&e);
    q->is_done = true;
    if (q->veto_code) {
        err_set(&e, q->veto_code, "%s", q->veto_msg);
    } else if (q->n_bad > 0) {
        err_set(&e, ERR_NODE_NOT_FOUND,
                "replSetInitiate quorum check failed because not all proposed set members responded "
                "affirmatively: %s",
                q->bad);
    } else if (n->st.has_config || n->is_config_persisting) {
        /* A member of the new set sent us its config meanwhile. */
        err_set(&e, ERR_ALREADY_INITIALIZED, "already initialized");
    }
    if (e.code) {
        log_warn(LOGC_REPL, "REPL: replSetInitiate of set %s refused: %s", q->cfg->set_name, e.msg);
        quorum_free(q);
        node_request_complete(n, request_id, -e.code, &e, NULL);
        err_clear(&e);
        return;
    }
    struct repl_config *cfg = q->cfg;
    q->cfg = NULL;
    log_info(LOGC_REPL, "REPL: replSetInitiate: set %s with %d member(s); quorum check passed (every member "
                        "answered, none holds data or a config)",
             cfg->set_name, cfg->n_members);
    quorum_free(q);
    node_persist_config(n, cfg, true, request_id);
}

static void on_probe_reply(void *arg, const bson_t *reply, const struct err *e)
{
    struct quorum_probe *pr = arg;
    struct node_quorum *q = pr->q;
    q->n_outstanding--;
    if (q->is_done)
        return;
    tabulate(q, pr->index, reply, e);
    if (q->veto_code || q->n_outstanding == 0)
        finish(q);
}

void node_quorum_start(struct repl_node *n, struct repl_config *cfg, int self, uint64_t request_id)
{
    struct node_quorum *q = xcalloc(1, sizeof *q);
    q->n = n;
    q->cfg = cfg;
    q->self = self;
    q->request_id = request_id;
    n->quorum = q;

    /* The probe carries no protocol state a receiver with a config could
     * take for ours: no member id, no term. */
    struct repl_hb_request hb;
    memset(&hb, 0, sizeof hb);
    snprintf(hb.set_name, sizeof hb.set_name, "%s", cfg->set_name);
    hb.config_version = cfg->version;
    hb.config_term = -1;
    snprintf(hb.from, sizeof hb.from, "%s", cfg->members[self].host);
    hb.from_id = -1;
    hb.term = -1;
    hb.primary_id = -1;
    bson_t cmd = BSON_INITIALIZER;
    repl_hb_request_to_bson(&hb, &cmd);
    BSON_APPEND_BOOL(&cmd, "checkEmpty", true);
    BSON_APPEND_UTF8(&cmd, "$db", "admin");
    int64_t timeout_ms = (int64_t)cfg->settings.heartbeat_timeout_secs * 1000;

    for (int i = 0; i < cfg->n_members; i++) {
        if (i == self)
            continue;
        struct err e;
        err_init(&e);
        q->probes[i].q = q;
        q->probes[i].index = i;
        int rc = peer_create(n->srv->loop, cfg->members[i].host, &q->peers[i], &e);
        if (rc == 0 && (rc = peer_send(q->peers[i], &cmd, timeout_ms, on_probe_reply, &q->probes[i], &e)) == 0)
            q->n_outstanding++;
        else
            note_bad(q, cfg->members[i].host, e.msg);
        err_clear(&e);
    }
    bson_destroy(&cmd);
    log_info(LOGC_REPL, "REPL: replSetInitiate: checking that the %d other member(s) of set %s are reachable, "
                        "empty and not in a set",
             cfg->n_members - 1, cfg->set_name);
    /* Callbacks never run inside peer_send: with none outstanding, decide now. */
    if (q->n_outstanding == 0)
        finish(q);
}

void node_quorum_cancel(struct repl_node *n)
{
    if (n->quorum)
        quorum_free(n->quorum);
}

/* node_cmd.c - the replica-set commands as the member executes them, and the
 * table of requests waiting for the core's answer (request_id -> callback).
 *
 * A command registers a request, feeds its event and looks whether the core
 * answered during that step: then the answer goes straight into the caller's
 * reply / err (return 0 or < 0); otherwise the request turns asynchronous and
 * its callback runs exactly once later (return REPL_ASYNC). replSetInitiate
 * and replSetReconfig answer once the new config is durable and installed.
 *
 * replSetInitiate installs its config only after the quorum check of
 * node_quorum.c (every other member reachable, empty and in no set). A
 * safe replSetReconfig waits (up to maxTimeMS, 30 s by default) until the
 * current config is committed (reconfig.h), then installs without waiting
 * for the new config to spread, and fails with ConfigurationInProgress when
 * the wait runs out.
 *
 * newlyAdded (digest 5.2): a safe reconfig stores each voter it adds with the
 * flag (newly_added.h), and node_reconfig_check, run after every step, lets a
 * writable primary clear one flag at a time by a reconfig of its own (version
 * + 1) once the member is heard with data and the current config is
 * committed. A forced reconfig takes the user's members as they are. */
#include "repl/node_internal.h"

#include "core/log.h"
#include "core/mem.h"
#include "repl/newly_added.h"
#include "repl/reconfig.h"
#include "net/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECONFIG_WAIT_MS 30000

struct node_request {
    uint64_t id;
    repl_reply_cb cb;
    void *arg;
    bool is_sync;  /* the command is still inside its own feed */
    bool is_done;  /* answered during the feed */
    int rc;
    bson_t *reply; /* sync: the caller's */
    struct err *e;
    struct node_request *next;
};

struct node_reconfig {
    struct repl_config *cfg;
    uint64_t request_id;
    int64_t deadline_ms;
};

static struct node_request *request_new(struct repl_node *n, bson_t *reply, struct err *e, repl_reply_cb cb,
                                        void *arg)
{
    struct node_request *r = xcalloc(1, sizeof *r);
    r->id = n->next_request_id++;
    r->cb = cb;
    r->arg = arg;
    r->is_sync = true;
    r->reply = reply;
    r->e = e;
    r->next = n->requests;
    n->requests = r;
    return r;
}

static void request_unlink(struct repl_node *n, struct node_request *r)
{
    for (struct node_request **pp = &n->requests; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            return;
        }
}

/* After the command's feed: the answer, or REPL_ASYNC. */
static int request_finish(struct repl_node *n, struct node_request *r)
{
    if (r->is_done) {
        int rc = r->rc;
        request_unlink(n, r);
        free(r);
        return rc;
    }
    if (n->is_stopped || !r->cb) {
        struct err *e = r->e;
        request_unlink(n, r);
        free(r);
        if (n->is_stopped)
            return err_set(e, ERR_SHUTDOWN_IN_PROGRESS, "The server is shutting down");
        return err_set(e, ERR_INTERNAL_ERROR, "replication request was not answered");
    }
    r->is_sync = false;
    r->reply = NULL;
    r->e = NULL;
    return REPL_ASYNC;
}

void node_request_complete(struct repl_node *n, uint64_t request_id, int rc, const struct err *e,
                           const bson_t *fields)
{
    struct node_request *r = n->requests;
    while (r && r->id != request_id)
        r = r->next;
    if (!r || r->is_done)
        return;
    if (r->is_sync) {
        r->is_done = true;
        r->rc = rc < 0 ? rc : 0;
        if (rc < 0)
            err_set(r->e, e ? e->code : -rc, "%s", e ? e->msg : "replication error");
        else if (fields && r->reply)
            bson_concat(r->reply, fields);
        return;
    }
    request_unlink(n, r);
    if (r->cb)
        r->cb(r->arg, rc < 0 ? rc : 0, rc < 0 ? e : NULL, rc < 0 ? NULL : fields);
    free(r);
}

void node_requests_fail_all(struct repl_node *n, int code, const char *msg)
{
    struct err e;
    err_init(&e);
    err_set(&e, code, "%s", msg);
    node_quorum_cancel(n); /* its request is failed below with the others */
    if (n->reconfig) {
        repl_config_destroy(n->reconfig->cfg);
        free(n->reconfig->cfg);
        free(n->reconfig);
        n->reconfig = NULL;
    }
    struct node_request **pp = &n->requests;
    while (*pp) {
        struct node_request *r = *pp;
        if (r->is_sync) {
            /* Its command is on the stack: request_finish reads and frees it. */
            if (!r->is_done) {
                r->is_done = true;
                r->rc = -code;
                err_set(r->e, code, "%s", msg);
            }
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        if (r->cb)
            r->cb(r->arg, -code, &e, NULL);
        free(r);
    }
    err_clear(&e);
}

/* ---- events with a reply ---- */

static int feed_request(struct repl_node *n, struct repl_event *ev, bson_t *reply, struct err *e, repl_reply_cb cb,
                        void *arg)
{
    if (n->is_stopped)
        return err_set(e, ERR_SHUTDOWN_IN_PROGRESS, "The server is shutting down");
    struct node_request *r = request_new(n, reply, e, cb, arg);
    ev->request_id = r->id;
    repl_node_feed(n, ev);
    return request_finish(n, r);
}

int repl_node_step_down(struct repl_node *n, int64_t secs, int64_t catch_up_secs, bool is_force, bson_t *reply,
                        struct err *e, repl_reply_cb cb, void *arg)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_STEPDOWN_REQUEST;
    ev.peer = -1;
    ev.stepdown.secs = secs;
    ev.stepdown.catch_up_secs = catch_up_secs;
    ev.stepdown.force = is_force;
    return feed_request(n, &ev, reply, e, cb, arg);
}

int repl_node_step_up(struct repl_node *n, bool skip_dry_run, bson_t *reply, struct err *e, repl_reply_cb cb,
                      void *arg)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_STEP_UP_REQUEST;
    ev.peer = -1;
    ev.step_up_skip_dry_run = skip_dry_run;
    return feed_request(n, &ev, reply, e, cb, arg);
}

int repl_node_freeze(struct repl_node *n, int64_t secs, bson_t *reply, struct err *e, repl_reply_cb cb, void *arg)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_FREEZE_REQUEST;
    ev.peer = -1;
    ev.freeze_secs = secs;
    return feed_request(n, &ev, reply, e, cb, arg);
}

int repl_node_heartbeat(struct repl_node *n, const bson_t *body, bson_t *reply, struct err *e, repl_reply_cb cb,
                        void *arg)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_HB_REQUEST;
    ev.peer = -1;
    int rc;
    if (node_quorum_answer(n, body, reply, e, &rc))
        return rc;
    if ((rc = repl_hb_request_from_bson(body, &ev.hb_request, e)) < 0)
        return rc;
    /* A quorum probe's sender has no config to give yet. */
    if ((!n->st.has_config || n->st.self < 0) && !node_quorum_is_probe(body))
        node_bootstrap_from(n, &ev.hb_request);
    return feed_request(n, &ev, reply, e, cb, arg);
}

int repl_node_request_votes(struct repl_node *n, const bson_t *body, bson_t *reply, struct err *e,
                            repl_reply_cb cb, void *arg)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_VOTE_REQUEST;
    ev.peer = -1;
    int rc = repl_vote_request_from_bson(body, &ev.vote_request, e);
    if (rc < 0)
        return rc;
    return feed_request(n, &ev, reply, e, cb, arg);
}

int repl_node_update_position(struct repl_node *n, const bson_t *body, bson_t *reply, struct err *e)
{
    struct repl_position_entry entries[REPL_MAX_MEMBERS];
    int n_entries = 0;
    int rc = repl_update_position_from_bson(body, entries, REPL_MAX_MEMBERS, &n_entries, e);
    if (rc < 0)
        return rc;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_UPDATE_POSITION;
    ev.peer = -1;
    ev.update_position.entries = entries;
    ev.update_position.n_entries = n_entries;
    /* The sender's term: top-level "term" (Tally) or $replData.term (mongod); 0 when absent. */
    bson_iter_t it, md;
    if (bson_iter_init_find(&it, body, "term") && BSON_ITER_HOLDS_NUMBER(&it))
        ev.update_position.term = bson_iter_as_int64(&it);
    else if (bson_iter_init_find(&it, body, "$replData") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
             bson_iter_recurse(&it, &md) && bson_iter_find(&md, "term") && BSON_ITER_HOLDS_NUMBER(&md))
        ev.update_position.term = bson_iter_as_int64(&md);
    if (ev.update_position.term < 0)
        ev.update_position.term = 0;
    return feed_request(n, &ev, reply, e, NULL, NULL);
}

/* ---- replSetInitiate ---- */

static void default_config(const struct repl_node *n, bson_t *doc)
{
    bson_t members, m;
    BSON_APPEND_UTF8(doc, "_id", n->set_name);
    BSON_APPEND_INT32(doc, "version", 1);
    BSON_APPEND_ARRAY_BEGIN(doc, "members", &members);
    BSON_APPEND_DOCUMENT_BEGIN(&members, "0", &m);
    BSON_APPEND_INT32(&m, "_id", 0);
    BSON_APPEND_UTF8(&m, "host", n->srv->host_port);
    bson_append_document_end(&members, &m);
    bson_append_array_end(doc, &members);
}

int repl_node_initiate(struct repl_node *n, const bson_t *config_or_null, bson_t *reply, struct err *e,
                       repl_reply_cb cb, void *arg)
{
    (void)reply;
    if (n->is_stopped)
        return err_set(e, ERR_SHUTDOWN_IN_PROGRESS, "The server is shutting down");
    if (n->st.has_config || n->is_config_persisting)
        return err_set(e, ERR_ALREADY_INITIALIZED, "already initialized");
    if (n->quorum)
        return err_set(e, ERR_CONFIGURATION_IN_PROGRESS, "Already initializing replica set");
    bson_t dflt = BSON_INITIALIZER;
    const bson_t *doc = config_or_null;
    if (!doc || bson_empty(doc)) {
        default_config(n, &dflt);
        doc = &dflt;
        log_info(LOGC_REPL, "REPL: replSetInitiate without a config: using a one-member set with %s",
                 n->srv->host_port);
    }
    /* rs.initiate({_id, members}) without a version is common: mongod takes 1. */
    bson_t with_version = BSON_INITIALIZER;
    if (!bson_has_field(doc, "version")) {
        bson_copy_to_excluding_noinit(doc, &with_version, "version", NULL);
        BSON_APPEND_INT32(&with_version, "version", 1);
        doc = &with_version;
    }
    struct repl_config *cfg = xcalloc(1, sizeof *cfg);
    int rc = repl_config_parse(doc, REPL_CONFIG_FOR_INITIATE, cfg, e);
    bson_destroy(&with_version);
    bson_destroy(&dflt);
    if (rc < 0)
        goto fail;
    if (strcmp(cfg->set_name, n->set_name) != 0) {
        rc = err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                     "Attempting to initiate a replica set with name %s, but command line reports %s; rejecting",
                     cfg->set_name, n->set_name);
        goto fail;
    }
    int self = node_pick_self_host(n, cfg);
    if (self < 0) {
        rc = err_set(e, ERR_NODE_NOT_FOUND,
                     "No host described in new configuration with {version: %d, term: %lld} for replica set %s "
                     "maps to this node (%s)",
                     cfg->version, (long long)cfg->term, cfg->set_name, n->srv->host_port);
        goto fail;
    }
    if (!repl_config_is_electable(cfg, self)) {
        rc = err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                     "This node, %s, with _id %d is not electable under the new configuration with {version: %d, "
                     "term: %lld} for replica set %s",
                     cfg->members[self].host, cfg->members[self].id, cfg->version, (long long)cfg->term,
                     cfg->set_name);
        goto fail;
    }
    if (!cb) {
        rc = err_set(e, ERR_INTERNAL_ERROR, "replSetInitiate needs a completion callback");
        goto fail;
    }
    bson_oid_init(&cfg->settings.replica_set_id, NULL);
    cfg->settings.has_replica_set_id = true;
    struct node_request *r = request_new(n, NULL, NULL, cb, arg);
    r->is_sync = false;
    /* Digest 6.2: installed (and answered) once every other member was heard. */
    node_quorum_start(n, cfg, self, r->id);
    return REPL_ASYNC;
fail:
    repl_config_destroy(cfg);
    free(cfg);
    return rc;
}

/* ---- replSetReconfig ---- */

static void reconfig_free(struct node_reconfig *rc)
{
    if (rc->cfg) {
        repl_config_destroy(rc->cfg);
        free(rc->cfg);
    }
    free(rc);
}

/* The automatic reconfig that lets a newly added member vote. Like a user's,
 * it waits until the current config is committed (it changes one voter). */
static void newly_added_check(struct repl_node *n)
{
    if (!n->st.has_config || !repl_is_writable_primary(&n->st) || n->st.config.version == INT32_MAX)
        return;
    int i = repl_newly_added_ready(&n->st);
    if (i < 0 || !repl_reconfig_is_committed(&n->st, NULL, 0))
        return;
    struct repl_config *cfg = xcalloc(1, sizeof *cfg);
    repl_config_copy(cfg, &n->st.config);
    repl_config_set_newly_added(cfg, i, false);
    cfg->version = n->st.config.version + 1;
    cfg->term = n->st.term;
    log_info(LOGC_REPL,
             "REPL: member %s (_id %d) is %s: removing its newlyAdded flag in config version %d, so that it votes",
             cfg->members[i].host, cfg->members[i].id,
             repl_member_state_str(i == n->st.self ? n->st.member_state : n->st.peers[i].state), cfg->version);
    node_persist_config(n, cfg, false, 0);
}

void node_reconfig_check(struct repl_node *n)
{
    struct node_reconfig *rc = n->reconfig;
    if (n->is_config_persisting || n->is_stopped)
        return;
    if (!rc) {
        newly_added_check(n);
        return;
    }
    struct err e;
    char why[256];
    err_init(&e);
    if (!repl_is_writable_primary(&n->st)) {
        n->reconfig = NULL;
        err_set(&e, ERR_NOT_WRITABLE_PRIMARY, "replSetReconfig should only be run on a writable PRIMARY");
        node_request_complete(n, rc->request_id, -e.code, &e, NULL);
        reconfig_free(rc);
    } else if (repl_reconfig_is_committed(&n->st, why, sizeof why)) {
        n->reconfig = NULL;
        rc->cfg->term = n->st.term;
        if (repl_config_compare_version(rc->cfg->term, rc->cfg->version, n->st.config.term,
                                        n->st.config.version) <= 0) {
            err_set(&e, ERR_NEW_REPLICA_SET_CONFIGURATION_INCOMPATIBLE,
                    "New config version %d must be greater than the current version %d", rc->cfg->version,
                    n->st.config.version);
            node_request_complete(n, rc->request_id, -e.code, &e, NULL);
            reconfig_free(rc);
        } else {
            struct repl_config *cfg = rc->cfg;
            rc->cfg = NULL;
            node_persist_config(n, cfg, false, rc->request_id);
            reconfig_free(rc);
        }
    } else if (node_now_ms(n) >= rc->deadline_ms) {
        n->reconfig = NULL;
        err_set(&e, ERR_CONFIGURATION_IN_PROGRESS, "Cannot run replSetReconfig because %s", why);
        node_request_complete(n, rc->request_id, -e.code, &e, NULL);
        reconfig_free(rc);
    }
    err_clear(&e);
}

int repl_node_reconfig(struct repl_node *n, const bson_t *config, bool is_force, bson_t *reply, struct err *e,
                       repl_reply_cb cb, void *arg)
{
    return repl_node_reconfig_within(n, config, is_force, RECONFIG_WAIT_MS, reply, e, cb, arg);
}

int repl_node_reconfig_within(struct repl_node *n, const bson_t *config, bool is_force, int64_t max_wait_ms,
                              bson_t *reply, struct err *e, repl_reply_cb cb, void *arg)
{
    (void)reply;
    if (n->is_stopped)
        return err_set(e, ERR_SHUTDOWN_IN_PROGRESS, "The server is shutting down");
    if (!n->st.has_config)
        return err_set(e, ERR_NOT_YET_INITIALIZED, "no replset config has been received");
    if (!is_force && !repl_is_writable_primary(&n->st))
        return err_set(e, ERR_NOT_WRITABLE_PRIMARY,
                       "replSetReconfig should only be run on a writable PRIMARY. Current state %s;",
                       repl_member_state_str(n->st.member_state));
    if (n->is_config_persisting || n->reconfig)
        return err_set(e, ERR_CONFIGURATION_IN_PROGRESS,
                       "Cannot run replSetReconfig because the node is currently updating its configuration");
    if (!cb)
        return err_set(e, ERR_INTERNAL_ERROR, "replSetReconfig needs a completion callback");
    struct repl_config *cfg = xcalloc(1, sizeof *cfg);
    int rc = repl_config_parse(config, REPL_CONFIG_FOR_RECONFIG, cfg, e);
    if (rc < 0)
        goto fail;
    if (!cfg->settings.has_replica_set_id && n->st.config.settings.has_replica_set_id) {
        cfg->settings.replica_set_id = n->st.config.settings.replica_set_id;
        cfg->settings.has_replica_set_id = true;
    }
    if (is_force) {
        /* Digest 6.4: term -1 and a version raised by a large random amount. */
        uint32_t random = bson_oid_hash(&cfg->settings.replica_set_id) ^ (uint32_t)node_wall_now_ms();
        cfg->version = repl_reconfig_force_version(n->st.config.version, cfg->version, random);
        cfg->term = -1;
    } else {
        /* Digest 6.1: the user raises the version (mongosh: current + 1); the
         * term the primary stamps alone must not make an old version newer. */
        if (cfg->version <= n->st.config.version) {
            rc = err_set(e, ERR_NEW_REPLICA_SET_CONFIGURATION_INCOMPATIBLE,
                         "New replica set configuration version must be greater than old, but %d is not greater "
                         "than %d for replica set %s",
                         cfg->version, n->st.config.version, cfg->set_name);
            goto fail;
        }
        cfg->term = n->st.term;
    }
    /* Flags already set stay (users never see them); the single-voter rule
     * then counts each new voter as the voter it will become. */
    if (!is_force)
        repl_newly_added_carry(&n->st.config, cfg);
    if ((rc = repl_config_check_reconfig(&n->st.config, cfg, is_force, e)) < 0)
        goto fail;
    if (!is_force && repl_newly_added_mark(&n->st.config, cfg) > 0)
        log_info(LOGC_REPL, "REPL: replSetReconfig to version %d adds voting member(s) as newlyAdded: they vote "
                            "once they hold data", cfg->version);
    if (node_pick_self_host(n, cfg) < 0) {
        rc = err_set(e, ERR_NODE_NOT_FOUND,
                     "This node, %s, is not a member of the new configuration with {version: %d, term: %lld}",
                     n->st.self_host, cfg->version, (long long)cfg->term);
        goto fail;
    }
    struct node_request *r = request_new(n, NULL, NULL, cb, arg);
    r->is_sync = false;
    if (is_force) {
        log_warn(LOGC_REPL,
                 "REPL: FORCED reconfig from {version: %d, term: %lld} to version %d (%d members) while %s: "
                 "majority-committed writes may be lost; use only to recover a set that lost its majority",
                 n->st.config.version, (long long)n->st.config.term, cfg->version, cfg->n_members,
                 repl_member_state_str(n->st.member_state));
        node_persist_config(n, cfg, false, r->id);
        return REPL_ASYNC;
    }
    struct node_reconfig *pending = xcalloc(1, sizeof *pending);
    pending->cfg = cfg;
    pending->request_id = r->id;
    pending->deadline_ms = node_now_ms(n) + (max_wait_ms > 0 ? max_wait_ms : RECONFIG_WAIT_MS);
    n->reconfig = pending;
    node_reconfig_check(n);
    return REPL_ASYNC;
fail:
    repl_config_destroy(cfg);
    free(cfg);
    return rc;
}

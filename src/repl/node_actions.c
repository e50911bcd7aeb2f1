/* node_actions.c - carries out the core's actions: sends heartbeats, vote
 * requests and step-up handoffs through the peer clients and turns their
 * replies into events; answers pending requests; hands persistence and no-ops
 * to node_persist.c; moves the fetcher; logs. Also the bootstrap through
 * which an uninitialised member learns the config from a member that
 * heartbeats it (mongod does the same: it heartbeats the sender back).
 *
 * Guarantees: a reply from a peer client that was rebuilt since the request
 * (config change) or arrives after stop is dropped, never fed with a stale
 * member index; actions are executed in the order the core emitted them. */
#include "repl/node_internal.h"

#include "core/log.h"
#include "core/mem.h"
#include "net/peer.h"
#include "net/server.h"
#include "repl/fetcher.h"
#include "repl/oplog_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum send_kind { SEND_HB, SEND_VOTE, SEND_STEP_UP, SEND_BOOT };

struct send_ctx {
    struct repl_node *n;
    enum send_kind kind;
    uint64_t gen;
    int member_id;
    char host[REPL_HOST_MAX];
    bool is_dry_run;
    int64_t term;
    int64_t sent_ms;
};

/* The config index the reply belongs to, or -1 when it is stale. */
static int ctx_index(const struct send_ctx *c)
{
    const struct repl_node *n = c->n;
    if (n->is_stopped || c->gen != n->peer_gen || !n->st.has_config)
        return -1;
    int i = repl_config_find_id(&n->st.config, c->member_id);
    if (i < 0 || i == n->st.self || strcasecmp(n->st.config.members[i].host, c->host) != 0)
        return -1;
    return i;
}

static void on_hb_reply(struct send_ctx *c, int i, const bson_t *reply, const struct err *neterr)
{
    struct repl_node *n = c->n;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.peer = i;
    ev.type = REPL_EV_HB_FAILURE;
    bson_t *cfg_doc = NULL;
    struct repl_config cfg;
    bool has_cfg = false;
    struct err e;
    err_init(&e);
    if (!neterr && repl_hb_response_from_bson(reply, &ev.hb_response, &cfg_doc, &e) == 0) {
        ev.type = REPL_EV_HB_RESPONSE;
        ev.rtt_ms = node_now_ms(n) - c->sent_ms;
        if (cfg_doc) {
            memset(&cfg, 0, sizeof cfg);
            if (repl_config_parse(cfg_doc, REPL_CONFIG_STORED, &cfg, &e) == 0) {
                has_cfg = true;
                ev.hb_config = &cfg;
            } else {
                log_warn(LOGC_REPL, "REPL: ignoring the invalid config in a heartbeat from %s: %s", c->host, e.msg);
                repl_config_destroy(&cfg);
            }
            bson_destroy(cfg_doc);
        }
        if (ev.hb_response.ok && n->peer_first_up_ms[i] < 0)
            n->peer_first_up_ms[i] = node_now_ms(n);
    } else {
        if (!neterr)
            log_debug(LOGC_REPL, "REPL: bad heartbeat reply from %s: %s", c->host, e.msg);
        n->peer_first_up_ms[i] = -1;
    }
    err_clear(&e);
    if (ev.type == REPL_EV_HB_RESPONSE && !ev.hb_response.ok)
        n->peer_first_up_ms[i] = -1;
    /* A heartbeat reconfig may install a config whose first heartbeat finds
     * us: keep the self host consistent with the incoming config. */
    if (has_cfg)
        node_pick_self_host(n, &cfg);
    repl_node_feed(n, &ev);
    if (has_cfg)
        repl_config_destroy(&cfg);
}

static void on_vote_reply(struct send_ctx *c, int i, const bson_t *reply, const struct err *neterr)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.peer = i;
    ev.type = REPL_EV_VOTE_FAILURE;
    ev.vote_dry_run = c->is_dry_run;
    ev.vote_term = c->term;
    struct err e;
    err_init(&e);
    if (!neterr && repl_vote_response_from_bson(reply, &ev.vote_response, &e) == 0)
        ev.type = REPL_EV_VOTE_RESPONSE;
    else if (!neterr)
        log_debug(LOGC_REPL, "REPL: vote request to %s refused: %s", c->host, e.msg);
    err_clear(&e);
    repl_node_feed(c->n, &ev);
}

static void on_boot_reply(struct send_ctx *c, const bson_t *reply, const struct err *neterr)
{
    struct repl_node *n = c->n;
    n->is_boot_in_flight = false;
    if (n->is_stopped || neterr || n->is_config_persisting)
        return;
    struct repl_hb_response resp;
    bson_t *cfg_doc = NULL;
    struct err e;
    err_init(&e);
    if (repl_hb_response_from_bson(reply, &resp, &cfg_doc, &e) < 0 || !cfg_doc) {
        err_clear(&e);
        if (cfg_doc)
            bson_destroy(cfg_doc);
        return;
    }
    struct repl_config *cfg = xcalloc(1, sizeof *cfg);
    int rc = repl_config_parse(cfg_doc, REPL_CONFIG_STORED, cfg, &e);
    bson_destroy(cfg_doc);
    bool is_newer = rc == 0 && (!n->st.has_config || repl_config_compare_version(cfg->term, cfg->version,
                                                                                n->st.config.term,
                                                                                n->st.config.version) > 0);
    if (rc < 0 || strcmp(cfg->set_name, n->set_name) != 0 || !is_newer || node_pick_self_host(n, cfg) < 0) {
        if (rc < 0)
            log_warn(LOGC_REPL, "REPL: ignoring the invalid config offered by %s: %s", c->host, e.msg);
        repl_config_destroy(cfg);
        free(cfg);
        err_clear(&e);
        return;
    }
    err_clear(&e);
    log_info(LOGC_REPL, "REPL: learned config version %d of set %s from %s", cfg->version, cfg->set_name, c->host);
    node_persist_config(n, cfg, false, 0);
}

static void on_peer_reply(void *arg, const bson_t *reply, const struct err *neterr)
{
    struct send_ctx *c = arg;
    if (c->kind == SEND_BOOT) {
        on_boot_reply(c, reply, neterr);
    } else if (c->kind != SEND_STEP_UP) {
        int i = ctx_index(c);
        if (i >= 0) {
            if (c->kind == SEND_HB)
                on_hb_reply(c, i, reply, neterr);
            else
                on_vote_reply(c, i, reply, neterr);
        }
    } else if (neterr) {
        log_info(LOGC_REPL, "REPL: election handoff to %s failed: %s", c->host, neterr->msg);
    }
    free(c);
}

static void send_to(struct repl_node *n, struct peer *p, enum send_kind kind, const struct repl_action *a,
                    bson_t *cmd, int64_t timeout_ms)
{
    struct send_ctx *c = xcalloc(1, sizeof *c);
    c->n = n;
    c->kind = kind;
    c->gen = n->peer_gen;
    c->sent_ms = node_now_ms(n);
    snprintf(c->host, sizeof c->host, "%s", peer_host_port(p));
    if (a && a->target >= 0 && a->target < n->st.config.n_members)
        c->member_id = n->st.config.members[a->target].id;
    if (kind == SEND_VOTE) {
        c->is_dry_run = a->vote_request.dry_run;
        c->term = a->vote_request.term;
    }
    BSON_APPEND_UTF8(cmd, "$db", "admin");
    struct err e;
    err_init(&e);
    if (peer_send(p, cmd, timeout_ms, on_peer_reply, c, &e) < 0) {
        log_warn(LOGC_REPL, "REPL: cannot send to %s: %s", c->host, e.msg);
        if (kind == SEND_BOOT)
            n->is_boot_in_flight = false;
        free(c);
    }
    err_clear(&e);
}

static struct peer *target_peer(struct repl_node *n, int target)
{
    if (target < 0 || target >= REPL_MAX_MEMBERS)
        return NULL;
    return n->peers[target];
}

void node_bootstrap_from(struct repl_node *n, const struct repl_hb_request *req)
{
    if (n->is_stopped || n->is_boot_in_flight || n->is_config_persisting || !req->from[0])
        return;
    if (strcmp(req->set_name, n->set_name) != 0)
        return;
    if (n->st.has_config && (n->st.self >= 0 || repl_config_compare_version(req->config_term, req->config_version,
                                                                            n->st.config.term,
                                                                            n->st.config.version) <= 0))
        return;
    int64_t now = node_now_ms(n);
    if (n->boot_last_ms && now - n->boot_last_ms < 500)
        return;
    n->boot_last_ms = now;
    if (n->boot_peer && strcasecmp(n->boot_host, req->from) != 0) {
        struct peer *old = n->boot_peer;
        n->boot_peer = NULL;
        peer_destroy(old);
    }
    if (!n->boot_peer) {
        struct err e;
        err_init(&e);
        if (peer_create(n->srv->loop, req->from, &n->boot_peer, &e) < 0) {
            n->boot_peer = NULL;
            err_clear(&e);
            return;
        }
        snprintf(n->boot_host, sizeof n->boot_host, "%s", req->from);
    }
    struct repl_hb_request hb;
    memset(&hb, 0, sizeof hb);
    snprintf(hb.set_name, sizeof hb.set_name, "%s", n->set_name);
    hb.config_version = -2; /* mongod's "no config": older than any, so the config comes back */
    hb.config_term = -1;
    snprintf(hb.from, sizeof hb.from, "%.255s", n->srv->host_port);
    hb.from_id = -1;
    hb.term = n->st.term;
    hb.primary_id = -1;
    bson_t cmd = BSON_INITIALIZER;
    repl_hb_request_to_bson(&hb, &cmd);
    n->is_boot_in_flight = true;
    send_to(n, n->boot_peer, SEND_BOOT, NULL, &cmd, 10000);
    bson_destroy(&cmd);
}

/* Copies every field of src but ok into dst. */
static void copy_without_ok(const bson_t *src, bson_t *dst)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, src))
        return;
    while (bson_iter_next(&it))
        if (strcmp(bson_iter_key(&it), "ok") != 0)
            bson_append_value(dst, bson_iter_key(&it), -1, bson_iter_value(&it));
}

static void reply_heartbeat(struct repl_node *n, const struct repl_action *a)
{
    if (!a->hb_response.ok) {
        struct err e;
        err_init(&e);
        err_set(&e, a->hb_response.code > 0 ? a->hb_response.code : ERR_INTERNAL_ERROR, "%s", a->hb_response.errmsg);
        node_request_complete(n, a->request_id, -e.code, &e, NULL);
        err_clear(&e);
        return;
    }
    bson_t doc = BSON_INITIALIZER, fields = BSON_INITIALIZER;
    repl_hb_response_to_bson(&a->hb_response, a->include_config && n->st.has_config ? &n->st.config : NULL, &doc);
    copy_without_ok(&doc, &fields);
    node_request_complete(n, a->request_id, 0, NULL, &fields);
    bson_destroy(&doc);
    bson_destroy(&fields);
}

static void reply_vote(struct repl_node *n, const struct repl_action *a)
{
    bson_t doc = BSON_INITIALIZER, fields = BSON_INITIALIZER;
    repl_vote_response_to_bson(&a->vote_response, &doc);
    copy_without_ok(&doc, &fields);
    node_request_complete(n, a->request_id, 0, NULL, &fields);
    bson_destroy(&doc);
    bson_destroy(&fields);
}

static void command_result(struct repl_node *n, const struct repl_action *a)
{
    if (a->result.code == 0) {
        bson_t fields = BSON_INITIALIZER;
        if (a->result.msg[0])
            BSON_APPEND_UTF8(&fields, a->result.is_warning ? "warning" : "info", a->result.msg);
        node_request_complete(n, a->request_id, 0, NULL, &fields);
        bson_destroy(&fields);
        return;
    }
    struct err e;
    err_init(&e);
    int code = a->result.code < 0 ? -a->result.code : a->result.code;
    err_set(&e, code, "%s", a->result.msg);
    node_request_complete(n, a->request_id, -code, &e, NULL);
    err_clear(&e);
}

static void send_action(struct repl_node *n, const struct repl_action *a)
{
    struct peer *p = target_peer(n, a->target);
    if (!p)
        return;
    bson_t cmd = BSON_INITIALIZER;
    const struct repl_settings *s = &n->st.config.settings;
    if (a->type == REPL_ACT_SEND_HEARTBEAT) {
        repl_hb_request_to_bson(&a->hb_request, &cmd);
        send_to(n, p, SEND_HB, a, &cmd, s->heartbeat_timeout_secs * 1000);
    } else if (a->type == REPL_ACT_SEND_VOTE_REQUEST) {
        repl_vote_request_to_bson(&a->vote_request, &cmd);
        send_to(n, p, SEND_VOTE, a, &cmd, s->election_timeout_ms);
    } else {
        BSON_APPEND_INT32(&cmd, "replSetStepUp", 1);
        BSON_APPEND_BOOL(&cmd, "skipDryRun", true);
        send_to(n, p, SEND_STEP_UP, a, &cmd, s->election_timeout_ms);
    }
    bson_destroy(&cmd);
}

static void role_change(struct repl_node *n, const struct repl_action *a)
{
    log_info(LOGC_REPL, "REPL: %s -> %s (%s)", repl_member_state_str(a->role.old_state),
             repl_member_state_str(a->role.new_state), a->role.reason);
    if (a->role.old_state == REPL_PRIMARY) {
        /* Digest 1.7 / wire-compat 2.7: waiting writes learn that primacy ended. */
        oplog_writer_set_writable_term(n->ow, -1);
        n->writable_term = -1;
        node_wc_fail_all(n, ERR_INTERRUPTED_DUE_TO_REPL_STATE_CHANGE,
                         "operation was interrupted because a replica set state change occurred");
    }
}

void node_execute(struct repl_node *n, struct repl_actions *acts)
{
    node_sync_peers(n); /* a config installed by this step needs its peers before the sends */
    for (int k = 0; k < acts->n && !n->is_stopped; k++) {
        struct repl_action *a = &acts->v[k];
        switch (a->type) {
        case REPL_ACT_SEND_HEARTBEAT:
        case REPL_ACT_SEND_VOTE_REQUEST:
        case REPL_ACT_SEND_STEP_UP:
            send_action(n, a);
            break;
        case REPL_ACT_REPLY_HEARTBEAT:
            reply_heartbeat(n, a);
            break;
        case REPL_ACT_REPLY_VOTE:
            reply_vote(n, a);
            break;
        case REPL_ACT_PERSIST_VOTE:
            node_persist_vote(n, a->persist.seq, a->persist.term);
            break;
        case REPL_ACT_PERSIST_CONFIG:
            if (a->config) {
                struct repl_config *cfg = a->config;
                a->config = NULL; /* taken */
                node_persist_config(n, cfg, false, 0);
            }
            break;
        case REPL_ACT_ROLE_CHANGE:
            role_change(n, a);
            break;
        case REPL_ACT_WRITE_NOOP:
            node_write_noop(n, a->noop_term, "new primary", true);
            break;
        case REPL_ACT_COMMIT_ADVANCED:
            n->is_commit_dirty = true;
            break;
        case REPL_ACT_SYNC_SOURCE:
            if (n->fetcher) {
                bool has = a->target >= 0 && a->target < n->st.config.n_members;
                fetcher_set_source(n->fetcher, has ? n->st.config.members[a->target].host : NULL);
            }
            break;
        case REPL_ACT_SEND_UPDATE_POSITION:
            if (n->fetcher)
                fetcher_report_position(n->fetcher);
            break;
        case REPL_ACT_COMMAND_RESULT:
            command_result(n, a);
            break;
        case REPL_ACT_LOG:
            log_info(LOGC_REPL, "REPL [%s] %s", a->log.rule, a->log.msg);
            break;
        }
    }
}

void node_after_step(struct repl_node *n)
{
    if (n->is_stopped)
        return;
    node_sync_peers(n);
    node_committed_publish(n);
    int64_t want = repl_is_writable_primary(&n->st) ? n->st.term : -1;
    if (want != n->writable_term) {
        n->writable_term = want;
        oplog_writer_set_writable_term(n->ow, want);
        if (want >= 0)
            n->last_write_ms = node_now_ms(n);
    }
    if (n->feed_depth == 0) {
        node_wc_check(n);
        node_reconfig_check(n);
    }
    server_topology_changed(n->srv); /* hello's topologyVersion: bump and wake awaitable hellos */
}

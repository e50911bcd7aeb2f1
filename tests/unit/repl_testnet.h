/* repl_testnet.h - a mini in-test network for the pure replication core.
 *
 * Builds N repl_states with one shared config (hosts "n0:1".."nK:1"), executes
 * their actions (messages are delivered instantly unless a link is cut or a
 * node is down; PERSIST_* complete at once unless manual_persist), and models
 * replication crudely: a node copies its sync source's newest optime. Time is
 * driven by net_run in 100 ms ticks. Test-only; header-only by design. */
#ifndef TALLY_REPL_TESTNET_H
#define TALLY_REPL_TESTNET_H

#include "repl/core.h"

#include <stdlib.h>
#include <string.h>

#define NET_MAX 7
#define NET_QMAX 4096

static inline void cfg_build(struct repl_config *cfg, int n, const double *prio, const bool *arb)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->set_name, sizeof cfg->set_name, "rs0");
    cfg->version = 1;
    cfg->term = 1;
    cfg->is_write_concern_majority_journal_default = true;
    cfg->n_members = n;
    for (int i = 0; i < n; i++) {
        struct repl_member *m = &cfg->members[i];
        m->id = i;
        snprintf(m->host, sizeof m->host, "n%d:1", i);
        m->is_arbiter = arb && arb[i];
        m->priority = m->is_arbiter ? 0 : (prio ? prio[i] : 1);
        m->votes = 1;
        m->builds_indexes = true;
        m->tags = bson_new();
    }
    cfg->settings.is_chaining_allowed = true;
    cfg->settings.heartbeat_interval_ms = 2000;
    cfg->settings.heartbeat_timeout_secs = 10;
    cfg->settings.election_timeout_ms = 10000;
    cfg->settings.catch_up_timeout_ms = -1;
    cfg->settings.catch_up_takeover_delay_ms = 30000;
    cfg->settings.get_last_error_modes = bson_new();
}

enum net_msg_type { NM_EVENT };

struct net_msg {
    int to;
    struct repl_event ev;
    struct repl_config *cfg; /* owned copy for CONFIG_INSTALLED / hb config */
};

struct net_req {
    int from, to;
    bool is_vote;
    bool dry_run;
    int64_t term;
};

struct net {
    int n;
    struct repl_state st[NET_MAX];
    bool is_up[NET_MAX];
    bool link[NET_MAX][NET_MAX];
    int64_t now;
    struct net_msg q[NET_QMAX];
    int qh, qt;
    struct net_req reqs[NET_QMAX * 4];
    uint64_t next_req;
    bool manual_persist;
    uint64_t persist_pending[NET_MAX]; /* highest seq not yet reported when manual */
    int n_role_changes[NET_MAX];
    int last_result_code[NET_MAX];
    bool has_result[NET_MAX];
    int n_step_up_sent;
    int n_noops[NET_MAX];
    int n_config_persists[NET_MAX];
    bool is_replicating; /* copy from sync sources on ticks */
};

static inline void net_push(struct net *net, int to, const struct repl_event *ev, const struct repl_config *cfg)
{
    struct net_msg *m = &net->q[net->qt % NET_QMAX];
    net->qt++;
    m->to = to;
    m->ev = *ev;
    m->cfg = NULL;
    if (cfg) {
        m->cfg = malloc(sizeof *m->cfg);
        repl_config_copy(m->cfg, cfg);
    }
}

static inline bool net_can(struct net *net, int a, int b)
{
    return net->is_up[a] && net->is_up[b] && net->link[a][b] && net->link[b][a];
}

static inline void net_exec(struct net *net, int k, struct repl_actions *acts)
{
    struct repl_state *st = &net->st[k];
    for (int i = 0; i < acts->n; i++) {
        struct repl_action *a = &acts->v[i];
        struct repl_event ev;
        memset(&ev, 0, sizeof ev);
        ev.now_ms = net->now;
        switch (a->type) {
        case REPL_ACT_SEND_HEARTBEAT:
        case REPL_ACT_SEND_VOTE_REQUEST: {
            if (!net_can(net, k, a->target))
                break;
            uint64_t id = ++net->next_req;
            struct net_req *r = &net->reqs[id % (NET_QMAX * 4)];
            r->from = k;
            r->to = a->target;
            r->is_vote = a->type == REPL_ACT_SEND_VOTE_REQUEST;
            ev.request_id = id;
            ev.peer = k;
            if (r->is_vote) {
                r->dry_run = a->vote_request.dry_run;
                r->term = a->vote_request.term;
                ev.type = REPL_EV_VOTE_REQUEST;
                ev.vote_request = a->vote_request;
            } else {
                ev.type = REPL_EV_HB_REQUEST;
                ev.hb_request = a->hb_request;
            }
            net_push(net, a->target, &ev, NULL);
            break;
        }
        case REPL_ACT_REPLY_HEARTBEAT:
        case REPL_ACT_REPLY_VOTE: {
            struct net_req *r = &net->reqs[a->request_id % (NET_QMAX * 4)];
            if (!net_can(net, k, r->from))
                break;
            ev.peer = k;
            if (a->type == REPL_ACT_REPLY_VOTE) {
                ev.type = REPL_EV_VOTE_RESPONSE;
                ev.vote_response = a->vote_response;
                ev.vote_dry_run = r->dry_run;
                ev.vote_term = r->term;
                net_push(net, r->from, &ev, NULL);
            } else {
                ev.type = REPL_EV_HB_RESPONSE;
                ev.hb_response = a->hb_response;
                ev.rtt_ms = 1;
                net_push(net, r->from, &ev, a->include_config ? &st->config : NULL);
            }
            break;
        }
        case REPL_ACT_PERSIST_VOTE:
            if (net->manual_persist) {
                net->persist_pending[k] = a->persist.seq;
            } else {
                ev.type = REPL_EV_PERSISTED;
                ev.persisted_seq = a->persist.seq;
                net_push(net, k, &ev, NULL);
            }
            break;
        case REPL_ACT_PERSIST_CONFIG:
            net->n_config_persists[k]++;
            ev.type = REPL_EV_CONFIG_INSTALLED;
            net_push(net, k, &ev, a->config);
            break;
        case REPL_ACT_ROLE_CHANGE:
            net->n_role_changes[k]++;
            break;
        case REPL_ACT_WRITE_NOOP: {
            net->n_noops[k]++;
            struct optime o = {st->applied.ts + 1, a->noop_term};
            ev.type = REPL_EV_NOOP_WRITTEN;
            ev.noop_optime = o;
            net_push(net, k, &ev, NULL);
            ev.type = REPL_EV_OPTIMES;
            ev.optimes.applied = o;
            ev.optimes.durable = o;
            net_push(net, k, &ev, NULL);
            break;
        }
        case REPL_ACT_SEND_UPDATE_POSITION: {
            if (!net_can(net, k, a->target))
                break;
            static struct repl_position_entry ents[NET_MAX][REPL_MAX_MEMBERS];
            int ne = repl_core_position_entries(st, ents[k], REPL_MAX_MEMBERS);
            ev.type = REPL_EV_UPDATE_POSITION;
            ev.peer = k;
            ev.request_id = 0;
            ev.update_position.entries = ents[k];
            ev.update_position.n_entries = ne;
            /* Deliver at once: the entries buffer is reused. */
            struct repl_actions sub;
            repl_actions_init(&sub);
            repl_step(&net->st[a->target], &ev, &sub);
            net_exec(net, a->target, &sub);
            repl_actions_destroy(&sub);
            break;
        }
        case REPL_ACT_SEND_STEP_UP:
            net->n_step_up_sent++;
            if (!net_can(net, k, a->target))
                break;
            ev.type = REPL_EV_STEP_UP_REQUEST;
            ev.step_up_skip_dry_run = true;
            ev.request_id = 0;
            net_push(net, a->target, &ev, NULL);
            break;
        case REPL_ACT_COMMAND_RESULT:
            if (a->request_id == 777) {
                net->has_result[k] = true;
                net->last_result_code[k] = a->result.code;
            }
            break;
        case REPL_ACT_SYNC_SOURCE:
        case REPL_ACT_COMMIT_ADVANCED:
        case REPL_ACT_LOG:
            break;
        }
    }
}

static inline void net_deliver(struct net *net, int k, const struct repl_event *ev)
{
    if (!net->is_up[k])
        return;
    struct repl_actions acts;
    repl_actions_init(&acts);
    repl_step(&net->st[k], ev, &acts);
    net_exec(net, k, &acts);
    repl_actions_destroy(&acts);
}

static inline void net_drain(struct net *net)
{
    while (net->qh != net->qt) {
        struct net_msg m = net->q[net->qh % NET_QMAX];
        net->qh++;
        m.ev.now_ms = net->now;
        if (m.ev.type == REPL_EV_CONFIG_INSTALLED)
            m.ev.config = m.cfg;
        else if (m.ev.type == REPL_EV_HB_RESPONSE)
            m.ev.hb_config = m.cfg;
        net_deliver(net, m.to, &m.ev);
        if (m.cfg) {
            repl_config_destroy(m.cfg);
            free(m.cfg);
        }
    }
}

static inline void net_event(struct net *net, int k, struct repl_event ev)
{
    ev.now_ms = net->now;
    net_deliver(net, k, &ev);
    net_drain(net);
}

static inline void net_set_optimes(struct net *net, int k, struct optime o)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_OPTIMES;
    ev.optimes.applied = o;
    ev.optimes.durable = o;
    net_event(net, k, ev);
}

static inline void net_replicate(struct net *net)
{
    for (int k = 0; k < net->n; k++) {
        struct repl_state *st = &net->st[k];
        int s = st->sync_source;
        if (!net->is_up[k] || s < 0 || !net_can(net, k, s))
            continue;
        if (optime_compare(net->st[s].applied, st->applied) > 0)
            net_set_optimes(net, k, net->st[s].applied);
    }
}

static inline void net_run(struct net *net, int64_t ms)
{
    int64_t end = net->now + ms;
    while (net->now < end) {
        net->now += 100;
        for (int k = 0; k < net->n; k++) {
            struct repl_event ev;
            memset(&ev, 0, sizeof ev);
            ev.type = REPL_EV_TICK;
            ev.peer = -1;
            net_event(net, k, ev);
        }
        if (net->is_replicating)
            net_replicate(net);
    }
}

/* Starts n nodes that all install cfg and hold data at {ts: 1<<32|1, t: 1}. */
static inline void net_init(struct net *net, const struct repl_config *cfg, uint64_t seed)
{
    memset(net, 0, sizeof *net);
    net->n = cfg->n_members;
    net->now = 1000;
    net->is_replicating = true;
    for (int k = 0; k < net->n; k++) {
        net->is_up[k] = true;
        for (int j = 0; j < net->n; j++)
            net->link[k][j] = true;
        repl_state_init(&net->st[k], cfg->members[k].host, seed * 31 + (uint64_t)k + 1);
        struct optime data = cfg->members[k].is_arbiter ? OPTIME_NULL : (struct optime){(1ull << 32) | 1, 1};
        repl_state_restore(&net->st[k], 1, -1, -1, data, data);
    }
    for (int k = 0; k < net->n; k++) {
        struct repl_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = REPL_EV_CONFIG_INSTALLED;
        ev.config = cfg;
        net_event(net, k, ev);
    }
}

static inline void net_destroy(struct net *net)
{
    for (int k = 0; k < net->n; k++)
        repl_state_destroy(&net->st[k]);
}

/* Index of the only node in state PRIMARY among up nodes, -1 if none, -2 if several. */
static inline int net_primary(struct net *net)
{
    int p = -1;
    for (int k = 0; k < net->n; k++)
        if (net->is_up[k] && net->st[k].member_state == REPL_PRIMARY)
            p = p == -1 ? k : -2;
    return p;
}

static inline void net_isolate(struct net *net, int k, bool is_cut)
{
    for (int j = 0; j < net->n; j++)
        if (j != k)
            net->link[k][j] = net->link[j][k] = !is_cut;
}

/* A client write on a writable primary: next timestamp in its term. */
static inline struct optime net_write(struct net *net, int k)
{
    struct repl_state *st = &net->st[k];
    struct optime o = {st->applied.ts + 1, st->term};
    net_set_optimes(net, k, o);
    return o;
}

#endif

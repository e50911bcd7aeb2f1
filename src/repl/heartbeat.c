/* heartbeat.c - heartbeats (digest 1.1): the send schedule, answering requests,
 * absorbing responses into peer views, DOWN marking, heartbeat reconfig (6.3)
 * and the primary's liveness stepdown (1.7).
 *
 * Guarantees: a peer is DOWN only after heartbeatTimeoutSecs without an answer
 * since its first unanswered request; a failed heartbeat is retried at once at
 * most twice per window; a primary that cannot see a majority of votes (by
 * lastUpdate within electionTimeout) steps down. */
#include "repl/core_internal.h"

#include "core/mem.h"

#include <stdio.h>
#include <string.h>

#define HB_MAX_RETRIES 2
#define ERR_CODE_INCONSISTENT_SET_NAMES 185

static int64_t hb_timeout_ms(const struct repl_state *st)
{
    return st->config.settings.heartbeat_timeout_secs * 1000;
}

/* Digest 1.1 rate adjustments: arbiters min(eT/2, hbI); a non-primary data
 * member without a sync source min(eT/2, hbI/4) so it finds one fast. */
static int64_t hb_interval_ms(const struct repl_state *st)
{
    int64_t interval = st->config.settings.heartbeat_interval_ms;
    int64_t half_et = st->config.settings.election_timeout_ms / 2;
    if (st->member_state == REPL_ARBITER)
        return interval < half_et ? interval : half_et;
    if (st->member_state != REPL_PRIMARY && st->sync_source < 0 && st->member_state != REPL_REMOVED) {
        int64_t quarter = interval / 4;
        return quarter < half_et ? quarter : half_et;
    }
    return interval;
}

static void send_heartbeat(struct repl_state *st, struct repl_actions *out, int i)
{
    struct repl_peer *p = &st->peers[i];
    struct repl_action *a = repl_core_push(out, REPL_ACT_SEND_HEARTBEAT, i);
    struct repl_hb_request *r = &a->hb_request;
    snprintf(r->set_name, sizeof r->set_name, "%s", st->config.set_name);
    r->config_version = st->config.version;
    r->config_term = st->config.term;
    snprintf(r->from, sizeof r->from, "%s", st->self_host);
    r->from_id = repl_core_member_id(st, st->self);
    r->term = st->term;
    r->primary_id = repl_core_member_id(st, st->primary_index);
    p->last_hb_sent_ms = st->now_ms;
    if (p->hb_window_start_ms < 0)
        p->hb_window_start_ms = st->now_ms;
    p->next_hb_ms = st->now_ms + hb_interval_ms(st);
}

void repl_hb_send_all(struct repl_state *st, struct repl_actions *out)
{
    for (int i = 0; i < st->config.n_members; i++)
        if (i != st->self)
            send_heartbeat(st, out, i);
}

static void mark_down(struct repl_state *st, struct repl_actions *out, int i, const char *why)
{
    struct repl_peer *p = &st->peers[i];
    if (p->state == REPL_DOWN && !p->is_up)
        return;
    p->is_up = false;
    p->state = REPL_DOWN;
    snprintf(p->last_hb_message, sizeof p->last_hb_message, "%s", why);
    repl_core_log(st, out, "1.1", "member %s is now DOWN: %s", st->config.members[i].host, why);
    if (st->primary_index == i)
        st->primary_index = -1;
    if (st->sync_source == i)
        repl_sync_choose(st, out);
}

void repl_hb_on_tick(struct repl_state *st, struct repl_actions *out)
{
    if (st->member_state == REPL_REMOVED)
        return;
    for (int i = 0; i < st->config.n_members; i++) {
        if (i == st->self)
            continue;
        struct repl_peer *p = &st->peers[i];
        /* Digest 1.1: no answer within heartbeatTimeoutSecs of the first unanswered request => DOWN. */
        if (p->hb_window_start_ms >= 0 && st->now_ms - p->hb_window_start_ms >= hb_timeout_ms(st))
            mark_down(st, out, i, "no heartbeat response within heartbeatTimeoutSecs");
        if (st->now_ms >= p->next_hb_ms)
            send_heartbeat(st, out, i);
    }
}

void repl_hb_on_request(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    const struct repl_hb_request *req = &ev->hb_request;
    struct repl_action *a;
    if (!st->has_config) {
        a = repl_core_push(out, REPL_ACT_REPLY_HEARTBEAT, -1);
        a->request_id = ev->request_id;
        a->hb_response.ok = false;
        a->hb_response.code = ERR_NOT_YET_INITIALIZED;
        snprintf(a->hb_response.errmsg, sizeof a->hb_response.errmsg, "no replset config has been received");
        return;
    }
    if (strcmp(req->set_name, st->config.set_name) != 0) {
        a = repl_core_push(out, REPL_ACT_REPLY_HEARTBEAT, -1);
        a->request_id = ev->request_id;
        a->hb_response.ok = false;
        a->hb_response.code = ERR_CODE_INCONSISTENT_SET_NAMES;
        snprintf(a->hb_response.errmsg, sizeof a->hb_response.errmsg,
                 "Our set name of %.90s does not match name %.90s reported by remote node", st->config.set_name,
                 req->set_name);
        return;
    }
    repl_core_update_term(st, out, req->term, "heartbeat request");
    int from = repl_core_index_of_id(st, req->from_id);
    if (from >= 0 && from != st->self) {
        st->peers[from].last_hb_recv_ms = st->now_ms;
        /* The sender has a newer config: ask it soon so its response brings the config (6.3). */
        if (repl_config_compare_version(req->config_term, req->config_version, st->config.term,
                                        st->config.version) > 0)
            st->peers[from].next_hb_ms = st->now_ms;
    }

    a = repl_core_push(out, REPL_ACT_REPLY_HEARTBEAT, from);
    a->request_id = ev->request_id;
    struct repl_hb_response *r = &a->hb_response;
    r->ok = true;
    snprintf(r->set_name, sizeof r->set_name, "%s", st->config.set_name);
    r->state = st->member_state;
    r->term = st->term;
    r->primary_id = repl_core_member_id(st, st->primary_index);
    r->election_time = st->member_state == REPL_PRIMARY ? st->election_time : 0;
    /* Digest 1.1: a node in STARTUP2 reports null optimes so it cannot count for write concern. */
    bool is_syncing = st->member_state == REPL_STARTUP2;
    r->applied = is_syncing ? OPTIME_NULL : st->applied;
    r->durable = is_syncing ? OPTIME_NULL : st->durable;
    r->applied_wall_ms = st->applied_wall_ms;
    r->durable_wall_ms = st->durable_wall_ms;
    r->sync_source_id = repl_core_member_id(st, st->sync_source);
    if (st->sync_source >= 0)
        snprintf(r->syncing_to, sizeof r->syncing_to, "%s", st->config.members[st->sync_source].host);
    r->electable = repl_unelectable_reason(st, false) == NULL;
    r->config_version = st->config.version;
    r->config_term = st->config.term;
    r->commit_point = st->commit_point;
    a->include_config =
        repl_config_compare_version(req->config_term, req->config_version, st->config.term, st->config.version) < 0;
    r->has_config = a->include_config;
}

/* Digest 6.3 heartbeat reconfig: only a strictly newer (term, version) is handed out. */
static void maybe_adopt_config(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    const struct repl_config *cfg = ev->hb_config;
    if (!cfg || strcmp(cfg->set_name, st->config.set_name) != 0)
        return;
    if (repl_config_compare_version(cfg->term, cfg->version, st->config.term, st->config.version) <= 0)
        return;
    if (st->pending_config_version &&
        repl_config_compare_version(cfg->term, cfg->version, st->pending_config_term, st->pending_config_version) <= 0)
        return;
    struct repl_action *a = repl_core_push(out, REPL_ACT_PERSIST_CONFIG, ev->peer);
    a->config = xmalloc(sizeof *a->config);
    repl_config_copy(a->config, cfg);
    st->pending_config_version = cfg->version;
    st->pending_config_term = cfg->term;
    repl_core_log(st, out, "6.3", "heartbeat reconfig: adopting config version %d term %lld from %s",
                  cfg->version, (long long)cfg->term, st->config.members[ev->peer].host);
}

void repl_hb_on_response(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    const struct repl_hb_response *r = &ev->hb_response;
    int i = ev->peer;
    struct repl_peer *p = &st->peers[i];
    if (!r->ok) {
        repl_hb_on_failure(st, ev, out);
        snprintf(p->last_hb_message, sizeof p->last_hb_message, "%.120s", r->errmsg);
        return;
    }
    if (strcmp(r->set_name, st->config.set_name) != 0) {
        mark_down(st, out, i, "replica set name mismatch");
        return;
    }
    repl_core_update_term(st, out, r->term, "heartbeat response");

    /* Ping: exponential average (digest 1.1). */
    if (ev->rtt_ms >= 0)
        p->ping_ms = p->ping_ms < 0 ? ev->rtt_ms : (p->ping_ms * 4 + ev->rtt_ms) / 5;
    p->is_up = true;
    p->ever_heard = true;
    p->hb_window_start_ms = -1;
    p->hb_retries = 0;
    p->last_response_ms = st->now_ms;
    p->last_update_ms = st->now_ms;
    p->last_hb_message[0] = '\0';
    p->state = (r->state >= 0 && r->state <= REPL_REMOVED && r->state != 4) ? (enum repl_member_state)r->state
                                                                              : REPL_UNKNOWN;
    p->term = r->term;
    p->primary_id = r->primary_id;
    p->election_time = r->election_time;
    /* Heartbeats set the optimes as reported (they may go back after a rollback);
     * arbiters hold no data (digest 7). */
    bool is_arbiter = st->config.members[i].is_arbiter;
    p->applied = is_arbiter ? OPTIME_NULL : r->applied;
    p->durable = is_arbiter ? OPTIME_NULL : r->durable;
    p->applied_wall_ms = r->applied_wall_ms;
    p->durable_wall_ms = r->durable_wall_ms;
    p->config_version = r->config_version;
    p->config_term = r->config_term;
    p->is_electable = r->electable;
    p->sync_source_id = r->sync_source_id;

    maybe_adopt_config(st, ev, out);

    if (p->state == REPL_PRIMARY && r->term == st->term) {
        if (st->member_state == REPL_PRIMARY) {
            repl_core_log(st, out, "1.8", "member %s also claims PRIMARY in term %lld",
                          st->config.members[i].host, (long long)r->term);
        } else {
            st->primary_index = i;
            /* Digest 1.1: hearing from the primary of our term pushes the election timer. */
            if (st->member_state == REPL_SECONDARY && st->phase == REPL_ELECT_NONE)
                repl_elect_reset_timer(st);
            repl_takeover_on_primary_seen(st, i);
        }
    } else if (st->primary_index == i) {
        st->primary_index = -1;
    }

    if (st->member_state != REPL_PRIMARY && r->term == st->term)
        repl_commit_learn(st, out, r->commit_point, false);
    if (st->member_state == REPL_PRIMARY) {
        repl_leader_check_catch_up(st, out);
        repl_commit_recompute(st, out);
        repl_stepdown_check(st, out);
    }
    repl_sync_choose(st, out);
}

void repl_hb_on_failure(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    int i = ev->peer;
    struct repl_peer *p = &st->peers[i];
    if (p->hb_window_start_ms < 0)
        p->hb_window_start_ms = p->last_hb_sent_ms >= 0 ? p->last_hb_sent_ms : st->now_ms;
    p->last_failure_ms = st->now_ms;
    snprintf(p->last_hb_message, sizeof p->last_hb_message, "heartbeat failed");
    repl_leader_check_catch_up(st, out); /* a failure may be the last answer catch-up waited for */
    if (st->now_ms - p->hb_window_start_ms >= hb_timeout_ms(st)) {
        mark_down(st, out, i, "heartbeat failed after heartbeatTimeoutSecs");
        p->hb_retries = 0;
        p->hb_window_start_ms = -1;
        return;
    }
    /* Digest 1.1: retry at once, at most kMaxHeartbeatRetries times per window. */
    if (p->hb_retries < HB_MAX_RETRIES) {
        p->hb_retries++;
        send_heartbeat(st, out, i);
    }
}

bool repl_hb_sees_majority(const struct repl_state *st, bool use_liveness)
{
    int total = 0, up = 0;
    int64_t et = st->config.settings.election_timeout_ms;
    for (int i = 0; i < st->config.n_members; i++) {
        if (st->config.members[i].votes <= 0)
            continue;
        total++;
        if (i == st->self) {
            up++;
            continue;
        }
        const struct repl_peer *p = &st->peers[i];
        bool is_live = use_liveness ? (p->last_update_ms >= 0 && st->now_ms - p->last_update_ms < et) : p->is_up;
        up += is_live;
    }
    return up * 2 > total;
}

/* Digest 1.7: a primary that has not heard (directly or via updatePosition) from
 * a majority of votes within electionTimeout relinquishes office. */
void repl_hb_check_liveness(struct repl_state *st, struct repl_actions *out)
{
    if (st->member_state != REPL_PRIMARY)
        return;
    if (!repl_hb_sees_majority(st, true))
        repl_core_step_down(st, out, "Can't see a majority of the set, relinquishing primary");
}

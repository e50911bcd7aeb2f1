/* repl_state.c - the pure core's state: init/copy/restore, the action list, the
 * one member-state transition function, term adoption, the PRNG and config
 * installation.
 *
 * Guarantees: member_state changes only in repl_core_transition, which asserts
 * the edge is legal and emits ROLE_CHANGE "old -> new (reason)"; the term never
 * decreases (REPL_ASSERT); peer views are remapped by member _id on reconfig. */
#include "repl/core_internal.h"

#include "core/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void repl_core_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "%s:%d: replication invariant violated: %s\n", file, line, cond);
    abort();
}

void repl_actions_init(struct repl_actions *a)
{
    a->v = NULL;
    a->n = 0;
    a->cap = 0;
}

void repl_actions_clear(struct repl_actions *a)
{
    for (int i = 0; i < a->n; i++) {
        if (a->v[i].type == REPL_ACT_PERSIST_CONFIG && a->v[i].config) {
            repl_config_destroy(a->v[i].config);
            free(a->v[i].config);
        }
    }
    a->n = 0;
}

void repl_actions_destroy(struct repl_actions *a)
{
    repl_actions_clear(a);
    free(a->v);
    repl_actions_init(a);
}

struct repl_action *repl_core_push(struct repl_actions *out, enum repl_action_type type, int target)
{
    if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 16;
        out->v = xrealloc(out->v, (size_t)out->cap * sizeof *out->v);
    }
    struct repl_action *a = &out->v[out->n++];
    memset(a, 0, sizeof *a);
    a->type = type;
    a->target = target;
    return a;
}

void repl_core_log(struct repl_state *st, struct repl_actions *out, const char *rule, const char *fmt, ...)
{
    (void)st;
    struct repl_action *a = repl_core_push(out, REPL_ACT_LOG, -1);
    snprintf(a->log.rule, sizeof a->log.rule, "%s", rule);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->log.msg, sizeof a->log.msg, fmt, ap);
    va_end(ap);
}

const char *repl_member_state_str(enum repl_member_state s)
{
    switch (s) {
    case REPL_STARTUP: return "STARTUP";
    case REPL_PRIMARY: return "PRIMARY";
    case REPL_SECONDARY: return "SECONDARY";
    case REPL_RECOVERING: return "RECOVERING";
    case REPL_STARTUP2: return "STARTUP2";
    case REPL_UNKNOWN: return "UNKNOWN";
    case REPL_ARBITER: return "ARBITER";
    case REPL_DOWN: return "(not reachable/healthy)";
    case REPL_ROLLBACK: return "ROLLBACK";
    case REPL_REMOVED: return "REMOVED";
    }
    return "UNKNOWN";
}

const char *repl_election_reason_str(enum repl_election_reason r)
{
    switch (r) {
    case REPL_REASON_ELECTION_TIMEOUT: return "electionTimeout";
    case REPL_REASON_PRIORITY_TAKEOVER: return "priorityTakeover";
    case REPL_REASON_STEP_UP: return "stepUpRequest";
    case REPL_REASON_STEP_UP_SKIP_DRY_RUN: return "stepUpRequestSkipDryRun";
    case REPL_REASON_SINGLE_NODE: return "singleNodePromptElection";
    }
    return "unknown";
}

static void peer_reset(struct repl_peer *p)
{
    memset(p, 0, sizeof *p);
    p->state = REPL_UNKNOWN;
    p->term = -1;
    p->primary_id = -1;
    p->applied = OPTIME_NULL;
    p->durable = OPTIME_NULL;
    p->config_term = -1;
    p->sync_source_id = -1;
    p->last_hb_sent_ms = -1;
    p->last_hb_recv_ms = -1;
    p->last_response_ms = -1;
    p->last_failure_ms = -1;
    p->last_update_ms = -1;
    p->ping_ms = -1;
    p->next_hb_ms = 0;
    p->hb_window_start_ms = -1;
}

void repl_state_init(struct repl_state *st, const char *self_host, uint64_t seed)
{
    memset(st, 0, sizeof *st);
    snprintf(st->self_host, sizeof st->self_host, "%s", self_host);
    st->self = -1;
    st->member_state = REPL_STARTUP;
    st->leader_mode = REPL_LEADER_NONE;
    st->primary_index = -1;
    st->term = -1;
    st->last_vote_term = -1;
    st->last_vote_candidate = -1;
    st->applied = OPTIME_NULL;
    st->durable = OPTIME_NULL;
    st->commit_point = OPTIME_NULL;
    st->first_optime_of_term = OPTIME_NULL;
    st->catch_up_target = OPTIME_NULL;
    st->election_deadline_ms = -1;
    st->election_sleep_until_ms = -1;
    st->stepdown_until_ms = -1;
    st->takeover_deadline_ms = -1;
    st->catch_up_deadline_ms = -1;
    st->last_position_sent_ms = -1;
    st->sync_source = -1;
    /* xorshift64* must not start at zero. */
    st->prng = seed ? seed : 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < REPL_MAX_MEMBERS; i++)
        peer_reset(&st->peers[i]);
}

void repl_state_destroy(struct repl_state *st)
{
    if (st->has_config)
        repl_config_destroy(&st->config);
    st->has_config = false;
}

void repl_state_copy(struct repl_state *dst, const struct repl_state *src)
{
    memcpy(dst, src, sizeof *dst);
    if (src->has_config)
        repl_config_copy(&dst->config, &src->config);
}

void repl_state_restore(struct repl_state *st, int64_t term, int64_t last_vote_term, int last_vote_candidate,
                        struct optime applied, struct optime durable)
{
    st->term = term;
    st->last_vote_term = last_vote_term;
    st->last_vote_candidate = last_vote_candidate;
    st->applied = applied;
    st->durable = durable;
}

uint64_t repl_core_rand(struct repl_state *st)
{
    uint64_t x = st->prng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    st->prng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

int64_t repl_core_election_offset(struct repl_state *st)
{
    int64_t limit = (int64_t)((double)st->config.settings.election_timeout_ms * 0.15);
    if (limit <= 0)
        return 0;
    return (int64_t)(repl_core_rand(st) % (uint64_t)limit);
}

/* Legal member-state edges (digest 5.1; README state diagram). */
static bool edge_is_legal(enum repl_member_state from, enum repl_member_state to)
{
    if (to == REPL_REMOVED)
        return from != REPL_REMOVED;
    switch (from) {
    case REPL_STARTUP:
    case REPL_REMOVED:
        return to == REPL_STARTUP2 || to == REPL_SECONDARY || to == REPL_ARBITER || to == REPL_RECOVERING;
    case REPL_STARTUP2:
        return to == REPL_SECONDARY || to == REPL_RECOVERING;
    case REPL_SECONDARY:
        return to == REPL_PRIMARY || to == REPL_RECOVERING || to == REPL_ROLLBACK || to == REPL_STARTUP2;
    case REPL_PRIMARY:
        return to == REPL_SECONDARY;
    case REPL_RECOVERING:
        return to == REPL_SECONDARY || to == REPL_ROLLBACK || to == REPL_STARTUP2;
    case REPL_ROLLBACK:
        return to == REPL_RECOVERING || to == REPL_SECONDARY;
    case REPL_ARBITER:
    case REPL_UNKNOWN:
    case REPL_DOWN:
        return false;
    }
    return false;
}

void repl_core_transition(struct repl_state *st, struct repl_actions *out, enum repl_member_state to,
                          const char *reason)
{
    enum repl_member_state from = st->member_state;
    if (from == to)
        return;
    REPL_ASSERT(edge_is_legal(from, to));
    st->member_state = to;
    struct repl_action *a = repl_core_push(out, REPL_ACT_ROLE_CHANGE, -1);
    a->role.old_state = from;
    a->role.new_state = to;
    snprintf(a->role.reason, sizeof a->role.reason, "%s", reason);
    repl_core_log(st, out, "5.1", "transition %s -> %s (%s)", repl_member_state_str(from),
                  repl_member_state_str(to), reason);
    if (to != REPL_PRIMARY)
        st->leader_mode = REPL_LEADER_NONE;
    if (to == REPL_SECONDARY)
        repl_elect_reset_timer(st);
    else
        st->election_deadline_ms = -1;
    repl_sync_choose(st, out);
}

uint64_t repl_core_persist_vote(struct repl_state *st, struct repl_actions *out)
{
    struct repl_action *a = repl_core_push(out, REPL_ACT_PERSIST_VOTE, -1);
    a->persist.seq = ++st->persist_seq;
    a->persist.term = st->term;
    a->persist.candidate_index = st->last_vote_candidate;
    /* LastVote stores the vote's own term; when only the term moved we persist
     * the term with the old vote so a restart cannot go back in terms. */
    return a->persist.seq;
}

void repl_core_step_down(struct repl_state *st, struct repl_actions *out, const char *reason)
{
    if (st->is_stepdown_active)
        repl_stepdown_finish(st, out, -ERR_PRIMARY_STEPPED_DOWN, reason);
    if (st->member_state == REPL_PRIMARY) {
        st->primary_index = -1;
        st->first_optime_of_term = OPTIME_NULL;
        st->catch_up_target = OPTIME_NULL;
        st->catch_up_deadline_ms = -1;
        repl_core_transition(st, out, REPL_SECONDARY, reason);
    }
}

bool repl_core_update_term(struct repl_state *st, struct repl_actions *out, int64_t term, const char *why)
{
    if (term <= st->term)
        return false;
    int64_t old = st->term;
    st->term = term;
    REPL_ASSERT(st->term > old);
    repl_core_log(st, out, "1.7", "adopting term %lld > %lld from %s", (long long)term, (long long)old, why);
    st->primary_index = -1;
    st->takeover_deadline_ms = -1;
    if (st->phase != REPL_ELECT_NONE)
        repl_elect_cancel(st, out, "saw a higher term");
    if (st->member_state == REPL_PRIMARY) {
        char reason[96];
        snprintf(reason, sizeof reason, "stepping down: term %lld is newer than %lld", (long long)term,
                 (long long)old);
        repl_core_step_down(st, out, reason);
    }
    /* Digest 1.1: after learning of a higher term, do not stand for one election timeout. */
    if (st->has_config)
        st->election_sleep_until_ms = st->now_ms + st->config.settings.election_timeout_ms;
    repl_core_persist_vote(st, out);
    return true;
}

int repl_core_member_id(const struct repl_state *st, int i)
{
    return i >= 0 && i < st->config.n_members ? st->config.members[i].id : -1;
}

int repl_core_index_of_id(const struct repl_state *st, int id)
{
    for (int i = 0; i < st->config.n_members; i++)
        if (st->config.members[i].id == id)
            return i;
    return -1;
}

int repl_core_n_voters(const struct repl_state *st)
{
    int n = 0;
    for (int i = 0; i < st->config.n_members; i++)
        n += st->config.members[i].votes > 0;
    return n;
}

int repl_core_majority_votes(const struct repl_state *st)
{
    return repl_core_n_voters(st) / 2 + 1;
}

/* Digest 3.5: writeMajority = min(majorityVoteCount, voting data-bearing members). */
int repl_core_write_majority(const struct repl_state *st)
{
    int data_voters = 0;
    for (int i = 0; i < st->config.n_members; i++)
        data_voters += st->config.members[i].votes > 0 && !st->config.members[i].is_arbiter;
    int m = repl_core_majority_votes(st);
    return data_voters < m ? data_voters : m;
}

bool repl_core_is_electable(const struct repl_state *st, int i)
{
    if (i < 0 || i >= st->config.n_members)
        return false;
    const struct repl_member *m = &st->config.members[i];
    return m->priority > 0 && m->votes > 0 && !m->is_arbiter;
}

bool repl_core_is_data_bearing(const struct repl_state *st, int i)
{
    return i >= 0 && i < st->config.n_members && !st->config.members[i].is_arbiter;
}

static int find_self(const struct repl_config *cfg, const char *host)
{
    for (int i = 0; i < cfg->n_members; i++)
        if (strcasecmp(cfg->members[i].host, host) == 0)
            return i;
    return -1;
}

void repl_core_install_config(struct repl_state *st, struct repl_actions *out, const struct repl_config *cfg)
{
    struct repl_peer old_peers[REPL_MAX_MEMBERS];
    int old_ids[REPL_MAX_MEMBERS];
    int old_n = st->has_config ? st->config.n_members : 0;
    memcpy(old_peers, st->peers, sizeof old_peers);
    for (int i = 0; i < old_n; i++)
        old_ids[i] = st->config.members[i].id;
    int old_primary_id = repl_core_member_id(st, st->primary_index);
    int old_sync_id = repl_core_member_id(st, st->sync_source);

    if (st->has_config)
        repl_config_destroy(&st->config);
    repl_config_copy(&st->config, cfg);
    st->has_config = true;
    if (st->pending_config_version &&
        repl_config_compare_version(cfg->term, cfg->version, st->pending_config_term, st->pending_config_version) >= 0)
        st->pending_config_version = 0;

    /* Peer views follow the member _id, not the position. */
    for (int i = 0; i < REPL_MAX_MEMBERS; i++) {
        int found = -1;
        if (i < cfg->n_members)
            for (int j = 0; j < old_n; j++)
                if (old_ids[j] == cfg->members[i].id)
                    found = j;
        if (found >= 0) {
            st->peers[i] = old_peers[found];
        } else {
            peer_reset(&st->peers[i]);
            st->peers[i].next_hb_ms = st->now_ms;
        }
    }
    st->primary_index = repl_core_index_of_id(st, old_primary_id);
    st->sync_source = repl_core_index_of_id(st, old_sync_id);
    int old_self = st->self;
    st->self = find_self(cfg, st->self_host);
    if (st->phase != REPL_ELECT_NONE && st->self != old_self)
        repl_elect_cancel(st, out, "config changed our position");
    if (st->primary_index >= 0 && st->primary_index == st->self && st->member_state != REPL_PRIMARY)
        st->primary_index = -1;

    repl_core_log(st, out, "6.3", "installed config version %d term %lld; self index %d", cfg->version,
                  (long long)cfg->term, st->self);
    if (st->self < 0) {
        if (st->member_state == REPL_PRIMARY)
            repl_core_step_down(st, out, "removed from the config");
        repl_core_transition(st, out, REPL_REMOVED, "not in the current config");
        return;
    }
    bool is_arbiter = cfg->members[st->self].is_arbiter;
    if (st->member_state == REPL_STARTUP || st->member_state == REPL_REMOVED) {
        if (is_arbiter)
            repl_core_transition(st, out, REPL_ARBITER, "config says arbiterOnly");
        else if (!optime_is_null(st->applied))
            repl_core_transition(st, out, REPL_SECONDARY, "config installed, data present");
        else
            repl_core_transition(st, out, REPL_STARTUP2, "config installed, initial sync needed");
    } else if (st->member_state == REPL_PRIMARY && !repl_core_is_electable(st, st->self)) {
        /* Digest 1.7: a reconfig that leaves the primary unelectable steps it down. */
        repl_core_step_down(st, out, "no longer electable in the new config");
    }
    if (st->member_state == REPL_SECONDARY && st->election_deadline_ms < 0)
        repl_elect_reset_timer(st);
    repl_sync_choose(st, out);
}

void repl_member_optimes(const struct repl_state *st, int i, struct optime *applied, struct optime *durable)
{
    if (i == st->self) {
        *applied = st->applied;
        *durable = st->durable;
    } else if (i >= 0 && i < REPL_MAX_MEMBERS) {
        *applied = st->peers[i].applied;
        *durable = st->peers[i].durable;
    } else {
        *applied = OPTIME_NULL;
        *durable = OPTIME_NULL;
    }
}

int repl_core_position_entries(const struct repl_state *st, struct repl_position_entry *out, int cap)
{
    int n = 0;
    if (!st->has_config || st->self < 0)
        return 0;
    for (int i = 0; i < st->config.n_members && n < cap; i++) {
        bool is_self = i == st->self;
        /* Digest 3.4: self plus every member known alive; never-heard or down members are skipped. */
        if (!is_self && (!st->peers[i].is_up || st->peers[i].last_update_ms < 0))
            continue;
        struct repl_position_entry *e = &out[n++];
        e->member_id = st->config.members[i].id;
        e->cfgver = st->config.version;
        repl_member_optimes(st, i, &e->applied, &e->durable);
        e->applied_wall_ms = is_self ? st->applied_wall_ms : st->peers[i].applied_wall_ms;
        e->durable_wall_ms = is_self ? st->durable_wall_ms : st->peers[i].durable_wall_ms;
    }
    return n;
}
